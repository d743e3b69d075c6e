//! `roster-hub`: the cluster manager of the ClusterProfile API on the hub cluster.

pub mod access;
pub mod apply;
pub mod backoff;
pub mod budget;
pub mod cli;
pub mod clock;
pub mod conditions;
pub mod context;
pub mod error;
pub mod member;
pub mod write_cache;

use std::sync::Arc;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use roster_api::names;

/// Runs the hub until it is told to stop.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let config = match &cli.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("finding the hub cluster's credentials")?,
    };
    let client = Client::try_from(config)?;
    ensure_namespace(&client, &cli.inventory_namespace).await?;
    tracing::info!(inventory_namespace = %cli.inventory_namespace, "roster-hub started");
    let settings = context::Settings {
        inventory_namespace: cli.inventory_namespace.clone(),
    };
    let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
    tokio::join!(
        member::run((client.clone(), settings, clock.clone())),
        access::run(client, clock),
    );
    tracing::info!("roster-hub stopped");
    Ok(())
}

async fn ensure_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let ns =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    Api::<Namespace>::all(client.clone())
        .patch(
            name,
            &PatchParams::apply(names::HUB_FIELD_MANAGER),
            &Patch::Apply(ns),
        )
        .await
        .with_context(|| format!("creating the inventory namespace {name}"))?;
    Ok(())
}
