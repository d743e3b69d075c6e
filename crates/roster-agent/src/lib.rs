//! `roster-agent`: runs on a member cluster, joins it to the hub and reports what it sees.
//!
//! [`run`] obtains the agent's hub token ([`credentials`]), then runs four loops side by side
//! until a signal stops it: token renewal, the heartbeat Lease ([`heartbeat`]), the `/readyz`
//! probe ([`probe`]), the MemberReport ([`report`]) and the remote service accounts
//! ([`grants`]). Beside them the admin server (`--admin-address`) serves `/metrics`
//! ([`metrics`]), `/healthz`, and `/readyz`, ready once the agent holds a hub token and has
//! heartbeated once.

pub mod cli;
pub mod clients;
pub mod credentials;
pub mod federation;
pub mod grants;
pub mod heartbeat;
pub mod jwt;
pub mod metrics;
pub mod probe;
pub mod report;
pub mod timing;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use roster_api::names;
use roster_runtime::{
    admin::{self, Readiness},
    errors,
};
use tokio::sync::watch;

/// Runs the agent until SIGINT or SIGTERM, or until its hub credential fails for good.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(metrics::Metrics::register(&registry)?);
    let readiness = Readiness::new();
    let ready = Ready {
        hub_token: readiness.condition("hub token"),
        heartbeat: readiness.condition("first heartbeat"),
    };
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let (_, admin) = admin::spawn(cli.admin_address, registry, readiness, async move {
        let _ = admin_stopped.await;
    })
    .await?;
    let result = tokio::select! {
        result = agent(cli, metrics, ready) => result,
        () = roster_runtime::shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    };
    let _ = stop_admin.send(());
    let served = admin.await;
    result?;
    served?
}

/// The conditions of the agent's `/readyz`.
struct Ready {
    hub_token: admin::Condition,
    heartbeat: admin::Condition,
}

async fn agent(cli: cli::Cli, metrics: Arc<metrics::Metrics>, ready: Ready) -> anyhow::Result<()> {
    let member = cli.member_name.clone();
    if let Some(problem) = names::member_namespace_problem(&member) {
        anyhow::bail!(problem);
    }
    let namespace = names::member_namespace(&member);
    tracing::info!(%member, %namespace, "roster-agent starting");

    let member_config = clients::member_config(cli.member_kubeconfig.as_deref()).await?;
    let endpoint = reported_endpoint(&cli, &member_config)?;
    let member_clients =
        clients::Clients::new(&member_config).context("building the member cluster's client")?;
    let member_client = member_clients.requests.clone();
    let probe_client =
        kube::Client::try_from(clients::tuned(member_config.clone(), probe::PROBE_TIMEOUT))
            .context("building the member cluster's client")?;

    let credentials = credentials::Credentials::start(credentials::Settings {
        member: member.clone(),
        namespace: namespace.clone(),
        bootstrap_kubeconfig: cli.bootstrap_kubeconfig.clone(),
        state_dir: cli.state_dir.clone(),
        ttl_seconds: cli.hub_token_ttl,
        kept: cli.credential_secret.clone().map(|at| {
            credentials::kept::Kept::new(member_client.clone(), at, cli.bootstrap_secret.clone())
        }),
    })
    .await?;
    ready.hub_token.set(true);
    let hub_clients =
        clients::Clients::new(&credentials.hub_config()).context("building the hub client")?;
    let hub = hub_clients.requests.clone();

    let probe = probe::Probe::new(cli.probe_failure_threshold, timing::now());
    let (cadence_tx, cadence_rx) = watch::channel(heartbeat::Cadence::default());
    let (health_tx, health_rx) = watch::channel(probe.health().clone());
    let ceiling = roster_api::ceiling::Ceiling {
        cluster_roles: cli.grantable_cluster_roles.clone(),
        allow_rules: cli.allow_rules,
    };
    let reporter = report::Reporter::new(hub.clone(), &namespace, member_client.clone(), endpoint)
        .await
        .with_ceiling(&ceiling)
        .with_trust_check(federation::TrustCheck::new(
            hub.clone(),
            member_config,
            &member,
            &namespace,
        ));
    let revoker = member_client.clone();
    let grant_settings = grants::Settings {
        namespace: namespace.clone(),
        refresh_fraction: cli.token_refresh_fraction,
        ceiling,
    };
    let served = tokio::try_join!(
        credentials.keep_fresh(),
        heartbeat::run(
            hub.clone(),
            namespace,
            member,
            cadence_tx,
            metrics.clone(),
            ready.heartbeat
        ),
        grants::run(hub_clients, member_clients, grant_settings, metrics.clone()),
        probe::run(probe_client, probe, cadence_rx, health_tx, metrics),
        report::run(
            reporter,
            Duration::from_secs(cli.report_interval),
            health_rx
        ),
    );
    if let Err(error) = &served
        && left_hub(error)
    {
        // Nothing this agent provisioned may outlive its member's place in the fleet.
        match grants::member::sweep(&revoker, grants::member::Sweep::Everything).await {
            Ok(n) => tracing::warn!(
                revoked = n,
                "left the hub: revoked every grant (service accounts and bindings)"
            ),
            Err(e) => tracing::error!(error = %errors::chain(&e),
                "left the hub, but could not revoke the remote service accounts"),
        }
    }
    served.map(|_| ())
}

/// Whether `error` says the hub no longer accepts this agent (its identity was deleted).
fn left_hub(error: &anyhow::Error) -> bool {
    error.downcast_ref::<heartbeat::LeftHub>().is_some()
        || matches!(
            error.downcast_ref::<credentials::CredentialError>(),
            Some(credentials::CredentialError::Refused { .. })
        )
}

/// The API server URL and CA to report: the flags, else the member configuration's.
fn reported_endpoint(
    cli: &cli::Cli,
    member_config: &kube::Config,
) -> anyhow::Result<report::endpoint::Endpoint> {
    if let Some(url) = &cli.api_server_url {
        report::endpoint::check_server_url(url)?;
    }
    let ca = cli
        .api_server_ca_file
        .as_deref()
        .map(report::endpoint::read_ca_file)
        .transpose()?;
    Ok(report::endpoint::resolve(
        member_config,
        cli.api_server_url.as_deref(),
        ca,
    ))
}
