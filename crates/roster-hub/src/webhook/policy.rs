//! Admission of RemoteServiceAccounts under the RemoteAccessPolicies: `POST
//! /validate-remoteserviceaccounts` refuses a creation, or an update of the spec, asking for
//! anything the policies do not allow on a member it targets now, with the message of
//! [`roster_api::policy`] (what is refused, and which policy would allow it). It never patches.
//! A refusal from the caches is checked once more against a fresh list of the policies and the
//! namespace's labels (a policy written just before may not be in the cache yet); admissions
//! are answered from the caches alone. The remote access controller applies the same decision
//! at every reconcile, so what is admitted and later falls out of policy (a narrowed policy, a
//! relabelled member or namespace, a member that joins later) is revoked there.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use futures::{FutureExt, future::BoxFuture};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::ListParams,
    core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation},
    runtime::reflector::ObjectRef,
};
use roster_api::{MemberCluster, RemoteAccessPolicy, RemoteServiceAccount, policy};
use tracing::{debug, info};

use crate::{access, shared_cache::SharedCache};

pub use roster_api::webhook::RSA_PATH as PATH;

/// Largest review body read: an RSA is small, but its old object comes along on updates.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// How long a review waits for the first lists (only right after start-up).
const CACHE_WAIT: Duration = Duration::from_secs(3);

/// What a review needs to know about the hub.
pub trait Lookup {
    /// Every MemberCluster.
    fn members(&self) -> Vec<Arc<MemberCluster>>;
    /// Every RemoteAccessPolicy.
    fn policies(&self) -> Vec<Arc<RemoteAccessPolicy>>;
    /// The labels of the hub namespace `name`.
    fn namespace_labels(&self, name: &str) -> BTreeMap<String, String>;
}

/// The watch-backed caches reviews read, and a client to read afresh before refusing.
#[derive(Clone)]
pub struct Stores {
    /// Client of the hub: a refusal is checked against the current policies and namespace
    /// labels (one list of each), so a policy written just before the account is never missed.
    pub client: Client,
    /// Every MemberCluster: the hub's shared cache.
    pub members: SharedCache<MemberCluster>,
    /// Every RemoteAccessPolicy.
    pub policies: SharedCache<RemoteAccessPolicy>,
    /// Every hub namespace.
    pub namespaces: SharedCache<Namespace>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("policy::Stores")
            .field("policies", &self.policies)
            .field("namespaces", &self.namespaces)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// The caches, and the task filling the policy and namespace ones (members are the
    /// caller's).
    pub fn start(
        client: Client,
        members: SharedCache<MemberCluster>,
    ) -> (Self, BoxFuture<'static, ()>) {
        let (policies, policy_watch) =
            SharedCache::start(Api::all(client.clone()), crate::watch::config());
        let (namespaces, namespace_watch) =
            SharedCache::start(Api::all(client.clone()), crate::watch::config());
        let watches = async move {
            tokio::join!(policy_watch, namespace_watch);
        }
        .boxed();
        (
            Self {
                client,
                members,
                policies,
                namespaces,
            },
            watches,
        )
    }

    /// Whether every cache holds its first list, waiting a little.
    pub async fn ready(&self) -> bool {
        let all = async {
            self.members.ready().await
                && self.policies.ready().await
                && self.namespaces.ready().await
        };
        tokio::time::timeout(CACHE_WAIT, all).await.unwrap_or(false)
    }
}

/// Policies and one namespace's labels as the API server has them now, with the cached members.
struct Fresh {
    members: Vec<Arc<MemberCluster>>,
    policies: Vec<Arc<RemoteAccessPolicy>>,
    labels: BTreeMap<String, String>,
}

impl Stores {
    async fn fresh(&self, namespace: &str) -> Result<Fresh, kube::Error> {
        let policies = Api::<RemoteAccessPolicy>::all(self.client.clone())
            .list(&ListParams::default())
            .await?;
        // A list by name: the hub may list namespaces, not get them.
        let namespaces = Api::<Namespace>::all(self.client.clone())
            .list(&ListParams::default().fields(&format!("metadata.name={namespace}")))
            .await?;
        Ok(Fresh {
            members: self.members(),
            policies: policies.items.into_iter().map(Arc::new).collect(),
            labels: namespaces
                .items
                .into_iter()
                .next()
                .and_then(|n| n.metadata.labels)
                .unwrap_or_default(),
        })
    }
}

impl Lookup for Fresh {
    fn members(&self) -> Vec<Arc<MemberCluster>> {
        self.members.clone()
    }

    fn policies(&self) -> Vec<Arc<RemoteAccessPolicy>> {
        self.policies.clone()
    }

    fn namespace_labels(&self, _: &str) -> BTreeMap<String, String> {
        self.labels.clone()
    }
}

impl Lookup for Stores {
    fn members(&self) -> Vec<Arc<MemberCluster>> {
        self.members.store().state()
    }

    fn policies(&self) -> Vec<Arc<RemoteAccessPolicy>> {
        self.policies.store().state()
    }

    fn namespace_labels(&self, name: &str) -> BTreeMap<String, String> {
        self.namespaces
            .store()
            .get(&ObjectRef::new(name))
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_default()
    }
}

/// The route reviewing RemoteServiceAccounts.
pub fn router(stores: Stores) -> Router {
    Router::new()
        .route(PATH, post(review))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(stores)
}

async fn review(State(stores): State<Stores>, body: Bytes) -> Response {
    let review: AdmissionReview<RemoteServiceAccount> = match serde_json::from_slice(&body) {
        Ok(review) => review,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the body is not an AdmissionReview of a RemoteServiceAccount: {e}"),
            )
                .into_response();
        }
    };
    let request: Result<AdmissionRequest<RemoteServiceAccount>, _> = review.try_into();
    let Ok(request) = request else {
        return (
            StatusCode::BAD_REQUEST,
            "the AdmissionReview has no request",
        )
            .into_response();
    };
    let response = if stores.ready().await {
        let cached = decide(&request, &stores);
        if cached.allowed {
            cached
        } else {
            let namespace = request.namespace.as_deref().unwrap_or_default();
            match stores.fresh(namespace).await {
                Ok(fresh) => {
                    let answer = decide(&request, &fresh);
                    debug!(
                        policies = fresh.policies.len(),
                        allowed = answer.allowed,
                        "refusal checked again against the API server"
                    );
                    answer
                }
                Err(e) => {
                    debug!(error = %e, "cannot read policies afresh; answering from the caches");
                    cached
                }
            }
        }
    } else {
        AdmissionResponse::from(&request).deny(
            "roster-hub has not loaded the RemoteAccessPolicies, Namespaces and MemberClusters \
             yet; retry in a few seconds",
        )
    };
    if response.allowed {
        debug!(namespace = request.namespace.as_deref().unwrap_or_default(), name = %request.name,
            "RemoteServiceAccount admitted");
    } else {
        info!(namespace = request.namespace.as_deref().unwrap_or_default(), name = %request.name,
            reason = %response.result.message, "RemoteServiceAccount refused by policy");
    }
    match serde_json::to_vec(&response.into_review()) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the AdmissionReview: {e}"),
        )
            .into_response(),
    }
}

/// The answer to one review: pure over `lookup`.
pub fn decide(
    request: &AdmissionRequest<RemoteServiceAccount>,
    lookup: &impl Lookup,
) -> AdmissionResponse {
    let allow = AdmissionResponse::from(request);
    let Some(rsa) = request.object.as_ref() else {
        return allow;
    };
    let spec_changed = request
        .old_object
        .as_ref()
        .is_none_or(|old| old.spec != rsa.spec);
    // The hub's own finalizer updates, and anything on the way out, are never held up.
    let checked = matches!(request.operation, Operation::Create | Operation::Update);
    if !checked || !spec_changed || rsa.metadata.deletion_timestamp.is_some() {
        return allow;
    }
    let namespace = request.namespace.clone().unwrap_or_default();
    let labels = lookup.namespace_labels(&namespace);
    let policies = lookup.policies();
    let consumer = policy::Subject {
        name: &namespace,
        labels: &labels,
    };
    if !policies
        .iter()
        .any(|p| policy::selects_consumer(&p.spec, &consumer))
    {
        return allow.deny(format!(
            "no RemoteAccessPolicy serves namespace {namespace}: ask a platform admin for one \
             (kubectl get remoteaccesspolicies)"
        ));
    }
    let mut rsa = rsa.clone();
    rsa.metadata.namespace = Some(namespace);
    let members = lookup.members();
    // A selector that cannot be evaluated is the controller's to report (InvalidSelector);
    // members that do not exist yet are judged when they join.
    let targets = access::targets::select(&rsa.spec.clusters, &members).unwrap_or_default();
    let refusals: Vec<String> = targets
        .iter()
        .filter_map(|t| t.member)
        .filter_map(|m| access::policy::refusal(&rsa, &labels, m, &policies))
        .collect();
    if refusals.is_empty() {
        allow
    } else {
        allow.deny(refusals.join("; and "))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use roster_api::{
        RemoteAccessPolicySpec, RemoteServiceAccountSpec,
        remote_access_policy::Consumers,
        remote_service_account::{ClusterSelection, MemberSelector},
    };
    use serde_json::json;

    struct World {
        members: Vec<Arc<MemberCluster>>,
        policies: Vec<Arc<RemoteAccessPolicy>>,
    }

    impl Lookup for World {
        fn members(&self) -> Vec<Arc<MemberCluster>> {
            self.members.clone()
        }
        fn policies(&self) -> Vec<Arc<RemoteAccessPolicy>> {
            self.policies.clone()
        }
        fn namespace_labels(&self, _: &str) -> BTreeMap<String, String> {
            BTreeMap::new()
        }
    }

    fn world() -> World {
        World {
            members: vec![
                Arc::new(MemberCluster::new("member-1", Default::default())),
                Arc::new(MemberCluster::new("member-2", Default::default())),
            ],
            policies: vec![Arc::new(RemoteAccessPolicy::new(
                "team-a-view",
                RemoteAccessPolicySpec {
                    consumers: Consumers {
                        namespaces: Some(vec!["team-a".into()]),
                        namespace_selector: None,
                    },
                    members: MemberSelector::default(),
                    cluster_roles: vec!["view".into()],
                    ..Default::default()
                },
            ))],
        }
    }

    fn spec(cluster_roles: &[&str]) -> RemoteServiceAccountSpec {
        RemoteServiceAccountSpec {
            clusters: ClusterSelection {
                names: Some(vec!["member-1".into(), "member-2".into(), "later".into()]),
                selector: None,
            },
            cluster_roles: cluster_roles.iter().map(|r| (*r).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn request(
        operation: &str,
        namespace: &str,
        new: &RemoteServiceAccountSpec,
        old: Option<&RemoteServiceAccountSpec>,
    ) -> AdmissionRequest<RemoteServiceAccount> {
        let object = |spec: &RemoteServiceAccountSpec| {
            json!({"apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
                "metadata": {"name": "deployer", "namespace": namespace}, "spec": spec})
        };
        let review: AdmissionReview<RemoteServiceAccount> = serde_json::from_value(json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u1", "operation": operation, "name": "deployer", "namespace": namespace,
                "kind": {"group": "roster.dev", "version": "v1alpha1", "kind": "RemoteServiceAccount"},
                "resource": {"group": "roster.dev", "version": "v1alpha1", "resource": "remoteserviceaccounts"},
                "userInfo": {"username": "tenant"},
                "object": object(new),
                "oldObject": old.map(object),
                "dryRun": false,
            }
        }))
        .unwrap();
        review.try_into().unwrap()
    }

    #[test]
    fn what_the_policy_allows_is_admitted() {
        let r = decide(
            &request("CREATE", "team-a", &spec(&["view"]), None),
            &world(),
        );
        assert!(r.allowed, "{:?}", r.result);
    }

    #[test]
    fn beyond_the_policy_is_refused_per_member_naming_what() {
        let r = decide(
            &request("CREATE", "team-a", &spec(&["cluster-admin"]), None),
            &world(),
        );
        assert!(!r.allowed);
        assert_eq!(
            r.result.message,
            "not allowed for namespace team-a on member member-1: ClusterRole cluster-admin: no \
             RemoteAccessPolicy allows it; and not allowed for namespace team-a on member \
             member-2: ClusterRole cluster-admin: no RemoteAccessPolicy allows it"
        );
    }

    #[test]
    fn a_namespace_no_policy_serves_is_refused_even_without_targets() {
        let mut s = spec(&[]);
        s.clusters.names = Some(vec!["later".into()]);
        let r = decide(&request("CREATE", "team-b", &s, None), &world());
        assert!(!r.allowed);
        assert!(
            r.result
                .message
                .starts_with("no RemoteAccessPolicy serves namespace team-b"),
            "{}",
            r.result.message
        );
    }

    #[test]
    fn updates_are_judged_only_when_the_spec_changes() {
        let admin = spec(&["cluster-admin"]);
        let r = decide(&request("UPDATE", "team-a", &admin, Some(&admin)), &world());
        assert!(r.allowed, "a finalizer or label update is not held up");
        let r = decide(
            &request("UPDATE", "team-a", &admin, Some(&spec(&["view"]))),
            &world(),
        );
        assert!(!r.allowed);
        let r = decide(&request("DELETE", "team-a", &admin, None), &world());
        assert!(r.allowed);
    }
}
