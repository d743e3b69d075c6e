//! The join journey through the real binaries, on a private fleet whose API servers the test
//! may stop: `kubectl roster join`, `roster-agent`, `roster-hub`, outages, `kubectl roster unjoin`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use cluster_inventory::v1alpha1::ClusterProfile;
use k8s_openapi::{
    api::{
        coordination::v1::Lease,
        core::v1::{Namespace, Secret},
    },
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use roster_api::{
    MemberCluster, RemoteServiceAccount,
    names::{self, token_secret},
};
use roster_testenv::{Fleet, command, process::Process, roster, wait};
use serde_json::json;

use super::support::INVENTORY;

const MEMBER: &str = "edge-1";
const PERIOD: u64 = 1;
const GRACE: u64 = 5;
const TIMEOUT: Duration = Duration::from_secs(90);
/// The admin servers of this test's daemons: on any free port, nobody scrapes them.
const ANY_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

struct Journey {
    fleet: Fleet,
    dir: PathBuf,
    hub: Client,
    _roster_hub: Process,
}

impl Journey {
    async fn start(dir: &Path) -> anyhow::Result<Self> {
        let fleet = Fleet::start(dir, &[MEMBER]).await?;
        let (hub, roster_hub) = super::support::roster_on_hub(&fleet, dir, &[]).await?;
        Ok(Self {
            fleet,
            dir: dir.to_owned(),
            hub,
            _roster_hub: roster_hub,
        })
    }

    fn member(&self) -> &roster_testenv::Cluster {
        &self.fleet.members[0]
    }

    async fn kubectl_roster(&self, args: &[&str]) -> anyhow::Result<String> {
        let hub = self.fleet.hub.kubeconfig_path();
        command::kubectl_roster(&hub, args)?.run_async().await
    }

    fn agent(&self, bootstrap: &Path, state: &str) -> anyhow::Result<Process> {
        roster::spawn_agent(
            self.member(),
            bootstrap,
            &self.dir.join(state),
            ANY_PORT,
            &["--report-interval=2".into()],
            &self.dir.join(format!("roster-agent-{state}.log")),
        )
    }

    async fn health(&self) -> anyhow::Result<Option<(String, String)>> {
        let profile = Api::<ClusterProfile>::namespaced(self.hub.clone(), INVENTORY)
            .get_opt(MEMBER)
            .await?;
        Ok(profile.and_then(|p| p.status).and_then(|s| {
            s.conditions
                .into_iter()
                .find(|c| c.type_ == "ControlPlaneHealthy")
                .map(|c| (c.status, c.reason))
        }))
    }

    async fn wait_health(&self, status: &str) -> anyhow::Result<String> {
        wait::until(
            &format!("{MEMBER} ControlPlaneHealthy={status}"),
            TIMEOUT,
            || async {
                Ok(self
                    .health()
                    .await?
                    .filter(|(s, _)| s == status)
                    .map(|(_, reason)| reason))
            },
        )
        .await
    }
}

fn log_of(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[tokio::test]
async fn join_heartbeat_outages_and_unjoin_through_the_real_binaries() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("roster-journey-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let j = Journey::start(&dir).await?;

    // Fast heartbeats for the test: the admin creates the MemberCluster first; join keeps it.
    let member = json!({
        "apiVersion": "roster.dev/v1alpha1", "kind": "MemberCluster",
        "metadata": {"name": MEMBER, "labels": {"env": "test"}},
        "spec": {"heartbeat": {"periodSeconds": PERIOD, "graceSeconds": GRACE}},
    });
    Api::<MemberCluster>::all(j.hub.clone())
        .patch(
            MEMBER,
            &PatchParams::apply("journey"),
            &Patch::Apply(member),
        )
        .await?;
    let bootstrap = dir.join("bootstrap.kubeconfig");
    j.kubectl_roster(&[
        "join",
        MEMBER,
        "--output",
        "kubeconfig",
        "--file",
        bootstrap.to_str().unwrap(),
    ])
    .await?;

    // A wrong bootstrap credential is refused with a clear message, and nothing joins.
    let wrong = dir.join("wrong.kubeconfig");
    let garbage = j
        .fleet
        .hub
        .token_kubeconfig("eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl");
    std::fs::write(&wrong, roster_testenv::kubeconfig::to_yaml(&garbage)?)?;
    let mut refused = j.agent(&wrong, "wrong")?;
    wait::until("the wrong credential refused", TIMEOUT, || {
        let log = log_of(&dir, "roster-agent-wrong.log");
        async move { Ok(log.contains("refused").then_some(())) }
    })
    .await?;
    let log = log_of(&dir, "roster-agent-wrong.log");
    assert!(
        log.to_lowercase().contains("refused"),
        "no clear refusal in the agent log:\n{log}"
    );
    refused.stop();
    assert!(j.health().await?.is_none_or(|(s, _)| s != "True"));

    // The real agent joins; the access provider reaches the member.
    let mut agent = j.agent(&bootstrap, "agent")?;
    j.wait_health("True").await?;
    let profile = Api::<ClusterProfile>::namespaced(j.hub.clone(), INVENTORY)
        .get(MEMBER)
        .await?;
    let status = profile.status.unwrap();
    let cluster = status.access_providers[0].cluster.clone().unwrap();
    assert_eq!(cluster.server, j.member().server());
    let ca = String::from_utf8(cluster.certificate_authority_data.clone().unwrap().0)?;
    assert_eq!(ca.trim(), j.member().ca_pem().trim());
    let mut kubeconfig = j.member().admin_kubeconfig().clone();
    kubeconfig.clusters[0].cluster.as_mut().unwrap().server = Some(cluster.server.clone());
    kubeconfig.clusters[0]
        .cluster
        .as_mut()
        .unwrap()
        .certificate_authority_data = Some(base64_encode(&ca));
    let via_profile = Client::try_from(roster_testenv::kubeconfig::to_config(kubeconfig).await?)?;
    let ns: Namespace = Api::all(via_profile).get("kube-system").await?;
    let id = status
        .properties
        .iter()
        .find(|p| p.name == "cluster.clusterset.k8s.io")
        .map(|p| p.value.clone());
    assert_eq!(id, ns.metadata.uid, "the cluster id is kube-system's UID");
    assert_eq!(
        status.version.and_then(|v| v.kubernetes).as_deref(),
        Some("v1.37.2")
    );

    // Stop the agent: Unknown after the grace period, not before; start it again: True.
    agent.stop();
    let stopped = Instant::now();
    j.wait_health("Unknown").await?;
    let silence = stopped.elapsed();
    // Not before the grace has passed since the agent's last renewal (measured from the Lease,
    // not from the stop: under load the stop itself can take a good part of a period).
    let lease = Api::<Lease>::namespaced(j.hub.clone(), &names::member_namespace(MEMBER))
        .get(names::AGENT_LEASE)
        .await?;
    let renewed = lease.spec.and_then(|s| s.renew_time).map(|t| t.0);
    let since_renewal = renewed
        .map(|r| Timestamp::now().duration_since(r).unsigned_abs())
        .unwrap_or_default();
    assert!(
        since_renewal >= Duration::from_secs(GRACE),
        "Unknown {since_renewal:?} after the last renewal ({renewed:?})"
    );
    assert!(
        silence <= Duration::from_secs(GRACE + PERIOD + 2),
        "Unknown only after {silence:?}"
    );
    let mut agent = j.agent(&bootstrap, "agent")?;
    j.wait_health("True").await?;

    // Stop the member's API server: the profile stops saying True; start it: True again.
    j.member().stop_apiserver()?;
    let reason = j.wait_health("False").await?;
    assert_eq!(reason, "ApiServerUnhealthy");
    j.member().start_apiserver().await?;
    j.wait_health("True").await?;

    // A hub outage: the agent rides it out and resumes.
    j.fleet.hub.stop_apiserver()?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    j.fleet.hub.start_apiserver().await?;
    j.wait_health("True").await?;
    assert!(
        agent.exit_status().is_none(),
        "the agent survived the hub outage"
    );

    // A remote service account on the member, to see it revoked when the member leaves.
    let team = roster_testenv::env::create_namespace(&j.hub).await?;
    roster_testenv::policy::allow_everything(&j.hub, &team).await?;
    let rsa: RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
        "metadata": {"name": "ops"},
        "spec": {"clusters": {"names": [MEMBER]}, "clusterRoles": ["view"]},
    }))?;
    Api::<RemoteServiceAccount>::namespaced(j.hub.clone(), &team)
        .create(&Default::default(), &rsa)
        .await?;
    let secrets: Api<Secret> = Api::namespaced(j.hub.clone(), &team);
    let secret_name = names::token_secret_name("ops", MEMBER);
    let token = wait::until("the ops token", TIMEOUT, || async {
        let secret = secrets.get_opt(&secret_name).await?;
        Ok(secret
            .and_then(|s| s.data)
            .and_then(|d| d.get(token_secret::TOKEN).cloned())
            .map(|t| String::from_utf8_lossy(&t.0).into_owned()))
    })
    .await?;
    let remote = Client::try_from(
        roster_testenv::kubeconfig::to_config(j.member().token_kubeconfig(&token)).await?,
    )?;
    Api::<Namespace>::all(remote.clone()).get("default").await?;

    // Unjoin: everything the hub made for the member goes, and the agent's token stops working.
    j.kubectl_roster(&["unjoin", MEMBER]).await?;
    let profiles: Api<ClusterProfile> = Api::namespaced(j.hub.clone(), INVENTORY);
    let namespaces: Api<Namespace> = Api::all(j.hub.clone());
    wait::until("profile and namespace gone", TIMEOUT, || async {
        let gone = profiles.get_opt(MEMBER).await?.is_none()
            && namespaces
                .get_opt(&names::member_namespace(MEMBER))
                .await?
                .is_none();
        Ok(gone.then_some(()))
    })
    .await?;
    // The agent sees it was removed, revokes what it provisioned on the member, and stops; the
    // consumer's Secret for the member goes too.
    let deadline = Instant::now() + TIMEOUT;
    while agent.exit_status().is_none() {
        assert!(
            Instant::now() < deadline,
            "the agent kept running after leaving the hub"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(log_of(&dir, "roster-agent-agent.log").contains("was removed from the hub"));
    // The API server learns of the deleted service account through its cache: wait for it.
    wait::until("the member to refuse the remote token", TIMEOUT, || async {
        let answer = Api::<Namespace>::all(remote.clone()).get("default").await;
        Ok(matches!(&answer, Err(kube::Error::Api(s)) if s.code == 401).then_some(()))
    })
    .await?;
    wait::until(
        "the consumer's Secret for the member to go",
        TIMEOUT,
        || async { Ok(secrets.get_opt(&secret_name).await?.is_none().then_some(())) },
    )
    .await?;
    agent.stop();
    drop(j);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
