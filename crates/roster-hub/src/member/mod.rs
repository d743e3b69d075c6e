//! The member controller: one reconcile per MemberCluster turns its spec, the agent's Lease and
//! report into the hub-side objects, the MemberCluster status and the ClusterProfile.

pub mod budget;
pub mod context;
pub mod desired_profile;
pub mod drift;
pub mod failures;
pub mod health;
pub mod heartbeats;
pub mod inventories;
pub mod listed;
pub mod objects;
pub mod observed_profiles;
pub mod owned;
pub mod plan;
pub mod prepared;
pub mod reconcile;
pub mod status;
pub mod writes;

use std::{sync::Arc, time::Duration};

use cluster_inventory::{names::LABEL_CLUSTER_MANAGER, v1alpha1::ClusterProfile};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{
    Api, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        reflector::{self, ObjectRef},
        watcher,
    },
};
use roster_api::{Inventory, MemberCluster, MemberReport, names};
use roster_runtime::admin::Condition;
use tracing::info;

pub use context::{Context, Settings, Stores};

use crate::{
    backoff::WatchBackoff,
    controller,
    metrics::{MEMBER_CONTROLLER, Metrics},
    shared_cache::SharedCache,
    watch,
};

impl controller::Shared for Context {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// How often the hub drops what it remembers about members that were deleted.
const FORGET_PERIOD: Duration = Duration::from_secs(60);

/// Prunes the per-member memory of `ctx` to the members in `members`, every
/// [`FORGET_PERIOD`]. Ends with the controller (noticed as the context's last reference). An
/// empty store is never trusted (it may not be filled yet): what a fleet with no members left
/// remembers is a few entries.
async fn forget_departed(ctx: Arc<Context>, members: reflector::Store<MemberCluster>) {
    loop {
        tokio::time::sleep(FORGET_PERIOD).await;
        if Arc::strong_count(&ctx) == 1 {
            return;
        }
        let live: std::collections::HashSet<String> =
            members.state().iter().map(|m| m.name_any()).collect();
        if !live.is_empty() {
            ctx.forget_except(&live);
        }
    }
}

/// A stand-in MemberCluster naming a member to reconcile (its heartbeats stopped, or one of its
/// objects drifted), as a reconcile trigger.
fn silent(name: &str) -> MemberCluster {
    MemberCluster::new(name, Default::default())
}

/// Runs the member controller until shutdown; `ready` is met once its caches are.
pub async fn run(
    ctx_parts: (kube::Client, Settings, Arc<dyn crate::clock::Clock>),
    metrics: Arc<Metrics>,
    members: SharedCache<MemberCluster>,
    ready: Condition,
) {
    let (client, settings, clock) = ctx_parts;
    let managed = format!("{}={}", names::LABEL_MANAGED_BY, names::MANAGED_BY);
    // Leases are not cached: each renewal only updates the heartbeat map.
    let lease_events = watcher(
        Api::<Lease>::all(client.clone()),
        watch::config().labels(&managed),
    )
    .backoff(WatchBackoff::default());
    let (reports, report_events) =
        watch::cached(Api::<MemberReport>::all(client.clone()), watch::config());
    let (inventories, inventory_events) =
        watch::cached(Api::<Inventory>::all(client.clone()), watch::config());
    let profile_selector = format!("{LABEL_CLUSTER_MANAGER}={}", names::CLUSTER_MANAGER);
    // Profiles are not cached either: the hub keeps digests of what it manages in them. One
    // watch over every namespace (Roster's label selects them): inventories come and go.
    let profile_events = watcher(
        Api::<ClusterProfile>::all(client.clone()),
        watch::config().labels(&profile_selector),
    )
    .backoff(WatchBackoff::default());
    let profiles = Arc::new(observed_profiles::Profiles::default());
    let heartbeats = Arc::new(heartbeats::Heartbeats::over(members.store()));
    let ctx = Arc::new(Context::new(
        client.clone(),
        settings,
        clock.clone(),
        metrics.clone(),
        Stores {
            reports,
            inventories,
        },
        heartbeats.clone(),
        profiles.clone(),
    ));
    metrics.watch_heartbeats({
        let heartbeats = Arc::downgrade(&heartbeats);
        move || heartbeats.upgrade().map(|h| h.seen()).unwrap_or_default()
    });
    tokio::spawn({
        let ctx = ctx.clone();
        async move {
            ctx.caches_ready().await;
            ready.set(true);
        }
    });
    let by_namespace = |ns: Option<String>| {
        ns.as_deref()
            .and_then(names::member_of_namespace)
            .map(ObjectRef::<MemberCluster>::new)
    };
    // The Lease watch runs in its own task and hands the controller only the renewals that
    // matter: a quiet renewal does not even wake the controller.
    let lease_events = lease_events.inspect({
        let (members, prepared) = (members.store(), ctx.prepared.clone());
        move |event| {
            if let Some(member) = drift::lease_drifted(event, &members) {
                info!(%member, kind = "Lease", "a hub-side object of the member was deleted or changed; repairing");
                prepared.invalidate(&member);
            }
        }
    });
    let (lease_triggers, _lease_watch) =
        heartbeats::spawn_lease_watch(lease_events, heartbeats.clone(), clock.clone());
    metrics.watch_members(members.store());
    tokio::spawn(forget_departed(ctx.clone(), members.store()));
    // The Controller waits for its store once; the shared cache says when it is listed.
    if !members.ready().await {
        return;
    }
    let controller = Controller::for_stream(members.applied(), members.store())
        .watches_stream(lease_triggers, move |l: Lease| by_namespace(l.namespace()))
        .watches_stream(
            heartbeats::silent_members(heartbeats, clock).map(|name| Ok(silent(&name))),
            |m: MemberCluster| Some(ObjectRef::from_obj(&m)),
        )
        .watches_stream(
            owned::watch_all(&client, members.store(), ctx.prepared.clone())
                .map(|name| Ok(silent(&name))),
            |m: MemberCluster| Some(ObjectRef::from_obj(&m)),
        )
        .watches_stream(report_events.touched_objects(), move |r: MemberReport| {
            by_namespace(r.namespace())
        })
        .watches_stream(
            observed_profiles::profile_triggers(profile_events, profiles),
            |p: ClusterProfile| Some(ObjectRef::new(&p.name_any())),
        )
        // An inventory's selection can change any member's copies.
        .watches_stream(inventory_events.touched_objects(), {
            let members = members.store();
            move |_: Inventory| {
                members
                    .state()
                    .iter()
                    .map(|m| ObjectRef::from_obj(m.as_ref()))
                    .collect::<Vec<_>>()
            }
        });
    controller::run(controller, MEMBER_CONTROLLER, reconcile::reconcile, ctx).await;
}
