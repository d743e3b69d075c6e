//! From what one fleet size measured to the figures of the table. Pure.

use super::simulate::Totals;

use super::scrape::Counters;
use crate::figure::{Figure, percentile};

const SUITE: &str = "fleet";

/// The memory target, in bytes per member (1 KB = 1000 bytes).
pub const MEMORY_TARGET_BYTES: f64 = 20_000.0;

/// The CPU target per heartbeat event, in µs.
pub const CPU_TARGET_MICROS: f64 = 50.0;

/// The join target, in seconds.
pub const JOIN_TARGET_SECONDS: f64 = 2.0;

/// How late past the grace period `Unknown` may come, in seconds.
pub const UNKNOWN_SLACK_SECONDS: f64 = 2.0;

/// The name the API server's CPU goes by in a window's `cores`.
pub const APISERVER: &str = "kube-apiserver";

/// Below this share of the nominal heartbeat rate, the machine did not carry the fleet.
pub const CARRIED_RATE: f64 = 0.9;

/// The hub with no members.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// The `roster-hub` binary measured.
    pub binary: String,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// CPU seconds per minute while idle.
    pub cpu_per_minute: f64,
    /// Seconds the idle CPU was measured over.
    pub seconds: f64,
}

/// The steady-state window of one fleet size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// Its length, seconds.
    pub seconds: f64,
    /// `roster-hub` CPU seconds in it.
    pub hub_cpu_seconds: f64,
    /// The part of them spent in the kernel.
    pub hub_system_seconds: f64,
    /// `roster-hub` resident memory at its end, bytes.
    pub hub_rss_bytes: u64,
    /// `roster-hub` peak resident memory (VmHWM) so far, bytes.
    pub hub_peak_bytes: u64,
    /// What the simulated agents did in it.
    pub sim: Totals,
    /// What the hub counted in it.
    pub hub: Counters,
    /// Members whose health left True in it.
    pub health_drops: u64,
    /// MemberCluster updates the watch saw in it.
    pub member_updates: u64,
    /// Condition transition times the hub moved without a transition in it.
    pub rewrites: u64,
    /// Cores each process kept busy, the machine last.
    pub cores: Vec<(String, f64)>,
    /// Load averages at its end.
    pub loadavg: String,
    /// JSON sizes of one member's objects that the hub caches.
    pub objects: String,
}

/// The heartbeat-loss test of one fleet size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnknownTest {
    /// Members whose heartbeats were stopped.
    pub sample: usize,
    /// Seconds from each one's last accepted heartbeat to `Unknown` seen.
    pub latencies: Vec<f64>,
    /// Seconds waited past the grace before giving up on the others.
    pub waited_past_grace: f64,
    /// Whether they all came back healthy once resumed.
    pub recovered: bool,
}

/// Everything measured at one fleet size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stage {
    /// Members in the fleet.
    pub members: usize,
    /// Heartbeat period, seconds.
    pub period: u64,
    /// Heartbeat grace, seconds.
    pub grace: u64,
    /// Members to add for this size.
    pub added: usize,
    /// Members actually created for it (fewer when growing stopped).
    pub grow_created: usize,
    /// MemberClusters created at once, at most, while growing.
    pub batch: usize,
    /// Seconds from MemberCluster creation to the hub having prepared it, per member added
    /// while growing.
    pub grow_prepare: Vec<f64>,
    /// Seconds from first heartbeat to `Joined=True` seen, per member added while growing.
    pub grow_join: Vec<f64>,
    /// Size of the CA bundle (PEM) each member reports, bytes.
    pub ca_bytes: usize,
    /// Members asked to join one at a time into the settled fleet.
    pub sample: usize,
    /// Creation to prepared, seconds, per member of the one-at-a-time sample.
    pub sample_prepare: Vec<f64>,
    /// First heartbeat to `Joined=True`, seconds, per member of the one-at-a-time sample.
    pub sample_join: Vec<f64>,
    /// Seconds growing took.
    pub grow_seconds: f64,
    /// What the hub counted while growing.
    pub grow_hub: Counters,
    /// MemberCluster updates the watch saw while growing.
    pub grow_updates: u64,
    /// Condition transition times the hub moved without a transition while growing.
    pub grow_rewrites: u64,
    /// Lease renewals that failed while growing, and the last error.
    pub grow_renewal_failures: (u64, Option<String>),
    /// Requests the API server refused for load (429) while growing.
    pub grow_429: f64,
    /// Events created while growing.
    pub grow_events: f64,
    /// Seconds until hub writes stopped after growth, and whether they did.
    pub settle: (f64, bool),
    /// The steady-state window, when the fleet got there.
    pub window: Option<Window>,
    /// The heartbeat-loss test, when it ran.
    pub unknown: Option<UnknownTest>,
    /// Why the fleet cannot grow past this size, if it cannot.
    pub stopped: Option<String>,
}

fn nf(n: usize) -> String {
    format!("N={n}")
}

/// Why the machine did not carry `window`'s fleet of `members`, if it did not.
pub fn not_carried(window: &Window, members: usize, period: u64) -> Option<String> {
    let nominal = nominal_renewals(members, period, window.seconds);
    let achieved = window.sim.renewals as f64 / nominal.max(1.0);
    let attempts = window.sim.renewals + window.sim.renewal_failures;
    let failed = window.sim.renewal_failures as f64 / (attempts.max(1)) as f64;
    if achieved < CARRIED_RATE {
        return Some(format!(
            "heartbeats fell behind: {} renewals in {:.0} s, {:.0}% of the {:.0} that {members} \
             members every {period} s make",
            window.sim.renewals,
            window.seconds,
            achieved * 100.0,
            nominal
        ));
    }
    if failed > 0.01 {
        return Some(format!("{:.1}% of lease renewals failed", failed * 100.0));
    }
    if window.health_drops > 0 {
        return Some(format!(
            "{} members went Unknown at steady state although their agents ran",
            window.health_drops
        ));
    }
    None
}

/// `why` growing stopped, with the write storm the watch saw if there was one: more
/// condition transition times moved without a transition than members were created.
pub fn with_storm(why: String, s: &Stage) -> String {
    if s.grow_rewrites as usize > s.grow_created {
        format!(
            "{why}; meanwhile the hub wrote {:.0} MemberCluster statuses and {:.0} ClusterProfiles \
             for {} new members, moving {} condition transition times without a transition (a \
             write storm)",
            s.grow_hub.status_writes, s.grow_hub.profile_writes, s.grow_created, s.grow_rewrites
        )
    } else {
        why
    }
}

/// Renewals `members` heartbeating every `period` seconds make in `seconds`.
pub fn nominal_renewals(members: usize, period: u64, seconds: f64) -> f64 {
    members as f64 * seconds / period.max(1) as f64
}

/// CPU seconds `process` used in `w`, from the cores it kept busy (`None` when not watched).
pub fn cpu_seconds_of(w: &Window, process: &str) -> Option<f64> {
    w.cores
        .iter()
        .find(|(name, _)| name == process)
        .map(|(_, cores)| cores * w.seconds)
}

/// Memory per member, bytes.
pub fn memory_per_member(rss: u64, baseline: u64, members: usize) -> f64 {
    (rss as f64 - baseline as f64) / members.max(1) as f64
}

/// Writes per member per hour from `writes` over `seconds`.
pub fn per_member_hour(writes: f64, members: usize, seconds: f64) -> f64 {
    writes / members.max(1) as f64 / seconds.max(f64::MIN_POSITIVE) * 3600.0
}

/// Figures of the idle hub.
pub fn baseline(b: &Baseline) -> Vec<Figure> {
    vec![
        Figure::new(SUITE, "hub memory with no members", mib(b.rss_bytes), "MiB").note(format!(
            "VmRSS of {} (RUST_LOG=warn) once ready, before any MemberCluster{}",
            b.binary,
            if b.binary.contains("/debug/") {
                "; a DEBUG build: run from target/release (`make bench`) for real figures"
            } else {
                ""
            }
        )),
        Figure::new(SUITE, "hub CPU with no members", b.cpu_per_minute, "s/min")
            .note(format!("utime+stime over {:.0} s idle", b.seconds)),
    ]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn cores_text(cores: &[(String, f64)]) -> String {
    cores
        .iter()
        .map(|(name, c)| format!("{name} {c:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The figures of one fleet size.
pub fn stage(s: &Stage, base: &Baseline) -> Vec<Figure> {
    let n = nf(s.members);
    let mut out = Vec::new();
    if let Some(w) = &s.window {
        out.extend(window_figures(s, w, base));
    }
    out.extend(join_figures(s));
    if let Some(u) = &s.unknown {
        out.extend(unknown_figures(s, u));
    }
    if let Some(why) = &s.stopped {
        out.push(
            Figure::new(
                SUITE,
                format!("fleet not carried ({n})"),
                s.members as f64,
                "members",
            )
            .note(why.clone()),
        );
    }
    out
}

fn window_figures(s: &Stage, w: &Window, base: &Baseline) -> Vec<Figure> {
    let n = nf(s.members);
    let per_member = memory_per_member(w.hub_rss_bytes, base.rss_bytes, s.members);
    let cpu_per_minute = w.hub_cpu_seconds / w.seconds * 60.0;
    let per_event = w.hub_cpu_seconds / (w.sim.renewals.max(1)) as f64 * 1e6;
    let nominal = nominal_renewals(s.members, s.period, w.seconds);
    let profile = per_member_hour(w.hub.profile_writes, s.members, w.seconds);
    let status = per_member_hour(w.hub.status_writes, s.members, w.seconds);
    let settle = if s.settle.1 {
        format!(
            "hub writes stopped {:.0} s after the last member joined",
            s.settle.0
        )
    } else {
        format!(
            "hub writes had NOT stopped {:.0} s after the last member joined",
            s.settle.0
        )
    };
    let machine = format!(
        "cores busy in the window: {}; load {}",
        cores_text(&w.cores),
        w.loadavg
    );
    let renewals = w.sim.renewals.max(1) as f64;
    let apiserver_seconds = cpu_seconds_of(w, APISERVER);
    let mut out = vec![
        Figure::new(
            SUITE,
            format!("hub memory per member ({n})"),
            per_member / 1024.0,
            "KiB",
        )
        .target("< 20 KB", per_member < MEMORY_TARGET_BYTES)
        .note(format!(
            "(VmRSS at the end of the steady window {:.1} MiB - {:.1} MiB with no members) / {}; \
             1 KB = 1000 B, so the target is 19.5 KiB; peak RSS so far {:.1} MiB; one \
             member's objects as JSON without managedFields: {}; each member reports a \
             {}-byte CA bundle",
            mib(w.hub_rss_bytes),
            mib(base.rss_bytes),
            s.members,
            mib(w.hub_peak_bytes),
            w.objects,
            s.ca_bytes
        )),
        Figure::new(SUITE, format!("hub CPU ({n})"), cpu_per_minute, "s/min").note(format!(
            "roster-hub utime+stime over a {:.0} s steady window ({settle}), {:.0}% of it in \
             the kernel; {machine}",
            w.seconds,
            w.hub_system_seconds / w.hub_cpu_seconds.max(f64::MIN_POSITIVE) * 100.0
        )),
        Figure::new(
            SUITE,
            format!("CPU per heartbeat event ({n})"),
            per_event,
            "µs",
        )
        .target("< 50 µs", per_event < CPU_TARGET_MICROS)
        .note(format!(
            "hub CPU in the window / {} lease renewals accepted ({:.0}% of the nominal {:.0}); \
                 {:.2} member reconciles per renewal; includes everything the hub did in the \
                 window (idle: {:.3} s/min)",
            w.sim.renewals,
            w.sim.renewals as f64 / nominal.max(1.0) * 100.0,
            nominal,
            w.hub.reconciles / (w.sim.renewals.max(1)) as f64,
            base.cpu_per_minute
        )),
    ];
    if let Some(api) = apiserver_seconds {
        out.extend(apiserver_figures(&n, w, api, renewals));
    }
    out.extend([
        Figure::new(
            SUITE,
            format!("profile writes per member per hour ({n})"),
            profile,
            "writes/member/h",
        )
        .target("0", w.hub.profile_writes == 0.0)
        .note(format!(
            "roster_profile_writes_total grew by {} in the {:.0} s window",
            w.hub.profile_writes, w.seconds
        )),
        Figure::new(
            SUITE,
            format!("MemberCluster status writes per member per hour ({n})"),
            status,
            "writes/member/h",
        )
        .note(format!(
            "roster_member_status_writes_total grew by {}; the watch saw {} MemberCluster \
             updates, {} condition transition times moved without a transition; member \
             reconcile errors {}; simulated agents wrote {} reports",
            w.hub.status_writes,
            w.member_updates,
            w.rewrites,
            w.hub.reconcile_errors,
            w.sim.reports_written
        )),
        Figure::new(
            SUITE,
            format!("heartbeats delivered ({n})"),
            w.sim.renewals as f64 / nominal.max(1.0) * 100.0,
            "% of nominal",
        )
        .note(format!(
            "{} renewals accepted, {} failed, {} sent over 1 s late, mean renewal {:.1} ms; \
             {} members went Unknown in the window",
            w.sim.renewals,
            w.sim.renewal_failures,
            w.sim.late_renewals,
            w.sim.renewal_seconds / (w.sim.renewals.max(1)) as f64 * 1e3,
            w.health_drops
        )),
    ]);
    out
}

/// The API server's CPU per heartbeat beside the hub's, and the hub's share of it: what one
/// renewal costs the API server (the Lease update, its etcd write, the watch fan-out to the
/// hub) against what receiving it costs the hub.
fn apiserver_figures(n: &str, w: &Window, apiserver_seconds: f64, renewals: f64) -> [Figure; 2] {
    let per_event = apiserver_seconds / renewals * 1e6;
    let share = w.hub_cpu_seconds / apiserver_seconds.max(f64::MIN_POSITIVE) * 100.0;
    let etcd = cpu_seconds_of(w, "etcd")
        .map(|etcd| format!("; etcd {:.0} µs per renewal", etcd / renewals * 1e6))
        .unwrap_or_default();
    [
        Figure::new(
            SUITE,
            format!("API server CPU per heartbeat event ({n})"),
            per_event,
            "µs",
        )
        .note(format!(
            "kube-apiserver utime+stime (/proc/<pid>/stat) in the same window / the same {} \
             renewals: everything the API server did in it (the renewals, the hub's watches \
             and writes, the simulator's report checks){etcd}",
            w.sim.renewals
        )),
        Figure::new(
            SUITE,
            format!("hub CPU as a share of the API server's ({n})"),
            share,
            "%",
        )
        .note(format!(
            "roster-hub CPU / kube-apiserver CPU over the steady window: {:.1} s / {:.1} s",
            w.hub_cpu_seconds, apiserver_seconds
        )),
    ]
}

fn join_figures(s: &Stage) -> Vec<Figure> {
    let n = nf(s.members);
    let mut out = Vec::new();
    let grow_missing = s.grow_created.saturating_sub(s.grow_join.len());
    let sample_missing = s.sample.saturating_sub(s.sample_join.len());
    let (g50, g99) = p50_p99(&s.grow_join);
    let (gp50, gp99) = p50_p99(&s.grow_prepare);
    let (sp50, sp99) = p50_p99(&s.sample_prepare);
    let never = |missing: usize| {
        if missing > 0 {
            format!("; {missing} never joined")
        } else {
            String::new()
        }
    };
    let sample_note = format!(
        "{} members joined one at a time into the settled fleet: from each agent's first \
         heartbeat + report to the watch seeing Joined=True (the agent starts once the hub has \
         prepared its namespace, as after `kubectl roster join`){}; create to prepared p50 \
         {sp50:.2} s, p99 {sp99:.2} s",
        s.sample_join.len(),
        never(sample_missing)
    );
    let grow_note = format!(
        "the {} members that joined of the {} created to grow the fleet{} (at most {} awaiting \
         the hub at once): first heartbeat + report to Joined=True{}; growing took {:.0} s; \
         create to prepared p50 {gp50:.2} s, p99 {gp99:.2} s",
        s.grow_join.len(),
        s.grow_created,
        if s.grow_created < s.added {
            format!(" ({} were to be added)", s.added)
        } else {
            String::new()
        },
        s.batch,
        never(grow_missing),
        s.grow_seconds,
    );
    let (j50, j99) = p50_p99(&s.sample_join);
    for (p, v) in [(50, j50), (99, j99)] {
        if s.sample > 0 {
            out.push(
                Figure::new(SUITE, format!("join to Joined p{p} ({n})"), v, "s")
                    .target("< 2 s", v < JOIN_TARGET_SECONDS && sample_missing == 0)
                    .note(sample_note.clone()),
            );
        }
    }
    for (p, v) in [(50, g50), (99, g99)] {
        if !v.is_nan() {
            out.push(
                Figure::new(
                    SUITE,
                    format!("join to Joined while growing p{p} ({n})"),
                    v,
                    "s",
                )
                .target("< 2 s", v < JOIN_TARGET_SECONDS && grow_missing == 0)
                .note(grow_note.clone()),
            );
        }
    }
    if s.grow_created > 0 {
        out.push(growth_writes(s));
    }
    out
}

/// Hub writes per member added while growing: a join needs a few (Joined, health, the
/// profile); more is a write storm.
fn growth_writes(s: &Stage) -> Figure {
    let h = &s.grow_hub;
    let added = s.grow_created.max(1) as f64;
    Figure::new(
        SUITE,
        format!(
            "hub writes per member added while growing ({})",
            nf(s.members)
        ),
        h.writes() / added,
        "writes",
    )
    .note(format!(
        "{} MemberCluster status writes and {} ClusterProfile writes for {} members created in \
         {:.0} s; the watch saw {} MemberCluster updates, {} condition transition times moved \
         without a transition; {} Events created; {} member reconcile errors; {} lease \
         renewals failed{}; the API server refused {} requests for load (429)",
        h.status_writes,
        h.profile_writes,
        s.grow_created,
        s.grow_seconds,
        s.grow_updates,
        s.grow_rewrites,
        s.grow_events,
        h.reconcile_errors,
        s.grow_renewal_failures.0,
        s.grow_renewal_failures
            .1
            .as_ref()
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default(),
        s.grow_429
    ))
}

/// p50 and p99 of `samples` (NaN when empty).
fn p50_p99(samples: &[f64]) -> (f64, f64) {
    let mut v = samples.to_vec();
    (percentile(&mut v, 50.0), percentile(&mut v, 99.0))
}

fn unknown_figures(s: &Stage, u: &UnknownTest) -> Vec<Figure> {
    let n = nf(s.members);
    let limit = s.grace as f64 + UNKNOWN_SLACK_SECONDS;
    let missing = u.sample.saturating_sub(u.latencies.len());
    let note = format!(
        "{} members stopped heartbeating; from each one's last accepted renewal to the watch \
         seeing ControlPlaneHealthy=Unknown (HeartbeatMissed){}; {}",
        u.sample,
        if missing > 0 {
            format!(
                "; {missing} not Unknown {:.0} s past the grace",
                u.waited_past_grace
            )
        } else {
            String::new()
        },
        if u.recovered {
            "all healthy again once resumed"
        } else {
            "NOT all healthy again once resumed"
        }
    );
    if u.latencies.is_empty() {
        return vec![
            Figure::new(
                SUITE,
                format!("heartbeat loss to Unknown p50 ({n}, grace {} s)", s.grace),
                f64::NAN,
                "s",
            )
            .target(&format!("< {limit:.0} s"), false)
            .note(note),
        ];
    }
    let mut lat = u.latencies.clone();
    [50.0, 99.0]
        .into_iter()
        .map(|p| {
            let v = percentile(&mut lat, p);
            Figure::new(
                SUITE,
                format!(
                    "heartbeat loss to Unknown p{p:.0} ({n}, grace {} s)",
                    s.grace
                ),
                v,
                "s",
            )
            .target(&format!("< {limit:.0} s"), v < limit && missing == 0)
            .note(note.clone())
        })
        .collect()
}

/// The figure saying how far the fleet grew and why it stopped.
pub fn carried(largest: usize, asked: &[usize], stopped: Option<&str>) -> Figure {
    let note = match stopped {
        Some(why) => format!("stopped: {why}"),
        None => format!(
            "every size asked for was carried ({})",
            asked
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Figure::new(SUITE, "largest fleet carried", largest as f64, "members").note(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(renewals: u64, failures: u64, drops: u64) -> Window {
        Window {
            seconds: 60.0,
            hub_cpu_seconds: 0.6,
            hub_system_seconds: 0.2,
            hub_rss_bytes: 60 * 1024 * 1024,
            hub_peak_bytes: 70 * 1024 * 1024,
            sim: Totals {
                renewals,
                renewal_failures: failures,
                ..Totals::default()
            },
            hub: Counters {
                reconciles: renewals as f64,
                ..Counters::default()
            },
            health_drops: drops,
            member_updates: 0,
            rewrites: 0,
            cores: vec![
                ("roster-hub".into(), 0.01),
                (APISERVER.into(), 0.04),
                ("machine".into(), 1.2),
            ],
            loadavg: "1.0 1.0 1.0".into(),
            objects: String::new(),
        }
    }

    #[test]
    fn steady_state_math() {
        assert_eq!(nominal_renewals(1000, 10, 60.0), 6000.0);
        assert_eq!(memory_per_member(30_000_000, 10_000_000, 1000), 20_000.0);
        assert_eq!(per_member_hour(10.0, 100, 3600.0), 0.1);
        assert_eq!(per_member_hour(0.0, 100, 60.0), 0.0);
    }

    #[test]
    fn a_fleet_is_carried_only_when_heartbeats_keep_up() {
        assert_eq!(not_carried(&window(6000, 0, 0), 1000, 10), None);
        assert_eq!(not_carried(&window(5500, 0, 0), 1000, 10), None);
        let behind = not_carried(&window(5000, 0, 0), 1000, 10).unwrap();
        assert!(behind.contains("83%"), "{behind}");
        assert!(
            not_carried(&window(6000, 100, 0), 1000, 10)
                .unwrap()
                .contains("failed")
        );
        assert!(
            not_carried(&window(6000, 0, 2), 1000, 10)
                .unwrap()
                .contains("Unknown")
        );
    }

    #[test]
    fn stage_figures_carry_targets() {
        let base = Baseline {
            binary: "roster-hub".into(),
            rss_bytes: 20 * 1024 * 1024,
            cpu_per_minute: 0.01,
            seconds: 10.0,
        };
        let measured = Stage {
            members: 1000,
            period: 10,
            grace: 40,
            added: 900,
            grow_created: 900,
            batch: 100,
            grow_prepare: vec![0.5; 900],
            grow_join: (1..=900).map(|i| f64::from(i) / 300.0).collect(),
            sample: 3,
            sample_prepare: vec![0.4, 0.5],
            sample_join: vec![0.2, 0.3],
            window: Some(window(6000, 0, 0)),
            unknown: Some(UnknownTest {
                sample: 4,
                latencies: vec![40.5, 40.9, 41.2, 43.0],
                waited_past_grace: 30.0,
                recovered: true,
            }),
            ..Stage::default()
        };
        let figures = stage(&measured, &base);
        let get = |name: &str| {
            figures
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no {name} in {figures:?}"))
        };
        let mem = get("hub memory per member (N=1000)");
        assert!((mem.value - 40.96).abs() < 0.01, "{}", mem.value);
        assert_eq!(mem.meets_target, Some(false));
        let cpu = get("CPU per heartbeat event (N=1000)");
        assert!((cpu.value - 100.0).abs() < 1e-6, "{}", cpu.value);
        assert_eq!(cpu.meets_target, Some(false));
        assert!((get("hub CPU (N=1000)").value - 0.6).abs() < 1e-9);
        let api = get("API server CPU per heartbeat event (N=1000)");
        assert!((api.value - 400.0).abs() < 1e-6, "{}", api.value);
        let share = get("hub CPU as a share of the API server's (N=1000)");
        assert!((share.value - 25.0).abs() < 1e-6, "{}", share.value);
        assert_eq!(
            get("profile writes per member per hour (N=1000)").meets_target,
            Some(true)
        );
        let p50 = get("join to Joined while growing p50 (N=1000)");
        assert_eq!(p50.value, 1.5);
        assert_eq!(p50.meets_target, Some(true));
        assert_eq!(
            get("join to Joined while growing p99 (N=1000)").meets_target,
            Some(false)
        );
        let sample = get("join to Joined p99 (N=1000)");
        assert_eq!(sample.value, 0.3);
        assert_eq!(sample.meets_target, Some(false), "one of 3 never joined");
        assert!(sample.note.as_ref().unwrap().contains("1 never joined"));
        let u99 = get("heartbeat loss to Unknown p99 (N=1000, grace 40 s)");
        assert_eq!(u99.value, 43.0);
        assert_eq!(u99.meets_target, Some(false));
        assert_eq!(u99.target.as_deref(), Some("< 42 s"));
        assert_eq!(
            get("heartbeat loss to Unknown p50 (N=1000, grace 40 s)").meets_target,
            Some(true)
        );
    }

    #[test]
    fn a_write_storm_is_named_in_the_stop_reason() {
        let mut s = Stage {
            grow_created: 100,
            grow_rewrites: 50,
            ..Stage::default()
        };
        assert_eq!(with_storm("slow".into(), &s), "slow");
        s.grow_rewrites = 5000;
        s.grow_hub.status_writes = 3000.0;
        let why = with_storm("slow".into(), &s);
        assert!(
            why.starts_with("slow; meanwhile the hub wrote 3000 MemberCluster"),
            "{why}"
        );
        assert!(
            why.contains("moving 5000 condition transition times"),
            "{why}"
        );
    }

    #[test]
    fn the_carried_figure_says_why_it_stopped() {
        let all = carried(5000, &[100, 1000, 5000], None);
        assert_eq!(all.value, 5000.0);
        assert!(all.note.unwrap().contains("100, 1000, 5000"));
        let stopped = carried(
            1000,
            &[100, 1000, 5000],
            Some("N=5000: heartbeats fell behind"),
        );
        assert!(stopped.note.unwrap().starts_with("stopped: N=5000"));
    }
}
