//! The `admission` suite: what the pod automount webhook adds to pod creation, through the
//! real API server, at a sustained rate.
//!
//! A hub control plane, the release `roster-hub` (its webhook on loopback with its own
//! certificates, its identity from `deploy/hub`), the production webhook configuration
//! (`roster_api::webhook`, as in `deploy/hub/webhook.yaml`: `matchConditions` send only
//! annotated pods), which the hub creates pointing at its loopback URL, two MemberClusters and
//! a RemoteServiceAccount naming both. Pods are created at
//! a fixed rate, open loop (each request starts on schedule, whatever the earlier ones do),
//! alternately with and without the annotation; pods never run (no scheduler, no kubelet).
//!
//! Three views of the webhook's latency:
//! - the API server's own histogram `apiserver_admission_webhook_admission_duration_seconds`
//!   (the call as the API server times it), difference of two scrapes: exact mean and share
//!   under 5 ms, percentiles interpolated within its coarse buckets (5, 25, 100 ms…);
//! - roster-hub's `roster_webhook_duration_seconds` (the answer inside the hub);
//! - every pod create timed by the client, with and without the annotation: the difference is
//!   the webhook's share of a pod create, TLS and API-server work included.

pub(crate) mod histogram;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;
use k8s_openapi::api::{
    admissionregistration::v1::MutatingWebhookConfiguration,
    core::v1::{Pod, ServiceAccount},
};
use kube::{Api, Client, api::PostParams};
use roster_api::names;
use roster_testenv::{
    Fleet,
    process::{Process, Spec},
    wait,
};
use serde_json::Value;

use self::histogram::Histogram;
use crate::figure::{Figure, percentile};

const SUITE: &str = "admission";

/// Pod creates per second, annotated and plain together (half each).
const RATE_PER_SECOND: f64 = 40.0;
/// How long the measured load lasts.
const DURATION: Duration = Duration::from_secs(30);
/// Load before the measurement (connections, caches, JIT-free but cold paths).
const WARMUP: Duration = Duration::from_secs(5);

/// The webhook configuration roster-hub creates and keeps (its default).
const CONFIGURATION: &str = roster_api::webhook::CONFIGURATION;
/// The webhook's name in it: the `name` label of the API server's metrics.
const WEBHOOK: &str = roster_api::webhook::WEBHOOK;
const NAMESPACE: &str = "bench-admission";
const RSA: &str = "deployer";
const MEMBERS: [&str; 2] = ["member-1", "member-2"];

const APISERVER_HISTOGRAM: &str = "apiserver_admission_webhook_admission_duration_seconds";
const HUB_HISTOGRAM: &str = "roster_webhook_duration_seconds";

/// The target for the webhook's p99, seconds.
const P99_TARGET: f64 = 0.005;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the suite.
pub async fn run() -> anyhow::Result<Vec<Figure>> {
    let dir = roster_testenv::binary::workspace_root()
        .join("target/bench")
        .join(format!("{SUITE}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(&dir).await;
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!(
            "admission: files of the failed run are in {}",
            dir.display()
        );
    }
    result
}

async fn run_in(dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let hub_binary = sibling_binary("roster-hub")?;
    eprintln!("admission: starting a hub control plane");
    let fleet = Fleet::start(&dir.join("fleet"), &[]).await?;
    let admin = fleet.hub.client().await?;
    roster_testenv::crds::install(&admin, &roster_api::crd::all()).await?;
    let kubeconfig = roster_testenv::deploy::hub_kubeconfig(&fleet.hub, dir).await?;

    let admin_port = roster_testenv::ports::free_port()?;
    let webhook_port = roster_testenv::ports::free_port()?;
    let log = dir.join("roster-hub.log");
    let hub = spawn_hub(
        &hub_binary,
        &[
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--admin-address=127.0.0.1:{admin_port}"),
            format!("--webhook-address=127.0.0.1:{webhook_port}"),
            format!(
                "--webhook-url=https://127.0.0.1:{webhook_port}{}",
                roster_api::webhook::PATH
            ),
            "--webhook-dns-names=127.0.0.1".into(),
            "--leader-elect=false".into(),
        ],
        &log,
    )?;
    let diagnostics = || {
        format!(
            "roster-hub's last log lines:\n{}",
            roster_testenv::process::log_tail(&log, 20)
        )
    };

    configure(&admin)
        .await
        .map_err(|e| e.context(diagnostics()))?;
    eprintln!(
        "admission: webhook answering; {WARMUP:?} warm-up, then {DURATION:?} at {RATE_PER_SECOND} pods/s"
    );
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NAMESPACE);
    load(&pods, RATE_PER_SECOND, WARMUP).await;

    let apiserver_before = apiserver_histogram(&admin).await?;
    let hub_before = hub_histogram(admin_port).await?;
    let started = Instant::now();
    let samples = load(&pods, RATE_PER_SECOND, DURATION).await;
    let elapsed = started.elapsed();
    let apiserver = apiserver_histogram(&admin).await?.since(&apiserver_before);
    let hub_side = hub_histogram(admin_port).await?.since(&hub_before);
    drop(hub);

    let load = Load {
        samples,
        elapsed,
        load_average: load_average(),
    };
    Ok(figures(&load, &apiserver, &hub_side))
}

/// `<dir of this executable>/<name>`: the release binaries `make bench` built beside it.
/// (`roster_testenv::roster::binary_path` looks two folders up, where test binaries live, and
/// falls back to `target/debug`.)
pub(crate) fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .context("the executable has no folder")?
        .join(name);
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: run `cargo build --release --bins` (make bench does)",
        path.display()
    );
    Ok(path)
}

/// Starts `program` like `roster_testenv::roster::spawn` (dies with this process), but from
/// the given path: the bench runs the binaries built with it, in release.
fn spawn_hub(program: &Path, args: &[String], log: &Path) -> anyhow::Result<Process> {
    let mut full: Vec<std::ffi::OsString> = vec!["exec".into(), program.into()];
    full.extend(args.iter().map(Into::into));
    Process::spawn(Spec {
        name: "roster-hub".into(),
        program: roster_testenv::binary::controlplane()?,
        args: full,
        log: log.to_owned(),
        env: vec![("RUST_LOG".into(), "warn".into())],
    })
}

/// The namespace, members, account and webhook configuration; returns once a probe pod was
/// mutated through the API server.
async fn configure(admin: &Client) -> anyhow::Result<()> {
    roster_testenv::workload::automount(admin, NAMESPACE, &MEMBERS, RSA).await?;
    let pp = PostParams::default();

    // roster-hub creates the configuration and fills its caBundle.
    let configurations: Api<MutatingWebhookConfiguration> = Api::all(admin.clone());
    wait::until("roster-hub to fill the caBundle", TIMEOUT, || async {
        let filled = configurations
            .get_opt(CONFIGURATION)
            .await?
            .and_then(|c| c.webhooks)
            .is_some_and(|w| {
                w.iter().all(|w| {
                    w.client_config
                        .ca_bundle
                        .as_ref()
                        .is_some_and(|b| !b.0.is_empty())
                })
            });
        Ok(filled.then_some(()))
    })
    .await?;

    // The ServiceAccount admission plugin refuses pods until `default` exists.
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), NAMESPACE);
    wait::until("the default service account", TIMEOUT, || async {
        Ok(accounts.get_opt("default").await?.map(|_| ()))
    })
    .await?;
    // The API server sees the configuration through its own watch, the hub the account
    // through its cache: retry until a pod comes back mutated.
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NAMESPACE);
    let last = std::sync::Mutex::new(String::new());
    let probe: Pod = serde_json::from_value(pod_json(true))?;
    wait::until("the API server to call the webhook", TIMEOUT, || async {
        let outcome = pods.create(&pp, &probe).await;
        let verdict = check(true, outcome.map_err(|e| e.to_string()));
        if let Err(e) = &verdict
            && let Ok(mut last) = last.lock()
        {
            e.clone_into(&mut last);
        }
        Ok(verdict.ok())
    })
    .await
    .map_err(|e| {
        let last = last.lock().map(|l| l.clone()).unwrap_or_default();
        e.context(format!("last answer: {last}"))
    })
}

/// The load's pod ([`roster_testenv::workload::pod`]), with the annotation when `annotated`.
fn pod_json(annotated: bool) -> Value {
    roster_testenv::workload::pod("load-", annotated.then_some(RSA))
}

/// Whether a create answered what it should: an annotated pod with an optional Secret volume
/// per member and every container mounting each; a plain one untouched.
fn check(annotated: bool, created: Result<Pod, String>) -> Result<(), String> {
    let pod = created?;
    let spec = pod.spec.unwrap_or_default();
    let volumes: Vec<String> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            let secret = v.secret.as_ref()?;
            (secret.optional == Some(true)).then(|| secret.secret_name.clone())?
        })
        .collect();
    let mounts: Vec<usize> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| {
            c.volume_mounts
                .iter()
                .flatten()
                .filter(|m| m.mount_path.starts_with(names::AUTOMOUNT_ROOT))
                .count()
        })
        .collect();
    let expected: Vec<String> = if annotated {
        MEMBERS
            .iter()
            .map(|m| names::token_secret_name(RSA, m))
            .collect()
    } else {
        Vec::new()
    };
    let per_container = expected.len();
    if volumes != expected || mounts.iter().any(|&n| n != per_container) {
        return Err(format!(
            "{} pod created with Secret volumes {volumes:?} and automount mounts per container \
             {mounts:?}",
            if annotated { "annotated" } else { "plain" }
        ));
    }
    Ok(())
}

/// One timed pod create.
#[derive(Debug, Clone)]
struct Sample {
    annotated: bool,
    ms: f64,
    outcome: Result<(), String>,
}

/// Creates pods at `rate` per second for `duration`, alternating annotated and plain, each on
/// its schedule whatever earlier ones do; returns every create's time and verdict.
async fn load(pods: &Api<Pod>, rate: f64, duration: Duration) -> Vec<Sample> {
    let period = Duration::from_secs_f64(1.0 / rate);
    let count = (duration.as_secs_f64() * rate).round() as u32;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        tokio::time::sleep_until(start + period * i).await;
        let annotated = i % 2 == 0;
        let pods = pods.clone();
        tasks.spawn(async move {
            let pod: Pod = match serde_json::from_value(pod_json(annotated)) {
                Ok(pod) => pod,
                Err(e) => {
                    return Sample {
                        annotated,
                        ms: f64::NAN,
                        outcome: Err(e.to_string()),
                    };
                }
            };
            let started = Instant::now();
            let created = pods.create(&PostParams::default(), &pod).await;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            Sample {
                annotated,
                ms,
                outcome: check(annotated, created.map_err(|e| e.to_string())),
            }
        });
    }
    let mut samples = Vec::with_capacity(count as usize);
    while let Some(joined) = tasks.join_next().await {
        samples.push(joined.unwrap_or_else(|e| Sample {
            annotated: false,
            ms: f64::NAN,
            outcome: Err(format!("task failed: {e}")),
        }));
    }
    samples
}

/// The API server's webhook histogram for our webhook's admit calls on CREATE.
async fn apiserver_histogram(admin: &Client) -> anyhow::Result<Histogram> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = admin.request_text(request).await?;
    Ok(Histogram::parse(
        &text,
        APISERVER_HISTOGRAM,
        &[
            ("name", WEBHOOK),
            ("type", "admit"),
            ("operation", "CREATE"),
        ],
    ))
}

/// roster-hub's own histogram, from its admin server (plain HTTP on loopback).
async fn hub_histogram(admin_port: u16) -> anyhow::Result<Histogram> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], admin_port));
    let answer = roster_testenv::admin::get(address, "/metrics", Duration::from_secs(10))
        .await?
        .with_context(|| format!("nothing listens on roster-hub's admin port {address}"))?;
    anyhow::ensure!(
        answer.status == 200,
        "GET /metrics answered {}",
        answer.status
    );
    Ok(Histogram::parse(&answer.body, HUB_HISTOGRAM, &[]))
}

/// The 1-minute load average, for the notes: the machine is shared.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What the measured load did.
#[derive(Debug)]
struct Load {
    samples: Vec<Sample>,
    elapsed: Duration,
    load_average: Option<f64>,
}

fn ms(seconds: f64) -> f64 {
    seconds * 1e3
}

fn figures(load: &Load, apiserver: &Histogram, hub: &Histogram) -> Vec<Figure> {
    let ok = |annotated: bool| -> Vec<f64> {
        load.samples
            .iter()
            .filter(|s| s.annotated == annotated && s.outcome.is_ok())
            .map(|s| s.ms)
            .collect()
    };
    let (mut with, mut without) = (ok(true), ok(false));
    let failures: Vec<&String> = load
        .samples
        .iter()
        .filter_map(|s| s.outcome.as_ref().err())
        .collect();
    let annotated = load.samples.iter().filter(|s| s.annotated).count();
    let machine = match load.load_average {
        Some(l) => format!("; 1-min load average {l:.1} on this shared machine at the end"),
        None => String::new(),
    };
    let how = format!(
        "{} pod creates in {:.1} s ({:.0}/s, open loop), alternately with and without the \
         annotation, after {WARMUP:?} of the same; production webhook configuration \
         (matchConditions: only annotated pods reach the webhook), release roster-hub with its \
         deploy/hub identity, one RemoteServiceAccount naming 2 MemberClusters; each pod \
         checked (2 optional Secret volumes mounted in all 3 containers, or none){machine}",
        load.samples.len(),
        load.elapsed.as_secs_f64(),
        load.samples.len() as f64 / load.elapsed.as_secs_f64(),
    );

    let share = apiserver.share_at_most(P99_TARGET);
    let p50 = apiserver.quantile(0.5);
    let p99 = apiserver.quantile(0.99);
    let bucket = |q: f64| match apiserver.quantile_bucket(q) {
        Some((lo, hi)) => format!("[{} ms, {} ms]", ms(lo), ms(hi)),
        None => "none".into(),
    };
    let calls = apiserver.count();
    let mut figures = vec![
        Figure::new(
            SUITE,
            "webhook calls within 5 ms (API server's histogram)",
            share.map_or(f64::NAN, |s| 100.0 * s),
            "%",
        )
        .target("≥ 99 % (p99 < 5 ms)", share.is_some_and(|s| s >= 0.99))
        .note(format!(
            "{how}. API server: {calls:.0} calls of webhook {WEBHOOK} (admit, CREATE) between \
             two scrapes of apiserver_admission_webhook_admission_duration_seconds ({annotated} \
             annotated pods sent); its first bucket bound is 5 ms, so this share decides the \
             p99 target exactly"
        )),
        Figure::new(
            SUITE,
            "webhook call mean (API server, exact)",
            ms(apiserver.mean()),
            "ms",
        )
        .note("the histogram's _sum / _count over the measured load"),
        Figure::new(
            SUITE,
            "webhook call p50 (API server, interpolated)",
            ms(p50),
            "ms",
        )
        .note(format!(
            "linear interpolation within the bucket holding it, {}, as PromQL's \
             histogram_quantile: only the bucket is measured",
            bucket(0.5)
        )),
        Figure::new(
            SUITE,
            "webhook call p99 (API server, interpolated)",
            ms(p99),
            "ms",
        )
        .note(format!(
            "in bucket {}, interpolated as above: the bucket is the measurement",
            bucket(0.99)
        )),
        Figure::new(
            SUITE,
            "webhook answer in roster-hub p50 (interpolated)",
            ms(hub.quantile(0.5)),
            "ms",
        )
        .note(format!(
            "roster_webhook_duration_seconds (buckets 0.5 ms doubling), {:.0} answers, \
             bucket {}; mean {:.3} ms (exact)",
            hub.count(),
            match hub.quantile_bucket(0.5) {
                Some((lo, hi)) => format!("[{} ms, {} ms]", ms(lo), ms(hi)),
                None => "none".into(),
            },
            ms(hub.mean())
        )),
        Figure::new(
            SUITE,
            "webhook answer in roster-hub p99 (interpolated)",
            ms(hub.quantile(0.99)),
            "ms",
        )
        .note(format!(
            "bucket {}",
            match hub.quantile_bucket(0.99) {
                Some((lo, hi)) => format!("[{} ms, {} ms]", ms(lo), ms(hi)),
                None => "none".into(),
            }
        )),
    ];

    let (w50, w99) = (percentile(&mut with, 50.0), percentile(&mut with, 99.0));
    let (n50, n99) = (
        percentile(&mut without, 50.0),
        percentile(&mut without, 99.0),
    );
    figures.extend([
        Figure::new(SUITE, "pod create with the webhook, p50", w50, "ms").note(format!(
            "client-side, every request timed (kube-rs client, admin identity), {} creates",
            with.len()
        )),
        Figure::new(SUITE, "pod create with the webhook, p99", w99, "ms"),
        Figure::new(SUITE, "pod create without it, p50", n50, "ms").note(format!(
            "plain pods: matchConditions skip the webhook; {} creates",
            without.len()
        )),
        Figure::new(SUITE, "pod create without it, p99", n99, "ms"),
        Figure::new(
            SUITE,
            "webhook's share of a pod create, p50",
            w50 - n50,
            "ms",
        )
        .note("difference of the two p50s"),
        Figure::new(
            SUITE,
            "webhook's share of a pod create, p99",
            w99 - n99,
            "ms",
        )
        .target("< 5 ms", w99 - n99 < ms(P99_TARGET))
        .note(
            "difference of the two p99s (not the p99 of a difference: tails of both \
                 include API-server and etcd jitter)",
        ),
    ]);
    let mut failed = Figure::new(SUITE, "failed pod creates", failures.len() as f64, "")
        .target("0", failures.is_empty());
    if let Some(first) = failures.first() {
        failed = failed.note(format!("first: {first}"));
    }
    figures.push(failed);
    figures
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn mutated() -> Pod {
        let mut pod: Pod = serde_json::from_value(pod_json(true)).unwrap();
        let spec = pod.spec.as_mut().unwrap();
        let volumes = MEMBERS
            .iter()
            .map(|m| {
                serde_json::from_value(json!({
                    "name": format!("roster-{m}"),
                    "secret": {"secretName": names::token_secret_name(RSA, m), "optional": true},
                }))
                .unwrap()
            })
            .collect();
        spec.volumes = Some(volumes);
        let mounts: Vec<k8s_openapi::api::core::v1::VolumeMount> = MEMBERS
            .iter()
            .map(|m| {
                serde_json::from_value(json!({
                    "name": format!("roster-{m}"),
                    "mountPath": format!("{}/{RSA}/{m}", names::AUTOMOUNT_ROOT),
                    "readOnly": true,
                }))
                .unwrap()
            })
            .collect();
        for c in spec
            .init_containers
            .iter_mut()
            .flatten()
            .chain(spec.containers.iter_mut())
        {
            c.volume_mounts = Some(mounts.clone());
        }
        pod
    }

    #[test]
    fn checks_what_the_webhook_did() {
        assert_eq!(check(true, Ok(mutated())), Ok(()));
        let plain: Pod = serde_json::from_value(pod_json(false)).unwrap();
        assert_eq!(check(false, Ok(plain.clone())), Ok(()));
        assert!(check(true, Ok(plain)).unwrap_err().contains("annotated"));
        assert!(check(false, Ok(mutated())).unwrap_err().contains("plain"));
        let mut partly = mutated();
        partly.spec.as_mut().unwrap().containers[1].volume_mounts = None;
        assert!(check(true, Ok(partly)).is_err());
        assert_eq!(check(true, Err("denied".into())), Err("denied".into()));
    }

    #[test]
    fn figures_flag_failures_and_targets() {
        let samples = (0..100)
            .map(|i| Sample {
                annotated: i % 2 == 0,
                ms: if i % 2 == 0 { 12.0 } else { 10.0 },
                outcome: if i == 4 { Err("boom".into()) } else { Ok(()) },
            })
            .collect();
        let load = Load {
            samples,
            elapsed: Duration::from_secs(5),
            load_average: Some(1.0),
        };
        let apiserver = Histogram {
            buckets: vec![(0.005, 49.0), (0.025, 49.0), (f64::INFINITY, 49.0)],
            sum: 0.098,
        };
        let hub = Histogram {
            buckets: vec![(0.0005, 10.0), (0.001, 49.0), (f64::INFINITY, 49.0)],
            sum: 0.03,
        };
        let figures = figures(&load, &apiserver, &hub);
        let get = |name: &str| figures.iter().find(|f| f.name == name).unwrap();
        let share = get("webhook calls within 5 ms (API server's histogram)");
        assert_eq!((share.value, share.meets_target), (100.0, Some(true)));
        assert!((get("webhook call mean (API server, exact)").value - 2.0).abs() < 1e-9);
        let diff = get("webhook's share of a pod create, p99");
        assert_eq!((diff.value, diff.meets_target), (2.0, Some(true)));
        let failed = get("failed pod creates");
        assert_eq!((failed.value, failed.meets_target), (1.0, Some(false)));
        assert_eq!(failed.note.as_deref(), Some("first: boom"));
    }
}
