//! Many simulated agents in one process, for the fleet benchmark (`make bench`, suite `fleet`).
//!
//! Each simulated member heartbeats and reports with the agent's own code
//! ([`heartbeat::renew_once`], [`report::build_spec`], [`report::ReportWriter`]) against the
//! hub only. What differs from a real agent, and why:
//!
//! - there is no member API server: what the agent would gather there is synthetic
//!   ([`observations`]) and its probe always finds it ready;
//! - the cadence comes from [`Settings`] instead of the MemberCluster re-read every minute,
//!   which would only load the hub API server, not `roster-hub`;
//! - after its first heartbeat a member waits a random fraction of the period before the
//!   second, so a batch that joined together does not heartbeat in lockstep;
//! - every member shares one hub client (one connection pool) with the caller's credentials,
//!   not a per-member identity, and at most [`Settings::concurrency`] requests are in flight.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use roster_api::names;
use roster_runtime::backoff::{self, Backoff};
use tokio::{
    sync::{Semaphore, watch},
    task::JoinHandle,
};

use roster_agent::{
    heartbeat::{self, Cadence},
    probe::Probe,
    report::{
        self, ReportWriter,
        build::FirstSeen,
        endpoint::Endpoint,
        gather::{NodeFacts, Observations},
    },
    timing,
};

/// Version every simulated member reports.
pub const SIMULATED_VERSION: &str = "v1.37.2";

/// Nodes every simulated member reports.
pub const SIMULATED_NODES: usize = 3;

/// How the simulated members behave.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Heartbeat period and grace, as the MemberClusters say.
    pub cadence: Cadence,
    /// How often each member rebuilds its report (written only when it changed).
    pub report_interval: Duration,
    /// Most hub requests in flight at once, over all members.
    pub concurrency: usize,
    /// CA bundle (PEM) every member reports for its API server.
    pub ca_pem: Option<Vec<u8>>,
}

/// What the member `name` would have gathered from its API server: a stable cluster id,
/// [`SIMULATED_VERSION`], and [`SIMULATED_NODES`] ready nodes in one region and zone.
pub fn observations(name: &str) -> Observations {
    let node = NodeFacts {
        ready: true,
        region: Some("sim-region-1".to_owned()),
        zone: Some("sim-region-1a".to_owned()),
    };
    Observations {
        kube_system_uid: simulated_uid(name),
        git_version: SIMULATED_VERSION.to_owned(),
        nodes: vec![node; SIMULATED_NODES],
        cluster_properties: None,
    }
}

/// The API server URL the member `name` reports.
pub fn simulated_server(name: &str) -> String {
    format!("https://{name}.sim.roster.test:6443")
}

/// A UUID-shaped id derived from `name` (FNV-1a), stable across runs.
fn simulated_uid(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        hash >> 32,
        (hash >> 16) & 0xffff,
        hash & 0xfff,
        (hash >> 52) & 0xfff,
        hash & 0xffff_ffff_ffff
    )
}

/// Counts over every simulated member since the simulator started.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Lease renewals the hub accepted.
    pub renewals: u64,
    /// Lease renewals that failed.
    pub renewal_failures: u64,
    /// Seconds spent in accepted renewals (request sent to answer received).
    pub renewal_seconds: f64,
    /// Renewals sent more than a second after they were due (the simulator fell behind).
    pub late_renewals: u64,
    /// MemberReports written.
    pub reports_written: u64,
    /// MemberReport writes that failed.
    pub report_failures: u64,
}

impl Totals {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            renewals: self.renewals.saturating_sub(earlier.renewals),
            renewal_failures: self
                .renewal_failures
                .saturating_sub(earlier.renewal_failures),
            renewal_seconds: (self.renewal_seconds - earlier.renewal_seconds).max(0.0),
            late_renewals: self.late_renewals.saturating_sub(earlier.late_renewals),
            reports_written: self.reports_written.saturating_sub(earlier.reports_written),
            report_failures: self.report_failures.saturating_sub(earlier.report_failures),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    renewals: AtomicU64,
    renewal_failures: AtomicU64,
    renewal_micros: AtomicU64,
    late_renewals: AtomicU64,
    reports_written: AtomicU64,
    report_failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn failed(&self, counter: &AtomicU64, error: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }
}

/// When one member heartbeated, by the simulator's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Beats {
    /// When its first heartbeat (since the last start) was sent.
    pub first_sent: Option<Instant>,
    /// When the hub last accepted a heartbeat (the answer arrived).
    pub last_accepted: Option<Instant>,
}

/// What every member task shares.
struct Shared {
    hub: Client,
    settings: Settings,
    permits: Semaphore,
    counters: Counters,
    beats: Mutex<HashMap<String, Beats>>,
}

impl Shared {
    fn beat(&self, member: &str, update: impl FnOnce(&mut Beats)) {
        let mut beats = self.beats.lock().unwrap_or_else(|e| e.into_inner());
        update(beats.entry(member.to_owned()).or_default());
    }
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Simulated members heartbeating and reporting to one hub.
pub struct Simulator {
    shared: Arc<Shared>,
    running: Mutex<HashMap<String, Running>>,
    seeds: Mutex<fastrand::Rng>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("settings", &self.shared.settings)
            .field("running", &self.running_count())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator writing to the hub through `hub`.
    pub fn new(hub: Client, settings: Settings) -> Self {
        let permits = Semaphore::new(settings.concurrency.max(1));
        Self {
            shared: Arc::new(Shared {
                hub,
                settings,
                permits,
                counters: Counters::default(),
                beats: Mutex::new(HashMap::new()),
            }),
            running: Mutex::new(HashMap::new()),
            seeds: Mutex::new(fastrand::Rng::new()),
        }
    }

    /// Starts the agent of `member` (its namespace must exist on the hub): it heartbeats at
    /// once and then every period, and writes its report at once and whenever it changes.
    /// Does nothing if it is already running.
    pub fn start(&self, member: &str) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.contains_key(member) {
            return;
        }
        self.shared.beat(member, |b| b.first_sent = None);
        let seed = self.seeds.lock().map(|mut r| r.u64(..)).unwrap_or(1);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(member_loop(
            self.shared.clone(),
            member.to_owned(),
            seed,
            stopped,
        ));
        running.insert(member.to_owned(), Running { stop, task });
    }

    /// Stops the agent of `member` after any request in flight; returns when the hub last
    /// accepted its heartbeat.
    pub async fn stop(&self, member: &str) -> Option<Instant> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(member);
        if let Some(r) = running {
            let _ = r.stop.send(true);
            let _ = r.task.await;
        }
        self.beats(member).and_then(|b| b.last_accepted)
    }

    /// Stops every member.
    pub async fn stop_all(&self) {
        let all: Vec<Running> = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, r)| r)
            .collect();
        for r in &all {
            let _ = r.stop.send(true);
        }
        for r in all {
            let _ = r.task.await;
        }
    }

    /// The heartbeat times of `member`.
    pub fn beats(&self, member: &str) -> Option<Beats> {
        let beats = self.shared.beats.lock().unwrap_or_else(|e| e.into_inner());
        beats.get(member).copied()
    }

    /// How many members are running.
    pub fn running_count(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Counts since the simulator started.
    pub fn totals(&self) -> Totals {
        let c = &self.shared.counters;
        Totals {
            renewals: c.renewals.load(Ordering::Relaxed),
            renewal_failures: c.renewal_failures.load(Ordering::Relaxed),
            renewal_seconds: c.renewal_micros.load(Ordering::Relaxed) as f64 / 1e6,
            late_renewals: c.late_renewals.load(Ordering::Relaxed),
            reports_written: c.reports_written.load(Ordering::Relaxed),
            report_failures: c.report_failures.load(Ordering::Relaxed),
        }
    }

    /// The last error any member met, if one did.
    pub fn last_error(&self) -> Option<String> {
        let c = &self.shared.counters;
        c.last_error.lock().ok().and_then(|e| e.clone())
    }
}

/// How long after it was due a renewal counts as late.
const LATE: Duration = Duration::from_secs(1);

/// One member's agent: heartbeat every period (jittered as the agent does), report when it
/// changed, until `stop` says so.
async fn member_loop(
    shared: Arc<Shared>,
    member: String,
    seed: u64,
    mut stop: watch::Receiver<bool>,
) {
    let namespace = names::member_namespace(&member);
    let leases: Api<Lease> = Api::namespaced(shared.hub.clone(), &namespace);
    let cadence = shared.settings.cadence;
    let endpoint = Endpoint {
        server: simulated_server(&member),
        ca_pem: shared.settings.ca_pem.clone(),
    };
    let observed = observations(&member);
    let probe = Probe::new(3, timing::now());
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut reporter: Option<(ReportWriter, FirstSeen)> = None;
    let mut next_report = Instant::now();
    let mut due = Instant::now();
    let mut first = true;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(due.into()) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        let Ok(_permit) = shared.permits.acquire().await else {
            return;
        };
        let sent = Instant::now();
        if sent.duration_since(due) > LATE {
            shared
                .counters
                .late_renewals
                .fetch_add(1, Ordering::Relaxed);
        }
        if first {
            shared.beat(&member, |b| b.first_sent = Some(sent));
        }
        let accepted = match heartbeat::renew_once(&leases, &member, cadence).await {
            Ok(_) => {
                let answered = Instant::now();
                let c = &shared.counters;
                c.renewals.fetch_add(1, Ordering::Relaxed);
                let micros = u64::try_from(answered.duration_since(sent).as_micros());
                c.renewal_micros
                    .fetch_add(micros.unwrap_or(u64::MAX), Ordering::Relaxed);
                shared.beat(&member, |b| b.last_accepted = Some(answered));
                true
            }
            Err(e) => {
                let c = &shared.counters;
                c.failed(&c.renewal_failures, format!("renewing the lease: {e}"));
                false
            }
        };
        if Instant::now() >= next_report {
            if reporter.is_none() {
                let writer =
                    ReportWriter::resume(Api::namespaced(shared.hub.clone(), &namespace)).await;
                let first_seen = writer
                    .last_written()
                    .map(|s| FirstSeen::from_reported(&s.properties))
                    .unwrap_or_default();
                reporter = Some((writer, first_seen));
            }
            if let Some((writer, first_seen)) = reporter.as_mut() {
                let spec = report::build_spec(first_seen, &observed, &endpoint, probe.health());
                let c = &shared.counters;
                match writer.write(spec).await {
                    Ok(wrote) => {
                        if wrote {
                            c.reports_written.fetch_add(1, Ordering::Relaxed);
                        }
                        next_report = sent + shared.settings.report_interval;
                    }
                    Err(e) => c.failed(&c.report_failures, format!("{e:#}")),
                }
            }
        }
        let now = Instant::now();
        due = if !accepted {
            now + backoff.next_delay().min(cadence.period)
        } else if std::mem::replace(&mut first, false) {
            backoff.reset();
            // Spread: the second heartbeat comes a random fraction of the period later.
            now + cadence.period.mul_f64(rng.f64())
        } else {
            backoff.reset();
            now + backoff::jittered(cadence.period, heartbeat::JITTER)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_inventory::names::{PROPERTY_REGION, PROPERTY_ZONE};
    use std::collections::BTreeMap;

    #[test]
    fn observations_are_stable_and_distinct_per_member() {
        let a = observations("member-1");
        assert_eq!(a, observations("member-1"));
        assert_ne!(a.kube_system_uid, observations("member-2").kube_system_uid);
        assert_eq!(a.kube_system_uid.len(), 36);
        assert_eq!(a.nodes.len(), SIMULATED_NODES);
        assert_eq!(
            report::build::observed_properties(&a),
            BTreeMap::from([
                (PROPERTY_REGION.to_owned(), "sim-region-1".to_owned()),
                (PROPERTY_ZONE.to_owned(), "sim-region-1a".to_owned()),
            ])
        );
    }

    #[test]
    fn the_report_of_a_simulated_member_does_not_change_while_nothing_does() {
        let obs = observations("m");
        let endpoint = Endpoint {
            server: simulated_server("m"),
            ca_pem: Some(b"PEM".to_vec()),
        };
        let probe = Probe::new(3, timing::now());
        let mut seen = FirstSeen::default();
        let first = report::build_spec(&mut seen, &obs, &endpoint, probe.health());
        let again = report::build_spec(&mut seen, &obs, &endpoint, probe.health());
        assert_eq!(first, again);
        assert_eq!(first.nodes.ready, 3);
        assert_eq!(first.api_server.server, "https://m.sim.roster.test:6443");
        assert!(first.api_server_health.healthy);
    }

    #[test]
    fn totals_subtract_without_going_negative() {
        let later = Totals {
            renewals: 10,
            renewal_seconds: 1.5,
            reports_written: 2,
            ..Totals::default()
        };
        let earlier = Totals {
            renewals: 4,
            renewal_seconds: 0.5,
            reports_written: 3,
            ..Totals::default()
        };
        let d = later.since(&earlier);
        assert_eq!(d.renewals, 6);
        assert_eq!(d.renewal_seconds, 1.0);
        assert_eq!(d.reports_written, 0);
    }
}
