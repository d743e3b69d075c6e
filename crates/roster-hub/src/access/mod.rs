//! The remote access controller: one reconcile per RemoteServiceAccount hands the work to the
//! target members' agents (a RemoteAccountGrant in each member's namespace), copies the tokens
//! they deliver into `<rsa>-<cluster>` Secrets in the consumer's namespace, reports per-cluster
//! status, and revokes (deletes the grants, whose agents delete the service accounts) when a
//! cluster leaves the selection or the RemoteServiceAccount is deleted.

pub mod context;
pub mod desired;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod status;
pub mod targets;
pub mod writes;

pub use context::{Context, Stores};

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::{
    Api, Client, ResourceExt,
    runtime::{Controller, WatchStreamExt, reflector::ObjectRef},
};
use roster_api::{
    MemberCluster, RemoteAccessPolicy, RemoteAccountGrant, RemoteServiceAccount,
    names::{self, token_secret},
};

use crate::{
    clock::Clock,
    metrics::{Metrics, REMOTE_ACCESS_CONTROLLER},
    shared_cache::SharedCache,
    watch,
};
use roster_runtime::admin::Condition;

/// The RemoteServiceAccount a grant or a Secret of Roster's belongs to.
fn owner_of_labels(
    labels: &std::collections::BTreeMap<String, String>,
    fallback_namespace: Option<String>,
) -> Option<ObjectRef<RemoteServiceAccount>> {
    let name = labels.get(token_secret::LABEL_REMOTE_SERVICE_ACCOUNT)?;
    let namespace = labels
        .get(names::LABEL_CONSUMER_NAMESPACE)
        .cloned()
        .or(fallback_namespace)?;
    Some(ObjectRef::new(name).within(&namespace))
}

/// Runs the remote access controller until shutdown over the hub's shared MemberCluster cache;
/// `ready` is met once its caches are.
pub async fn run(
    client: Client,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    members: SharedCache<MemberCluster>,
    ready: Condition,
    instance: Option<String>,
) {
    let managed = format!("{}={}", names::LABEL_MANAGED_BY, names::MANAGED_BY);
    let (grants, grant_events) = watch::cached(
        Api::<RemoteAccountGrant>::all(client.clone()),
        watch::config(),
    );
    let (secrets, secret_events) = watch::cached(
        Api::<Secret>::all(client.clone()),
        watch::config().labels(&managed),
    );
    let (policies, policy_events) = watch::cached(
        Api::<RemoteAccessPolicy>::all(client.clone()),
        watch::config(),
    );
    let (namespaces, namespace_events) =
        watch::cached(Api::<Namespace>::all(client.clone()), watch::config());
    let (config_maps, config_map_events) = watch::cached(
        Api::<ConfigMap>::all(client.clone()),
        watch::config().labels(&managed),
    );

    let ctx = Arc::new(Context::new(
        client.clone(),
        clock,
        metrics,
        Stores {
            members: members.store(),
            grants,
            secrets,
            policies,
            namespaces,
            config_maps,
        },
        members.ready(),
        instance.as_deref(),
    ));
    tokio::spawn({
        let ctx = ctx.clone();
        async move {
            ctx.caches_ready().await;
            ready.set(true);
        }
    });
    let (rsas, rsa_events) =
        watch::cached(Api::<RemoteServiceAccount>::all(client), watch::config());
    let (all, for_policies, for_namespaces) = (rsas.clone(), rsas.clone(), rsas.clone());
    let controller = Controller::for_stream(rsa_events.applied_objects(), rsas)
        // A policy change can allow or refuse any RemoteServiceAccount anywhere; a namespace's
        // labels, those in it.
        .watches_stream(
            policy_events.touched_objects(),
            move |_: RemoteAccessPolicy| {
                for_policies
                    .state()
                    .iter()
                    .map(|r| ObjectRef::from_obj(r.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches_stream(namespace_events.touched_objects(), move |n: Namespace| {
            policy::in_namespace(&for_namespaces, &n.name_any())
        })
        // A member's labels or endpoint can change any RemoteServiceAccount's targets or Secrets.
        .watches_stream(members.touched(), move |_: MemberCluster| {
            all.state()
                .iter()
                .map(|r| ObjectRef::from_obj(r.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(grant_events.touched_objects(), |g: RemoteAccountGrant| {
            let owner = &g.spec.remote_service_account;
            Some(ObjectRef::new(&owner.name).within(&owner.namespace))
        })
        .watches_stream(secret_events.touched_objects(), |s: Secret| {
            owner_of_labels(s.labels(), s.namespace())
        })
        .watches_stream(config_map_events.touched_objects(), |c: ConfigMap| {
            owner_of_labels(c.labels(), c.namespace())
        });
    crate::controller::run(
        controller,
        REMOTE_ACCESS_CONTROLLER,
        reconcile::reconcile,
        ctx,
    )
    .await;
}
