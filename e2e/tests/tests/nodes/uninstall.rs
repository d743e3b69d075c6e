//! The README's uninstall order — RemoteServiceAccounts, `kubectl roster unjoin`, the agent's
//! manifest on the member, `kubectl delete -k deploy/hub` — leaves nothing behind: no Roster
//! pods or objects on the hub or the member, and the member-side identities revoked (the
//! agent's hub token and the remote service account's member token are refused).

use std::{path::Path, process::Command, time::Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use roster_api::names;
use roster_testenv::{binary, node::NodeCluster, secret::text};

use super::{agent::Joined, consumer, support};

/// Whether `token` authenticates to `cluster` (a discovery request any identity may make).
fn accepted(cluster: &NodeCluster, dir: &Path, token: &str) -> anyhow::Result<bool> {
    let ca = dir.join(format!("{}-ca.crt", cluster.name()));
    std::fs::write(&ca, cluster.ca_pem())?;
    let out = Command::new(binary::controlplane()?)
        .args(["kubectl", "get", "--raw", "/api"])
        .arg(format!("--server={}", cluster.server()))
        .arg(format!("--certificate-authority={}", ca.display()))
        .arg(format!("--token={token}"))
        .arg("--kubeconfig=/dev/null")
        .output()
        .context("running kubectl")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Ok(true);
    }
    anyhow::ensure!(
        stderr.contains("Unauthorized"),
        "kubectl get --raw /api on {}: {stderr}",
        cluster.name()
    );
    Ok(false)
}

/// The objects of `kinds` on `cluster` (`namespace kind name`) whose namespace or name
/// mentions roster, but for the namespace of remote service accounts on a member, which may
/// stay with nothing of Roster in it.
fn roster_objects(cluster: &NodeCluster, kinds: &str) -> anyhow::Result<Vec<String>> {
    let columns = "custom-columns=NS:.metadata.namespace,KIND:.kind,NAME:.metadata.name";
    let out = support::kubectl(
        cluster,
        &["get", kinds, "-A", "--no-headers", "-o", columns],
    )?;
    let remote = names::DEFAULT_REMOTE_NAMESPACE;
    let kept = [
        format!("<none> Namespace {remote}"),
        format!("{remote} ServiceAccount default"),
    ];
    Ok(out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| l.contains("roster") && !kept.contains(l))
        .collect())
}

/// Journey: uninstall in the README's order, then nothing of Roster is left.
pub async fn leaves_nothing_behind(
    hub: &NodeCluster,
    member: &NodeCluster,
    joined: &Joined,
    dir: &Path,
) -> anyhow::Result<()> {
    let name = member.name();
    // The identities to be revoked, working before.
    let member_secrets: Api<Secret> =
        Api::namespaced(member.client().await?, names::AGENT_NAMESPACE);
    let agent_token = member_secrets
        .get_opt("roster-agent-hub-credential")
        .await?
        .map(|s| text(&s, "token"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| joined.kept_token.clone());
    let hub_secrets: Api<Secret> = Api::namespaced(hub.client().await?, consumer::NAMESPACE);
    let remote_token = text(
        &hub_secrets
            .get(&format!("{}-{name}", consumer::RSA))
            .await?,
        "token",
    );
    assert!(
        accepted(hub, dir, &agent_token)?,
        "the agent's hub token works before"
    );
    assert!(
        accepted(member, dir, &remote_token)?,
        "the remote service account's token works before"
    );

    let started = Instant::now();
    support::kubectl(
        hub,
        &[
            "delete",
            "remoteserviceaccounts",
            "--all",
            "-A",
            "--timeout=120s",
        ],
    )?;
    support::kubectl_roster(hub, &["unjoin", name])?;
    support::kubectl(
        member,
        &[
            "delete",
            "-f",
            &joined.manifest.display().to_string(),
            "--timeout=120s",
        ],
    )?;
    let base = binary::workspace_root().join("deploy/hub");
    support::kubectl(
        hub,
        &[
            "delete",
            "-k",
            &base.display().to_string(),
            "--timeout=180s",
        ],
    )?;
    // The test bed applied deploy/components/issuer-discovery on its own (every node fleet's
    // hub publishes its discovery, see roster_testenv::trust); an overlay of deploy/hub with
    // the component deletes it in the step above.
    let discovery = roster_testenv::trust::issuer_discovery_path();
    support::kubectl(hub, &["delete", "-f", &discovery.display().to_string()])?;
    eprintln!(
        "uninstalled in the README's order in {:?}",
        started.elapsed()
    );

    // Nothing left: pods, namespaces, CRDs, RBAC, webhooks.
    let hub_left = roster_objects(
        hub,
        "pods,namespaces,customresourcedefinitions,clusterroles,clusterrolebindings,roles,rolebindings,serviceaccounts,mutatingwebhookconfigurations,validatingwebhookconfigurations,leases,secrets",
    )?;
    assert!(hub_left.is_empty(), "left on the hub: {hub_left:?}");
    let crds = support::kubectl(hub, &["get", "customresourcedefinitions", "-o", "name"])?;
    assert!(
        !crds.contains("roster.dev") && !crds.contains("multicluster.x-k8s.io"),
        "CRDs left on the hub: {crds}"
    );
    let member_left = roster_objects(
        member,
        "pods,namespaces,clusterroles,clusterrolebindings,roles,rolebindings,serviceaccounts,secrets",
    )?;
    assert!(member_left.is_empty(), "left on {name}: {member_left:?}");

    // The identities are revoked.
    assert!(
        !accepted(hub, dir, &agent_token)?,
        "the agent's hub token is refused after uninstall"
    );
    assert!(
        !accepted(member, dir, &remote_token)?,
        "the remote service account's token is refused after uninstall"
    );
    eprintln!(
        "after uninstall: no Roster pods or objects on the hub or {name}; the agent's hub token and the remote token are refused"
    );
    Ok(())
}
