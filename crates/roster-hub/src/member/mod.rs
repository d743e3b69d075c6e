//! The member controller: one reconcile per MemberCluster turns its spec, the agent's Lease and
//! report into the hub-side objects, the MemberCluster status and the ClusterProfile.

pub mod drift;
pub mod failures;
pub mod health;
pub mod heartbeats;
pub mod objects;
pub mod owned;
pub mod prepared;
pub mod profile;
pub mod profiles;
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
        controller::Action,
        reflector::{self, ObjectRef},
        watcher,
    },
};
use roster_api::{
    MemberCluster, MemberReport,
    conditions::{CONDITION_CONTROL_PLANE_HEALTHY, CONDITION_JOINED},
    member_report::REPORT_NAME,
    names,
};
use roster_runtime::admin::Condition;
use tracing::{debug, info, instrument, warn};

use crate::{
    backoff::WatchBackoff,
    clock::whole_seconds,
    conditions,
    context::{Context, Stores},
    error::Error,
    metrics::{MEMBER_CONTROLLER, Metrics},
    shared::SharedCache,
    watch,
};

/// Without events, each member is looked at again this often.
const RESYNC: Duration = Duration::from_secs(300);

/// Reconciles one MemberCluster.
#[instrument(skip_all, fields(member = %member.name_any()))]
pub async fn reconcile(member: Arc<MemberCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.caches_ready().await;
    let name = member.name_any();
    let now = ctx.clock.now();
    let problem = names::member_namespace_problem(&name);
    let heartbeat = member.spec.heartbeat.clone().unwrap_or_default();
    let ns = names::member_namespace(&name);
    if problem.is_none() {
        writes::prepare(&ctx, &member, heartbeat.grace_seconds).await?;
    }
    let report = match problem {
        Some(_) => None,
        None => ctx
            .stores
            .reports
            .get(&ObjectRef::new(REPORT_NAME).within(&ns)),
    };
    let report = report.as_ref().map(|r| &r.spec);
    let grace = Duration::from_secs(u64::try_from(heartbeat.grace_seconds).unwrap_or(0));
    let last_heartbeat = ctx.heartbeats.last_seen(&name, grace);
    let inputs = health::Inputs {
        name_problem: problem.as_deref(),
        last_heartbeat,
        report,
        grace,
        now,
    };

    let (_, too_long) = profile::properties(&member, report);
    let mut desired = vec![
        health::joined(&inputs),
        health::control_plane_healthy(&inputs),
    ];
    if report.is_some() {
        desired.push(status::properties_published(&too_long));
    }
    let previous = member
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let built = conditions::build_all(
        &desired,
        previous,
        &whole_seconds(now),
        member.metadata.generation,
    );
    if writes::member_status(
        &ctx,
        &member,
        status::desired(&member, report, built.clone()),
    )
    .await?
    {
        info!(
            joined = desired[0].reason,
            health = desired[1].reason,
            "member status updated"
        );
        let transitions = crate::events::transitions(previous, &built);
        crate::events::publish(
            &ctx.recorder,
            &kube::Resource::object_ref(member.as_ref(), &()),
            transitions,
        )
        .await;
    }

    // Heartbeats that stop are noticed by the sweep (see `heartbeats`), not by a timer here.
    let mut requeue = RESYNC;
    if problem.is_none() {
        // The profile mirrors the member's conditions, with the member's transition times.
        let mirrored = built
            .into_iter()
            .filter(|c| c.type_ == CONDITION_JOINED || c.type_ == CONDITION_CONTROL_PLANE_HEALTHY)
            .map(
                |c| k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                    observed_generation: None,
                    ..c
                },
            )
            .collect();
        let meta = writes::desired_meta(&member, report);
        let status = profile::status(&member, report, mirrored);
        if let writes::ProfileWrite::Deferred(wait) =
            writes::profile(&ctx, &member, meta, status, now).await?
        {
            // Routine while a member joins (its profile changes several times in a row):
            // the write happens when the budget allows, with the content of that moment.
            debug!(wait = ?wait, "ClusterProfile write budget exhausted; deferring");
            requeue = requeue.min(wait);
        }
    }
    Ok(Action::requeue(requeue))
}

/// Requeue policy for failed reconciles.
pub fn error_policy(member: Arc<MemberCluster>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(member = %member.name_any(), category = %error.category(), %error, "reconcile failed");
    if error.is_transient() {
        Action::requeue(Duration::from_secs(5))
    } else {
        Action::requeue(Duration::from_secs(60))
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
    ctx_parts: (
        kube::Client,
        crate::context::Settings,
        Arc<dyn crate::clock::Clock>,
    ),
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
    let profile_selector = format!("{LABEL_CLUSTER_MANAGER}={}", names::CLUSTER_MANAGER);
    // Profiles are not cached either: the hub keeps digests of what it manages in them.
    let profile_events = watcher(
        Api::<ClusterProfile>::namespaced(client.clone(), &settings.inventory_namespace),
        watch::config().labels(&profile_selector),
    )
    .backoff(WatchBackoff::default());
    let profiles = Arc::new(profiles::Profiles::default());

    let heartbeats = Arc::new(heartbeats::Heartbeats::default());
    let ctx = Arc::new(Context::new(
        client.clone(),
        settings,
        clock.clone(),
        metrics.clone(),
        Stores { reports },
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
    Controller::for_stream(members.applied(), members.store())
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
            profiles::profile_triggers(profile_events, profiles),
            |p: ClusterProfile| Some(ObjectRef::new(&p.name_any())),
        )
        .trigger_backoff(WatchBackoff::default())
        .shutdown_on_signal()
        .run(
            |member, ctx: Arc<Context>| async move {
                let result = ctx
                    .metrics
                    .observe_reconcile(MEMBER_CONTROLLER, reconcile(member.clone(), ctx.clone()))
                    .await;
                failures::record(&ctx, &member, result.as_ref().map(|_| ())).await;
                result
            },
            error_policy,
            ctx,
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}
