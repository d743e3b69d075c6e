//! The shared fleet's members joined for real: `kubectl roster join` writes the install
//! manifest, its RBAC is applied on the member, and `roster-agent` runs as the manifest's
//! service account (so the member-side ClusterRole is what the agent really has), against the
//! shared `roster-hub`.

use std::{path::PathBuf, time::Duration};

use k8s_openapi::api::{
    core::v1::{Namespace, Secret, ServiceAccount},
    rbac::v1::{ClusterRole, ClusterRoleBinding},
};
use kube::{
    Api, Client, Resource,
    api::{Patch, PatchParams},
};
use roster_api::{MemberCluster, names};
use roster_testenv::{command, identity, kubeconfig, process::Process, roster, wait};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::support;

/// Label every joined member carries, for selector tests.
pub const LABEL: (&str, &str) = ("e2e.roster.dev/joined", "true");

/// The ceiling of the shared members (`kubectl roster join` and the agents get the same
/// flags): the ClusterRoles the tests grant, and rules; cluster-admin is beyond it.
pub const CEILING: [&str; 2] = [
    "--grantable-cluster-roles=view,edit,multikueue-worker",
    "--allow-rules",
];

/// Point of a remote token's life at which the agents refresh it: a 600 s token is replaced
/// after 12 s, so rotation is seen in a test.
pub const REFRESH_FRACTION: &str = "0.02";

/// The agents serving the shared members.
#[derive(Debug)]
pub struct Joined {
    /// One agent per member of the shared fleet.
    pub agents: Vec<Process>,
    /// Their log files.
    pub logs: Vec<PathBuf>,
}

/// Joins every member of the shared fleet once per test binary and waits until each is
/// Joined with its API server reported.
pub async fn joined() -> &'static Joined {
    static JOINED: tokio::sync::OnceCell<Joined> = tokio::sync::OnceCell::const_new();
    JOINED
        .get_or_init(|| async { join_all().await.expect("the shared members join") })
        .await
}

async fn join_all() -> anyhow::Result<Joined> {
    support::hub_process().await;
    let fleet = roster_testenv::shared_fleet().await;
    let hub = fleet.hub.client().await?;
    let mut joined = Joined {
        agents: Vec::new(),
        logs: Vec::new(),
    };
    for member in &fleet.members {
        let dir = fleet.dir().join(format!("agent-{}", member.name()));
        std::fs::create_dir_all(&dir)?;
        let manifest = dir.join("install.yaml");
        let join = ["join", member.name(), "--output=manifest"];
        command::kubectl_roster(&fleet.hub.kubeconfig_path(), &join)?
            .arg(format!("--file={}", manifest.display()))
            .arg(format!("--label={}={}", LABEL.0, LABEL.1))
            .args(CEILING)
            .run_async()
            .await?;
        let member_client = member.client().await?;
        let bootstrap = install_rbac(&member_client, &std::fs::read_to_string(&manifest)?).await?;
        let bootstrap_path = dir.join("bootstrap.kubeconfig");
        std::fs::write(&bootstrap_path, bootstrap)?;
        let agent_kubeconfig = dir.join("member.kubeconfig");
        let token = agent_token(&member_client).await?;
        std::fs::write(
            &agent_kubeconfig,
            kubeconfig::to_yaml(&member.token_kubeconfig(&token))?,
        )?;
        let log = dir.join("roster-agent.log");
        joined.agents.push(roster::spawn(
            "roster-agent",
            &[
                format!("--member-name={}", member.name()),
                format!("--bootstrap-kubeconfig={}", bootstrap_path.display()),
                format!("--member-kubeconfig={}", agent_kubeconfig.display()),
                format!("--state-dir={}", dir.join("state").display()),
                "--report-interval=2".into(),
                format!("--token-refresh-fraction={REFRESH_FRACTION}"),
                "--admin-address=127.0.0.1:0".into(),
                CEILING[0].into(),
                CEILING[1].into(),
            ],
            &[("RUST_LOG", "info,roster_agent=debug")],
            &log,
        )?);
        joined.logs.push(log);
    }
    let _ = JOINED_LOGS.set(joined.logs.clone());
    let members: Api<MemberCluster> = Api::all(hub);
    for member in &fleet.members {
        wait::until(
            &format!("{} joined with its API server reported", member.name()),
            Duration::from_secs(60),
            || async {
                let m = members.get(member.name()).await?;
                let reported = m.status.as_ref().is_some_and(|s| s.api_server.is_some());
                Ok((m.condition_true("Joined") && reported).then_some(()))
            },
        )
        .await?;
    }
    Ok(joined)
}

/// Applies the manifest's namespace, service account and RBAC on the member (everything but
/// the Deployment: the agent runs as a local process); returns the bootstrap kubeconfig.
async fn install_rbac(member: &Client, manifest: &str) -> anyhow::Result<String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(manifest)?;
    let mut bootstrap = None;
    for doc in docs {
        match doc["kind"].as_str().unwrap_or_default() {
            "Namespace" => apply::<Namespace>(Api::all(member.clone()), doc).await?,
            "ServiceAccount" => {
                apply::<ServiceAccount>(
                    Api::namespaced(member.clone(), names::AGENT_NAMESPACE),
                    doc,
                )
                .await?
            }
            "ClusterRole" => apply::<ClusterRole>(Api::all(member.clone()), doc).await?,
            "ClusterRoleBinding" => {
                apply::<ClusterRoleBinding>(Api::all(member.clone()), doc).await?
            }
            "Secret" => {
                let secret: Secret = serde_json::from_value(doc)?;
                bootstrap = secret.string_data.and_then(|d| d.into_values().next());
            }
            _ => {}
        }
    }
    bootstrap.ok_or_else(|| anyhow::anyhow!("the manifest has no bootstrap Secret"))
}

async fn apply<K>(api: Api<K>, doc: Value) -> anyhow::Result<()>
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned + serde::Serialize,
{
    let name = doc["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.patch(
        &name,
        &PatchParams::apply("e2e").force(),
        &Patch::Apply(doc),
    )
    .await?;
    Ok(())
}

/// A token for the manifest's agent service account on the member.
async fn agent_token(member: &Client) -> anyhow::Result<String> {
    let agent = identity::token(member, names::AGENT_NAMESPACE, "roster-agent", 7200).await?;
    Ok(agent.token)
}

/// The last lines of every agent's log, for a failed wait.
pub fn diagnostics() -> String {
    let mut out = String::new();
    if let Some(joined) = JOINED_LOGS.get() {
        for log in joined {
            out.push_str(&format!(
                "{}:\n{}\n",
                log.display(),
                roster_testenv::process::log_tail(log, 15)
            ));
        }
    }
    out
}

static JOINED_LOGS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
