//! The hub's Prometheus metrics, in one registry the admin server exports.
//!
//! Labels are bounded: controller names, results and error categories, condition types and
//! statuses, and the names of members and remote service accounts (one series per object, as
//! kube-state-metrics does). No token or other secret ever appears in a label.
//!
//! Gauges about time (heartbeat age, seconds to a token's expiry) and the member counts are
//! computed when scraped, from what the controllers recorded and from the MemberCluster cache,
//! so they are current between reconciles and right after deletions.

use std::{
    collections::HashSet,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use k8s_openapi::jiff::Timestamp;
use kube::runtime::{controller::Action, reflector::Store};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    core::{Collector, Desc},
    proto::MetricFamily,
};
use roster_api::{
    MemberCluster,
    conditions::{CONDITION_CONTROL_PLANE_HEALTHY, CONDITION_JOINED},
};
use roster_runtime::metrics::{Direction, TimeGauge};

use crate::{
    clock::Clock,
    error::{Category, Error},
};

/// The `controller` label of the member controller.
pub const MEMBER_CONTROLLER: &str = "member";

/// The `controller` label of the remote access controller.
pub const REMOTE_ACCESS_CONTROLLER: &str = "remote-access";

/// The conditions `roster_members` counts members by.
const MEMBER_CONDITIONS: [&str; 2] = [CONDITION_JOINED, CONDITION_CONTROL_PLANE_HEALTHY];

/// The statuses a condition can have.
const STATUSES: [&str; 3] = ["True", "False", "Unknown"];

/// The hub's metrics; shared by the controllers (and the webhook) through their contexts.
#[derive(Debug)]
pub struct Metrics {
    reconciles: IntCounterVec,
    reconcile_errors: IntCounterVec,
    reconcile_duration: HistogramVec,
    profile_writes: IntCounter,
    member_status_writes: IntCounter,
    write_errors: IntCounterVec,
    tokens_issued: IntCounter,
    token_expiry: TimeGauge,
    webhook_requests: IntCounterVec,
    webhook_duration: Histogram,
    members: Arc<Members>,
}

impl Metrics {
    /// Creates the hub's metrics and registers them in `registry`; time is read from `clock`.
    pub fn register(registry: &Registry, clock: Arc<dyn Clock>) -> prometheus::Result<Self> {
        let now = move || SystemTime::from(clock.now());
        let metrics = Self {
            reconciles: IntCounterVec::new(
                Opts::new(
                    "roster_reconcile_total",
                    "Reconciles, by controller and result (ok or error).",
                ),
                &["controller", "result"],
            )?,
            reconcile_errors: IntCounterVec::new(
                Opts::new(
                    "roster_reconcile_errors_total",
                    "Failed reconciles, by controller and error category.",
                ),
                &["controller", "category"],
            )?,
            reconcile_duration: HistogramVec::new(
                HistogramOpts::new(
                    "roster_reconcile_duration_seconds",
                    "Seconds one reconcile took, by controller.",
                ),
                &["controller"],
            )?,
            profile_writes: IntCounter::new(
                "roster_profile_writes_total",
                "ClusterProfile updates written (each within the per-profile write budget).",
            )?,
            member_status_writes: IntCounter::new(
                "roster_member_status_writes_total",
                "MemberCluster status updates written.",
            )?,
            write_errors: IntCounterVec::new(
                Opts::new(
                    "roster_write_errors_total",
                    "Writes the API server refused or failed, by kind of object and error \
                     category (the object and the error are in the MemberCluster's Events).",
                ),
                &["kind", "category"],
            )?,
            tokens_issued: IntCounter::new(
                "roster_remote_tokens_issued_total",
                "Remote service account tokens placed in a consumer's Secret.",
            )?,
            token_expiry: TimeGauge::with_clock(
                Opts::new(
                    "roster_remote_token_expiry_seconds",
                    "Seconds until the token in a consumer's Secret expires, by remote service \
                     account and member cluster.",
                ),
                &["namespace", "remote_service_account", "cluster"],
                Direction::Until,
                now.clone(),
            )?,
            webhook_requests: IntCounterVec::new(
                Opts::new(
                    "roster_webhook_requests_total",
                    "Admission requests the pod webhook answered, by result.",
                ),
                &["result"],
            )?,
            webhook_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "roster_webhook_duration_seconds",
                    "Seconds the pod webhook took to answer an admission request.",
                )
                // Admission answers take about a millisecond: buckets from 0.5 ms to ~2 s.
                .buckets(prometheus::exponential_buckets(0.0005, 2.0, 13)?),
            )?,
            members: Arc::new(Members::new(now)?),
        };
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(metrics.reconciles.clone()),
            Box::new(metrics.reconcile_errors.clone()),
            Box::new(metrics.reconcile_duration.clone()),
            Box::new(metrics.profile_writes.clone()),
            Box::new(metrics.member_status_writes.clone()),
            Box::new(metrics.write_errors.clone()),
            Box::new(metrics.tokens_issued.clone()),
            Box::new(metrics.token_expiry.clone()),
            Box::new(metrics.webhook_requests.clone()),
            Box::new(metrics.webhook_duration.clone()),
            Box::new(SharedMembers(metrics.members.clone())),
        ];
        for collector in collectors {
            registry.register(collector)?;
        }
        // Every controller's results exist from the start, so a rate is never absent.
        for controller in [MEMBER_CONTROLLER, REMOTE_ACCESS_CONTROLLER] {
            for result in ["ok", "error"] {
                metrics.reconciles.with_label_values(&[controller, result]);
            }
        }
        Ok(metrics)
    }

    /// Runs one reconcile of `controller` and records its result, error category and duration:
    /// the one place both controllers' reconciles are counted.
    pub async fn observe_reconcile(
        &self,
        controller: &'static str,
        reconcile: impl Future<Output = Result<Action, Error>>,
    ) -> Result<Action, Error> {
        let started = Instant::now();
        let result = reconcile.await;
        self.reconcile_duration
            .with_label_values(&[controller])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => {
                self.reconcile_errors
                    .with_label_values(&[controller, e.category().as_str()])
                    .inc();
                "error"
            }
        };
        self.reconciles
            .with_label_values(&[controller, outcome])
            .inc();
        result
    }

    /// Counts one failed write of an object of `kind`.
    pub fn write_failed(&self, kind: &str, category: Category) {
        self.write_errors
            .with_label_values(&[kind, category.as_str()])
            .inc();
    }

    /// Counts one ClusterProfile update.
    pub fn profile_written(&self) {
        self.profile_writes.inc();
    }

    /// Counts one MemberCluster status update.
    pub fn member_status_written(&self) {
        self.member_status_writes.inc();
    }

    /// Counts one new token placed in a consumer's Secret.
    pub fn token_issued(&self) {
        self.tokens_issued.inc();
    }

    /// Records when the token in the consumer's Secret for the RemoteServiceAccount
    /// `namespace/name` on `cluster` expires; `None` removes the series.
    pub fn token_expiry(&self, namespace: &str, name: &str, cluster: &str, at: Option<Timestamp>) {
        let labels = [namespace, name, cluster];
        match at {
            Some(at) => self.token_expiry.set(&labels, SystemTime::from(at)),
            None => self.token_expiry.remove(&labels),
        }
    }

    /// Removes the token expiry series of the RemoteServiceAccount `namespace/name` except
    /// those of the clusters in `keep`.
    pub fn forget_tokens(&self, namespace: &str, name: &str, keep: &[String]) {
        self.token_expiry.retain(|labels| {
            !(labels[0] == namespace && labels[1] == name) || keep.contains(&labels[2])
        });
    }

    /// Records one admission request the webhook answered: `result` is one of a small fixed
    /// set (for example `allowed`, `patched`, `denied`, `error`), never an object's name.
    pub fn observe_admission(&self, result: &str, elapsed: Duration) {
        self.webhook_requests.with_label_values(&[result]).inc();
        self.webhook_duration.observe(elapsed.as_secs_f64());
    }

    /// Counts members by condition from `store` (the member controller's MemberCluster cache)
    /// from now on.
    pub fn watch_members(&self, store: Store<MemberCluster>) {
        *self.members.lock_store() = Some(store);
    }

    /// Reads when the hub last saw each member's heartbeat from `source` at every scrape from
    /// now on (the member controller's heartbeat map), so a renewal costs the metrics nothing.
    pub fn watch_heartbeats(
        &self,
        source: impl Fn() -> Vec<(String, Timestamp)> + Send + Sync + 'static,
    ) {
        *self
            .members
            .heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(source));
    }
}

/// Where the heartbeat age gauge reads its instants from.
type HeartbeatSource = Box<dyn Fn() -> Vec<(String, Timestamp)> + Send + Sync>;

/// `roster_members` and `roster_member_heartbeat_age_seconds`, computed from the MemberCluster
/// cache when scraped, so both are right after a member is deleted.
struct Members {
    by_condition: IntGaugeVec,
    heartbeat_age: TimeGauge,
    heartbeats: Mutex<Option<HeartbeatSource>>,
    store: Mutex<Option<Store<MemberCluster>>>,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Members").finish_non_exhaustive()
    }
}

impl Members {
    fn new(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> prometheus::Result<Self> {
        Ok(Self {
            by_condition: IntGaugeVec::new(
                Opts::new(
                    "roster_members",
                    "MemberClusters by condition (Joined, ControlPlaneHealthy) and status; a \
                     member without the condition yet counts as Unknown.",
                ),
                &["condition", "status"],
            )?,
            heartbeat_age: TimeGauge::with_clock(
                Opts::new(
                    "roster_member_heartbeat_age_seconds",
                    "Seconds since the hub saw the member's agent heartbeat.",
                ),
                &["member"],
                Direction::Since,
                now,
            )?,
            heartbeats: Mutex::new(None),
            store: Mutex::new(None),
        })
    }

    fn lock_store(&self) -> std::sync::MutexGuard<'_, Option<Store<MemberCluster>>> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How many members have each (condition, status).
pub fn count_by_condition(
    members: &[Arc<MemberCluster>],
) -> Vec<(&'static str, &'static str, i64)> {
    let mut counts = Vec::with_capacity(MEMBER_CONDITIONS.len() * STATUSES.len());
    for condition in MEMBER_CONDITIONS {
        for status in STATUSES {
            let n = members
                .iter()
                .filter(|m| {
                    let found = m
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.iter().find(|c| c.type_ == condition))
                        .map(|c| c.status.as_str());
                    match found {
                        Some(s) if STATUSES.contains(&s) => s == status,
                        _ => status == "Unknown",
                    }
                })
                .count();
            counts.push((condition, status, i64::try_from(n).unwrap_or(i64::MAX)));
        }
    }
    counts
}

/// The registered face of [`Members`] (the registry wants an owned collector).
struct SharedMembers(Arc<Members>);

impl Collector for SharedMembers {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs = self.0.by_condition.desc();
        descs.extend(self.0.heartbeat_age.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(store) = self.0.lock_store().clone() else {
            // No member controller runs in this process (yet): nothing to say about members.
            return Vec::new();
        };
        let members = store.state();
        for (condition, status, n) in count_by_condition(&members) {
            self.0
                .by_condition
                .with_label_values(&[condition, status])
                .set(n);
        }
        let names: HashSet<String> = members
            .iter()
            .filter_map(|m| m.metadata.name.clone())
            .collect();
        let age = &self.0.heartbeat_age;
        age.retain(|_| false);
        if let Some(source) = self
            .0
            .heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            for (member, seen) in source() {
                if names.contains(&member) {
                    age.set(&[&member], SystemTime::from(seen));
                }
            }
        }
        let mut families = self.0.by_condition.collect();
        families.extend(self.0.heartbeat_age.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use kube::runtime::{reflector, watcher};
    use roster_api::{MemberClusterSpec, MemberClusterStatus};

    #[derive(Debug)]
    struct Fixed(Timestamp);

    impl Clock for Fixed {
        fn now(&self) -> Timestamp {
            self.0
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn setup() -> (Registry, Metrics) {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry, Arc::new(Fixed(at(1_000)))).unwrap();
        (registry, metrics)
    }

    fn text(registry: &Registry) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap()
    }

    fn member(name: &str, conditions: &[(&str, &str)]) -> MemberCluster {
        let mut m = MemberCluster::new(name, MemberClusterSpec::default());
        m.status = Some(MemberClusterStatus {
            conditions: conditions
                .iter()
                .map(|(t, s)| Condition {
                    type_: (*t).into(),
                    status: (*s).into(),
                    reason: "Test".into(),
                    message: String::new(),
                    last_transition_time: Time(at(0)),
                    observed_generation: None,
                })
                .collect(),
            ..MemberClusterStatus::default()
        });
        m
    }

    #[test]
    fn members_are_counted_by_condition_without_a_condition_as_unknown() {
        let members = [
            member("a", &[("Joined", "True"), ("ControlPlaneHealthy", "True")]),
            member("b", &[("Joined", "True"), ("ControlPlaneHealthy", "False")]),
            member("c", &[]),
        ]
        .map(Arc::new);
        let counts = count_by_condition(&members);
        assert_eq!(
            counts,
            [
                ("Joined", "True", 2),
                ("Joined", "False", 0),
                ("Joined", "Unknown", 1),
                ("ControlPlaneHealthy", "True", 1),
                ("ControlPlaneHealthy", "False", 1),
                ("ControlPlaneHealthy", "Unknown", 1),
            ]
        );
    }

    #[test]
    fn member_gauges_follow_the_cache_including_deletions() {
        let (registry, metrics) = setup();
        assert!(!text(&registry).contains("roster_members"), "no store yet");
        let (store, mut writer) = reflector::store::<MemberCluster>();
        metrics.watch_members(store);
        let a = member("a", &[("Joined", "True"), ("ControlPlaneHealthy", "True")]);
        writer.apply_watcher_event(&watcher::Event::Apply(a.clone()));
        // "b" has a heartbeat but no MemberCluster any more: not exported.
        metrics.watch_heartbeats(|| vec![("a".into(), at(990)), ("b".into(), at(995))]);

        let scraped = text(&registry);
        assert!(
            scraped.contains("roster_members{condition=\"Joined\",status=\"True\"} 1"),
            "{scraped}"
        );
        assert!(
            scraped.contains("roster_members{condition=\"Joined\",status=\"False\"} 0"),
            "{scraped}"
        );
        assert!(
            scraped.contains("roster_member_heartbeat_age_seconds{member=\"a\"} 10"),
            "{scraped}"
        );
        assert!(!scraped.contains("member=\"b\""), "{scraped}");

        writer.apply_watcher_event(&watcher::Event::Delete(a));
        let scraped = text(&registry);
        assert!(
            scraped.contains("roster_members{condition=\"Joined\",status=\"True\"} 0"),
            "{scraped}"
        );
        assert!(
            !scraped.contains("roster_member_heartbeat_age_seconds{"),
            "{scraped}"
        );
    }

    #[tokio::test]
    async fn reconciles_are_counted_timed_and_categorized() {
        let (registry, metrics) = setup();
        let ok = metrics
            .observe_reconcile(MEMBER_CONTROLLER, async { Ok(Action::await_change()) })
            .await;
        assert!(ok.is_ok());
        let failed = metrics
            .observe_reconcile(REMOTE_ACCESS_CONTROLLER, async {
                Err(Error::Finalizer("boom".into()))
            })
            .await;
        assert!(failed.is_err());
        let scraped = text(&registry);
        for line in [
            "roster_reconcile_total{controller=\"member\",result=\"ok\"} 1",
            "roster_reconcile_total{controller=\"remote-access\",result=\"error\"} 1",
            "roster_reconcile_errors_total{category=\"finalizer\",controller=\"remote-access\"} 1",
            "roster_reconcile_duration_seconds_count{controller=\"member\"} 1",
        ] {
            assert!(scraped.contains(line), "{line} in:\n{scraped}");
        }
        assert!(!scraped.contains("boom"), "no error text in a label");
    }

    #[test]
    fn token_expiry_series_come_and_go() {
        let (registry, metrics) = setup();
        metrics.token_expiry("team-a", "ops", "m1", Some(at(4_600)));
        metrics.token_expiry("team-a", "ops", "m2", Some(at(1_600)));
        metrics.token_expiry("team-b", "ops", "m1", Some(at(2_000)));
        metrics.token_issued();
        let scraped = text(&registry);
        assert!(scraped.contains(
            "roster_remote_token_expiry_seconds{cluster=\"m1\",namespace=\"team-a\",remote_service_account=\"ops\"} 3600"
        ), "{scraped}");
        assert!(
            scraped.contains("roster_remote_tokens_issued_total 1"),
            "{scraped}"
        );

        metrics.forget_tokens("team-a", "ops", &["m2".into()]);
        let scraped = text(&registry);
        assert!(
            !scraped.contains("cluster=\"m1\",namespace=\"team-a\""),
            "{scraped}"
        );
        assert!(
            scraped.contains("cluster=\"m2\",namespace=\"team-a\""),
            "{scraped}"
        );
        assert!(
            scraped.contains("cluster=\"m1\",namespace=\"team-b\""),
            "{scraped}"
        );
        metrics.token_expiry("team-a", "ops", "m2", None);
        assert!(!text(&registry).contains("namespace=\"team-a\""));
    }

    #[test]
    fn writes_and_admissions_are_counted() {
        let (registry, metrics) = setup();
        metrics.profile_written();
        metrics.profile_written();
        metrics.member_status_written();
        metrics.observe_admission("patched", Duration::from_millis(2));
        let scraped = text(&registry);
        for line in [
            "roster_profile_writes_total 2",
            "roster_member_status_writes_total 1",
            "roster_webhook_requests_total{result=\"patched\"} 1",
            "roster_webhook_duration_seconds_count 1",
        ] {
            assert!(scraped.contains(line), "{line} in:\n{scraped}");
        }
    }

    #[test]
    fn registering_twice_in_one_registry_fails() {
        let (registry, _metrics) = setup();
        assert!(Metrics::register(&registry, Arc::new(Fixed(at(0)))).is_err());
    }
}
