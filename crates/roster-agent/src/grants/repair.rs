//! Watches of what the agent creates on its member for grants: service accounts and the
//! namespaces it made (metadata only), bindings and ClusterRoles (whole, they are small), all
//! selected by Roster's labels. Each event goes through [`drift`](super::drift); the stream
//! yields the grants to provision again, so a deleted or edited object is repaired within a
//! second or so and nothing else is woken.

use std::sync::Arc;

use futures::{Stream, StreamExt, stream::BoxStream};
use k8s_openapi::api::{
    core::v1::{Namespace, ServiceAccount},
    rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding},
};
use kube::{
    Api, Client, Resource,
    core::PartialObjectMeta,
    runtime::{
        WatchStreamExt,
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use roster_api::{RemoteAccountGrant, names};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::{
    desired,
    drift::{self, Change, Observed},
};
use crate::{errors, metrics::Metrics};

/// The grants to provision again because one of their member objects was deleted or edited.
pub fn repairs(
    member: Client,
    grants: Store<RemoteAccountGrant>,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = ObjectRef<RemoteAccountGrant>> + Send + 'static {
    let ours = watcher::Config::default().labels(&desired::all_grants_selector());
    let namespaces = watcher::Config::default().labels(&format!(
        "{}={}",
        names::LABEL_MANAGED_BY,
        names::MANAGED_BY
    ));
    let streams: Vec<BoxStream<'static, (Observed, Change)>> = vec![
        metadata_changes::<ServiceAccount>(&member, ours.clone(), |m| {
            Observed::ServiceAccount(m.metadata)
        }),
        metadata_changes::<Namespace>(&member, namespaces, |m| Observed::Namespace(m.metadata)),
        changes::<ClusterRoleBinding>(&member, ours.clone(), Observed::ClusterRoleBinding),
        changes::<RoleBinding>(&member, ours.clone(), Observed::RoleBinding),
        changes::<ClusterRole>(&member, ours, Observed::ClusterRole),
    ];
    futures::stream::select_all(streams).flat_map(move |(observed, change)| {
        let wake = to_repair(&grants, &observed, change, &metrics);
        futures::stream::iter(wake)
    })
}

/// The grants `change` to `observed` leaves short of what they ask for.
fn to_repair(
    grants: &Store<RemoteAccountGrant>,
    observed: &Observed,
    change: Change,
    metrics: &Metrics,
) -> Vec<ObjectRef<RemoteAccountGrant>> {
    drift::concerns(observed, &grants.state())
        .into_iter()
        .filter_map(|(grant, wanted)| {
            let why = drift::drift(&wanted, observed, change)?;
            info!(
                grant = %grant.metadata.name.as_deref().unwrap_or_default(),
                object = %observed.describe(),
                drift = why.as_str(),
                "member object deleted or changed; provisioning the grant again"
            );
            metrics.repair(observed.kind(), why.as_str());
            Some(ObjectRef::from_obj(&*grant))
        })
        .collect()
}

/// Changes of whole objects of kind `K`, cluster-wide, as [`Observed`].
fn changes<K>(
    member: &Client,
    config: watcher::Config,
    observe: fn(K) -> Observed,
) -> BoxStream<'static, (Observed, Change)>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned + Send + 'static,
{
    let api: Api<K> = Api::all(member.clone());
    events(watcher(api, config).default_backoff(), observe)
}

/// Changes of the metadata of objects of kind `K`, cluster-wide, as [`Observed`].
fn metadata_changes<K>(
    member: &Client,
    config: watcher::Config,
    observe: fn(PartialObjectMeta<K>) -> Observed,
) -> BoxStream<'static, (Observed, Change)>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned + Send + 'static,
{
    let api: Api<PartialObjectMeta<K>> = Api::all(member.clone());
    events(watcher(api, config).default_backoff(), observe)
}

fn events<T: Send + 'static>(
    stream: impl Stream<Item = Result<watcher::Event<T>, watcher::Error>> + Send + 'static,
    observe: fn(T) -> Observed,
) -> BoxStream<'static, (Observed, Change)> {
    stream
        .filter_map(move |event| async move {
            match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    Some((observe(o), Change::Applied))
                }
                Ok(watcher::Event::Delete(o)) => Some((observe(o), Change::Deleted)),
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(e) => {
                    warn!(error = %errors::chain(&e), "watch of the member's grant objects failed; retrying");
                    None
                }
            }
        })
        .boxed()
}
