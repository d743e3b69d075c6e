//! Whole-process runs of the two exec plugins, timed and checked.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Instant,
};

use anyhow::Context;
use serde_json::{Value, json};

use crate::figure::{Figure, percentile};

use super::parameters::SUITE;

/// The ExecCredential version both plugins are asked for.
const API_VERSION: &str = "client.authentication.k8s.io/v1";

/// GNU time, for peak memory (`%M`, KiB).
const TIME: &str = "/usr/bin/time";

/// What both plugins are run with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// `roster-credential`.
    pub rust: PathBuf,
    /// The upstream `secretreader`.
    pub go: PathBuf,
    /// Kubeconfig both read the Secret with (`KUBECONFIG`): same identity, same namespace.
    pub kubeconfig: PathBuf,
    /// `KUBERNETES_EXEC_INFO`.
    pub exec_info: String,
    /// `--remote-service-account` of roster-credential.
    pub remote_service_account: String,
    /// The token both must hand out.
    pub token: String,
    /// The expiry roster-credential must report (secretreader reports none).
    pub expiration: String,
}

/// The two plugins, roster-credential doing nothing but start (`--version`), and the cost of
/// any process (`/bin/true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Rust,
    Go,
    RustVersion,
    True,
}

/// A program that does nothing, for the cost of starting any process here.
const TRUE: &str = "/bin/true";

/// `KUBERNETES_EXEC_INFO` as client-go sends it with `provideClusterInfo` (v1, not
/// interactive), for the cluster `cluster` at `server` with its CA (base64).
pub fn exec_info(cluster: &str, server: &str, ca_data: &str) -> String {
    json!({
        "apiVersion": API_VERSION,
        "kind": "ExecCredential",
        "spec": {
            "interactive": false,
            "cluster": {
                "server": server,
                "certificate-authority-data": ca_data,
                "config": {"clusterName": cluster},
            },
        },
    })
    .to_string()
}

/// Checks that `stdout` is one ExecCredential in [`API_VERSION`] holding `token` (and
/// `expiration`, when given).
pub fn validate(stdout: &[u8], token: &str, expiration: Option<&str>) -> Result<(), String> {
    let text = std::str::from_utf8(stdout).map_err(|_| "stdout is not UTF-8".to_owned())?;
    let value: Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("stdout is not JSON ({e})"))?;
    if value["apiVersion"] != API_VERSION || value["kind"] != "ExecCredential" {
        return Err(format!(
            "not a {API_VERSION} ExecCredential: apiVersion {}, kind {}",
            value["apiVersion"], value["kind"]
        ));
    }
    match value["status"]["token"].as_str() {
        Some(t) if t == token => {}
        Some(_) => return Err("status.token is not the token in the Secret".into()),
        None => return Err("no status.token".into()),
    }
    if let Some(expected) = expiration {
        let found = &value["status"]["expirationTimestamp"];
        if found != expected {
            return Err(format!(
                "status.expirationTimestamp is {found}, not {expected:?}"
            ));
        }
    }
    Ok(())
}

impl Setup {
    fn command(&self, run: Run, wrapper: Option<&Path>) -> Command {
        let program = match run {
            Run::Rust | Run::RustVersion => &self.rust,
            Run::Go => &self.go,
            Run::True => Path::new(TRUE),
        };
        let mut command = match wrapper {
            Some(time) => {
                let mut c = Command::new(time);
                c.args(["-f", "%M"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        // Nothing ambient: no pod environment (both would try in-cluster first), no other
        // kubeconfig; the same variables for both.
        command.env_clear();
        for var in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(var) {
                command.env(var, value);
            }
        }
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBERNETES_EXEC_INFO", &self.exec_info)
            .stdin(Stdio::null());
        match run {
            Run::Rust => {
                command
                    .arg("--remote-service-account")
                    .arg(&self.remote_service_account);
            }
            Run::RustVersion => {
                command.arg("--version");
            }
            Run::Go | Run::True => {}
        }
        command
    }

    /// Runs once; fails unless the answer is right.
    fn run(&self, run: Run, wrapper: Option<&Path>) -> anyhow::Result<(f64, Output)> {
        let mut command = self.command(run, wrapper);
        let started = Instant::now();
        let output = command
            .output()
            .with_context(|| format!("running {command:?}"))?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        if !output.status.success() {
            anyhow::bail!(
                "{run:?} plugin failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let checked = match run {
            Run::Rust => validate(&output.stdout, &self.token, Some(&self.expiration)),
            Run::Go => validate(&output.stdout, &self.token, None),
            Run::RustVersion | Run::True => Ok(()),
        };
        checked.map_err(|e| {
            anyhow::anyhow!(
                "{run:?} plugin answered wrongly: {e}; stdout: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })?;
        Ok((ms, output))
    }

    /// Peak resident memory of one checked run, in KiB, from GNU time's last stderr line.
    fn peak_kib(&self, run: Run, time: &Path) -> anyhow::Result<f64> {
        let (_, output) = self.run(run, Some(time))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        stderr
            .lines()
            .last()
            .and_then(|l| l.trim().parse::<f64>().ok())
            .with_context(|| format!("{TIME} printed no peak memory: {stderr}"))
    }
}

/// What [`measure`] found, in milliseconds (memory in MiB).
#[derive(Debug, Clone)]
pub struct Timings {
    rust: Vec<f64>,
    go: Vec<f64>,
    rust_version: Vec<f64>,
    /// `/bin/true`, when there is one.
    spawn: Vec<f64>,
    warmup: usize,
    /// Median peak RSS over the memory runs (roster-credential, secretreader), MiB.
    memory: Option<(f64, f64)>,
    memory_runs: usize,
}

/// Runs `warmup` untimed rounds, then `runs` timed rounds of roster-credential, secretreader,
/// `roster-credential --version` and `/bin/true`, in that order each round; then peak memory.
pub fn measure(setup: &Setup, runs: usize, warmup: usize) -> anyhow::Result<Timings> {
    let mut order = vec![Run::Rust, Run::Go, Run::RustVersion];
    if Path::new(TRUE).is_file() {
        order.push(Run::True);
    }
    for _ in 0..warmup {
        for &run in &order {
            setup.run(run, None)?;
        }
    }
    let (mut rust, mut go, mut rust_version, mut spawn) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        for &run in &order {
            let (ms, _) = setup.run(run, None)?;
            match run {
                Run::Rust => rust.push(ms),
                Run::Go => go.push(ms),
                Run::RustVersion => rust_version.push(ms),
                Run::True => spawn.push(ms),
            }
        }
    }
    let memory_runs = super::parameters::MEMORY_RUNS;
    let time = Path::new(TIME);
    let memory = if time.is_file() {
        let (mut r, mut g) = (vec![], vec![]);
        for _ in 0..memory_runs {
            r.push(setup.peak_kib(Run::Rust, time)? / 1024.0);
            g.push(setup.peak_kib(Run::Go, time)? / 1024.0);
        }
        Some((percentile(&mut r, 50.0), percentile(&mut g, 50.0)))
    } else {
        None
    };
    Ok(Timings {
        rust,
        go,
        rust_version,
        spawn,
        warmup,
        memory,
        memory_runs,
    })
}

impl Timings {
    /// The suite's figures for the plugins; `target` is the speed-up the issue asks for.
    pub fn figures(&self, target: f64) -> Vec<Figure> {
        let (mut rust, mut go, mut floor) = (
            self.rust.clone(),
            self.go.clone(),
            self.rust_version.clone(),
        );
        let n = rust.len();
        let how = format!(
            "whole process, spawn to exit, {n} runs alternating roster-credential / secretreader \
             / roster-credential --version / {TRUE} after {} warm-up rounds; each answer checked \
             (ExecCredential v1 with the Secret's token); same kubeconfig (a service-account \
             token allowed to get Secrets in one namespace), same API server",
            self.warmup
        );
        let (r50, r90) = (percentile(&mut rust, 50.0), percentile(&mut rust, 90.0));
        let (g50, g90) = (percentile(&mut go, 50.0), percentile(&mut go, 90.0));
        let f50 = percentile(&mut floor, 50.0);
        let ratio = g50 / r50;
        let mut figures = vec![
            Figure::new(
                SUITE,
                "roster-credential per ExecCredential, p50",
                r50,
                "ms",
            )
            .note(how.clone()),
            Figure::new(
                SUITE,
                "roster-credential per ExecCredential, p90",
                r90,
                "ms",
            ),
            Figure::new(
                SUITE,
                "secretreader (Go) per ExecCredential, p50",
                g50,
                "ms",
            ),
            Figure::new(
                SUITE,
                "secretreader (Go) per ExecCredential, p90",
                g90,
                "ms",
            ),
            Figure::new(
                SUITE,
                "secretreader / roster-credential time (p50s)",
                ratio,
                "ratio",
            )
            .target(&format!("≥ {target}"), ratio >= target),
            Figure::new(
                SUITE,
                "roster-credential --version (start-up, no work), p50",
                f50,
                "ms",
            )
            .note(format!(
                "spawn, start and exit of the same binary: {:.0}% of a credential's p50",
                100.0 * f50 / r50
            )),
        ];
        if !self.spawn.is_empty() {
            let mut spawn = self.spawn.clone();
            let s50 = percentile(&mut spawn, 50.0);
            figures.push(
                Figure::new(SUITE, "any process (/bin/true), p50", s50, "ms").note(format!(
                    "the floor every exec plugin pays here: {:.0}% of roster-credential's p50, \
                     {:.0}% of secretreader's",
                    100.0 * s50 / r50,
                    100.0 * s50 / g50
                )),
            );
        }
        match self.memory {
            Some((r, g)) => {
                let how = format!(
                    "median of {} runs of `{TIME} -f %M` (maximum resident set size)",
                    self.memory_runs
                );
                figures
                    .push(Figure::new(SUITE, "roster-credential peak memory", r, "MiB").note(how));
                figures.push(Figure::new(
                    SUITE,
                    "secretreader (Go) peak memory",
                    g,
                    "MiB",
                ));
            }
            None => {
                if let Some(f) = figures.last_mut() {
                    let note = f.note.take().unwrap_or_default();
                    *f = f
                        .clone()
                        .note(format!("{note}; peak memory not measured: no {TIME}"));
                }
            }
        }
        figures
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn exec_info_carries_the_cluster() {
        let info: Value = serde_json::from_str(&exec_info("m", "https://x:6443", "Q0E=")).unwrap();
        assert_eq!(info["spec"]["cluster"]["config"]["clusterName"], "m");
        assert_eq!(info["spec"]["cluster"]["server"], "https://x:6443");
        assert_eq!(info["apiVersion"], API_VERSION);
    }

    #[test]
    fn validation_accepts_only_the_expected_credential() {
        let good = br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t0k","expirationTimestamp":"2030-01-01T00:00:00Z"}}
"#;
        assert_eq!(validate(good, "t0k", None), Ok(()));
        assert_eq!(validate(good, "t0k", Some("2030-01-01T00:00:00Z")), Ok(()));
        assert!(
            validate(good, "t0k", Some("2031-01-01T00:00:00Z"))
                .unwrap_err()
                .contains("expirationTimestamp")
        );
        assert!(validate(good, "other", None).unwrap_err().contains("token"));
        assert!(validate(b"", "t0k", None).unwrap_err().contains("JSON"));
        let beta = br#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t0k"}}"#;
        assert!(validate(beta, "t0k", None).unwrap_err().contains("v1"));
        let no_status =
            br#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}"#;
        assert!(
            validate(no_status, "t0k", None)
                .unwrap_err()
                .contains("no status.token")
        );
    }

    #[test]
    fn figures_report_the_ratio_of_medians() {
        let timings = Timings {
            rust: vec![2.0, 2.0, 3.0],
            go: vec![20.0, 20.0, 40.0],
            rust_version: vec![1.0; 3],
            spawn: vec![0.5; 3],
            warmup: 1,
            memory: None,
            memory_runs: 0,
        };
        let figures = timings.figures(5.0);
        let ratio = figures.iter().find(|f| f.unit == "ratio").unwrap();
        assert_eq!(ratio.value, 10.0);
        assert_eq!(ratio.meets_target, Some(true));
        let slow = Timings {
            go: vec![8.0; 3],
            ..timings
        };
        let figures = slow.figures(5.0);
        let ratio = figures.iter().find(|f| f.unit == "ratio").unwrap();
        assert_eq!(ratio.meets_target, Some(false));
    }
}
