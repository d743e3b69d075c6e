//! Reading a MemberCluster's conditions: how far the hub has got with it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use roster_api::{
    MemberCluster,
    conditions::{CONDITION_JOINED, joined},
};

/// The condition of type `type_` in the MemberCluster's status, if the hub wrote one.
pub fn condition<'a>(member: &'a MemberCluster, type_: &str) -> Option<&'a Condition> {
    member
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// Whether the hub has prepared a member's namespace and bootstrap identity.
#[derive(Debug, PartialEq, Eq)]
pub enum Preparation {
    /// The hub has not acted on the MemberCluster yet.
    Pending,
    /// The bootstrap identity exists (Joined is AwaitingAgent or AgentConnected).
    Ready,
    /// The hub refuses the member; the condition's message says why.
    Refused(String),
}

/// Reads the `Joined` condition: its presence means the hub has acted on the member.
pub fn preparation(member: &MemberCluster) -> Preparation {
    match condition(member, CONDITION_JOINED) {
        None => Preparation::Pending,
        Some(c) if c.reason == joined::INVALID_NAME => Preparation::Refused(c.message.clone()),
        Some(_) => Preparation::Ready,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use roster_api::MemberClusterStatus;

    /// A condition for tests.
    pub(crate) fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            observed_generation: None,
        }
    }

    /// A MemberCluster with these conditions.
    pub(crate) fn member(name: &str, conditions: Vec<Condition>) -> MemberCluster {
        let mut m = MemberCluster::new(name, Default::default());
        m.status = Some(MemberClusterStatus {
            conditions,
            ..Default::default()
        });
        m
    }

    #[test]
    fn preparation_follows_the_joined_condition() {
        let none = MemberCluster::new("m", Default::default());
        assert_eq!(preparation(&none), Preparation::Pending);
        let other = member("m", vec![cond("ControlPlaneHealthy", "Unknown", "X", "")]);
        assert_eq!(preparation(&other), Preparation::Pending);
        for reason in [joined::AWAITING_AGENT, joined::AGENT_CONNECTED] {
            let m = member("m", vec![cond(CONDITION_JOINED, "False", reason, "")]);
            assert_eq!(preparation(&m), Preparation::Ready);
        }
        let bad = member(
            "m",
            vec![cond(
                CONDITION_JOINED,
                "False",
                joined::INVALID_NAME,
                "no dots",
            )],
        );
        assert_eq!(preparation(&bad), Preparation::Refused("no dots".into()));
    }
}
