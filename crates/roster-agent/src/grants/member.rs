//! The agent's writes on its member for a grant: the service account (after checking who owns
//! an existing one; a federated grant has none), its RBAC, pruning what the grant no longer
//! asks for, and the token.

use std::collections::HashSet;

use k8s_openapi::{
    api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        core::v1::{Namespace, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding},
    },
    jiff::Timestamp,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    runtime::reflector::Store,
};
use roster_api::{RemoteAccountGrant, names};
use serde::{Serialize, de::DeserializeOwned};

use super::desired::{self, Ownership};
use roster_runtime::errors::{self, Category};

/// Why a grant cannot be served (for its status) or a retry is needed. Both name the object.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The grant cannot be served as it stands: the message says why, for the user.
    #[error("{message}")]
    Refused {
        /// What kind of refusal (the metric label).
        category: Category,
        /// For the user: the object and the member's answer.
        message: String,
    },
    /// A retry may cure it (see [`Category::is_transient`]): try again soon.
    #[error("{what}: {}", errors::brief(.error))]
    Transient {
        /// The action and the object.
        what: String,
        /// The member's error.
        error: kube::Error,
    },
}

impl ProvisionError {
    fn from_kube(what: &str, error: kube::Error) -> Self {
        let category = Category::of(&error);
        if category.is_transient() {
            return ProvisionError::Transient {
                what: what.to_owned(),
                error,
            };
        }
        let detail = match &error {
            kube::Error::Api(s) => s.message.clone(),
            other => errors::brief(other),
        };
        ProvisionError::Refused {
            category,
            message: format!("{what}: {detail}"),
        }
    }

    fn refused(category: Category, message: String) -> Self {
        ProvisionError::Refused { category, message }
    }

    /// What kind of failure it is, for the metric.
    pub fn category(&self) -> Category {
        match self {
            ProvisionError::Refused { category, .. } => *category,
            ProvisionError::Transient { error, .. } => Category::of(error),
        }
    }
}

fn params() -> PatchParams {
    PatchParams::apply(names::AGENT_FIELD_MANAGER).force()
}

async fn apply<K>(api: Api<K>, object: &K, what: &str) -> Result<K, ProvisionError>
where
    K: Resource<DynamicType = ()> + Serialize + Clone + std::fmt::Debug + DeserializeOwned,
{
    let mut value = serde_json::to_value(object)
        .map_err(|e| ProvisionError::refused(Category::Serialize, format!("{what}: {e}")))?;
    value["apiVersion"] = serde_json::json!(K::api_version(&()));
    value["kind"] = serde_json::json!(K::kind(&()));
    let name = object.meta().name.clone().unwrap_or_default();
    api.patch(&name, &params(), &Patch::Apply(value))
        .await
        .map_err(|e| ProvisionError::from_kube(what, e))
}

async fn delete<K>(api: Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates or updates everything `grant` needs on the member; returns its service account's
/// UID (`None` for a federated grant, which has none). `live` tells whether a grant UID
/// belongs to a grant that still exists, asked when the answer is needed.
pub async fn provision(
    member: &Client,
    grant: &RemoteAccountGrant,
    live: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Option<String>, ProvisionError> {
    let uid = grant.metadata.uid.clone().unwrap_or_default();
    let wanted = desired::desired(grant);
    let account = match &wanted.service_account {
        Some(account) => Some(provision_account(member, &uid, account, live).await?),
        None => None,
    };
    if let Some(role) = &wanted.cluster_role {
        let what = format!(
            "creating ClusterRole {} for spec.rules",
            role.metadata.name.as_deref().unwrap_or_default()
        );
        apply(Api::all(member.clone()), role, &what).await?;
    }
    for binding in &wanted.cluster_role_bindings {
        let what = format!(
            "binding ClusterRole {} (ClusterRoleBinding {})",
            binding.role_ref.name,
            binding.metadata.name.as_deref().unwrap_or_default()
        );
        apply(Api::all(member.clone()), binding, &what).await?;
    }
    for binding in &wanted.role_bindings {
        let namespace = binding.metadata.namespace.clone().unwrap_or_default();
        let what = format!(
            "binding ClusterRole {} in namespace {namespace} (RoleBinding {namespace}/{})",
            binding.role_ref.name,
            binding.metadata.name.as_deref().unwrap_or_default()
        );
        let api = Api::namespaced(member.clone(), &namespace);
        apply(api, binding, &what).await?;
    }
    prune(member, &uid, &wanted)
        .await
        .map_err(|e| ProvisionError::from_kube("removing bindings no longer asked for", e))?;
    Ok(account)
}

/// Creates or updates the grant's service account `wanted` after checking who owns an
/// existing one; returns its UID.
async fn provision_account(
    member: &Client,
    uid: &str,
    wanted: &ServiceAccount,
    live: &(dyn Fn(&str) -> bool + Sync),
) -> Result<String, ProvisionError> {
    let namespace = wanted.metadata.namespace.clone().unwrap_or_default();
    let name = wanted.metadata.name.clone().unwrap_or_default();
    ensure_namespace(member, &namespace).await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(member.clone(), &namespace);
    let who = format!("service account {namespace}/{name}");
    let existing = accounts
        .get_opt(&name)
        .await
        .map_err(|e| ProvisionError::from_kube(&format!("reading {who}"), e))?;
    match desired::ownership(existing.as_ref(), uid, live) {
        Ownership::Ours => {}
        Ownership::Stale => {
            // Its tokens belong to a revoked grant: delete it so they die, then start afresh.
            tracing::info!(account = %who, "replacing a service account left by a revoked grant");
            delete(accounts.clone(), &name).await.map_err(|e| {
                ProvisionError::from_kube(&format!("deleting {who}, left by a revoked grant"), e)
            })?;
        }
        Ownership::Taken(by) => {
            return Err(ProvisionError::refused(
                Category::Invalid,
                format!(
                    "{who} on this member already belongs to RemoteServiceAccount {by}; choose \
                     another spec.serviceAccount"
                ),
            ));
        }
        Ownership::Foreign => {
            return Err(ProvisionError::refused(
                Category::Invalid,
                format!(
                    "{who} already exists on this member and was not created by Roster; choose \
                     another spec.serviceAccount"
                ),
            ));
        }
    }
    let account = apply(accounts, wanted, &format!("creating {who}")).await?;
    Ok(account.uid().unwrap_or_default())
}

async fn ensure_namespace(member: &Client, name: &str) -> Result<(), ProvisionError> {
    let api: Api<Namespace> = Api::all(member.clone());
    let found = api.get_opt(name).await.map_err(|e| {
        ProvisionError::from_kube(
            &format!("reading the service account's namespace {name}"),
            e,
        )
    })?;
    if found.is_none() {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.to_owned());
        ns.metadata.labels = Some(
            [(
                names::LABEL_MANAGED_BY.to_owned(),
                names::MANAGED_BY.to_owned(),
            )]
            .into(),
        );
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_already_exists() => {}
            Err(e) => {
                return Err(ProvisionError::from_kube(
                    &format!("creating the service account's namespace {name}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// Deletes the grant's bindings and ClusterRole that `wanted` no longer has.
async fn prune(
    member: &Client,
    uid: &str,
    wanted: &desired::MemberObjects,
) -> Result<(), kube::Error> {
    let selector = ListParams::default().labels(&format!("{}={uid}", names::LABEL_GRANT_UID));
    let crbs: Api<ClusterRoleBinding> = Api::all(member.clone());
    for b in crbs.list(&selector).await? {
        let kept = wanted
            .cluster_role_bindings
            .iter()
            .any(|w| w.metadata.name == b.metadata.name);
        if !kept {
            delete(crbs.clone(), &b.name_any()).await?;
        }
    }
    let rbs: Api<RoleBinding> = Api::all(member.clone());
    for b in rbs.list(&selector).await? {
        let here = (b.metadata.name.as_ref(), b.metadata.namespace.as_ref());
        let kept = wanted
            .role_bindings
            .iter()
            .any(|w| (w.metadata.name.as_ref(), w.metadata.namespace.as_ref()) == here);
        if !kept {
            let ns = b.namespace().unwrap_or_default();
            delete(
                Api::<RoleBinding>::namespaced(member.clone(), &ns),
                &b.name_any(),
            )
            .await?;
        }
    }
    let crs: Api<ClusterRole> = Api::all(member.clone());
    for r in crs.list(&selector).await? {
        if wanted
            .cluster_role
            .as_ref()
            .map(|w| w.metadata.name.as_ref())
            != Some(r.metadata.name.as_ref())
        {
            delete(crs.clone(), &r.name_any()).await?;
        }
    }
    Ok(())
}

/// A token minted for the grant's service account.
#[derive(Clone)]
pub struct Minted {
    /// The bearer token.
    pub token: String,
    /// When it expires, as the member's API server granted.
    pub expires: Timestamp,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Mints a token with the TokenRequest API at the grant's lifetime and audiences.
pub async fn mint(member: &Client, grant: &RemoteAccountGrant) -> Result<Minted, ProvisionError> {
    let sa = &grant.spec.service_account;
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(grant.spec.token.expiration_seconds),
            audiences: Some(grant.spec.token.audiences.clone()).filter(|a| !a.is_empty()),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let what = format!(
        "requesting a token for service account {}/{}",
        sa.namespace, sa.name
    );
    let answer = Api::<ServiceAccount>::namespaced(member.clone(), &sa.namespace)
        .create_token_request(&sa.name, &PostParams::default(), &request)
        .await
        .map_err(|e| ProvisionError::from_kube(&what, e))?;
    let status = answer.status.unwrap_or_default();
    match (status.token, status.expiration_timestamp) {
        (Some(token), Some(expires)) if !token.is_empty() => Ok(Minted {
            token,
            expires: expires.0,
        }),
        _ => Err(ProvisionError::refused(
            Category::Api,
            format!("{what}: the member's answer held no token or expiry"),
        )),
    }
}

/// Which grants' member objects a sweep deletes.
#[derive(Debug, Clone, Copy)]
pub enum Sweep<'a> {
    /// Those of grants no longer in the agent's cache of the hub's grants. The cache is read
    /// after each listing, never before: an object the listing shows was created by a
    /// reconcile of a grant already cached, so a grant that arrived while the sweep ran (and
    /// created objects meanwhile) is never taken for a deleted one.
    Revoked(&'a Store<RemoteAccountGrant>),
    /// Those of one grant, by UID (refused by the member's ceiling).
    Grant(&'a str),
    /// Those of every grant (the agent left the hub).
    Everything,
}

impl Sweep<'_> {
    /// Whether the objects of grant `uid` go, as of now.
    fn doomed(self) -> impl Fn(&str) -> bool {
        let (one, live) = match self {
            Sweep::Revoked(store) => (None, Some(live_uids(store))),
            Sweep::Grant(uid) => (Some(uid.to_owned()), None),
            Sweep::Everything => (None, None),
        };
        move |uid| match (&one, &live) {
            (Some(one), _) => one == uid,
            (None, Some(live)) => !live.contains(uid),
            (None, None) => true,
        }
    }
}

/// The UIDs of the grants in `store`.
fn live_uids(store: &Store<RemoteAccountGrant>) -> HashSet<String> {
    store
        .state()
        .iter()
        .filter_map(|g| g.metadata.uid.clone())
        .collect()
}

/// Deletes the member objects of the grants `sweep` names (service accounts, so their tokens
/// die, bindings and ClusterRoles), found by Roster's labels; returns how many grants lost
/// something.
pub async fn sweep(member: &Client, sweep: Sweep<'_>) -> Result<usize, kube::Error> {
    let mut revoked = HashSet::new();
    for sa in doomed::<ServiceAccount>(member, sweep, &mut revoked).await? {
        let ns = sa.namespace().unwrap_or_default();
        tracing::info!(account = %format!("{ns}/{}", sa.name_any()), "revoking: its grant is gone");
        delete(
            Api::<ServiceAccount>::namespaced(member.clone(), &ns),
            &sa.name_any(),
        )
        .await?;
    }
    for b in doomed::<ClusterRoleBinding>(member, sweep, &mut revoked).await? {
        delete(
            Api::<ClusterRoleBinding>::all(member.clone()),
            &b.name_any(),
        )
        .await?;
    }
    for b in doomed::<RoleBinding>(member, sweep, &mut revoked).await? {
        let ns = b.namespace().unwrap_or_default();
        delete(
            Api::<RoleBinding>::namespaced(member.clone(), &ns),
            &b.name_any(),
        )
        .await?;
    }
    for r in doomed::<ClusterRole>(member, sweep, &mut revoked).await? {
        delete(Api::<ClusterRole>::all(member.clone()), &r.name_any()).await?;
    }
    Ok(revoked.len())
}

/// The objects of kind `K` that `sweep` deletes, judged once they are listed; their grants'
/// UIDs go into `revoked`.
async fn doomed<K>(
    member: &Client,
    sweep: Sweep<'_>,
    revoked: &mut HashSet<String>,
) -> Result<Vec<K>, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let selector = ListParams::default().labels(&desired::all_grants_selector());
    let listed = Api::<K>::all(member.clone()).list(&selector).await?;
    let doomed = sweep.doomed();
    Ok(listed
        .items
        .into_iter()
        .filter(|o| {
            o.labels()
                .get(names::LABEL_GRANT_UID)
                .filter(|uid| doomed(uid))
                .map(|uid| revoked.insert(uid.clone()))
                .is_some()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::tests::api as answer;
    use kube::runtime::{reflector, watcher};
    use roster_api::RemoteAccountGrantSpec;

    fn grant(uid: &str) -> RemoteAccountGrant {
        let mut g = RemoteAccountGrant::new(uid, RemoteAccountGrantSpec::default());
        g.metadata.namespace = Some("roster-member-m".into());
        g.metadata.uid = Some(uid.into());
        g
    }

    #[test]
    fn a_sweep_reads_which_grants_live_when_it_judges_a_listing() {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(grant("old")));
        let sweep = Sweep::Revoked(&store);
        // A grant arrives (and creates its objects) after the sweep started, before a listing.
        writer.apply_watcher_event(&watcher::Event::Apply(grant("new")));
        let doomed = sweep.doomed();
        assert!(!doomed("old"));
        assert!(
            !doomed("new"),
            "a grant that arrived while sweeping is live"
        );
        assert!(doomed("deleted"));
        writer.apply_watcher_event(&watcher::Event::Delete(grant("old")));
        assert!(sweep.doomed()("old"), "the next listing is judged anew");

        let one = Sweep::Grant("refused").doomed();
        assert!(one("refused") && !one("old") && !one("deleted"));
        assert!(Sweep::Everything.doomed()("old"));
    }

    #[test]
    fn a_refusal_names_the_object_and_a_transient_failure_waits() {
        let what = "binding ClusterRole edit in namespace apps (RoleBinding apps/x)";
        let refused =
            ProvisionError::from_kube(what, answer(403, "Forbidden", "rolebindings is forbidden"));
        assert_eq!(refused.category(), Category::Forbidden);
        assert_eq!(
            refused.to_string(),
            format!("{what}: rolebindings is forbidden")
        );
        assert!(matches!(refused, ProvisionError::Refused { .. }));

        let missing = ProvisionError::from_kube(
            what,
            answer(404, "NotFound", "namespaces \"apps\" not found"),
        );
        assert_eq!(missing.category(), Category::NotFound);
        assert_eq!(
            missing.to_string(),
            format!("{what}: namespaces \"apps\" not found (NotFound, 404)")
        );
        assert!(matches!(missing, ProvisionError::Transient { .. }));
    }
}
