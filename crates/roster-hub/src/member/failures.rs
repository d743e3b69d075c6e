//! Writes that keep failing are made visible: every failed write counts in
//! `roster_write_errors_total{kind,category}`, and the member gets a Warning Event
//! (`WriteFailed`) naming the object and the API server's answer — once per kind of failure,
//! repeated every [`REPEAT`] while it lasts, not on every retry.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::{Event, EventType};

use crate::error::Error;

/// How often a failure that lasts is reported again.
pub const REPEAT: Duration = Duration::from_secs(300);

/// The Event reason of a failed write.
pub const REASON: &str = "WriteFailed";

/// The failure last reported per member: what failed (kind and category) and when.
#[derive(Debug, Default)]
pub struct Failures {
    last: Mutex<HashMap<String, (String, Timestamp)>>,
}

impl Failures {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Timestamp)>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a failure `what` of `member` at `now` is to be reported: a new kind of failure,
    /// or one reported [`REPEAT`] ago.
    pub fn report(&self, member: &str, what: &str, now: Timestamp) -> bool {
        let mut last = self.lock();
        let due = last
            .get(member)
            .is_none_or(|(w, at)| w != what || now.duration_since(*at).unsigned_abs() >= REPEAT);
        if due {
            last.insert(member.to_owned(), (what.to_owned(), now));
        }
        due
    }

    /// `member` reconciled without failing: its next failure is reported at once.
    pub fn clear(&self, member: &str) {
        self.lock().remove(member);
    }

    /// Forgets every member `keep` refuses.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.lock().retain(|k, _| keep(k));
    }
}

/// The Event for a failed write.
pub fn event(error: &Error) -> Event {
    Event {
        type_: EventType::Warning,
        reason: REASON.to_owned(),
        note: Some(error.to_string().chars().take(1024).collect()),
        action: "Write".to_owned(),
        secondary: None,
    }
}

/// What to report of a failed reconcile of `member` at `now`: the kind and category of a
/// failed write, to count, and its Event when one is due. Other failures report nothing here
/// (the reconcile error metric counts them).
pub fn judge(
    failures: &Failures,
    member: &str,
    error: &Error,
    now: Timestamp,
) -> Option<(&'static str, Option<Event>)> {
    let Error::Write { kind, .. } = error else {
        return None;
    };
    let due = failures.report(member, &format!("{kind}/{}", error.category()), now);
    Some((kind, due.then(|| event(error))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn a_lasting_failure_is_reported_once_then_every_repeat() {
        let f = Failures::default();
        assert!(f.report("m", "ClusterProfile/api", t(0)));
        assert!(!f.report("m", "ClusterProfile/api", t(5)));
        assert!(f.report("m", "Role/forbidden", t(10)), "a new failure");
        assert!(f.report("other", "Role/forbidden", t(10)), "per member");
        assert!(!f.report("m", "Role/forbidden", t(309)));
        assert!(f.report("m", "Role/forbidden", t(310)));
        f.clear("m");
        assert!(f.report("m", "Role/forbidden", t(311)), "after a success");
        f.retain(|_| false);
        assert!(f.report("other", "Role/forbidden", t(312)));
    }

    #[test]
    fn only_failed_writes_are_judged_and_their_events_come_when_due() {
        let f = Failures::default();
        let write = Error::writing("Role", "ns/r", Error::Finalizer("x".into()));
        let (kind, event) = judge(&f, "m", &write, t(0)).unwrap();
        assert_eq!(kind, "Role");
        assert!(event.is_some());
        let (_, again) = judge(&f, "m", &write, t(1)).unwrap();
        assert!(again.is_none(), "counted, not published again");
        assert!(judge(&f, "m", &Error::Finalizer("x".into()), t(2)).is_none());
    }

    #[test]
    fn the_event_names_the_object_and_the_error() {
        let error = Error::writing(
            "ClusterProfile status",
            "cluster-inventory/m1",
            Error::Finalizer("field not declared in schema".into()),
        );
        let e = event(&error);
        assert_eq!(e.type_, EventType::Warning);
        assert_eq!(
            e.note.as_deref(),
            Some(
                "writing ClusterProfile status cluster-inventory/m1: finalizer: field not \
                 declared in schema"
            )
        );
    }
}
