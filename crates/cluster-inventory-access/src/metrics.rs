//! Per-provider count and latency of config builds and of exec plugin runs, in a Prometheus
//! registry the caller owns.
//!
//! Labels are bounded: `provider` is always a name from the provider file (empty when no
//! provider matched) and `result` is `ok` or `error`. No profile, cluster or secret appears.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, core::Collector};

/// Name of the counter of config builds, by `provider` and `result`.
pub const BUILDS_TOTAL: &str = "cluster_inventory_access_config_builds_total";

/// Name of the histogram of config build durations, by `provider`.
pub const BUILD_DURATION_SECONDS: &str = "cluster_inventory_access_config_build_duration_seconds";

/// Name of the counter of exec plugin runs by clients, by `provider` and `result`.
pub const PLUGIN_RUNS_TOTAL: &str = "cluster_inventory_access_exec_plugin_runs_total";

/// Name of the histogram of exec plugin run durations, by `provider`.
pub const PLUGIN_DURATION_SECONDS: &str = "cluster_inventory_access_exec_plugin_duration_seconds";

/// The access library's metrics; cheap to clone, so several builders can share one set.
#[derive(Clone, Debug)]
pub struct AccessMetrics {
    builds: IntCounterVec,
    duration: HistogramVec,
    plugin_runs: IntCounterVec,
    plugin_duration: HistogramVec,
}

impl AccessMetrics {
    /// Creates the metrics and registers them in `registry` (fails if they already are).
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let builds = IntCounterVec::new(
            Opts::new(
                BUILDS_TOTAL,
                "Configs built from ClusterProfiles, by access provider and result.",
            ),
            &["provider", "result"],
        )?;
        // Builds take microseconds (a client build, about a millisecond, as the exec plugin
        // runs later): buckets from 10 µs to ~2.6 s.
        let duration = HistogramVec::new(
            HistogramOpts::new(
                BUILD_DURATION_SECONDS,
                "Seconds spent building a config (or client) from a ClusterProfile, by access provider.",
            )
            .buckets(prometheus::exponential_buckets(0.000_01, 4.0, 10)?),
            &["provider"],
        )?;
        let plugin_runs = IntCounterVec::new(
            Opts::new(
                PLUGIN_RUNS_TOTAL,
                "Exec plugin runs by clients built from ClusterProfiles, by access provider and result.",
            ),
            &["provider", "result"],
        )?;
        // A plugin is a process, often making a request of its own: 1 ms to ~16 s.
        let plugin_duration = HistogramVec::new(
            HistogramOpts::new(
                PLUGIN_DURATION_SECONDS,
                "Seconds spent running an exec plugin for a client, by access provider.",
            )
            .buckets(prometheus::exponential_buckets(0.001, 2.0, 15)?),
            &["provider"],
        )?;
        let metrics = Self {
            builds,
            duration,
            plugin_runs,
            plugin_duration,
        };
        for (registered, collector) in metrics.collectors().into_iter().enumerate() {
            if let Err(error) = registry.register(collector) {
                // Leave the registry as it was.
                for collector in metrics.collectors().into_iter().take(registered) {
                    let _ = registry.unregister(collector);
                }
                return Err(error);
            }
        }
        Ok(metrics)
    }

    fn collectors(&self) -> [Box<dyn Collector>; 4] {
        [
            Box::new(self.builds.clone()),
            Box::new(self.duration.clone()),
            Box::new(self.plugin_runs.clone()),
            Box::new(self.plugin_duration.clone()),
        ]
    }

    /// Records one build for `provider` (empty when none matched).
    pub(crate) fn observe(&self, provider: &str, ok: bool, elapsed: Duration) {
        self.builds.with_label_values(&[provider, result(ok)]).inc();
        self.duration
            .with_label_values(&[provider])
            .observe(elapsed.as_secs_f64());
    }

    /// Records one exec plugin run for `provider`.
    pub(crate) fn observe_plugin_run(&self, provider: &str, ok: bool, elapsed: Duration) {
        self.plugin_runs
            .with_label_values(&[provider, result(ok)])
            .inc();
        self.plugin_duration
            .with_label_values(&[provider])
            .observe(elapsed.as_secs_f64());
    }
}

fn result(ok: bool) -> &'static str {
    if ok { "ok" } else { "error" }
}
