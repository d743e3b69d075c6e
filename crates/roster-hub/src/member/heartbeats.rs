//! Heartbeats: when the hub saw each agent's Lease `renewTime` change, timed by the hub's own
//! clock (so the agent's clock skew does not matter).
//!
//! A steady fleet's renewals change nothing the member reconcile decides, so they stop here:
//! a renewal costs one watch event and one map update, not a reconcile. A renewal triggers the
//! member's reconcile only when it can change a condition — the first one the hub sees, or one
//! after a silence long enough that health may have turned Unknown — and a sweep triggers the
//! reconcile of members whose heartbeats stopped, a moment after their grace runs out.
//!
//! The decisions are pure functions ([`observe`], [`expired`]); [`Heartbeats`] is the shared
//! map around them and [`lease_triggers`] the watch adapter.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::{api::coordination::v1::Lease, jiff::Timestamp};
use kube::{
    ResourceExt,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use roster_api::{MemberCluster, names};

use super::listed::Listed;
use crate::clock::Clock;

/// How often the sweep looks for members whose heartbeats stopped: `Unknown` is decided at
/// most this long after the grace runs out.
pub const SWEEP: Duration = Duration::from_millis(250);

/// What the hub knows about one member's heartbeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    /// The Lease's renewTime last seen.
    pub renew: Timestamp,
    /// When the hub saw it change (the first sighting trusts `renew`, capped at now).
    pub seen: Timestamp,
    /// Whether the sweep already triggered a reconcile for this silence.
    pub missed: bool,
}

/// The new sighting after a Lease showing `renew`, and whether the member must be reconciled;
/// `grace` is the member's (from the MemberCluster cache), `None` when it is not cached.
pub fn observe(
    previous: Option<&Sighting>,
    renew: Timestamp,
    now: Timestamp,
    grace: Option<Duration>,
) -> (Sighting, bool) {
    match previous {
        // After a hub restart the first sighting trusts the renewTime: a member silent for
        // long is Unknown at once, not after another grace.
        None => (
            Sighting {
                renew,
                seen: renew.min(now),
                missed: false,
            },
            true,
        ),
        // The hub's own apply of the Lease, or a relist: nothing renewed.
        Some(p) if p.renew == renew => (*p, false),
        Some(p) => {
            // Quiet renewals only while the member is surely alive in the last reconcile's
            // eyes: well inside its grace, and not yet swept as silent.
            let quiet = grace.is_some_and(|g| !p.missed && silence(p.seen, now) < g / 2);
            (
                Sighting {
                    renew,
                    seen: now,
                    missed: false,
                },
                !quiet,
            )
        }
    }
}

/// Whether the sweep must trigger `s`'s member at `now`: its `grace` ran out and it was not
/// triggered for this silence yet. A member not in the cache (`None`) is never triggered.
pub fn expired(s: &Sighting, now: Timestamp, grace: Option<Duration>) -> bool {
    !s.missed && grace.is_some_and(|g| silence(s.seen, now) > g)
}

/// A member's grace: silence longer than this makes its health Unknown.
pub fn grace_of(member: &MemberCluster) -> Duration {
    let seconds = member
        .spec
        .heartbeat
        .as_ref()
        .map(|h| h.grace_seconds)
        .unwrap_or(names::DEFAULT_HEARTBEAT_GRACE_SECONDS);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// Each member's grace by name, read from the hub's MemberCluster cache.
pub type Graces = Box<dyn Fn(&str) -> Option<Duration> + Send + Sync>;

fn silence(seen: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(seen)).unwrap_or_default()
}

/// Every member's heartbeats, shared by the Lease watch, the sweep and the reconciles.
pub struct Heartbeats {
    sightings: Mutex<HashMap<String, Sighting>>,
    graces: Graces,
    listed: Listed,
}

impl std::fmt::Debug for Heartbeats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartbeats").finish_non_exhaustive()
    }
}

impl Heartbeats {
    /// Heartbeats judged by the members' `graces`.
    pub fn new(graces: Graces) -> Self {
        Self {
            sightings: Mutex::default(),
            graces,
            listed: Listed::default(),
        }
    }

    /// Heartbeats judged by the graces of the members in `members`.
    pub fn over(members: Store<MemberCluster>) -> Self {
        Self::new(Box::new(move |name| {
            members.get(&ObjectRef::new(name)).map(|m| grace_of(&m))
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sighting>> {
        self.sightings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a Lease of `member` showing `renew`; true when the member must be reconciled.
    pub fn renewed(&self, member: &str, renew: Timestamp, now: Timestamp) -> bool {
        let mut sightings = self.lock();
        let grace = (self.graces)(member);
        let (next, reconcile) = observe(sightings.get(member), renew, now, grace);
        match sightings.get_mut(member) {
            Some(s) => *s = next,
            None => {
                sightings.insert(member.to_owned(), next);
            }
        }
        reconcile
    }

    /// Keeps only the members `keep` accepts.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.lock().retain(|k, _| keep(k));
    }

    /// When the hub last saw `member` heartbeat.
    pub fn last_seen(&self, member: &str) -> Option<Timestamp> {
        self.lock().get(member).map(|s| s.seen)
    }

    /// The members whose grace ran out at `now`, each returned once per silence.
    pub fn sweep(&self, now: Timestamp) -> Vec<String> {
        let mut sightings = self.lock();
        sightings
            .iter_mut()
            .filter(|(name, s)| expired(s, now, (self.graces)(name)))
            .map(|(name, s)| {
                s.missed = true;
                name.clone()
            })
            .collect()
    }

    /// Every member's last sighting, for the heartbeat age metric.
    pub fn seen(&self) -> Vec<(String, Timestamp)> {
        self.lock()
            .iter()
            .map(|(name, s)| (name.clone(), s.seen))
            .collect()
    }

    /// Waits until the Lease watch delivered its first list, so no member is judged silent
    /// for want of a list.
    pub async fn wait_listed(&self) {
        self.listed.wait().await;
    }
}

/// The member a Lease of Roster's belongs to: its namespace's, if the Lease is the agent's.
fn member_of(lease: &Lease) -> Option<String> {
    if lease.name_any() != names::AGENT_LEASE {
        return None;
    }
    names::member_of_namespace(lease.namespace().as_deref()?).map(str::to_owned)
}

/// Turns the agents' Lease watch into member reconcile triggers: records every renewal in
/// `heartbeats` and passes on only the Leases whose renewal (or deletion) can change their
/// member's conditions.
pub fn lease_triggers(
    events: impl Stream<Item = Result<watcher::Event<Lease>, watcher::Error>> + Send + 'static,
    heartbeats: Arc<Heartbeats>,
    clock: Arc<dyn Clock>,
) -> impl Stream<Item = Result<Lease, watcher::Error>> + Send + 'static {
    events.filter_map(move |event| {
        let passed = match event {
            Ok(watcher::Event::Apply(lease) | watcher::Event::InitApply(lease)) => {
                let renew = lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.renew_time.as_ref())
                    .map(|t| t.0);
                match (member_of(&lease), renew) {
                    (Some(member), Some(renew)) => heartbeats
                        .renewed(&member, renew, clock.now())
                        .then_some(Ok(lease)),
                    _ => None,
                }
            }
            // A deleted Lease says nothing about the agent, which may have renewed it a moment
            // ago: its sighting stays (until the member leaves, see `forget_departed`), and
            // the member's reconcile puts the Lease back.
            Ok(watcher::Event::Delete(lease)) => member_of(&lease).map(|_| Ok(lease)),
            Ok(watcher::Event::InitDone) => {
                heartbeats.listed.set();
                None
            }
            Ok(watcher::Event::Init) => None,
            Err(e) => Some(Err(e)),
        };
        futures::future::ready(passed)
    })
}

/// Runs [`lease_triggers`] over `events` in a task of its own, so renewals that trigger
/// nothing cost the controller nothing; returns the triggers, and the task's guard (dropping it
/// stops the watch, as when this replica stops leading).
pub fn spawn_lease_watch(
    events: impl Stream<Item = Result<watcher::Event<Lease>, watcher::Error>> + Send + 'static,
    heartbeats: Arc<Heartbeats>,
    clock: Arc<dyn Clock>,
) -> (
    impl Stream<Item = Result<Lease, watcher::Error>> + Send + 'static,
    AbortOnDrop,
) {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let task = tokio::spawn(
        lease_triggers(events, heartbeats, clock)
            .map(Ok)
            .forward(tx)
            .map(|_| ()),
    );
    (rx, AbortOnDrop(task))
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every [`SWEEP`], the names of members whose heartbeats stopped (see [`Heartbeats::sweep`]);
/// ends when `heartbeats` is only referenced here.
pub fn silent_members(
    heartbeats: Arc<Heartbeats>,
    clock: Arc<dyn Clock>,
) -> impl Stream<Item = String> + Send + 'static {
    futures::stream::unfold(heartbeats, move |heartbeats| {
        let clock = clock.clone();
        async move {
            tokio::time::sleep(SWEEP).await;
            if Arc::strong_count(&heartbeats) == 1 {
                return None;
            }
            let silent = heartbeats.sweep(clock.now());
            Some((futures::stream::iter(silent), heartbeats))
        }
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    const GRACE: Duration = Duration::from_secs(40);

    fn graces() -> Heartbeats {
        Heartbeats::new(Box::new(|m| (m != "uncached").then_some(GRACE)))
    }

    #[test]
    fn the_first_sighting_reconciles_and_trusts_the_renew_time() {
        let (s, reconcile) = observe(None, t(100), t(130), Some(GRACE));
        assert!(reconcile);
        assert_eq!(s.seen, t(100));
        // A renewTime ahead of the hub's clock counts as now.
        assert_eq!(observe(None, t(200), t(130), Some(GRACE)).0.seen, t(130));
    }

    #[test]
    fn steady_renewals_are_quiet_and_timed_by_the_hub() {
        let first = observe(None, t(100), t(100), Some(GRACE)).0;
        let (s, reconcile) = observe(Some(&first), t(110), t(111), Some(GRACE));
        assert!(!reconcile);
        assert_eq!(s.seen, t(111));
        // Skewed agent clocks do not matter: the hub's clock times the sighting.
        assert_eq!(observe(Some(&s), t(5), t(121), Some(GRACE)).0.seen, t(121));
    }

    #[test]
    fn a_renewal_of_an_uncached_member_or_after_a_long_silence_reconciles() {
        let first = observe(None, t(100), t(100), None).0;
        assert!(observe(Some(&first), t(110), t(110), None).1);
        // Half the grace without a renewal: the member may be on its way to Unknown.
        assert!(observe(Some(&first), t(120), t(120), Some(GRACE)).1);
        assert!(observe(Some(&first), t(150), t(150), Some(GRACE)).1);
        // Swept as silent: the next renewal must bring it back.
        let swept = Sighting {
            missed: true,
            ..first
        };
        assert!(observe(Some(&swept), t(101), t(101), Some(GRACE)).1);
    }

    #[test]
    fn an_unchanged_renew_time_changes_nothing() {
        let first = observe(None, t(100), t(100), Some(GRACE)).0;
        let (s, reconcile) = observe(Some(&first), t(100), t(500), Some(GRACE));
        assert!(!reconcile);
        assert_eq!(s, first);
    }

    #[test]
    fn the_sweep_fires_once_per_silence_after_the_grace_of_the_cached_member() {
        let h = graces();
        assert!(h.renewed("a", t(100), t(100)));
        assert!(h.renewed("uncached", t(100), t(100)));
        assert_eq!(h.last_seen("a"), Some(t(100)));
        assert!(h.sweep(t(140)).is_empty());
        // A member not in the cache has no grace: it is never swept.
        assert_eq!(h.sweep(t(141)), ["a"]);
        assert!(h.sweep(t(142)).is_empty());
        // It heartbeats again: reconciled, and a later silence is swept again.
        assert!(h.renewed("a", t(150), t(150)));
        assert_eq!(h.sweep(t(191)), ["a"]);
        h.retain(|m| m != "a" && m != "uncached");
        assert!(h.seen().is_empty());
    }

    #[test]
    fn the_grace_comes_from_the_member_spec_or_the_default() {
        let mut m = MemberCluster::new("m", Default::default());
        assert_eq!(
            grace_of(&m),
            Duration::from_secs(names::DEFAULT_HEARTBEAT_GRACE_SECONDS as u64)
        );
        m.spec.heartbeat = Some(roster_api::member_cluster::Heartbeat {
            period_seconds: 1,
            grace_seconds: 4,
        });
        assert_eq!(grace_of(&m), Duration::from_secs(4));
    }

    fn lease(ns: &str, name: &str, renew: Option<i64>) -> Lease {
        use k8s_openapi::{
            api::coordination::v1::LeaseSpec, apimachinery::pkg::apis::meta::v1::MicroTime,
        };
        Lease {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                renew_time: renew.map(|s| MicroTime(t(s))),
                ..Default::default()
            }),
        }
    }

    #[tokio::test]
    async fn lease_events_become_triggers_only_when_they_matter() {
        let member_ns = names::member_namespace("m1");
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::FixedClock(t(100)));
        let heartbeats = Arc::new(graces());
        let events = vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(lease(
                &member_ns,
                names::AGENT_LEASE,
                Some(100),
            ))),
            // Not an agent Lease, or not renewed yet: no trigger.
            Ok(watcher::Event::InitApply(lease(
                &member_ns,
                "other",
                Some(100),
            ))),
            Ok(watcher::Event::InitApply(lease(
                "elsewhere",
                names::AGENT_LEASE,
                Some(100),
            ))),
            Ok(watcher::Event::InitApply(lease(
                &names::member_namespace("m2"),
                names::AGENT_LEASE,
                None,
            ))),
            Ok(watcher::Event::InitDone),
            // The same renewTime again: no trigger.
            Ok(watcher::Event::Apply(lease(
                &member_ns,
                names::AGENT_LEASE,
                Some(100),
            ))),
            Ok(watcher::Event::Delete(lease(
                &member_ns,
                names::AGENT_LEASE,
                Some(100),
            ))),
        ];
        let passed: Vec<_> =
            lease_triggers(futures::stream::iter(events), heartbeats.clone(), clock)
                .collect()
                .await;
        let passed: Vec<_> = passed
            .into_iter()
            .map(|l| l.unwrap().metadata.namespace.unwrap())
            .collect();
        assert_eq!(passed, [member_ns.clone(), member_ns]);
        heartbeats.wait_listed().await;
        assert_eq!(
            heartbeats.seen().len(),
            1,
            "a deleted Lease is put back; the agent's last renewal still counts"
        );
    }

    #[tokio::test]
    async fn the_lease_watch_task_forwards_triggers_and_stops_with_its_guard() {
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::FixedClock(t(100)));
        let heartbeats = Arc::new(graces());
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let (mut triggers, guard) = spawn_lease_watch(rx, heartbeats.clone(), clock);
        let lease = lease(
            &names::member_namespace("m1"),
            names::AGENT_LEASE,
            Some(100),
        );
        tx.unbounded_send(Ok(watcher::Event::Apply(lease.clone())))
            .unwrap();
        let first = triggers.next().await.unwrap().unwrap();
        assert_eq!(first.metadata.namespace, lease.metadata.namespace);
        drop(guard);
        // The task is gone: its end of the channel closes.
        assert!(triggers.next().await.is_none());
        assert_eq!(heartbeats.seen().len(), 1);
    }
}
