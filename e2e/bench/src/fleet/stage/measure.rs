//! Measuring a grown fleet: waiting for the hub's writes to stop, the steady-state window,
//! and the heartbeat-loss test.

use std::time::{Duration, Instant};

use cluster_inventory::v1alpha1::ClusterProfile;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Resource};
use roster_api::{MemberCluster, MemberReport, member_report::REPORT_NAME, names};
use serde::Serialize;

use super::{
    super::{
        figures::{UnknownTest, Window},
        procfs::{self, CpuSample},
        scrape::Scrape,
    },
    Bench,
    members::member_name,
};

/// Members of a fleet of `members` whose heartbeats the loss test stops: a tenth, at least 20
/// (or all) and at most 200, spread over the fleet.
pub fn loss_sample(members: usize) -> Vec<String> {
    let k = (members / 10).clamp(members.min(20), 200);
    if k == 0 {
        return Vec::new();
    }
    let step = members / k;
    (0..k).map(|j| member_name(j * step)).collect()
}

/// The JSON size of `object` without its managedFields (the hub's caches drop them).
fn json_size<K: Resource + Serialize>(object: Result<Option<K>, kube::Error>) -> String {
    match object {
        Ok(Some(mut o)) => {
            o.meta_mut().managed_fields = None;
            serde_json::to_vec(&o).map_or_else(|_| "?".into(), |v| v.len().to_string())
        }
        _ => "?".into(),
    }
}

impl Bench {
    /// The JSON sizes of the objects the hub caches for `member`, as text.
    pub(super) async fn object_sizes(&self, member: &str) -> String {
        let ns = names::member_namespace(member);
        let c = &self.client;
        let mc = json_size(Api::<MemberCluster>::all(c.clone()).get_opt(member).await);
        let lease = json_size(
            Api::<Lease>::namespaced(c.clone(), &ns)
                .get_opt(names::AGENT_LEASE)
                .await,
        );
        let report = json_size(
            Api::<MemberReport>::namespaced(c.clone(), &ns)
                .get_opt(REPORT_NAME)
                .await,
        );
        let profile = json_size(
            Api::<ClusterProfile>::namespaced(c.clone(), names::DEFAULT_INVENTORY_NAMESPACE)
                .get_opt(member)
                .await,
        );
        format!(
            "MemberCluster {mc} B, Lease {lease} B, MemberReport {report} B, ClusterProfile \
             {profile} B"
        )
    }

    /// Waits until the hub's writes stop: none for a period and 5 s, at most 3 minutes.
    pub(super) async fn settle(&mut self) -> anyhow::Result<(f64, bool)> {
        let started = Instant::now();
        let quiet = Duration::from_secs(self.opts.period + 5);
        let mut last = Scrape::take(self.admin).await?.counters().writes();
        let mut changed = Instant::now();
        while started.elapsed() < Duration::from_secs(180) {
            tokio::time::sleep(Duration::from_secs(2)).await;
            self.check_hub()?;
            let now = Scrape::take(self.admin).await?.counters().writes();
            if now != last {
                (last, changed) = (now, Instant::now());
            } else if changed.elapsed() >= quiet {
                return Ok((started.elapsed().as_secs_f64(), true));
            }
        }
        Ok((started.elapsed().as_secs_f64(), false))
    }

    /// Measures the steady state over the configured window.
    pub(super) async fn window(&mut self) -> anyhow::Result<Window> {
        let seconds = self.opts.window as f64;
        let counters_before = Scrape::take(self.admin).await?.counters();
        let sim_before = self.simulator.totals();
        let watch_before = self.observer.counts();
        let cpu_before = CpuSample::take(&self.watched);
        let hub_before = procfs::process_times(self.hub.pid()).unwrap_or((0, 0));
        let started = Instant::now();
        let end = started + Duration::from_secs_f64(seconds);
        let (mut rss, mut peak) = (0, 0);
        while Instant::now() < end {
            tokio::time::sleep(
                end.saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(5)),
            )
            .await;
            self.check_hub()?;
            if let Some(m) = procfs::process_memory(self.hub.pid()) {
                (rss, peak) = m;
            }
        }
        let cpu_after = CpuSample::take(&self.watched);
        let elapsed = started.elapsed().as_secs_f64();
        let sim = self.simulator.totals().since(&sim_before);
        let hub_after = procfs::process_times(self.hub.pid()).unwrap_or((0, 0));
        let hub = Scrape::take(self.admin)
            .await?
            .counters()
            .since(&counters_before);
        let watched = self.observer.counts().since(&watch_before);
        let cores = cpu_after.cores_since(&cpu_before, elapsed, self.ticks);
        let hub_cpu_seconds = cores.first().map_or(0.0, |(_, c)| c * elapsed);
        Ok(Window {
            seconds: elapsed,
            hub_cpu_seconds,
            hub_system_seconds: hub_after.1.saturating_sub(hub_before.1) as f64 / self.ticks,
            hub_rss_bytes: rss,
            hub_peak_bytes: peak,
            sim,
            hub,
            health_drops: watched.drops,
            member_updates: watched.updates,
            rewrites: watched.rewrites,
            cores,
            loadavg: procfs::loadavg(),
            objects: String::new(),
        })
    }

    /// Stops the heartbeats of a sample, times their `Unknown`, and resumes them.
    pub(super) async fn heartbeat_loss(&mut self, members: usize) -> anyhow::Result<UnknownTest> {
        let sample = loss_sample(members);
        for name in &sample {
            self.observer.reset_missed(name);
        }
        let sim = self.simulator.clone();
        let last: Vec<Option<Instant>> =
            futures::future::join_all(sample.iter().map(|m| sim.stop(m))).await;
        let past_grace = Duration::from_secs(30);
        let latest = last
            .iter()
            .flatten()
            .max()
            .copied()
            .unwrap_or_else(Instant::now);
        let deadline = latest + Duration::from_secs(self.opts.grace) + past_grace;
        let names = sample.clone();
        self.poll(deadline.saturating_duration_since(Instant::now()), |b| {
            let all = names
                .iter()
                .all(|n| b.observer.view(n).is_some_and(|v| v.missed.is_some()));
            async move { Ok(all) }
        })
        .await?;
        let latencies = sample
            .iter()
            .zip(&last)
            .filter_map(|(name, last)| {
                let missed = self.observer.view(name)?.missed?;
                Some(missed.saturating_duration_since((*last)?).as_secs_f64())
            })
            .collect();
        for name in &sample {
            self.simulator.start(name);
        }
        let recovered = self
            .poll(Duration::from_secs(60 + 2 * self.opts.period), |b| {
                let all = names
                    .iter()
                    .all(|n| b.observer.view(n).is_some_and(|v| v.healthy()));
                async move { Ok(all) }
            })
            .await?;
        Ok(UnknownTest {
            sample: sample.len(),
            latencies,
            waited_past_grace: past_grace.as_secs_f64(),
            recovered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_samples_spread_over_the_fleet() {
        assert_eq!(loss_sample(5), (0..5).map(member_name).collect::<Vec<_>>());
        assert_eq!(loss_sample(100).len(), 20);
        let big = loss_sample(5000);
        assert_eq!(big.len(), 200);
        assert_eq!(big[1], "sim-00025");
        assert_eq!(loss_sample(1000).len(), 100);
        assert!(loss_sample(0).is_empty());
    }
}
