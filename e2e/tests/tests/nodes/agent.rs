//! The member side as users install it: `kubectl roster join` against the hub writes the
//! agent's manifest, `kubectl apply -f` on the member runs roster-agent as a pod, and the
//! member is `Joined` and healthy with its ClusterProfile published. Then the agent pod is
//! replaced — a rolling update to a new image tag and a plain delete — after it kept its own
//! token on the member and cleared the bootstrap one: no human step brings it back.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;
use cluster_inventory::v1alpha1::ClusterProfile;
use k8s_openapi::{
    api::{
        coordination::v1::Lease,
        core::v1::{Pod, Secret},
    },
    jiff::Timestamp,
};
use kube::{
    Api,
    api::{DeleteParams, ListParams},
};
use roster_api::{MemberCluster, names};
use roster_testenv::{
    kubeconfig,
    node::{NodeCluster, pods},
    secret::text,
    wait,
};

use super::support;

/// How long a step may take on a busy 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(180);
/// The agent pods' label.
pub const AGENT_SELECTOR: &str = "app.kubernetes.io/name=roster-agent";

/// What the join left for the later journeys.
#[derive(Debug)]
pub struct Joined {
    /// The manifest applied on the member.
    pub manifest: PathBuf,
    /// The agent's own hub token, as kept on the member.
    pub kept_token: String,
}

async fn wait_joined(hub: &NodeCluster, name: &str) -> anyhow::Result<()> {
    let members: Api<MemberCluster> = Api::all(hub.client().await?);
    wait::until(&format!("{name} Joined and healthy"), TIMEOUT, || {
        let members = members.clone();
        async move {
            let member = members.get_opt(name).await.ok().flatten();
            Ok(member.filter(MemberCluster::joined_and_healthy).map(|_| ()))
        }
    })
    .await
}

/// The bootstrap kubeconfig's token; an empty one counts as none.
fn bearer(kubeconfig: &str) -> Option<String> {
    kubeconfig::bearer_token(kubeconfig).filter(|t| !t.is_empty())
}

/// Journey: `kubectl roster join` on the hub, its manifest applied on the member → `Joined`,
/// `ControlPlaneHealthy`, the ClusterProfile published with an API server hub pods reach.
pub async fn joins_from_the_manifest(
    hub: &NodeCluster,
    member: &NodeCluster,
    dir: &Path,
) -> anyhow::Result<Joined> {
    let name = member.name();
    let imported = Instant::now();
    let (image, size) = support::import_roster_image(
        member,
        &dir.join("images"),
        "roster-agent",
        env!("CARGO_PKG_VERSION"),
    )?;
    eprintln!(
        "roster-agent image ({} MiB) assembled and imported on {name} in {:?}",
        size >> 20,
        imported.elapsed()
    );

    let manifest = dir.join(format!("{name}-agent.yaml"));
    let joined = Instant::now();
    support::kubectl_roster(
        hub,
        &[
            "join",
            name,
            "--agent-image",
            &image,
            "--hub-server",
            &hub.fleet_server(),
            "--api-server-url",
            &member.fleet_server(),
            "--file",
            &manifest.display().to_string(),
        ],
    )?;
    eprintln!("kubectl roster join {name}: {:?}", joined.elapsed());

    let applied = Instant::now();
    support::kubectl(member, &["apply", "-f", &manifest.display().to_string()])?;
    wait_joined(hub, name).await?;
    eprintln!(
        "join manifest applied on {name} -> Joined and ControlPlaneHealthy in {:?}",
        applied.elapsed()
    );

    // The profile tells consumers on the hub how to reach the member across the fabric.
    let profiles: Api<ClusterProfile> =
        Api::namespaced(hub.client().await?, names::DEFAULT_INVENTORY_NAMESPACE);
    let server = member.fleet_server();
    let profile = wait::until(
        "the ClusterProfile's access provider with the member's CA",
        TIMEOUT,
        || {
            let profiles = profiles.clone();
            let server = server.clone();
            async move {
                let profile = profiles.get_opt(name).await.ok().flatten();
                // Its server and, once the agent's report is in, the member's CA (an override of
                // the server alone shows before the report does).
                Ok(profile.filter(|p| {
                    p.status.as_ref().is_some_and(|s| {
                        s.access_providers.iter().any(|a| {
                            a.cluster.as_ref().is_some_and(|c| {
                                c.server == server
                                    && c.certificate_authority_data.as_ref().is_some_and(|ca| {
                                        String::from_utf8_lossy(&ca.0)
                                            .contains(member.ca_pem().trim())
                                    })
                            })
                        })
                    })
                }))
            }
        },
    )
    .await?;
    let status = profile.status.context("no profile status")?;
    let cluster = status.access_providers[0]
        .cluster
        .as_ref()
        .context("no cluster")?;
    assert!(
        cluster
            .certificate_authority_data
            .as_ref()
            .is_some_and(|ca| String::from_utf8_lossy(&ca.0).contains(member.ca_pem().trim())),
        "the profile carries the member's CA"
    );

    // The agent keeps its own token on the member and clears the bootstrap one.
    let secrets: Api<Secret> = Api::namespaced(member.client().await?, names::AGENT_NAMESPACE);
    let kept_token = wait::until("the bootstrap credential cleared", TIMEOUT, || {
        let secrets = secrets.clone();
        async move {
            let kept = secrets
                .get_opt("roster-agent-hub-credential")
                .await?
                .map(|s| text(&s, "token"))
                .unwrap_or_default();
            let bootstrap = text(&secrets.get("roster-bootstrap").await?, "kubeconfig");
            Ok(
                (!kept.is_empty() && !bootstrap.is_empty() && bearer(&bootstrap).is_none())
                    .then_some(kept),
            )
        }
    })
    .await?;
    eprintln!("the agent kept its token on {name}; the bootstrap Secret holds no token");
    Ok(Joined {
        manifest,
        kept_token,
    })
}

async fn agent_pod(member: &NodeCluster) -> anyhow::Result<Pod> {
    let pods = pods::wait_ready(member, names::AGENT_NAMESPACE, AGENT_SELECTOR, 1, TIMEOUT).await?;
    pods.into_iter().next().context("no agent pod")
}

/// Waits until an agent pod other than `old` is Ready, the agent's Lease is renewed after
/// that, and the member is `Joined` and healthy; returns the time it took from `since`.
async fn replaced(
    hub: &NodeCluster,
    member: &NodeCluster,
    old: &str,
    since: Instant,
) -> anyhow::Result<(String, Duration, Duration)> {
    let pods: Api<Pod> = Api::namespaced(member.client().await?, names::AGENT_NAMESPACE);
    let params = ListParams::default().labels(AGENT_SELECTOR);
    let new = wait::until("a new agent pod Ready", TIMEOUT, || {
        let (pods, params) = (pods.clone(), params.clone());
        async move {
            let list = pods.list(&params).await?.items;
            let others = list
                .iter()
                .filter(|p| p.metadata.name.as_deref() != Some(old))
                .filter(|p| pods::running_and_ready(p))
                .filter_map(|p| p.metadata.name.clone())
                .next();
            // The old pod must be gone too: the Deployment recreates.
            let old_gone = list.iter().all(|p| p.metadata.name.as_deref() != Some(old));
            Ok(others.filter(|_| old_gone))
        }
    })
    .await?;
    let ready = since.elapsed();
    let renewed_after = Timestamp::now();
    let leases: Api<Lease> =
        Api::namespaced(hub.client().await?, &names::member_namespace(member.name()));
    wait::until("the new agent renews its Lease", TIMEOUT, || {
        let leases = leases.clone();
        async move {
            let lease = leases.get_opt(names::AGENT_LEASE).await?;
            let renew = lease.and_then(|l| l.spec?.renew_time).map(|t| t.0);
            Ok(renew.filter(|r| *r > renewed_after).map(|_| ()))
        }
    })
    .await?;
    wait_joined(hub, member.name()).await?;
    Ok((new, ready, since.elapsed()))
}

/// Journey: the agent pod replaced, by a rolling update to a new image tag and by a plain
/// delete, after its bootstrap credential was cleared → the member stays or returns `Joined`
/// with no human step, its Lease renewed by the new pod.
pub async fn survives_replacement(
    hub: &NodeCluster,
    member: &NodeCluster,
    dir: &Path,
) -> anyhow::Result<()> {
    let name = member.name();
    let first = agent_pod(member).await?;
    let first_name = first.metadata.name.clone().context("unnamed pod")?;

    // (a) A rolling update to the same image under a new tag.
    let (next, _) = support::import_roster_image(
        member,
        &dir.join("images"),
        "roster-agent",
        &format!("{}-next", env!("CARGO_PKG_VERSION")),
    )?;
    let started = Instant::now();
    support::kubectl(
        member,
        &[
            "-n",
            names::AGENT_NAMESPACE,
            "set",
            "image",
            "deployment/roster-agent",
            &format!("roster-agent={next}"),
        ],
    )?;
    let (second, ready, renewed) = replaced(hub, member, &first_name, started).await?;
    let pods: Api<Pod> = Api::namespaced(member.client().await?, names::AGENT_NAMESPACE);
    let image = pods
        .get(&second)
        .await?
        .spec
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.image);
    assert_eq!(
        image.as_deref(),
        Some(next.as_str()),
        "{second} runs {next}"
    );
    eprintln!(
        "rolling update of roster-agent on {name} to {next}: new pod Ready in {ready:?}, Lease renewed and Joined in {renewed:?}"
    );

    // (b) A plain delete.
    let started = Instant::now();
    pods.delete(&second, &DeleteParams::default()).await?;
    let (_, ready, renewed) = replaced(hub, member, &second, started).await?;
    eprintln!(
        "kubectl delete pod {second} on {name}: new pod Ready in {ready:?}, Lease renewed and Joined in {renewed:?}"
    );

    // Still no credential in the bootstrap Secret.
    let secrets: Api<Secret> = Api::namespaced(member.client().await?, names::AGENT_NAMESPACE);
    let bootstrap = text(&secrets.get("roster-bootstrap").await?, "kubeconfig");
    assert!(
        bearer(&bootstrap).is_none(),
        "no token in the bootstrap Secret"
    );
    Ok(())
}
