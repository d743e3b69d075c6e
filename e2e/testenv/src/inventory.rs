//! What a platform admin does before an Inventory can publish into a namespace of their choosing
//! (README, "Serving Kueue, Argo CD and other consumers"): the namespace, and the hub's right to
//! write ClusterProfiles there (the ClusterRole `roster-hub-inventory` bound to roster-hub).

use k8s_openapi::api::{core::v1::Namespace, rbac::v1::RoleBinding};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::deploy::{HUB_NAMESPACE, HUB_SERVICE_ACCOUNT};

/// The ClusterRole deploy/hub defines for writing ClusterProfiles, and the binding's name.
pub const WRITER: &str = "roster-hub-inventory";

/// Creates `namespace` (if missing) and lets roster-hub write ClusterProfiles there, nothing
/// else. Idempotent (server-side apply).
pub async fn open_namespace(admin: &Client, namespace: &str) -> anyhow::Result<()> {
    let params = PatchParams::apply("roster-tests").force();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    Api::<Namespace>::all(admin.clone())
        .patch(namespace, &params, &Patch::Apply(&ns))
        .await?;
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": WRITER, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": WRITER},
        "subjects": [{"kind": "ServiceAccount", "name": HUB_SERVICE_ACCOUNT,
                      "namespace": HUB_NAMESPACE}],
    });
    Api::<RoleBinding>::namespaced(admin.clone(), namespace)
        .patch(WRITER, &params, &Patch::Apply(&binding))
        .await?;
    Ok(())
}
