//! Watches of what the agent creates on its member for grants: service accounts and the
//! namespaces it made (metadata only), bindings and ClusterRoles (whole, they are small), all
//! selected by Roster's labels. Each event goes through [`drift`](super::drift); the stream
//! yields the grants to provision again, so a deleted or edited object is repaired within a
//! second or so and nothing else is woken. When a watch lists anew after an outage (not at
//! start, when every grant is served anyway), the grants whose objects the listing lacks are
//! woken too: a deletion in between showed no event.

use std::{collections::HashSet, sync::Arc};

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
    drift::{self, Change, Key, Kind, Observed},
};
use roster_runtime::{errors, watch};

use crate::metrics::Metrics;

/// The grants to provision again because one of their member objects was deleted or edited.
/// `member` is a client for watches (see [`crate::clients::WATCH_READ_TIMEOUT`]).
pub fn repairs(
    member: Client,
    grants: Store<RemoteAccountGrant>,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = ObjectRef<RemoteAccountGrant>> + Send + 'static {
    let ours = watch::config().labels(&desired::all_grants_selector());
    let namespaces = watch::config().labels(&format!(
        "{}={}",
        names::LABEL_MANAGED_BY,
        names::MANAGED_BY
    ));
    let streams: Vec<BoxStream<'static, Observation>> = vec![
        metadata_changes::<ServiceAccount>(&member, ours.clone(), Kind::ServiceAccount, |m| {
            Observed::ServiceAccount(m.metadata)
        }),
        metadata_changes::<Namespace>(&member, namespaces, Kind::Namespace, |m| {
            Observed::Namespace(m.metadata)
        }),
        changes::<ClusterRoleBinding>(
            &member,
            ours.clone(),
            Kind::ClusterRoleBinding,
            Observed::ClusterRoleBinding,
        ),
        changes::<RoleBinding>(
            &member,
            ours.clone(),
            Kind::RoleBinding,
            Observed::RoleBinding,
        ),
        changes::<ClusterRole>(&member, ours, Kind::ClusterRole, Observed::ClusterRole),
    ];
    futures::stream::select_all(streams).flat_map(move |observation| {
        let wake = match observation {
            Observation::Change(observed, change) => {
                to_repair(&grants, &observed, change, &metrics)
            }
            Observation::Relisted(kind, present) => lacking(&grants, kind, &present, &metrics),
        };
        futures::stream::iter(wake)
    })
}

/// What a watch showed.
enum Observation {
    /// One object changed.
    Change(Box<Observed>, Change),
    /// The watch listed every object of a kind anew (not the first time): these were there.
    Relisted(Kind, HashSet<Key>),
}

/// The grants with an object of `kind` that a new listing, `present`, lacks.
fn lacking(
    grants: &Store<RemoteAccountGrant>,
    kind: Kind,
    present: &HashSet<Key>,
    metrics: &Metrics,
) -> Vec<ObjectRef<RemoteAccountGrant>> {
    grants
        .state()
        .iter()
        .filter(|grant| drift::missing(&desired::desired(grant), kind, present))
        .map(|grant| {
            info!(
                grant = %grant.metadata.name.as_deref().unwrap_or_default(),
                kind = kind.as_str(),
                "member object missing after the watch listed anew; provisioning the grant again"
            );
            metrics.repair(kind.as_str(), drift::Drift::Deleted.as_str());
            ObjectRef::from_obj(&**grant)
        })
        .collect()
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
            metrics.repair(observed.kind().as_str(), why.as_str());
            Some(ObjectRef::from_obj(&*grant))
        })
        .collect()
}

/// Changes of whole objects of kind `K`, cluster-wide, as [`Observed`].
fn changes<K>(
    member: &Client,
    config: watcher::Config,
    kind: Kind,
    observe: fn(K) -> Observed,
) -> BoxStream<'static, Observation>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned + Send + 'static,
{
    let api: Api<K> = Api::all(member.clone());
    events_of(watcher(api, config).default_backoff(), kind, observe)
}

/// Changes of the metadata of objects of kind `K`, cluster-wide, as [`Observed`].
fn metadata_changes<K>(
    member: &Client,
    config: watcher::Config,
    kind: Kind,
    observe: fn(PartialObjectMeta<K>) -> Observed,
) -> BoxStream<'static, Observation>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned + Send + 'static,
{
    let api: Api<PartialObjectMeta<K>> = Api::all(member.clone());
    events_of(watcher(api, config).default_backoff(), kind, observe)
}

fn events_of<T: Send + 'static>(
    stream: impl Stream<Item = Result<watcher::Event<T>, watcher::Error>> + Send + 'static,
    kind: Kind,
    observe: fn(T) -> Observed,
) -> BoxStream<'static, Observation> {
    // Objects of the listing under way, and whether one was complete before.
    let mut listing: Option<HashSet<Key>> = None;
    let mut listed_before = false;
    stream
        .filter_map(move |event| {
            let observation = match event {
                Ok(watcher::Event::Apply(o)) => Some(Observation::Change(Box::new(observe(o)), Change::Applied)),
                Ok(watcher::Event::Delete(o)) => {
                    Some(Observation::Change(Box::new(observe(o)), Change::Deleted))
                }
                Ok(watcher::Event::Init) => {
                    listing = Some(HashSet::new());
                    None
                }
                Ok(watcher::Event::InitApply(o)) => {
                    let observed = observe(o);
                    if let Some(listing) = listing.as_mut() {
                        listing.insert(observed.key());
                    }
                    Some(Observation::Change(Box::new(observed), Change::Applied))
                }
                Ok(watcher::Event::InitDone) => {
                    let present = listing.take().unwrap_or_default();
                    let again = std::mem::replace(&mut listed_before, true);
                    again.then_some(Observation::Relisted(kind, present))
                }
                Err(e) => {
                    warn!(error = %errors::chain(&e), "watch of the member's grant objects failed; retrying");
                    None
                }
            };
            futures::future::ready(observation)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn account(name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("roster-remote".into()),
            ..ObjectMeta::default()
        }
    }

    #[tokio::test]
    async fn only_a_second_listing_reports_what_it_found() {
        use watcher::Event::{Apply, Delete, Init, InitApply, InitDone};
        let events = [Init, InitApply(account("a")), InitDone, Apply(account("b"))]
            .into_iter()
            .chain([
                Delete(account("b")),
                Init,
                InitApply(account("a")),
                InitDone,
            ])
            .map(Ok);
        let seen: Vec<Observation> = events_of(
            futures::stream::iter(events),
            Kind::ServiceAccount,
            Observed::ServiceAccount,
        )
        .collect()
        .await;
        let shown: Vec<String> = seen
            .iter()
            .map(|o| match o {
                Observation::Change(observed, change) => {
                    format!("{change:?} {}", observed.describe())
                }
                Observation::Relisted(kind, present) => {
                    let mut keys: Vec<_> = present.iter().map(|(_, n)| n.as_str()).collect();
                    keys.sort_unstable();
                    format!("relisted {} {keys:?}", kind.as_str())
                }
            })
            .collect();
        assert_eq!(
            shown,
            [
                "Applied ServiceAccount roster-remote/a",
                "Applied ServiceAccount roster-remote/b",
                "Deleted ServiceAccount roster-remote/b",
                "Applied ServiceAccount roster-remote/a",
                "relisted ServiceAccount [\"a\"]",
            ]
        );
    }
}
