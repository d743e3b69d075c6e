//! The agent's Prometheus metrics, served by its admin server (`--admin-address`).
//!
//! Labels are bounded: a heartbeat result (`ok` or `error`), grant names
//! (`<namespace>.<remote service account>`, one per RemoteServiceAccount serving this member),
//! an error category (the hub's, [`Category`]) and a
//! repaired object's kind and drift. Never an object name or an error's text: those go to the
//! grant's status message and the log. No token or other secret ever appears in a label.

use std::{collections::HashSet, time::SystemTime};

use k8s_openapi::jiff::Timestamp;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry, core::Collector};
use roster_runtime::{
    errors::Category,
    metrics::{Direction, TimeGauge},
};

/// The agent's metrics.
#[derive(Debug)]
pub struct Metrics {
    heartbeats: IntCounterVec,
    api_server_healthy: IntGauge,
    tokens_minted: IntCounter,
    token_expiry: TimeGauge,
    grants: IntGauge,
    grant_errors: IntCounterVec,
    grants_refused: IntCounter,
    repairs: IntCounterVec,
}

impl Metrics {
    /// Creates the agent's metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            heartbeats: IntCounterVec::new(
                Opts::new(
                    "roster_agent_heartbeats_total",
                    "Heartbeat Lease renewals on the hub, by result (ok or error).",
                ),
                &["result"],
            )?,
            api_server_healthy: IntGauge::new(
                "roster_agent_api_server_healthy",
                "1 while the member API server is reported healthy (its /readyz probe, with \
                 anti-flap), else 0.",
            )?,
            tokens_minted: IntCounter::new(
                "roster_agent_remote_tokens_minted_total",
                "Remote service account tokens minted on the member and delivered to the hub.",
            )?,
            token_expiry: TimeGauge::new(
                Opts::new(
                    "roster_agent_remote_token_expiry_seconds",
                    "Seconds until the token delivered for a grant expires, by grant \
                     (<namespace>.<remote service account>).",
                ),
                &["grant"],
                Direction::Until,
            )?,
            grants: IntGauge::new(
                "roster_agent_grants",
                "RemoteAccountGrants this agent serves.",
            )?,
            grant_errors: IntCounterVec::new(
                Opts::new(
                    "roster_agent_grant_errors_total",
                    "Failed attempts to serve a grant, by error category (conflict, not_found, \
                     forbidden, invalid, unavailable, transport, ...: the hub's categories); \
                     the grant's status message names the object.",
                ),
                &["category"],
            )?,
            grants_refused: IntCounter::new(
                "roster_agent_grants_refused_total",
                "Grant reconciles refused because the grant asks for more than the member's \
                 ceiling (--grantable-cluster-roles, --allow-rules) allows, or binds a \
                 federated user that is not a hub service account's.",
            )?,
            repairs: IntCounterVec::new(
                Opts::new(
                    "roster_agent_grant_repairs_total",
                    "Grants provisioned again because a member object of theirs was deleted or \
                     changed, by the object's kind and what happened to it.",
                ),
                &["kind", "drift"],
            )?,
        };
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(metrics.heartbeats.clone()),
            Box::new(metrics.api_server_healthy.clone()),
            Box::new(metrics.tokens_minted.clone()),
            Box::new(metrics.token_expiry.clone()),
            Box::new(metrics.grants.clone()),
            Box::new(metrics.grant_errors.clone()),
            Box::new(metrics.grants_refused.clone()),
            Box::new(metrics.repairs.clone()),
        ];
        for collector in collectors {
            registry.register(collector)?;
        }
        // Both results exist from the start, so a rate of errors is never absent.
        for result in ["ok", "error"] {
            metrics.heartbeats.with_label_values(&[result]);
        }
        for category in Category::ALL {
            metrics.grant_errors.with_label_values(&[category.as_str()]);
        }
        Ok(metrics)
    }

    /// Counts one heartbeat.
    pub fn heartbeat(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.heartbeats.with_label_values(&[result]).inc();
    }

    /// Records the member API server's reported health.
    pub fn api_server_healthy(&self, healthy: bool) {
        self.api_server_healthy.set(i64::from(healthy));
    }

    /// Counts one token minted for `grant`, which expires at `expires`.
    pub fn token_minted(&self, grant: &str, expires: Timestamp) {
        self.tokens_minted.inc();
        self.token_delivered(grant, expires);
    }

    /// Records that the token delivered for `grant` expires at `expires`.
    pub fn token_delivered(&self, grant: &str, expires: Timestamp) {
        self.token_expiry.set(&[grant], SystemTime::from(expires));
    }

    /// Counts one failed attempt to serve a grant.
    pub fn grant_error(&self, category: Category) {
        self.grant_errors
            .with_label_values(&[category.as_str()])
            .inc();
    }

    /// Counts one grant reconcile refused for exceeding the member's ceiling.
    pub fn grant_refused(&self) {
        self.grants_refused.inc();
    }

    /// Counts one grant woken because a `kind` object of it saw `drift`.
    pub fn repair(&self, kind: &str, drift: &str) {
        self.repairs.with_label_values(&[kind, drift]).inc();
    }

    /// Records the grants this agent serves (by name); series of other grants go.
    pub fn grants(&self, live: &HashSet<String>) {
        self.grants
            .set(i64::try_from(live.len()).unwrap_or(i64::MAX));
        self.token_expiry.retain(|labels| live.contains(&labels[0]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exported_without_secrets() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        metrics.heartbeat(true);
        metrics.heartbeat(true);
        metrics.heartbeat(false);
        metrics.api_server_healthy(true);
        let in_an_hour = Timestamp::now() + std::time::Duration::from_secs(3600);
        metrics.token_minted("team-a.ops", in_an_hour);
        metrics.token_minted("team-b.ci", in_an_hour);
        metrics.grants(&HashSet::from(["team-a.ops".to_owned()]));
        metrics.grant_error(Category::NotFound);
        metrics.repair("ClusterRoleBinding", "deleted");
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        for line in [
            "roster_agent_heartbeats_total{result=\"ok\"} 2",
            "roster_agent_heartbeats_total{result=\"error\"} 1",
            "roster_agent_api_server_healthy 1",
            "roster_agent_remote_tokens_minted_total 2",
            "roster_agent_remote_token_expiry_seconds{grant=\"team-a.ops\"} 359",
            "roster_agent_grants 1",
            "roster_agent_grant_errors_total{category=\"not_found\"} 1",
            "roster_agent_grant_errors_total{category=\"forbidden\"} 0",
            "roster_agent_grant_repairs_total{drift=\"deleted\",kind=\"ClusterRoleBinding\"} 1",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        assert!(!text.contains("team-b.ci"), "a deleted grant's series goes");
    }
}
