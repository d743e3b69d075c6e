//! Kubernetes Events on condition transitions: one Event each time a condition's status
//! changes (or first appears), on the object the condition belongs to. Events never fail a
//! reconcile: a refused Event is logged and dropped.

use k8s_openapi::{api::core::v1::ObjectReference, apimachinery::pkg::apis::meta::v1::Condition};
use kube::{
    Client,
    runtime::events::{Event, EventType, Recorder, Reporter},
};

/// The `reportingController` of the hub's Events.
pub const REPORTER: &str = "roster-hub";

/// The hub's Event recorder; the instance is the pod's name when known.
pub fn recorder(client: &Client) -> Recorder {
    Recorder::new(
        client.clone(),
        Reporter {
            controller: REPORTER.to_owned(),
            instance: std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()),
        },
    )
}

/// Events for the conditions in `current` whose status differs from `previous`.
pub fn transitions(previous: &[Condition], current: &[Condition]) -> Vec<Event> {
    current
        .iter()
        .filter(|c| {
            previous
                .iter()
                .find(|p| p.type_ == c.type_)
                .is_none_or(|p| p.status != c.status)
        })
        .map(|c| Event {
            type_: if c.status == "True" {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: c.reason.clone(),
            note: Some(
                format!("{} is {}: {}", c.type_, c.status, c.message)
                    .chars()
                    .take(1024)
                    .collect(),
            ),
            action: format!("{}Changed", c.type_),
            secondary: None,
        })
        .collect()
}

/// Publishes `events` about `regarding`, logging (not returning) failures.
pub async fn publish(recorder: &Recorder, regarding: &ObjectReference, events: Vec<Event>) {
    for event in events {
        if let Err(e) = recorder.publish(&event, regarding).await {
            tracing::warn!(reason = %event.reason, error = %e, "could not record an Event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

    fn condition(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: "because".into(),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
            observed_generation: None,
        }
    }

    #[test]
    fn only_status_changes_make_events() {
        let before = [
            condition("Joined", "True", "AgentConnected"),
            condition("ControlPlaneHealthy", "True", "ApiServerReady"),
        ];
        let after = [
            condition("Joined", "True", "AgentConnected"),
            condition("ControlPlaneHealthy", "Unknown", "HeartbeatMissed"),
        ];
        let events = transitions(&before, &after);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, "HeartbeatMissed");
        assert_eq!(events[0].type_, EventType::Warning);
        assert_eq!(events[0].action, "ControlPlaneHealthyChanged");
        assert_eq!(
            events[0].note.as_deref(),
            Some("ControlPlaneHealthy is Unknown: because")
        );
        assert!(transitions(&after, &after).is_empty());
        // A first condition is a transition; True is Normal.
        let first = transitions(&[], &before[..1]);
        assert_eq!(first[0].type_, EventType::Normal);
    }
}
