//! The cost of building a config and a client from a ClusterProfile: Rust's access library in
//! this process, the upstream Go library in `roster-interop bench-build`, from the same files.
//!
//! Both libraries defer the exec plugin to a client's first request (cluster_inventory's clients
//! run it lazily, once, and cache the credential), so client builds compare like with like; the
//! bench counts the plugin runs a Rust client build causes to show it.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use cluster_inventory::v1alpha1::ClusterProfile;
use cluster_inventory_access::{ConfigBuilder, ProviderFile};
use serde::Deserialize;
use serde_json::json;

use crate::figure::{Figure, percentile};

use super::parameters::SUITE;

/// The profile and provider file both libraries read.
#[derive(Debug)]
pub struct Inputs {
    profile_path: PathBuf,
    provider_path: PathBuf,
    profile: ClusterProfile,
    server: String,
    command: String,
}

impl Inputs {
    /// Writes a v1alpha1 profile for `cluster` as roster-hub publishes it (the `roster` access
    /// provider: server, CA, exec extension) and a provider file running `command` with
    /// `KUBECONFIG=kubeconfig`, into `dir`. Only `accessProviders` is set: with the deprecated
    /// `credentialProviders` filled too (as roster-hub does), the Go library logs a warning on
    /// every build.
    pub fn write(
        dir: &Path,
        cluster: &str,
        server: &str,
        ca_data_base64: &str,
        command: &Path,
        kubeconfig: &Path,
    ) -> anyhow::Result<Self> {
        let profile = json!({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1",
            "kind": "ClusterProfile",
            "metadata": {
                "name": cluster,
                "namespace": "cluster-inventory",
                "labels": {"x-k8s.io/cluster-manager": "roster"},
            },
            "spec": {"displayName": cluster, "clusterManager": {"name": "roster"}},
            "status": {
                "accessProviders": [{
                    "name": roster_api::names::ACCESS_PROVIDER,
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": ca_data_base64,
                        "extensions": [{
                            "name": "client.authentication.k8s.io/exec",
                            "extension": {"clusterName": cluster},
                        }],
                    },
                }],
            },
        });
        let command = command.display().to_string();
        let providers = json!({"providers": [{
            "name": roster_api::names::ACCESS_PROVIDER,
            "execConfig": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": command,
                "args": ["--remote-service-account", super::parameters::RSA],
                "env": [{"name": "KUBECONFIG", "value": kubeconfig.display().to_string()}],
                "provideClusterInfo": true,
                "interactiveMode": "Never",
            },
        }]});
        let profile_path = dir.join("profile.json");
        let provider_path = dir.join("provider-file.json");
        std::fs::write(&profile_path, serde_json::to_vec_pretty(&profile)?)?;
        std::fs::write(&provider_path, serde_json::to_vec_pretty(&providers)?)?;
        Ok(Self {
            profile_path,
            provider_path,
            profile: serde_json::from_value(profile)?,
            server: server.to_owned(),
            command,
        })
    }
}

/// Per-build times of one loop, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub median_us: f64,
}

/// One library's loops.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The config from a profile, the provider file loaded once.
    pub config: Timing,
    /// The same, reading and parsing the provider file every time.
    pub load_and_config: Timing,
    /// Config and client, the provider file loaded once.
    pub client: Timing,
    /// Iterations and warm-up of the config loops, then of the client loop.
    pub runs: [usize; 4],
    /// Extra facts for the notes.
    pub detail: String,
    /// Plugin runs (Secret GETs on the hub) per client build, where counted.
    pub plugin_runs_per_client: Option<f64>,
}

/// Times `op` `iterations` times after `warmup` untimed calls.
fn time_loop(
    iterations: usize,
    warmup: usize,
    mut op: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Timing> {
    for _ in 0..warmup {
        op()?;
    }
    let mut samples = Vec::with_capacity(iterations);
    let mut total = 0.0;
    for _ in 0..iterations {
        let started = Instant::now();
        op()?;
        let us = started.elapsed().as_secs_f64() * 1e6;
        samples.push(us);
        total += us;
    }
    Ok(Timing {
        mean_us: total / iterations as f64,
        median_us: percentile(&mut samples, 50.0),
    })
}

/// Rust: `ConfigBuilder::config_for_v1alpha1` in this process, then `client_for_v1alpha1`
/// (inside Tokio, as the client requires), counting the Secret GETs the hub API server (`hub`,
/// an admin client) served meanwhile: the plugin runs the client build causes. The client loop
/// runs the plugin, so it has its own (smaller) counts.
pub async fn rust(
    inputs: &Inputs,
    [iterations, warmup, client_iterations, client_warmup]: [usize; 4],
    hub: &kube::Client,
) -> anyhow::Result<Measured> {
    let builder = ConfigBuilder::new(ProviderFile::from_path(&inputs.provider_path)?);
    // What is timed builds the right thing.
    let config = builder.config_for_v1alpha1(&inputs.profile)?;
    let server = config.cluster_url.to_string();
    anyhow::ensure!(
        server.trim_end_matches('/') == inputs.server,
        "Rust library built a config for {server}, not {}",
        inputs.server
    );
    let command = config
        .auth_info
        .exec
        .as_ref()
        .and_then(|e| e.command.clone());
    anyhow::ensure!(
        command.as_deref() == Some(inputs.command.as_str()),
        "Rust library built exec command {command:?}"
    );
    let config_loop = time_loop(iterations, warmup, || {
        builder.config_for_v1alpha1(&inputs.profile)?;
        Ok(())
    })?;
    let load_and_config = time_loop(iterations, warmup, || {
        ConfigBuilder::new(ProviderFile::from_path(&inputs.provider_path)?)
            .config_for_v1alpha1(&inputs.profile)?;
        Ok(())
    })?;
    let gets_before = secret_gets(hub).await?;
    let client = time_loop(client_iterations, client_warmup, || {
        builder.client_for_v1alpha1(&inputs.profile)?;
        Ok(())
    })?;
    let gets = secret_gets(hub).await? - gets_before;
    let gets_per_client = gets / (client_iterations + client_warmup) as f64;
    // The client machinery alone: the same config without the exec plugin.
    let mut bare = config;
    bare.auth_info.exec = None;
    let machinery = time_loop(iterations, warmup, || {
        kube::Client::try_from(bare.clone())?;
        Ok(())
    })?;
    Ok(Measured {
        config: config_loop,
        load_and_config,
        client,
        runs: [iterations, warmup, client_iterations, client_warmup],
        detail: format!(
            "kube::Client::try_from of the same config without the exec plugin: median {:.1} µs",
            machinery.median_us
        ),
        plugin_runs_per_client: Some(gets_per_client),
    })
}

/// Secret GETs the API server has answered, from its `apiserver_request_total`.
async fn secret_gets(hub: &kube::Client) -> anyhow::Result<f64> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = hub.request_text(request).await?;
    Ok(roster_testenv::metrics::sum(
        &text,
        "apiserver_request_total",
        &[("resource", "secrets"), ("verb", "GET")],
    ))
}

/// What `roster-interop bench-build` prints.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoResult {
    config: GoTiming,
    load_and_config: GoTiming,
    client: GoTiming,
    server: String,
    exec_command: String,
    go_version: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoTiming {
    mean_ns: f64,
    median_ns: f64,
    allocs_per_op: f64,
    bytes_per_op: f64,
}

impl GoTiming {
    fn timing(&self) -> Timing {
        Timing {
            mean_us: self.mean_ns / 1e3,
            median_us: self.median_ns / 1e3,
        }
    }
}

/// Go: the upstream library in `roster-interop bench-build`, from the same files.
pub async fn go(
    interop: &Path,
    inputs: &Inputs,
    iterations: usize,
    warmup: usize,
) -> anyhow::Result<Measured> {
    let output = tokio::process::Command::new(interop)
        .arg("bench-build")
        .arg(format!("--profile-file={}", inputs.profile_path.display()))
        .arg(format!(
            "--provider-file={}",
            inputs.provider_path.display()
        ))
        .arg(format!("--iterations={iterations}"))
        .arg(format!("--warmup={warmup}"))
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {} bench-build", interop.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "roster-interop bench-build failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let result: GoResult = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "roster-interop bench-build printed {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })?;
    anyhow::ensure!(
        result.server == inputs.server && result.exec_command == inputs.command,
        "Go library built a config for {} running {}",
        result.server,
        result.exec_command
    );
    Ok(Measured {
        config: result.config.timing(),
        load_and_config: result.load_and_config.timing(),
        client: result.client.timing(),
        runs: [iterations, warmup, iterations, warmup],
        detail: format!(
            "{}; per config {:.0} allocations, {:.1} KiB; per client {:.0} allocations, {:.1} \
             KiB",
            result.go_version,
            result.config.allocs_per_op,
            result.config.bytes_per_op / 1024.0,
            result.client.allocs_per_op,
            result.client.bytes_per_op / 1024.0,
        ),
        plugin_runs_per_client: None,
    })
}

/// The suite's figures for config and client building.
pub fn figures(rust: &Measured, go: &Measured) -> Vec<Figure> {
    let [iterations, warmup, client_iterations, client_warmup] = rust.runs;
    let config_ratio = go.config.median_us / rust.config.median_us;
    let client_ratio = go.client.median_us / rust.client.median_us;
    let load_ratio = go.load_and_config.median_us / rust.load_and_config.median_us;
    vec![
        Figure::new(
            SUITE,
            "config from a ClusterProfile, Rust library, median",
            rust.config.median_us,
            "µs",
        )
        .note(format!(
            "ConfigBuilder::config_for_v1alpha1 (pick the provider, kube::Config with server, \
             parsed CA and exec plugin), provider file loaded once; in process, {iterations} \
             builds after {warmup} warm-up; mean {:.2} µs",
            rust.config.mean_us
        )),
        Figure::new(
            SUITE,
            "config from a ClusterProfile, Go library, median",
            go.config.median_us,
            "µs",
        )
        .note(format!(
            "access.Config.BuildConfigFromCP (upstream v0.1.0, client-go v0.35.3, roster-interop \
             bench-build), same files and counts; mean {:.2} µs; {}",
            go.config.mean_us, go.detail
        )),
        Figure::new(
            SUITE,
            "config build, Go / Rust (medians)",
            config_ratio,
            "ratio",
        ),
        Figure::new(
            SUITE,
            "provider file + config, Rust library, median",
            rust.load_and_config.median_us,
            "µs",
        )
        .note("as above, reading and parsing the provider file every time"),
        Figure::new(
            SUITE,
            "provider file + config, Go library, median",
            go.load_and_config.median_us,
            "µs",
        )
        .note(format!(
            "access.NewFromFile every time; Go / Rust (medians) {load_ratio:.2}"
        )),
        Figure::new(
            SUITE,
            "client from a ClusterProfile, Rust library, median",
            rust.client.median_us,
            "µs",
        )
        .note(format!(
            "ConfigBuilder::client_for_v1alpha1: the exec plugin runs on the client's first \
             request, not here (see plugin runs per Rust client build); {client_iterations} \
             builds after {client_warmup} warm-up; mean {:.0} µs; {}",
            rust.client.mean_us, rust.detail
        )),
        Figure::new(
            SUITE,
            "client from a ClusterProfile, Go library, median",
            go.client.median_us,
            "µs",
        )
        .note(format!(
            "BuildConfigFromCP + kubernetes.NewForConfig: client-go defers the plugin to the \
             first request, so none runs here; mean {:.1} µs",
            go.client.mean_us
        )),
        Figure::new(
            SUITE,
            "client build, Go / Rust (medians)",
            client_ratio,
            "ratio",
        )
        .note("neither build runs the plugin"),
    ]
    .into_iter()
    .chain(rust.plugin_runs_per_client.map(|runs| {
        Figure::new(SUITE, "plugin runs per Rust client build", runs, "runs").note(
            "Secret GETs the hub API server answered during the Rust client loop, per build \
             (0: cluster_inventory defers the plugin to the first request and runs it once, \
             where kube-rs 5.0's Client::try_from would run it three times, synchronously)",
        )
    }))
    .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn loop_times_every_call() {
        let mut calls = 0;
        let timing = time_loop(5, 2, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 7);
        assert!(timing.mean_us >= 0.0 && timing.median_us >= 0.0);
        assert!(time_loop(1, 0, || anyhow::bail!("no")).is_err());
    }

    #[test]
    fn go_output_parses() {
        let line = r#"{"iterations":3,"config":{"meanNs":1500,"medianNs":1000,"allocsPerOp":9,"bytesPerOp":2048},"loadAndConfig":{"meanNs":3000,"medianNs":2500,"allocsPerOp":12,"bytesPerOp":4096},"client":{"meanNs":90000,"medianNs":70000,"allocsPerOp":1100,"bytesPerOp":99000},"server":"https://127.0.0.1:1","execCommand":"/x","goVersion":"go1.26.0"}"#;
        let parsed: GoResult = serde_json::from_str(line).unwrap();
        assert_eq!(
            parsed.config.timing(),
            Timing {
                mean_us: 1.5,
                median_us: 1.0
            }
        );
        assert_eq!(parsed.load_and_config.timing().median_us, 2.5);
        assert_eq!(parsed.client.timing().median_us, 70.0);
    }

    #[test]
    fn ratios_are_go_over_rust() {
        let t = |median_us| Timing {
            mean_us: median_us,
            median_us,
        };
        let m = |config, client| Measured {
            config: t(config),
            load_and_config: t(config),
            client: t(client),
            runs: [1, 0, 1, 0],
            detail: String::new(),
            plugin_runs_per_client: Some(3.0),
        };
        let figures = figures(&m(10.0, 1000.0), &m(30.0, 100.0));
        let ratio = |name: &str| figures.iter().find(|f| f.name == name).unwrap().value;
        assert_eq!(ratio("config build, Go / Rust (medians)"), 3.0);
        assert_eq!(ratio("client build, Go / Rust (medians)"), 0.1);
    }
}
