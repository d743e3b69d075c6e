//! Per-provider count and latency of config builds, in a Prometheus registry the caller owns.
//!
//! Labels are bounded: `provider` is always a name from the provider file (empty when no
//! provider matched) and `result` is `ok` or `error`. No profile, cluster or secret appears.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Name of the counter of config builds, by `provider` and `result`.
pub const BUILDS_TOTAL: &str = "cluster_inventory_access_config_builds_total";

/// Name of the histogram of config build durations, by `provider`.
pub const BUILD_DURATION_SECONDS: &str = "cluster_inventory_access_config_build_duration_seconds";

/// The access library's metrics; cheap to clone, so several builders can share one set.
#[derive(Clone, Debug)]
pub struct AccessMetrics {
    builds: IntCounterVec,
    duration: HistogramVec,
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
        // Builds take microseconds (a client build, milliseconds): buckets from 10 µs to ~2.6 s.
        let duration = HistogramVec::new(
            HistogramOpts::new(
                BUILD_DURATION_SECONDS,
                "Seconds spent building a config (or client) from a ClusterProfile, by access provider.",
            )
            .buckets(prometheus::exponential_buckets(0.000_01, 4.0, 10)?),
            &["provider"],
        )?;
        registry.register(Box::new(builds.clone()))?;
        if let Err(error) = registry.register(Box::new(duration.clone())) {
            // Leave the registry as it was.
            let _ = registry.unregister(Box::new(builds.clone()));
            return Err(error);
        }
        Ok(Self { builds, duration })
    }

    /// Records one build for `provider` (empty when none matched).
    pub(crate) fn observe(&self, provider: &str, ok: bool, elapsed: Duration) {
        let result = if ok { "ok" } else { "error" };
        self.builds.with_label_values(&[provider, result]).inc();
        self.duration
            .with_label_values(&[provider])
            .observe(elapsed.as_secs_f64());
    }
}
