//! `roster-agent`: runs on a member cluster, joins it to the hub and reports what it sees.

pub mod cli;

/// Runs the agent until it is told to stop.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    tracing::info!(member = %cli.member_name, "roster-agent starting");
    anyhow::bail!("the agent is not built yet (issue 4)")
}
