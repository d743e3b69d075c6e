//! The watches of members' hub-side objects (namespace, identities, RBAC): each event is
//! checked against what the hub wants (see `drift`), and only a member whose object was deleted
//! or drifted is invalidated and reconciled. The objects are not cached: an event is compared
//! and dropped, so steady state costs nothing per member. (The agent Lease is watched by
//! `heartbeats`, which reports its deletion the same way.)

use std::sync::Arc;

use futures::{Stream, StreamExt, stream::BoxStream};
use k8s_openapi::api::{
    core::v1::{Namespace, ServiceAccount},
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use kube::{
    Api, Client, ResourceExt,
    runtime::{WatchStreamExt, reflector::Store, watcher},
};
use roster_api::{MemberCluster, names};
use serde::de::DeserializeOwned;
use tracing::info;

use super::{
    drift::{self, Drift, Owned},
    prepared::Prepared,
};
use crate::{backoff::WatchBackoff, watch};

/// Members to re-prepare, from `events` of objects of type `K`: each is invalidated in
/// `prepared` before it is yielded.
pub fn drifted<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    members: Store<MemberCluster>,
    prepared: Arc<Prepared>,
) -> impl Stream<Item = String> + Send + 'static
where
    K: Owned + Send + 'static,
{
    let kind = K::KIND;
    let mut tracker = Drift::new(kind);
    let lookup = {
        let members = members.clone();
        move |name: &str| {
            members
                .get(&kube::runtime::reflector::ObjectRef::new(name))
                .map(|m| m.as_ref().clone())
        }
    };
    events
        // Failures are retried by the backoff; the next relist catches up.
        .filter_map(|event| futures::future::ready(event.ok()))
        .flat_map(move |event| {
            let found: Vec<String> = match event {
                watcher::Event::Init => {
                    tracker.init();
                    Vec::new()
                }
                watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                    let observed = serde_json::to_value(&o).unwrap_or_default();
                    drift::member_of(&o)
                        .and_then(|m| tracker.observe(&observed, m, &o.name_any(), &lookup))
                        .into_iter()
                        .collect()
                }
                watcher::Event::Delete(o) => drift::member_of(&o)
                    .and_then(|m| tracker.deleted(m, &lookup))
                    .into_iter()
                    .collect(),
                watcher::Event::InitDone => {
                    let all: Vec<MemberCluster> =
                        members.state().iter().map(|m| m.as_ref().clone()).collect();
                    tracker.init_done(&all)
                }
            };
            for member in &found {
                info!(%member, kind = kind.as_str(), "a hub-side object of the member was deleted or changed; repairing");
                prepared.invalidate(member);
            }
            futures::stream::iter(found)
        })
}

fn watch_kind<K>(
    api: Api<K>,
    members: &Store<MemberCluster>,
    prepared: &Arc<Prepared>,
) -> BoxStream<'static, String>
where
    K: Owned + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let managed = format!("{}={}", names::LABEL_MANAGED_BY, names::MANAGED_BY);
    let events = watcher(api, watch::config().labels(&managed)).backoff(WatchBackoff::default());
    drifted(events, members.clone(), prepared.clone()).boxed()
}

/// Members whose namespace, service accounts, Roles, RoleBindings, ClusterRole or
/// ClusterRoleBinding on the hub were deleted or changed by someone else.
pub fn watch_all(
    client: &Client,
    members: Store<MemberCluster>,
    prepared: Arc<Prepared>,
) -> impl Stream<Item = String> + Send + 'static {
    let c = client;
    futures::stream::select_all([
        watch_kind(Api::<Namespace>::all(c.clone()), &members, &prepared),
        watch_kind(Api::<ServiceAccount>::all(c.clone()), &members, &prepared),
        watch_kind(Api::<Role>::all(c.clone()), &members, &prepared),
        watch_kind(Api::<RoleBinding>::all(c.clone()), &members, &prepared),
        watch_kind(Api::<ClusterRole>::all(c.clone()), &members, &prepared),
        watch_kind(
            Api::<ClusterRoleBinding>::all(c.clone()),
            &members,
            &prepared,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;

    fn member(name: &str) -> MemberCluster {
        let mut m = MemberCluster::new(name, Default::default());
        m.metadata.uid = Some(format!("uid-{name}"));
        m
    }

    #[tokio::test]
    async fn deletions_and_tampering_invalidate_only_their_member() {
        let (store, mut writer) = reflector::store();
        for name in ["m1", "m2"] {
            writer.apply_watcher_event(&watcher::Event::Apply(member(name)));
        }
        let prepared = Arc::new(Prepared::default());
        let version = |n: &str| (format!("uid-{n}"), 0);
        for name in ["m1", "m2"] {
            let t = prepared.begin(name);
            prepared.finish(name, version(name), t);
        }
        let roles = |n: &str| drift::desired(&member(n)).unwrap().roles;
        let mut tampered = roles("m2")[0].clone();
        tampered.rules = Some(Vec::new());
        let events = vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(roles("m1")[0].clone())),
            Ok(watcher::Event::InitApply(roles("m1")[1].clone())),
            Ok(watcher::Event::InitApply(roles("m2")[0].clone())),
            Ok(watcher::Event::InitApply(roles("m2")[1].clone())),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Apply(roles("m1")[0].clone())),
            Ok(watcher::Event::Apply(tampered)),
            Ok(watcher::Event::Delete(roles("m1")[1].clone())),
        ];
        let found: Vec<String> = drifted(futures::stream::iter(events), store, prepared.clone())
            .collect()
            .await;
        assert_eq!(found, ["m2", "m1"]);
        assert!(!prepared.is_current("m1", &version("m1")));
        assert!(!prepared.is_current("m2", &version("m2")));
    }

    #[tokio::test]
    async fn a_relist_finds_objects_deleted_while_the_watch_was_down() {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(member("m1")));
        let prepared = Arc::new(Prepared::default());
        let roles = drift::desired(&member("m1")).unwrap().roles;
        let events = vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(roles[0].clone())),
            Ok(watcher::Event::InitDone),
        ];
        let found: Vec<String> = drifted(futures::stream::iter(events), store, prepared)
            .collect()
            .await;
        assert_eq!(found, ["m1"]);
    }
}
