//! Heartbeat: the agent renews its Lease on the hub every period (±10% jitter). Period and
//! grace come from the agent's MemberCluster, re-read every minute; the probe follows the
//! same period.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, Patch, PatchParams},
};
use roster_api::{MemberCluster, member_cluster::Heartbeat, names};
use roster_runtime::admin::Condition;
use tokio::sync::watch;

use roster_runtime::{
    backoff::{self, Backoff},
    errors::{self, Category},
};

use crate::{metrics::Metrics, timing};

/// Spread of the heartbeat period, as a fraction of it.
pub const JITTER: f64 = 0.1;

/// Consecutive 401 answers after which the agent concludes the hub removed its member.
pub const REFUSALS_TO_LEAVE: u32 = 3;

/// The hub no longer authenticates the agent: its service account is gone, so its member was
/// unjoined (or its MemberCluster deleted).
#[derive(Debug, thiserror::Error)]
#[error(
    "the hub no longer accepts this agent's credential: member {member} was removed from the hub \
     (unjoined, or its MemberCluster deleted); run 'kubectl roster join {member}' to join again"
)]
pub struct LeftHub {
    /// The member's name.
    pub member: String,
}

/// How often the MemberCluster's heartbeat settings are re-read.
const SETTINGS_MAX_AGE: Duration = Duration::from_secs(60);

/// How often the agent heartbeats and how long the hub waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Time between heartbeats (and probes).
    pub period: Duration,
    /// Seconds after which the hub calls a silent member Unknown; the Lease's duration.
    pub grace_seconds: i32,
}

impl Default for Cadence {
    fn default() -> Self {
        Self::from(&Heartbeat::default())
    }
}

impl From<&Heartbeat> for Cadence {
    fn from(h: &Heartbeat) -> Self {
        Self {
            period: Duration::from_secs(u64::try_from(h.period_seconds.max(1)).unwrap_or(1)),
            grace_seconds: h.grace_seconds,
        }
    }
}

/// The cadence a MemberCluster asks for (defaults when it says nothing).
pub fn cadence(member: &MemberCluster) -> Cadence {
    member
        .spec
        .heartbeat
        .as_ref()
        .map(Cadence::from)
        .unwrap_or_default()
}

/// The Lease fields the agent owns, for a server-side apply.
pub fn lease(holder: &str, renewed: Timestamp, grace_seconds: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(names::AGENT_LEASE.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            renew_time: Some(MicroTime(timing::whole_seconds(renewed))),
            lease_duration_seconds: Some(grace_seconds),
            ..LeaseSpec::default()
        }),
    }
}

/// Renews the agent's Lease once through `leases` (the member's namespace on the hub): one
/// heartbeat, as of now, with `cadence`'s grace as the Lease duration.
pub async fn renew_once(
    leases: &Api<Lease>,
    member: &str,
    cadence: Cadence,
) -> Result<Lease, kube::Error> {
    let params = PatchParams::apply(names::AGENT_FIELD_MANAGER).force();
    let body = lease(member, timing::now(), cadence.grace_seconds);
    leases
        .patch(names::AGENT_LEASE, &params, &Patch::Apply(&body))
        .await
}

/// Renews the Lease in `namespace` on the hub until the process stops; publishes the cadence
/// read from the MemberCluster `member` on `cadence`; `beat` is met at the first renewal.
/// Failures are logged and retried.
pub async fn run(
    hub: Client,
    namespace: String,
    member: String,
    cadence: watch::Sender<Cadence>,
    metrics: Arc<Metrics>,
    beat: Condition,
) -> anyhow::Result<()> {
    let leases: Api<Lease> = Api::namespaced(hub.clone(), &namespace);
    let members: Api<MemberCluster> = Api::all(hub);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut read_at: Option<Instant> = None;
    let mut failing = false;
    let mut refusals = 0;
    loop {
        if read_at.is_none_or(|t| t.elapsed() >= SETTINGS_MAX_AGE) {
            read_at = Some(Instant::now());
            match members.get(&member).await {
                Ok(mc) => {
                    let wanted = self::cadence(&mc);
                    if cadence.send_if_modified(|c| std::mem::replace(c, wanted) != wanted) {
                        tracing::info!(period = ?wanted.period, grace_seconds = wanted.grace_seconds,
                            "heartbeat settings");
                    }
                }
                Err(e) => tracing::warn!(error = %errors::chain(&e),
                    "cannot read this member's MemberCluster; keeping the heartbeat settings"),
            }
        }
        let current = *cadence.borrow();
        let delay = match renew_once(&leases, &member, current).await {
            Ok(_) => {
                metrics.heartbeat(true);
                beat.set(true);
                refusals = 0;
                if std::mem::replace(&mut failing, false) {
                    tracing::info!("heartbeat renewed again");
                }
                backoff.reset();
                backoff::jittered(current.period, JITTER)
            }
            Err(e) => {
                metrics.heartbeat(false);
                failing = true;
                refusals = if Category::of(&e) == Category::Unauthorized {
                    refusals + 1
                } else {
                    0
                };
                if refusals >= REFUSALS_TO_LEAVE {
                    return Err(LeftHub { member }.into());
                }
                let delay = backoff.next_delay().min(current.period);
                tracing::warn!(error = %errors::chain(&e), retry_in = ?delay,
                    "cannot renew the heartbeat lease on the hub");
                delay
            }
        };
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_api::MemberClusterSpec;

    #[test]
    fn cadence_comes_from_the_member_cluster_or_defaults() {
        let mut mc = MemberCluster::new("m", MemberClusterSpec::default());
        assert_eq!(
            cadence(&mc),
            Cadence {
                period: Duration::from_secs(10),
                grace_seconds: 40
            }
        );
        mc.spec.heartbeat = Some(Heartbeat {
            period_seconds: 5,
            grace_seconds: 15,
        });
        assert_eq!(
            cadence(&mc),
            Cadence {
                period: Duration::from_secs(5),
                grace_seconds: 15
            }
        );
    }

    #[test]
    fn lease_carries_holder_whole_second_renewal_and_grace() {
        let t = Timestamp::new(1_700_000_000, 123_456_789).unwrap();
        let json = serde_json::to_value(lease("member-1", t, 40)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "roster-agent"},
                "spec": {
                    "holderIdentity": "member-1",
                    "renewTime": "2023-11-14T22:13:20.000000Z",
                    "leaseDurationSeconds": 40
                }
            })
        );
    }
}
