//! `roster-hub`: the cluster manager of the ClusterProfile API on the hub cluster.

pub mod cli;

/// Runs the hub until it is told to stop.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    tracing::info!(inventory_namespace = %cli.inventory_namespace, "roster-hub starting");
    anyhow::bail!("the hub controllers are not built yet (issue 4)")
}
