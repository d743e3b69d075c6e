//! RemoteAccessPolicies for tests: without one, a RemoteServiceAccount gets nothing (and its
//! creation is refused while a hub serves its webhook), so every test that is not about
//! policies lets its namespace have anything.

use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use roster_api::RemoteAccessPolicy;
use serde_json::json;

/// Name of the policy [`allow_everything`] writes for `namespace`.
pub fn allow_everything_name(namespace: &str) -> String {
    format!("allow-everything-{namespace}")
}

/// Lets the RemoteServiceAccounts of the hub namespace `namespace` obtain anything on every
/// member: any ClusterRole anywhere, any rule (wildcards too), any token lifetime the API
/// allows, and the audiences tests use. Idempotent (server-side apply).
pub async fn allow_everything(admin: &Client, namespace: &str) -> anyhow::Result<()> {
    let name = allow_everything_name(namespace);
    let policy = json!({
        "apiVersion": "roster.dev/v1alpha1",
        "kind": "RemoteAccessPolicy",
        "metadata": {"name": name},
        "spec": {
            "consumers": {"namespaces": [namespace]},
            "members": {},
            "clusterRoles": ["*"],
            "roles": [{"namespaces": ["*"], "clusterRoles": ["*"]}],
            "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        },
    });
    Api::<RemoteAccessPolicy>::all(admin.clone())
        .patch(
            &name,
            &PatchParams::apply("roster-tests").force(),
            &Patch::Apply(policy),
        )
        .await?;
    Ok(())
}
