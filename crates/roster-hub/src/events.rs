//! Kubernetes Events on condition transitions: one Event each time a condition's status
//! changes (or first appears), on the object the condition belongs to. Events never fail a
//! reconcile: a refused Event is logged and dropped.

use k8s_openapi::{
    api::{core::v1::ObjectReference, events::v1::Event as K8sEvent},
    apimachinery::pkg::apis::meta::v1::{Condition, MicroTime},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
    runtime::events::{Event, EventType},
};

/// The `reportingController` of the hub's Events.
pub const REPORTER: &str = "roster-hub";

/// Creates the hub's Events. Unlike kube's `Recorder` it keeps nothing: the hub's Events are
/// condition transitions, rare and distinct, so there is no series to aggregate, and kube's
/// cache of every Event of the last minutes (scanned on each publish) was the largest part of
/// the hub's memory right after a fleet joined.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    instance: String,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// The hub's Event recorder; `instance` (the `reportingInstance`) is the pod's name when known.
pub fn recorder(client: &Client, instance: Option<&str>) -> Recorder {
    Recorder {
        client: client.clone(),
        instance: instance
            .filter(|n| !n.is_empty())
            .unwrap_or(REPORTER)
            .to_owned(),
    }
}

impl Recorder {
    /// Creates `event` about `regarding` (in its namespace, `default` for cluster-scoped
    /// objects, as kube and client-go do).
    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let object = k8s_event(event, regarding, &self.instance, Timestamp::now());
        Api::<K8sEvent>::namespaced(self.client.clone(), namespace)
            .create(&PostParams::default(), &object)
            .await
            .map(|_| ())
    }
}

/// The events.k8s.io/v1 Event for `event` about `regarding` at `now`.
pub fn k8s_event(
    event: &Event,
    regarding: &ObjectReference,
    instance: &str,
    now: Timestamp,
) -> K8sEvent {
    let name = regarding.name.as_deref().unwrap_or(REPORTER);
    K8sEvent {
        action: Some(event.action.clone()),
        reason: Some(event.reason.clone()),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding.clone()),
        note: event.note.clone(),
        metadata: ObjectMeta {
            namespace: regarding.namespace.clone(),
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            ..ObjectMeta::default()
        },
        reporting_controller: Some(REPORTER.to_owned()),
        reporting_instance: Some(instance.to_owned()),
        type_: Some(
            match event.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .to_owned(),
        ),
        related: event.secondary.clone(),
        ..K8sEvent::default()
    }
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
    fn events_name_the_object_the_controller_and_the_instance() {
        let regarding = ObjectReference {
            kind: Some("MemberCluster".into()),
            name: Some("m1".into()),
            ..ObjectReference::default()
        };
        let now = Timestamp::from_second(1_000).unwrap();
        let e = k8s_event(
            &transitions(&[], &[condition("Joined", "True", "AgentConnected")])[0],
            &regarding,
            "hub-0",
            now,
        );
        assert_eq!(e.metadata.name.as_deref(), Some("m1.e8d4a51000"));
        assert_eq!(e.regarding.as_ref(), Some(&regarding));
        assert_eq!(e.reporting_controller.as_deref(), Some("roster-hub"));
        assert_eq!(e.reporting_instance.as_deref(), Some("hub-0"));
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        assert_eq!(e.action.as_deref(), Some("JoinedChanged"));
        assert_eq!(e.event_time, Some(MicroTime(now)));
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
