//! Setting conditions the Kubernetes way: `lastTransitionTime` moves only when the status does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// What a condition should say, before transition bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Condition type.
    pub type_: &'static str,
    /// "True", "False" or "Unknown".
    pub status: &'static str,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human message; stable text, so an unchanged world produces an unchanged condition.
    pub message: String,
}

impl Desired {
    /// A condition in `status` with `reason` and `message`.
    pub fn new(
        type_: &'static str,
        status: &'static str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// The condition to write: `desired`, keeping the previous `lastTransitionTime` when the status
/// is unchanged.
pub fn build(
    desired: &Desired,
    previous: &[Condition],
    now: &Time,
    generation: Option<i64>,
) -> Condition {
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == desired.type_ && c.status == desired.status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: desired.type_.to_owned(),
        status: desired.status.to_owned(),
        reason: desired.reason.to_owned(),
        message: desired.message.clone(),
        last_transition_time,
        observed_generation: generation,
    }
}

/// All `desired` conditions built against `previous`.
pub fn build_all(
    desired: &[Desired],
    previous: &[Condition],
    now: &Time,
    generation: Option<i64>,
) -> Vec<Condition> {
    desired
        .iter()
        .map(|d| build(d, previous, now, generation))
        .collect()
}

/// The condition of `type_` in `conditions`.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap())
    }

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let ready = Desired::new("Ready", "True", "Fine", "all good");
        let first = build(&ready, &[], &at(100), Some(1));
        assert_eq!(first.last_transition_time, at(100));

        let reworded = Desired::new("Ready", "True", "Fine", "still good");
        let second = build(&reworded, std::slice::from_ref(&first), &at(200), Some(2));
        assert_eq!(
            second.last_transition_time,
            at(100),
            "same status keeps the time"
        );
        assert_eq!(second.message, "still good");
        assert_eq!(second.observed_generation, Some(2));

        let broken = Desired::new("Ready", "False", "Broken", "no");
        let third = build(&broken, &[second], &at(300), Some(2));
        assert_eq!(
            third.last_transition_time,
            at(300),
            "a new status is a transition"
        );
    }
}
