//! Federated access for a pod on a real node: the member's API server trusts the hub's issuer,
//! a federated RemoteServiceAccount binds `view` to a hub service account's federated user, and
//! an annotated pod running as that account lists the member's namespaces with the kubelet's
//! projected token for the member's audience and the kubeconfig the webhook mounts beside it.
//! No Secret exists for it anywhere; a pod running as another account is refused.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use roster_api::{MemberCluster, conditions::CONDITION_FEDERATION_TRUSTED, names};
use roster_testenv::{node::NodeCluster, wait};
use serde_json::json;

use super::{
    consumer::{NAMESPACE, automounted_pod, lists_the_member_namespaces},
    support,
};

const TIMEOUT: Duration = Duration::from_secs(180);
/// The federated RemoteServiceAccount.
const RSA: &str = "federated";
/// The hub service account it federates.
const ACTOR: &str = "ci-runner";

/// Journey: the member trusts the hub (`FederationTrusted`), a federated account is Ready, and an
/// annotated pod running as its hub service account reaches the member with no Secret at all.
/// Runs after [`super::consumer::reaches_the_member`] (its namespace, policy and image).
pub async fn a_pod_reaches_the_member_as_its_hub_identity(
    hub: &NodeCluster,
    member: &str,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let client = hub.client().await?;
    let started = Instant::now();
    // What the hub's admin does once: members may read the issuer's discovery document and
    // keys without credentials.
    let discovery = roster_testenv::binary::workspace_root()
        .join("deploy/components/issuer-discovery/issuer-discovery.yaml");
    support::kubectl(hub, &["apply", "-f", &discovery.display().to_string()])?;
    let members: Api<MemberCluster> = Api::all(client.clone());
    wait::until(&format!("{member} FederationTrusted True"), TIMEOUT, || {
        let members = members.clone();
        async move {
            let m = members.get(member).await?;
            Ok(m.condition_true(CONDITION_FEDERATION_TRUSTED).then_some(()))
        }
    })
    .await?;
    eprintln!(
        "{member} reports that it trusts the hub's issuer ({:?} after the consumer journey)",
        started.elapsed()
    );

    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": ACTOR, "namespace": NAMESPACE}},
        {"apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
         "metadata": {"name": RSA, "namespace": NAMESPACE},
         "spec": {"clusters": {"names": [member]}, "clusterRoles": ["view"],
                  "federation": {"serviceAccountName": ACTOR},
                  "token": {"expirationSeconds": 600}}},
    ]});
    let file = dir.join("federated-rsa.json");
    std::fs::write(&file, serde_json::to_string(&objects)?)?;
    let applied = Instant::now();
    support::kubectl(hub, &["apply", "-f", &file.display().to_string()])?;
    let rsas: Api<roster_api::RemoteServiceAccount> = Api::namespaced(client.clone(), NAMESPACE);
    wait::until("the federated account Ready", TIMEOUT, || {
        let rsas = rsas.clone();
        async move {
            let rsa = rsas.get(RSA).await?;
            Ok(rsa
                .status
                .iter()
                .flat_map(|s| &s.conditions)
                .any(|c| c.type_ == "Ready" && c.status == "True")
                .then_some(()))
        }
    })
    .await?;
    eprintln!(
        "federated RemoteServiceAccount {NAMESPACE}/{RSA} Ready in {:?}",
        applied.elapsed()
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let pod = |name: &str, account: &str| automounted_pod(name, RSA, member, Some(account));
    let refused = pods
        .create(&PostParams::default(), &pod("not-the-actor", "default")?)
        .await
        .expect_err("a pod running as another account is refused");
    assert!(
        refused.to_string().contains(&format!(
            "set the pod's spec.serviceAccountName to \"{ACTOR}\""
        )),
        "{refused}"
    );

    let created = Instant::now();
    let admitted = pods
        .create(&PostParams::default(), &pod("federated-consumer", ACTOR)?)
        .await?;
    let volumes = serde_json::to_value(admitted.spec.as_ref().map(|s| &s.volumes))?;
    let text = volumes.to_string();
    assert!(
        text.contains(&format!("\"audience\":\"roster:{member}\"")) && !text.contains("secret"),
        "a projected token for the member's audience, no Secret: {text}"
    );
    lists_the_member_namespaces(&pods, "federated-consumer", member).await?;
    eprintln!(
        "a pod running as {NAMESPACE}/{ACTOR} listed {member}'s namespaces with its projected hub token (pod created to Succeeded: {:?})",
        created.elapsed()
    );

    let secrets = Api::<Secret>::namespaced(client, NAMESPACE)
        .list(&ListParams::default().labels(&format!(
            "{}={RSA}",
            names::token_secret::LABEL_REMOTE_SERVICE_ACCOUNT
        )))
        .await?;
    assert!(
        secrets.items.is_empty(),
        "no Secret for a federated account"
    );
    Ok(())
}
