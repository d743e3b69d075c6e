//! RemoteAccessPolicies for tests: without one, a RemoteServiceAccount gets nothing (and its
//! creation is refused while a hub serves its webhook), so every test that is not about
//! policies lets its namespace have anything.

use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use roster_api::{RemoteAccessPolicy, RemoteServiceAccount};
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
    admitted(admin, namespace).await
}

/// Waits (up to 10 s) until a dry run of creating a RemoteServiceAccount in `namespace` is not
/// refused for want of a policy: a hub whose webhook has not seen the policy yet would refuse
/// the test's first account. Without a hub webhook the dry run is admitted at once.
async fn admitted(admin: &Client, namespace: &str) -> anyhow::Result<()> {
    let probe: RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
        "metadata": {"name": "policy-probe", "namespace": namespace},
        "spec": {"clusters": {"names": ["policy-probe"]}},
    }))?;
    let api = Api::<RemoteServiceAccount>::namespaced(admin.clone(), namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match api.create(&dry_run, &probe).await {
            Err(kube::Error::Api(s))
                if s.message.contains("RemoteAccessPolicy")
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            // Admitted, or refused for another reason (which the test's own create reports).
            _ => return Ok(()),
        }
    }
}
