//! `roster-hub`: the cluster manager of the ClusterProfile API on the hub cluster.

pub mod access;
pub mod apply;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod conditions;
pub mod controller;
pub mod error;
pub mod events;
pub mod inventory;
pub mod leader;
pub mod member;
pub mod metrics;
pub mod shared_cache;
pub mod watch;
pub mod webhook;
pub mod write_cache;

use std::sync::Arc;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use roster_api::{MemberCluster, names};

/// Runs the hub until it is told to stop.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    // The admin server answers from the start: /healthz at once, /readyz once the caches are.
    let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(metrics::Metrics::register(&registry, clock.clone())?);
    let readiness = roster_runtime::admin::Readiness::new();
    // With leader election only the leader runs the controllers; every replica serves the
    // webhook, so a follower's readiness must not wait for caches it never fills.
    let elect = cli.leader_election.leader_elect;
    let caches = if elect {
        roster_runtime::admin::Readiness::new()
    } else {
        readiness.clone()
    };
    let member_caches = caches.condition("member controller caches");
    let access_caches = caches.condition("remote access controller caches");
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let (_, admin) =
        roster_runtime::admin::spawn(cli.admin_address, registry, readiness.clone(), async move {
            let _ = admin_stopped.await;
        })
        .await?;
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
    if !cli.inventory_namespace.is_empty() {
        ensure_namespace(&client, &cli.inventory_namespace).await?;
        inventory::ensure_default(&client, names::DEFAULT_INVENTORY, &cli.inventory_namespace)
            .await?;
    }
    tracing::info!(inventory_namespace = %cli.inventory_namespace, "roster-hub started");
    let settings = member::Settings {
        inventory_namespace: cli.inventory_namespace.clone(),
        instance: cli.pod.pod_name.clone(),
    };
    // One MemberCluster watch for the process: the webhook reads it on every replica, the
    // controllers while this replica leads.
    let (members, member_watch) = shared_cache::SharedCache::start(
        Api::<MemberCluster>::all(client.clone()),
        watch::config(),
    );
    let webhook = webhook::start(
        client.clone(),
        &cli.webhook,
        cli.hub_namespace(),
        clock.clone(),
        metrics.clone(),
        members.clone(),
        &readiness,
    )
    .await?;
    let controllers = {
        let client = client.clone();
        move || {
            let (client, settings, clock, metrics, members) = (
                client.clone(),
                settings.clone(),
                clock.clone(),
                metrics.clone(),
                members.clone(),
            );
            let (member_caches, access_caches) = (member_caches.clone(), access_caches.clone());
            let instance = settings.instance.clone();
            async move {
                tokio::join!(
                    member::run(
                        (client.clone(), settings, clock.clone()),
                        metrics.clone(),
                        members.clone(),
                        member_caches
                    ),
                    access::run(
                        client.clone(),
                        clock.clone(),
                        metrics.clone(),
                        members.clone(),
                        access_caches,
                        instance
                    ),
                    inventory::run(client, clock, metrics, members),
                );
            }
        }
    };
    let election = if elect {
        let election = election_settings(&cli);
        ensure_namespace(&client, &election.namespace).await?;
        Some(election)
    } else {
        None
    };
    // Spawned after the last fallible step, so it is always stopped below.
    let member_watch = tokio::spawn(member_watch);
    match election {
        Some(election) => {
            tracing::info!(identity = %election.identity, lease = %format!("{}/{}", election.namespace, election.name),
                "electing a leader");
            let (leading, follow) = tokio::sync::watch::channel(false);
            tokio::join!(
                webhook,
                leader::run(client, election, leading, roster_runtime::shutdown_signal()),
                leader::while_leading(follow, controllers),
            );
        }
        None => {
            tokio::join!(webhook, controllers());
        }
    }
    member_watch.abort();
    let _ = stop_admin.send(());
    admin.await??;
    tracing::info!("roster-hub stopped");
    Ok(())
}

fn election_settings(cli: &cli::Cli) -> leader::Settings {
    let options = &cli.leader_election;
    leader::Settings {
        namespace: cli.hub_namespace(),
        name: options.leader_election_lease.clone(),
        identity: options
            .identity
            .clone()
            .unwrap_or_else(|| leader::default_identity(cli.pod.pod_name.as_deref())),
        duration: std::time::Duration::from_secs(options.lease_duration),
    }
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
        .with_context(|| format!("creating the namespace {name}"))?;
    Ok(())
}
