//! A RemoteServiceAccount's status: per target cluster, whether the consumer's Secret holds a
//! valid token, and the Ready condition over all of them.

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use roster_api::{
    RemoteAccountGrant,
    conditions::{CONDITION_READY, ready},
    remote_service_account::ClusterTokenStatus,
};

use super::desired::Delivered;
use crate::conditions::Desired;

/// What the hub knows about one target cluster.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The MemberCluster's name.
    pub name: &'a str,
    /// Why the member cannot be served (does not exist, has an invalid name…).
    pub member_problem: Option<&'a str>,
    /// Whether the member has reported its API server (needed for the Secret).
    pub has_endpoint: bool,
    /// The grant in the member's namespace, as last observed.
    pub grant: Option<&'a RemoteAccountGrant>,
    /// The token the agent delivered, if any.
    pub delivered: Option<&'a Delivered>,
    /// Federated access only: whether the member's API server trusts the hub's issuer.
    pub federated: Option<Trust<'a>>,
}

/// A member's trust in the hub's issuer, from its MemberCluster's FederationTrusted condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trust<'a> {
    /// True or False as the agent last checked; `None` when it has not reported.
    pub trusted: Option<bool>,
    /// The condition's message.
    pub message: &'a str,
}

impl<'a> Trust<'a> {
    /// The trust `member` reports (none for a member that does not exist).
    pub fn of(member: Option<&'a roster_api::MemberCluster>) -> Self {
        let condition = member.and_then(|m| m.status.as_ref()).and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == roster_api::conditions::CONDITION_FEDERATION_TRUSTED)
        });
        Self {
            trusted: condition.and_then(|c| match c.status.as_str() {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            }),
            message: condition.map_or("", |c| c.message.as_str()),
        }
    }

    /// Why a federated grant cannot go to the member, unless it trusts the hub.
    pub fn refusal(self) -> Option<String> {
        match self.trusted {
            Some(true) => None,
            Some(false) => Some(format!(
                "the member's API server does not trust the hub's service-account issuer \
                 (MemberCluster condition FederationTrusted): {}",
                self.message
            )),
            None => Some(
                "the member's agent has not reported whether its API server trusts the hub's \
                 service-account issuer (MemberCluster condition FederationTrusted)"
                    .into(),
            ),
        }
    }
}

/// Whether the agent has bound what the current spec asks for (federated access: no token).
fn bound(o: &Observed<'_>) -> bool {
    o.member_problem.is_none()
        && o.grant.is_some_and(|g| {
            g.status
                .as_ref()
                .is_some_and(|s| s.ready && s.observed_generation == g.metadata.generation)
        })
}

/// The cluster's entry for federated access: ready once the agent has bound the rights, the
/// member trusts the hub's issuer and its API server is known (for the consumer's kubeconfig).
fn federated_cluster(o: &Observed<'_>, trust: Trust<'_>) -> ClusterTokenStatus {
    let bound = bound(o);
    let ready = bound && trust.trusted == Some(true) && o.has_endpoint;
    let message = if let Some(problem) = o.member_problem {
        Some(problem.to_owned())
    } else if !bound {
        Some(match o.grant {
            None => "handing the request to the member's agent".into(),
            Some(g) => match g.status.as_ref() {
                None => "waiting for the member's agent to bind the rights".into(),
                Some(s) if s.observed_generation != g.metadata.generation => {
                    "waiting for the member's agent to apply the latest spec".into()
                }
                Some(s) => format!("the member's agent reports: {}", s.message),
            },
        })
    } else if trust.trusted != Some(true) {
        Some(format!(
            "the rights are bound, but the member's API server does not trust the hub's \
             service-account issuer (MemberCluster condition FederationTrusted): {}",
            if trust.message.is_empty() {
                "not checked yet"
            } else {
                trust.message
            }
        ))
    } else if !o.has_endpoint {
        Some("waiting for the member's agent to report its API server".into())
    } else {
        None
    };
    ClusterTokenStatus {
        name: o.name.to_owned(),
        ready,
        message,
        member_trusts_hub: trust.trusted,
        ..ClusterTokenStatus::default()
    }
}

/// The token to hand to the consumer, if the agent has delivered a valid one for the current
/// spec.
pub fn usable<'a>(o: &Observed<'a>, now: Timestamp) -> Option<&'a Delivered> {
    if o.member_problem.is_some() || !o.has_endpoint || o.federated.is_some() {
        return None;
    }
    let grant = o.grant?;
    let status = grant.status.as_ref()?;
    let current = status.ready && status.observed_generation == grant.metadata.generation;
    o.delivered.filter(|d| current && d.expiry > now)
}

/// The cluster's entry in the RemoteServiceAccount status.
pub fn cluster(o: &Observed<'_>, now: Timestamp) -> ClusterTokenStatus {
    if let Some(trust) = o.federated {
        return federated_cluster(o, trust);
    }
    let grant_status = o.grant.and_then(|g| g.status.as_ref());
    let token = usable(o, now);
    let message = match (o.member_problem, token) {
        (Some(problem), _) => Some(problem.to_owned()),
        (None, Some(_)) => None,
        (None, None) => Some(pending_reason(o, now)),
    };
    ClusterTokenStatus {
        name: o.name.to_owned(),
        ready: token.is_some(),
        token_expiry: token.map(|d| Time(d.expiry)),
        last_refresh: token.and(grant_status.and_then(|s| s.last_refresh.clone())),
        message,
        member_trusts_hub: None,
    }
}

fn pending_reason(o: &Observed<'_>, now: Timestamp) -> String {
    let Some(grant) = o.grant else {
        return "handing the request to the member's agent".into();
    };
    let Some(status) = grant.status.as_ref() else {
        return "waiting for the member's agent to provision the service account".into();
    };
    if status.observed_generation != grant.metadata.generation {
        return "waiting for the member's agent to apply the latest spec".into();
    }
    if !status.ready {
        return format!("the member's agent reports: {}", status.message);
    }
    if !o.has_endpoint {
        return "waiting for the member's agent to report its API server".into();
    }
    match o.delivered {
        Some(d) if d.expiry <= now => format!(
            "the token expired at {}; the member's agent has not refreshed it",
            roster_api::names::token_secret::format_expiry(d.expiry)
        ),
        _ => "waiting for the member's agent to deliver the token".into(),
    }
}

/// The Ready condition over `clusters`, or for a selection that could not be evaluated.
pub fn ready_condition(
    clusters: &[ClusterTokenStatus],
    selection_error: Option<&str>,
    federated: bool,
) -> Desired {
    let what = if federated {
        "federated access"
    } else {
        "tokens"
    };
    if let Some(error) = selection_error {
        return Desired::new(CONDITION_READY, "False", ready::INVALID_SELECTOR, error);
    }
    if clusters.is_empty() {
        return Desired::new(
            CONDITION_READY,
            "False",
            ready::NO_CLUSTERS,
            "no MemberCluster matches spec.clusters",
        );
    }
    let ready_count = clusters.iter().filter(|c| c.ready).count();
    let total = clusters.len();
    if ready_count == total {
        return Desired::new(
            CONDITION_READY,
            "True",
            ready::TOKENS_READY,
            format!("{what} ready on {total} of {total} clusters"),
        );
    }
    let first = clusters.iter().find(|c| !c.ready);
    let detail = first
        .map(|c| {
            format!(
                "; {}: {}",
                c.name,
                c.message.as_deref().unwrap_or("not ready")
            )
        })
        .unwrap_or_default();
    Desired::new(
        CONDITION_READY,
        "False",
        ready::TOKENS_PENDING,
        format!("{what} ready on {ready_count} of {total} clusters{detail}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_api::{RemoteAccountGrantStatus, remote_account_grant::RemoteAccountGrantSpec};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn grant(generation: i64, status: Option<RemoteAccountGrantStatus>) -> RemoteAccountGrant {
        let mut g = RemoteAccountGrant::new("ns.rsa", RemoteAccountGrantSpec::default());
        g.metadata.generation = Some(generation);
        g.status = status;
        g
    }

    fn ready_status(generation: i64) -> RemoteAccountGrantStatus {
        RemoteAccountGrantStatus {
            ready: true,
            observed_generation: Some(generation),
            last_refresh: Some(Time(t("2026-11-22T20:00:00Z"))),
            ..Default::default()
        }
    }

    #[test]
    fn a_current_unexpired_delivery_is_ready() {
        let g = grant(2, Some(ready_status(2)));
        let d = Delivered {
            token: "x".into(),
            expiry: t("2026-11-22T21:00:00Z"),
        };
        let o = Observed {
            name: "m1",
            member_problem: None,
            has_endpoint: true,
            grant: Some(&g),
            delivered: Some(&d),
            federated: None,
        };
        let c = cluster(&o, t("2026-11-22T20:30:00Z"));
        assert!(c.ready);
        assert_eq!(c.token_expiry, Some(Time(d.expiry)));
        assert_eq!(c.message, None);
        // Expired: not ready, and says so.
        let c = cluster(&o, t("2026-11-22T21:00:00Z"));
        assert!(!c.ready);
        assert!(
            c.message
                .unwrap()
                .contains("expired at 2026-11-22T21:00:00Z")
        );
    }

    #[test]
    fn pending_reasons_name_what_is_missing() {
        let d = Delivered {
            token: "x".into(),
            expiry: t("2026-11-22T21:00:00Z"),
        };
        let now = t("2026-11-22T20:30:00Z");
        let stale = grant(3, Some(ready_status(2)));
        let failing = grant(
            1,
            Some(RemoteAccountGrantStatus {
                ready: false,
                message: "clusterrole binding refused".into(),
                observed_generation: Some(1),
                ..Default::default()
            }),
        );
        let fresh = grant(1, None);
        let cases: [(Option<&RemoteAccountGrant>, Option<&str>, bool, &str); 5] = [
            (
                None,
                Some("MemberCluster m1 does not exist"),
                true,
                "does not exist",
            ),
            (None, None, true, "handing the request"),
            (Some(&fresh), None, true, "to provision"),
            (Some(&stale), None, true, "latest spec"),
            (Some(&failing), None, true, "clusterrole binding refused"),
        ];
        for (g, problem, has_endpoint, expected) in cases {
            let o = Observed {
                name: "m1",
                member_problem: problem,
                has_endpoint,
                grant: g,
                delivered: Some(&d),
                federated: None,
            };
            let c = cluster(&o, now);
            assert!(!c.ready);
            assert!(c.message.as_deref().unwrap().contains(expected), "{c:?}");
        }
    }

    #[test]
    fn ready_condition_summarises() {
        let c = |name: &str, ready: bool| ClusterTokenStatus {
            name: name.into(),
            ready,
            message: (!ready).then(|| "waiting".into()),
            ..Default::default()
        };
        assert_eq!(ready_condition(&[], None, false).reason, ready::NO_CLUSTERS);
        assert_eq!(
            ready_condition(&[], Some("bad"), false).reason,
            ready::INVALID_SELECTOR
        );
        let all = ready_condition(&[c("a", true), c("b", true)], None, false);
        assert_eq!(
            (all.status, all.message.as_str()),
            ("True", "tokens ready on 2 of 2 clusters")
        );
        let some = ready_condition(&[c("a", true), c("b", false)], None, false);
        assert_eq!(some.status, "False");
        assert_eq!(some.message, "tokens ready on 1 of 2 clusters; b: waiting");
        let federated = ready_condition(&[c("a", true)], None, true);
        assert_eq!(
            federated.message,
            "federated access ready on 1 of 1 clusters"
        );
    }

    #[test]
    fn federated_clusters_need_the_binding_and_the_members_trust() {
        let now = t("2026-11-22T20:30:00Z");
        let bound = grant(2, Some(ready_status(2)));
        let stale = grant(3, Some(ready_status(2)));
        let trusted = Trust {
            trusted: Some(true),
            message: "ok",
        };
        let refused = Trust {
            trusted: Some(false),
            message: "does not accept hub tokens (401)",
        };
        let observed = |g: Option<&'static RemoteAccountGrant>, trust| Observed {
            name: "m1",
            member_problem: None,
            has_endpoint: true,
            grant: g,
            delivered: None,
            federated: Some(trust),
        };
        let bound: &'static RemoteAccountGrant = Box::leak(Box::new(bound));
        let stale: &'static RemoteAccountGrant = Box::leak(Box::new(stale));
        let c = cluster(&observed(Some(bound), trusted), now);
        assert!(c.ready, "{c:?}");
        assert_eq!((c.token_expiry, c.member_trusts_hub), (None, Some(true)));
        let c = cluster(&observed(Some(bound), refused), now);
        assert!(!c.ready);
        assert_eq!(c.member_trusts_hub, Some(false));
        assert!(
            c.message
                .unwrap()
                .contains("does not accept hub tokens (401)")
        );
        let c = cluster(&observed(Some(stale), trusted), now);
        assert!(!c.ready);
        assert!(c.message.unwrap().contains("latest spec"));
        let c = cluster(&observed(None, trusted), now);
        assert!(!c.ready, "nothing bound yet");
    }
}
