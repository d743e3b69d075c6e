//! Roster's kustomize bases (`deploy/`) on the test clusters: rendered by the kubectl built
//! into the control-plane binary, applied with server-side apply, and roster-hub's own identity
//! from `deploy/hub`, so the tests run the hub with the RBAC a real installation gives it.

use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use kube::{
    Api, Client,
    api::{DynamicObject, GroupVersionKind, Patch, PatchParams},
    discovery::{self, Scope},
};
use serde_json::Value;

use crate::{Cluster, binary, command};

/// Namespace of roster-hub's Deployment and service account in `deploy/hub`.
pub const HUB_NAMESPACE: &str = "roster-system";

/// roster-hub's service account in `deploy/hub`.
pub const HUB_SERVICE_ACCOUNT: &str = "roster-hub";

/// Field manager of what the tests apply from `deploy/`.
const FIELD_MANAGER: &str = "roster-e2e-deploy";

/// The kinds of `deploy/hub` that make up roster-hub's identity and rights (and the namespaces
/// they live in); the rest (CRDs, Deployment, Service, webhook) is for a real cluster only.
pub const HUB_IDENTITY_KINDS: [&str; 6] = [
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// How long the tests' roster-hub token lasts: longer than any test run.
const HUB_TOKEN_SECONDS: i64 = 2 * 3600;

/// `deploy/<name>` in the workspace.
pub fn base(name: &str) -> PathBuf {
    binary::workspace_root().join("deploy").join(name)
}

/// Renders the kustomization in `dir` with `kubectl kustomize` and returns its objects.
pub async fn kustomize(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let yaml = command::kubectl_without_kubeconfig(&["kustomize"])?
        .arg(dir)
        .run_async()
        .await?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml)
        .with_context(|| format!("parsing the output of kubectl kustomize {}", dir.display()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// `to` relative to `from` (both absolute): kustomize refuses absolute paths to bases.
pub fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part);
    }
    path
}

/// The object's kind.
pub fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

/// `kind/namespace/name` of an object, for messages.
pub fn describe(object: &Value) -> String {
    let meta = &object["metadata"];
    match meta["namespace"].as_str() {
        Some(ns) => format!(
            "{}/{ns}/{}",
            kind(object),
            meta["name"].as_str().unwrap_or("?")
        ),
        None => format!("{}/{}", kind(object), meta["name"].as_str().unwrap_or("?")),
    }
}

/// Applies `object` with server-side apply (a dry run when `dry_run`), resolving its kind on
/// the API server; returns what the server answered.
pub async fn apply(client: &Client, object: &Value, dry_run: bool) -> anyhow::Result<Value> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind(object));
    let (resource, caps) = discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("{}: kind not served", describe(object)))?;
    let name = object["metadata"]["name"]
        .as_str()
        .with_context(|| format!("{}: no name", describe(object)))?;
    let api: Api<DynamicObject> = match (&caps.scope, object["metadata"]["namespace"].as_str()) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
        (Scope::Namespaced, None) => {
            anyhow::bail!("{}: namespaced, no namespace", describe(object))
        }
        (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
    };
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    let answer = api
        .patch(name, &params, &Patch::Apply(object))
        .await
        .with_context(|| {
            format!(
                "server-side apply{} of {}",
                if dry_run { " (dry run)" } else { "" },
                describe(object)
            )
        })?;
    Ok(serde_json::to_value(answer)?)
}

/// Applies roster-hub's service account, roles and bindings from `deploy/hub` to `cluster`,
/// mints a token for that service account (TokenRequest, [`HUB_TOKEN_SECONDS`]) and writes a
/// kubeconfig with it into `dir`; returns the kubeconfig's path. A roster-hub run with it has
/// exactly the rights a real installation gives it.
pub async fn hub_kubeconfig(cluster: &Cluster, dir: &Path) -> anyhow::Result<PathBuf> {
    let admin = cluster.client().await?;
    let objects = kustomize(&base("hub")).await?;
    let mut applied = 0;
    // Namespaces first: the service account and Roles live in them.
    for pass in [true, false] {
        for object in objects
            .iter()
            .filter(|o| HUB_IDENTITY_KINDS.contains(&kind(o)))
            .filter(|o| (kind(o) == "Namespace") == pass)
        {
            apply(&admin, object, false).await?;
            applied += 1;
        }
    }
    anyhow::ensure!(
        applied > HUB_IDENTITY_KINDS.len(),
        "deploy/hub holds no identity for roster-hub"
    );
    let token = crate::identity::token(
        &admin,
        HUB_NAMESPACE,
        HUB_SERVICE_ACCOUNT,
        HUB_TOKEN_SECONDS,
    )
    .await
    .context("minting roster-hub's token")?
    .token;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("roster-hub.kubeconfig");
    let kubeconfig = crate::kubeconfig::to_yaml(&cluster.token_kubeconfig(&token))?;
    std::fs::write(&path, kubeconfig).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        assert_eq!(
            relative_path(
                Path::new("/w/target/t/run-1/o"),
                Path::new("/w/deploy/agent")
            ),
            PathBuf::from("../../../../deploy/agent")
        );
        assert_eq!(
            relative_path(Path::new("/w"), Path::new("/w/deploy")),
            PathBuf::from("deploy")
        );
    }
}
