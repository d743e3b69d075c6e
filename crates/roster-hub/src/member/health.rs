//! What the hub concludes about a member: the Joined and ControlPlaneHealthy conditions.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use roster_api::{
    conditions::{CONDITION_CONTROL_PLANE_HEALTHY, CONDITION_JOINED, health, joined},
    member_report::MemberReportSpec,
};

use crate::conditions::Desired;

/// Everything health depends on.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Why the member's name cannot become its namespace, if it cannot.
    pub name_problem: Option<&'a str>,
    /// When the hub last saw the agent heartbeat.
    pub last_heartbeat: Option<Timestamp>,
    /// The agent's latest report.
    pub report: Option<&'a MemberReportSpec>,
    /// Silence longer than this makes health Unknown.
    pub grace: Duration,
    /// Now.
    pub now: Timestamp,
}

/// The Joined condition.
pub fn joined(i: &Inputs<'_>) -> Desired {
    if let Some(problem) = i.name_problem {
        return Desired::new(CONDITION_JOINED, "False", joined::INVALID_NAME, problem);
    }
    if i.last_heartbeat.is_some() || i.report.is_some() {
        return Desired::new(
            CONDITION_JOINED,
            "True",
            joined::AGENT_CONNECTED,
            "the member's agent is connected to the hub",
        );
    }
    Desired::new(
        CONDITION_JOINED,
        "False",
        joined::AWAITING_AGENT,
        "the hub is ready for this member; waiting for its agent to connect (install it with `kubectl roster join`)",
    )
}

/// The ControlPlaneHealthy condition. Alive and healthy are different facts: a silent agent
/// makes health Unknown, a reported failure makes it False.
pub fn control_plane_healthy(i: &Inputs<'_>) -> Desired {
    let d = |status, reason, message: String| {
        Desired::new(CONDITION_CONTROL_PLANE_HEALTHY, status, reason, message)
    };
    if i.name_problem.is_some() {
        return d(
            "Unknown",
            health::NOT_JOINED,
            "the member has not joined; see the Joined condition".into(),
        );
    }
    let Some(heartbeat) = i.last_heartbeat else {
        return d(
            "Unknown",
            health::AWAITING_AGENT,
            "waiting for the agent's first heartbeat".into(),
        );
    };
    if silence(heartbeat, i.now) > i.grace {
        return d(
            "Unknown",
            health::HEARTBEAT_MISSED,
            format!(
                "no heartbeat from the agent for more than {}s",
                i.grace.as_secs()
            ),
        );
    }
    let Some(report) = i.report else {
        return d(
            "Unknown",
            health::AWAITING_AGENT,
            "waiting for the agent's first report".into(),
        );
    };
    if !report.api_server_health.healthy {
        let detail = &report.api_server_health.message;
        let message = if detail.is_empty() {
            "the agent reports the API server is not ready".to_owned()
        } else {
            format!("the agent reports the API server is not ready: {detail}")
        };
        return d("False", health::API_SERVER_UNHEALTHY, message);
    }
    d(
        "True",
        health::API_SERVER_READY,
        "the agent heartbeats and the API server is ready".into(),
    )
}

fn silence(heartbeat: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(heartbeat)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_api::member_report::ApiServerHealth;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn report(healthy: bool) -> MemberReportSpec {
        MemberReportSpec {
            api_server_health: ApiServerHealth {
                healthy,
                message: if healthy {
                    String::new()
                } else {
                    "readyz: 500".into()
                },
                last_transition_time: None,
            },
            ..Default::default()
        }
    }

    fn inputs<'a>(
        heartbeat: Option<i64>,
        report: Option<&'a MemberReportSpec>,
        now: i64,
    ) -> Inputs<'a> {
        Inputs {
            name_problem: None,
            last_heartbeat: heartbeat.map(t),
            report,
            grace: Duration::from_secs(40),
            now: t(now),
        }
    }

    fn health_of(i: &Inputs<'_>) -> (&'static str, &'static str) {
        let c = control_plane_healthy(i);
        (c.status, c.reason)
    }

    #[test]
    fn health_follows_heartbeats_and_reports() {
        let ok = report(true);
        let bad = report(false);
        assert_eq!(
            health_of(&inputs(None, None, 100)),
            ("Unknown", health::AWAITING_AGENT)
        );
        assert_eq!(
            health_of(&inputs(Some(100), None, 100)),
            ("Unknown", health::AWAITING_AGENT)
        );
        assert_eq!(
            health_of(&inputs(Some(100), Some(&ok), 110)),
            ("True", health::API_SERVER_READY)
        );
        assert_eq!(
            health_of(&inputs(Some(100), Some(&ok), 140)),
            ("True", health::API_SERVER_READY),
            "at the grace period, not yet"
        );
        assert_eq!(
            health_of(&inputs(Some(100), Some(&ok), 141)),
            ("Unknown", health::HEARTBEAT_MISSED)
        );
        assert_eq!(
            health_of(&inputs(Some(100), Some(&bad), 110)),
            ("False", health::API_SERVER_UNHEALTHY)
        );
        assert!(
            control_plane_healthy(&inputs(Some(100), Some(&bad), 110))
                .message
                .contains("readyz: 500")
        );
        // A silent agent is Unknown even if its last report said unhealthy.
        assert_eq!(
            health_of(&inputs(Some(100), Some(&bad), 200)),
            ("Unknown", health::HEARTBEAT_MISSED)
        );
    }

    #[test]
    fn joined_once_the_agent_shows_up() {
        assert_eq!(
            joined(&inputs(None, None, 0)).reason,
            joined::AWAITING_AGENT
        );
        assert_eq!(joined(&inputs(Some(1), None, 0)).status, "True");
        let mut invalid = inputs(Some(1), None, 0);
        invalid.name_problem = Some("bad name");
        assert_eq!(joined(&invalid).reason, joined::INVALID_NAME);
        assert_eq!(control_plane_healthy(&invalid).reason, health::NOT_JOINED);
    }

    #[test]
    fn messages_do_not_change_while_nothing_changes() {
        let ok = report(true);
        assert_eq!(
            control_plane_healthy(&inputs(Some(100), Some(&ok), 101)),
            control_plane_healthy(&inputs(Some(130), Some(&ok), 139))
        );
        assert_eq!(
            control_plane_healthy(&inputs(Some(100), Some(&ok), 150)),
            control_plane_healthy(&inputs(Some(100), Some(&ok), 900))
        );
    }
}
