//! Watches the benchmark's MemberClusters and notes, by the local clock, when the hub prepared
//! each member, when it said `Joined=True`, and how its health moved.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{
    Api, Client, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};
use roster_api::{
    MemberCluster,
    conditions::{CONDITION_CONTROL_PLANE_HEALTHY, CONDITION_JOINED, health},
};
use tokio::{sync::mpsc, task::JoinHandle};

/// What was seen of one member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// When the bench created its MemberCluster.
    pub created: Option<Instant>,
    /// When its status first had a `Joined` condition: the hub prepared its namespace.
    pub prepared: Option<Instant>,
    /// When `Joined` was first seen `True`.
    pub joined: Option<Instant>,
    /// `ControlPlaneHealthy` status and reason, as last seen.
    pub health: Option<(String, String)>,
    /// When health was first seen `Unknown` for a missed heartbeat (since the last reset).
    pub missed: Option<Instant>,
    /// Each condition's type, status and `lastTransitionTime` as last seen.
    pub transitions: Vec<(String, String, Time)>,
}

impl View {
    /// Whether health is `True`.
    pub fn healthy(&self) -> bool {
        self.health.as_ref().is_some_and(|(s, _)| s == "True")
    }
}

/// What one observation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change {
    /// The hub prepared the member just now.
    pub prepared: bool,
    /// Health left `True`.
    pub dropped: bool,
    /// Conditions whose `lastTransitionTime` moved although their status did not: a write
    /// that changed nothing a reader cares about.
    pub rewritten: u32,
}

/// Takes in the `conditions` seen `now` for one member.
pub fn observe(view: &mut View, conditions: &[Condition], now: Instant) -> Change {
    let find = |t: &str| conditions.iter().find(|c| c.type_ == t);
    let mut change = Change::default();
    if let Some(joined) = find(CONDITION_JOINED) {
        if view.prepared.is_none() {
            view.prepared = Some(now);
            change.prepared = true;
        }
        if joined.status == "True" && view.joined.is_none() {
            view.joined = Some(now);
        }
    }
    if let Some(h) = find(CONDITION_CONTROL_PLANE_HEALTHY) {
        let new = (h.status.clone(), h.reason.clone());
        change.dropped = view.healthy() && new.0 != "True";
        let was_missed = view
            .health
            .as_ref()
            .is_some_and(|(_, r)| r == health::HEARTBEAT_MISSED);
        if new.1 == health::HEARTBEAT_MISSED && !was_missed && view.missed.is_none() {
            view.missed = Some(now);
        }
        view.health = Some(new);
    }
    let seen: Vec<(String, String, Time)> = conditions
        .iter()
        .map(|c| {
            (
                c.type_.clone(),
                c.status.clone(),
                c.last_transition_time.clone(),
            )
        })
        .collect();
    change.rewritten = seen
        .iter()
        .filter(|(t, s, time)| {
            view.transitions
                .iter()
                .any(|(pt, ps, ptime)| pt == t && ps == s && ptime != time)
        })
        .count() as u32;
    view.transitions = seen;
    change
}

#[derive(Debug, Default)]
struct State {
    members: HashMap<String, View>,
    counts: Counts,
}

/// Totals over every member since the watch started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// MemberCluster updates seen.
    pub updates: u64,
    /// Times a member's health left `True`.
    pub drops: u64,
    /// Condition transition times that moved without a transition.
    pub rewrites: u64,
}

impl Counts {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            updates: self.updates.saturating_sub(earlier.updates),
            drops: self.drops.saturating_sub(earlier.drops),
            rewrites: self.rewrites.saturating_sub(earlier.rewrites),
        }
    }
}

/// The watch and what it saw.
#[derive(Debug)]
pub struct Observer {
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Observer {
    /// Watches MemberClusters labelled `selector`; sends each member's name on `prepared` once
    /// the hub has prepared it.
    pub fn start(client: Client, selector: &str, prepared: mpsc::UnboundedSender<String>) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let api: Api<MemberCluster> = Api::all(client);
        let stream = watcher(api, watcher::Config::default().labels(selector)).default_backoff();
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(event) = stream.next().await {
                    let now = Instant::now();
                    let Ok(watcher::Event::Apply(mc) | watcher::Event::InitApply(mc)) = event
                    else {
                        continue;
                    };
                    let name = mc.name_any();
                    let conditions = mc
                        .status
                        .as_ref()
                        .map(|s| s.conditions.as_slice())
                        .unwrap_or_default();
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    let change =
                        observe(st.members.entry(name.clone()).or_default(), conditions, now);
                    st.counts.updates += 1;
                    st.counts.drops += u64::from(change.dropped);
                    st.counts.rewrites += u64::from(change.rewritten);
                    if change.prepared {
                        let _ = prepared.send(name);
                    }
                }
            }
        });
        Self { state, task }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Notes that the bench created `name` at `at`.
    pub fn created(&self, name: &str, at: Instant) {
        self.with(|s| s.members.entry(name.to_owned()).or_default().created = Some(at));
    }

    /// What was seen of `name`.
    pub fn view(&self, name: &str) -> Option<View> {
        self.with(|s| s.members.get(name).cloned())
    }

    /// How many members satisfy `f`.
    pub fn count(&self, f: impl Fn(&View) -> bool) -> usize {
        self.with(|s| s.members.values().filter(|v| f(v)).count())
    }

    /// Totals since the watch started.
    pub fn counts(&self) -> Counts {
        self.with(|s| s.counts)
    }

    /// Forgets when `name` was last seen missing its heartbeat.
    pub fn reset_missed(&self, name: &str) {
        self.with(|s| {
            if let Some(v) = s.members.get_mut(name) {
                v.missed = None;
            }
        });
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cond(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
            observed_generation: None,
        }
    }

    #[test]
    fn prepared_joined_and_health_are_timed_once() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut v = View::default();
        assert_eq!(observe(&mut v, &[], at(0)), Change::default());
        let awaiting = [
            cond(CONDITION_JOINED, "False", "AwaitingAgent"),
            cond(CONDITION_CONTROL_PLANE_HEALTHY, "Unknown", "AwaitingAgent"),
        ];
        assert!(observe(&mut v, &awaiting, at(1)).prepared);
        assert!(!observe(&mut v, &awaiting, at(2)).prepared, "only once");
        let joined = [
            cond(CONDITION_JOINED, "True", "AgentConnected"),
            cond(CONDITION_CONTROL_PLANE_HEALTHY, "True", "ApiServerReady"),
        ];
        assert_eq!(observe(&mut v, &joined, at(3)), Change::default());
        observe(&mut v, &joined, at(4));
        assert_eq!((v.prepared, v.joined), (Some(at(1)), Some(at(3))));
        assert!(v.healthy());
        let missed = [
            cond(CONDITION_JOINED, "True", "AgentConnected"),
            cond(
                CONDITION_CONTROL_PLANE_HEALTHY,
                "Unknown",
                health::HEARTBEAT_MISSED,
            ),
        ];
        assert!(observe(&mut v, &missed, at(50)).dropped);
        assert!(!observe(&mut v, &missed, at(51)).dropped);
        assert_eq!(v.missed, Some(at(50)));
        observe(&mut v, &joined, at(60));
        assert_eq!(v.missed, Some(at(50)), "kept until reset");
        let mut moved = joined.clone();
        moved[0].last_transition_time = Time(k8s_openapi::jiff::Timestamp::from_second(9).unwrap());
        assert_eq!(
            observe(&mut v, &moved, at(61)).rewritten,
            1,
            "Joined stayed True"
        );
        assert_eq!(observe(&mut v, &moved, at(62)).rewritten, 0);
    }
}
