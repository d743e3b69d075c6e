//! Objects the webhook tests and the admission bench both start from.

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use roster_api::{MemberCluster, RemoteServiceAccount, names};
use serde_json::{Value, json};

/// Creates the namespace `namespace`, a MemberCluster per name in `members` (no agents: the
/// webhook mounts named clusters all the same) and the RemoteServiceAccount `rsa` in
/// `namespace` naming them all, which a policy allows everything.
pub async fn automount(
    admin: &Client,
    namespace: &str,
    members: &[&str],
    rsa: &str,
) -> anyhow::Result<()> {
    let pp = PostParams::default();
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(admin.clone())
        .create(&pp, &ns)
        .await?;
    for member in members {
        let member: MemberCluster = serde_json::from_value(json!({
            "apiVersion": "roster.dev/v1alpha1",
            "kind": "MemberCluster",
            "metadata": {"name": member},
            "spec": {"displayName": member},
        }))?;
        Api::<MemberCluster>::all(admin.clone())
            .create(&pp, &member)
            .await?;
    }
    crate::policy::allow_everything(admin, namespace).await?;
    let rsa: RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1",
        "kind": "RemoteServiceAccount",
        "metadata": {"name": rsa, "namespace": namespace},
        "spec": {"clusters": {"names": members}},
    }))?;
    Api::<RemoteServiceAccount>::namespaced(admin.clone(), namespace)
        .create(&pp, &rsa)
        .await?;
    Ok(())
}

/// A pod with an init container and two containers (no service-account token), its name
/// generated from `generate_name`, annotated with the RemoteServiceAccounts `rsas` when given.
pub fn pod(generate_name: &str, rsas: Option<&str>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": generate_name},
        "spec": {
            "automountServiceAccountToken": false,
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [
                {"name": "app", "image": "busybox"},
                {"name": "sidecar", "image": "busybox"}
            ],
        },
    });
    if let Some(rsas) = rsas {
        pod["metadata"]["annotations"] = json!({names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS: rsas});
    }
    pod
}
