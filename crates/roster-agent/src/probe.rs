//! Probe: `GET /readyz` on the member API server every heartbeat period. Anti-flap: the API
//! server turns unhealthy after `threshold` consecutive failures and healthy again after one
//! success. The state machine is pure; the loop around it is thin.

use std::{sync::Arc, time::Duration};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::Client;
use roster_api::member_report::ApiServerHealth;
use tokio::sync::watch;

use roster_runtime::errors;

use crate::{heartbeat::Cadence, metrics::Metrics, timing};

/// How long one probe may take before it counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest message the MemberReport schema accepts.
const MESSAGE_MAX_LEN: usize = 1024;

/// The anti-flap state of the readiness probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    threshold: u32,
    failures: u32,
    health: ApiServerHealth,
}

impl Probe {
    /// Starts healthy (the agent just talked to its API server to start), as of `now`.
    pub fn new(threshold: u32, now: Timestamp) -> Self {
        Self {
            threshold: threshold.max(1),
            failures: 0,
            health: ApiServerHealth {
                healthy: true,
                message: String::new(),
                last_transition_time: Some(Time(timing::whole_seconds(now))),
            },
        }
    }

    /// The health to report.
    pub fn health(&self) -> &ApiServerHealth {
        &self.health
    }

    /// Takes in one probe's outcome (`Err` holds what went wrong); returns whether the
    /// health to report changed.
    pub fn observe(&mut self, outcome: Result<(), String>, now: Timestamp) -> bool {
        let before = self.health.clone();
        match outcome {
            Ok(()) => {
                self.failures = 0;
                if !self.health.healthy {
                    self.transition(true, String::new(), now);
                }
            }
            Err(message) => {
                self.failures = self.failures.saturating_add(1);
                let message = truncate(message, MESSAGE_MAX_LEN);
                if !self.health.healthy {
                    // Still unhealthy: keep the latest reason, not the transition time.
                    self.health.message = message;
                } else if self.failures >= self.threshold {
                    self.transition(false, message, now);
                }
            }
        }
        self.health != before
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn transition(&mut self, healthy: bool, message: String, now: Timestamp) {
        self.health = ApiServerHealth {
            healthy,
            message,
            last_transition_time: Some(Time(timing::whole_seconds(now))),
        };
    }
}

/// The failed checks of a `/readyz` answer (`[-]etcd failed: …`), or the answer itself.
pub fn summarize_readyz(body: &str) -> String {
    let failed: Vec<&str> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[-]"))
        .collect();
    if failed.is_empty() {
        body.trim().to_owned()
    } else {
        failed.join("; ")
    }
}

fn truncate(mut message: String, max: usize) -> String {
    if message.len() > max {
        let mut end = max - '…'.len_utf8();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// Why the member API server is not ready, as the health condition's message says it.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No answer in time.
    #[error("/readyz did not answer within {0:?}")]
    Timeout(Duration),
    /// An answer other than `ok`: the checks that failed.
    #[error("/readyz answered {0}")]
    NotReady(String),
    /// An error status: its code and the failed checks.
    #[error("/readyz answered {code}: {checks}")]
    Failed {
        /// The HTTP status.
        code: u16,
        /// The failed checks.
        checks: String,
    },
    /// No answer at all.
    #[error("cannot reach the API server: {}", errors::chain(.0))]
    Unreachable(kube::Error),
    /// The request could not be built.
    #[error("building the /readyz request: {0}")]
    Request(http::Error),
}

/// One `GET /readyz`; `Err` says what went wrong.
pub async fn readyz(client: &Client) -> Result<(), ProbeError> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(ProbeError::Request)?;
    match tokio::time::timeout(PROBE_TIMEOUT, client.request_text(request)).await {
        Err(_) => Err(ProbeError::Timeout(PROBE_TIMEOUT)),
        Ok(Ok(body)) if body.trim() == "ok" => Ok(()),
        Ok(Ok(body)) => Err(ProbeError::NotReady(summarize_readyz(&body))),
        Ok(Err(kube::Error::Api(status))) => Err(ProbeError::Failed {
            code: status.code,
            checks: summarize_readyz(&status.message),
        }),
        Ok(Err(e)) => Err(ProbeError::Unreachable(e)),
    }
}

/// Probes every period of `cadence` and publishes the health on `health` (and `metrics`)
/// when it changes.
pub async fn run(
    client: Client,
    mut probe: Probe,
    cadence: watch::Receiver<Cadence>,
    health: watch::Sender<ApiServerHealth>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    metrics.api_server_healthy(probe.health().healthy);
    loop {
        let outcome = readyz(&client).await.map_err(|e| e.to_string());
        if let Err(message) = &outcome {
            tracing::debug!(failures = probe.failures() + 1, %message, "readiness probe failed");
        }
        if probe.observe(outcome, timing::now()) {
            let now = probe.health().clone();
            metrics.api_server_healthy(now.healthy);
            if now.healthy {
                tracing::info!("the member API server is ready");
            } else {
                tracing::warn!(message = %now.message, "the member API server is unhealthy");
            }
            if health.send(now).is_err() {
                return Ok(());
            }
        }
        let period = cadence.borrow().period;
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn fail(p: &mut Probe, t: i64) -> bool {
        p.observe(Err("etcd failed".into()), at(t))
    }

    #[test]
    fn unhealthy_only_after_threshold_consecutive_failures() {
        let mut p = Probe::new(3, at(0));
        assert!(p.health().healthy);
        assert!(!fail(&mut p, 10));
        assert!(!fail(&mut p, 20));
        assert!(p.health().healthy, "two failures are not enough");
        assert!(fail(&mut p, 30));
        let h = p.health();
        assert!(!h.healthy);
        assert_eq!(h.message, "etcd failed");
        assert_eq!(h.last_transition_time, Some(Time(at(30))));
        // More of the same changes nothing.
        assert!(!fail(&mut p, 40));
    }

    #[test]
    fn a_success_resets_the_count_and_heals_at_once() {
        let mut p = Probe::new(3, at(0));
        fail(&mut p, 1);
        fail(&mut p, 2);
        assert!(!p.observe(Ok(()), at(3)), "healthy stays healthy");
        fail(&mut p, 4);
        fail(&mut p, 5);
        assert!(p.health().healthy, "the count restarted after the success");
        fail(&mut p, 6);
        assert!(!p.health().healthy);
        assert!(p.observe(Ok(()), at(7)));
        assert_eq!(
            p.health(),
            &ApiServerHealth {
                healthy: true,
                message: String::new(),
                last_transition_time: Some(Time(at(7)))
            }
        );
    }

    #[test]
    fn while_unhealthy_the_latest_reason_is_kept() {
        let mut p = Probe::new(1, at(0));
        assert!(fail(&mut p, 1));
        assert!(p.observe(Err("connection refused".into()), at(2)));
        assert_eq!(p.health().message, "connection refused");
        assert_eq!(p.health().last_transition_time, Some(Time(at(1))));
    }

    #[test]
    fn a_zero_threshold_means_one() {
        let mut p = Probe::new(0, at(0));
        assert!(p.health().healthy);
        assert!(fail(&mut p, 1));
    }

    #[test]
    fn readyz_bodies_are_summarized_and_bounded() {
        let body = "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n\
                    [-]poststarthook/x failed: reason withheld\nreadyz check failed";
        assert_eq!(
            summarize_readyz(body),
            "etcd failed: reason withheld; poststarthook/x failed: reason withheld"
        );
        assert_eq!(summarize_readyz(" nope \n"), "nope");
        let long = truncate("é".repeat(1000), MESSAGE_MAX_LEN);
        assert!(long.len() <= MESSAGE_MAX_LEN && long.ends_with('…'));
        assert_eq!(truncate("short".into(), MESSAGE_MAX_LEN), "short");
    }
}
