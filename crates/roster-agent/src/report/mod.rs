//! The report: gathered from the member every interval and at once on a health transition,
//! written to the MemberReport `report` on the hub (server-side apply) only when it differs
//! from the last one written.

pub mod build;
pub mod endpoint;
pub mod gather;

use std::time::Duration;

use anyhow::Context;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use roster_api::{
    MemberReport, MemberReportSpec,
    member_report::{ApiServerHealth, REPORT_NAME},
    names,
};
use tokio::sync::watch;

use roster_runtime::{backoff::Backoff, errors};

use crate::timing;

/// Writes the MemberReport `report` on the hub (server-side apply, the agent's field manager),
/// only when it differs from the last one written. Needs no member cluster: the fleet
/// simulation ([`crate::simulate`]) writes through it too.
pub struct ReportWriter {
    reports: Api<MemberReport>,
    last_written: Option<MemberReportSpec>,
}

impl std::fmt::Debug for ReportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportWriter")
            .field("last_written", &self.last_written)
            .finish_non_exhaustive()
    }
}

impl ReportWriter {
    /// A writer into `reports` (the member's namespace on the hub). It resumes from the report
    /// already there, if it can read it, so a restart rewrites nothing that did not change.
    pub async fn resume(reports: Api<MemberReport>) -> Self {
        let last_written = match reports.get_opt(REPORT_NAME).await {
            Ok(found) => found.map(|r| r.spec),
            Err(e) => {
                tracing::info!(error = %errors::chain(&e), "cannot read the previous report");
                None
            }
        };
        Self {
            reports,
            last_written,
        }
    }

    /// The report last written (or found on the hub at start).
    pub fn last_written(&self) -> Option<&MemberReportSpec> {
        self.last_written.as_ref()
    }

    /// Writes `spec` unless it equals the last report written; returns whether it wrote.
    pub async fn write(&mut self, spec: MemberReportSpec) -> anyhow::Result<bool> {
        if self.last_written.as_ref() == Some(&spec) {
            return Ok(false);
        }
        let params = PatchParams::apply(names::AGENT_FIELD_MANAGER).force();
        let object = MemberReport::new(REPORT_NAME, spec.clone());
        self.reports
            .patch(REPORT_NAME, &params, &Patch::Apply(&object))
            .await
            .context("writing the MemberReport on the hub")?;
        tracing::info!(cluster_id = %spec.cluster_id, healthy = spec.api_server_health.healthy,
            "report written");
        self.last_written = Some(spec);
        Ok(true)
    }
}

/// The report for what was gathered (`obs`), with the properties' first-seen times kept in
/// `first_seen`.
pub fn build_spec(
    first_seen: &mut build::FirstSeen,
    obs: &gather::Observations,
    endpoint: &endpoint::Endpoint,
    health: &ApiServerHealth,
) -> MemberReportSpec {
    let properties = build::observed_properties(obs);
    let properties = first_seen.observe(&properties, timing::now());
    build::spec(obs, endpoint, health.clone(), properties)
}

/// Gathers and writes the member's report.
pub struct Reporter {
    writer: ReportWriter,
    member: Client,
    endpoint: endpoint::Endpoint,
    first_seen: build::FirstSeen,
    ceiling: Option<roster_api::ceiling::Ceiling>,
    trust: Option<crate::federation::TrustCheck>,
    last_trust: Option<roster_api::member_report::FederationTrust>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("endpoint", &self.endpoint)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// A reporter writing into `namespace` on the hub. It resumes from the report already
    /// there, if it can read it, so a restart rewrites nothing that did not change.
    pub async fn new(
        hub: Client,
        namespace: &str,
        member: Client,
        endpoint: endpoint::Endpoint,
    ) -> Self {
        let writer = ReportWriter::resume(Api::namespaced(hub, namespace)).await;
        Self {
            first_seen: writer
                .last_written()
                .map(|s| build::FirstSeen::from_reported(&s.properties))
                .unwrap_or_default(),
            last_trust: writer.last_written().and_then(|s| s.federation.clone()),
            writer,
            member,
            endpoint,
            ceiling: None,
            trust: None,
        }
    }

    /// Checks and reports whether the member trusts the hub's issuer (see
    /// [`crate::federation`]) with every report.
    pub fn with_trust_check(mut self, check: crate::federation::TrustCheck) -> Self {
        self.trust = Some(check);
        self
    }

    /// Reports `ceiling` too: what this agent may grant (see `grants::ceiling`).
    pub fn with_ceiling(mut self, ceiling: &roster_api::ceiling::Ceiling) -> Self {
        self.ceiling = Some(ceiling.clone());
        self
    }

    /// Gathers the member's state and writes it if it changed; returns whether it wrote.
    /// When the member cannot be read, the previous report is rewritten with `health`.
    pub async fn report(&mut self, health: &ApiServerHealth) -> anyhow::Result<bool> {
        let mut spec = match gather::gather(&self.member).await {
            Ok(obs) => build_spec(&mut self.first_seen, &obs, &self.endpoint, health),
            Err(e) => {
                let Some(previous) = self.writer.last_written() else {
                    return Err(e).context("gathering the member's report");
                };
                tracing::warn!(error = %errors::chain(&e),
                    "cannot read the member; reporting the last state seen with the current health");
                build::with_health(previous, health.clone())
            }
        };
        spec.grant_ceiling.clone_from(&self.ceiling);
        if let Some(check) = &mut self.trust
            && let Some(verdict) = check.check().await
        {
            self.last_trust = Some(verdict);
        }
        spec.federation.clone_from(&self.last_trust);
        self.writer.write(spec).await
    }
}

/// Reports every `interval`, at once when `health` changes, and retries failures with
/// backoff.
pub async fn run(
    mut reporter: Reporter,
    interval: Duration,
    mut health: watch::Receiver<ApiServerHealth>,
) -> anyhow::Result<()> {
    let mut backoff = Backoff::new(Duration::from_secs(1), interval);
    loop {
        let current = health.borrow_and_update().clone();
        let delay = match reporter.report(&current).await {
            Ok(_) => {
                backoff.reset();
                interval
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %errors::chain(e.as_ref()), retry_in = ?delay, "report failed");
                delay
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            changed = health.changed() => if changed.is_err() { return Ok(()) },
        }
    }
}
