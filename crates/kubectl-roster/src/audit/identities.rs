//! The rows of `kubectl roster audit`, pure: every remote identity the hub asked an agent for
//! (one per RemoteAccountGrant), what it may do on its member, which RemoteAccessPolicies allow
//! that now, its token as the agent reports it, and what is wrong with it.

use std::collections::BTreeMap;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use roster_api::{
    MemberCluster, RemoteAccessPolicy, RemoteAccountGrant, RemoteServiceAccount,
    ceiling::Ceiling,
    names,
    policy::{self, Decision, Request, Subject},
};
use serde::Serialize;

/// A token with less than this share of its life left has missed its refresh (agents refresh at
/// 80% by default, at most at 90%).
const STALE_SHARE: f64 = 0.1;

/// One remote identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// The consumer namespace on the hub.
    pub namespace: String,
    /// The RemoteServiceAccount it serves.
    pub remote_service_account: String,
    /// The member.
    pub member: String,
    /// `namespace/name` of the service account on the member (empty for federated access).
    pub service_account: String,
    /// Federated access: the member user bound (a hub service account's identity); no token
    /// exists for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federated_user: Option<String>,
    /// ClusterRoles bound cluster-wide.
    pub cluster_roles: Vec<String>,
    /// `namespace: ClusterRole` bindings.
    pub roles: Vec<String>,
    /// Extra rules, one line each.
    pub rules: Vec<String>,
    /// The policies that allow all of it now (empty when they do not).
    pub allowed_by: Vec<String>,
    /// When its token expires, as the agent reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expiry: Option<Timestamp>,
    /// When its token was last minted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<Timestamp>,
    /// What is wrong: beyond policy, beyond the member's ceiling, no RemoteServiceAccount
    /// behind it, a token not refreshed in time. Empty when nothing is.
    pub findings: Vec<String>,
}

impl Identity {
    /// Whether the row is marked.
    pub fn marked(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// What the hub holds, as listed.
#[derive(Debug, Default)]
pub struct Hub {
    /// Every grant.
    pub grants: Vec<RemoteAccountGrant>,
    /// Every RemoteServiceAccount.
    pub rsas: Vec<RemoteServiceAccount>,
    /// Every policy.
    pub policies: Vec<RemoteAccessPolicy>,
    /// Every hub namespace's labels.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// Every member.
    pub members: Vec<MemberCluster>,
    /// Each member's ceiling, as its agent reports it.
    pub ceilings: BTreeMap<String, Ceiling>,
}

/// One agent's rights on its member, as it reports them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    /// The member.
    pub member: String,
    /// What the agent may grant there; none when it does not report it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceiling>,
}

/// Every member's agent rights, sorted by member.
pub fn agents(hub: &Hub) -> Vec<Agent> {
    let mut agents: Vec<Agent> = hub
        .members
        .iter()
        .filter_map(|m| m.metadata.name.clone())
        .map(|member| Agent {
            ceiling: hub.ceilings.get(&member).cloned(),
            member,
        })
        .collect();
    agents.sort_by(|a, b| a.member.cmp(&b.member));
    agents
}

/// Every identity, sorted by namespace, account and member.
pub fn identities(hub: &Hub, now: Timestamp) -> Vec<Identity> {
    let mut rows: Vec<Identity> = hub.grants.iter().map(|g| identity(hub, g, now)).collect();
    rows.sort_by(|a, b| {
        (&a.namespace, &a.remote_service_account, &a.member).cmp(&(
            &b.namespace,
            &b.remote_service_account,
            &b.member,
        ))
    });
    rows
}

fn identity(hub: &Hub, grant: &RemoteAccountGrant, now: Timestamp) -> Identity {
    let spec = &grant.spec;
    let owner = &spec.remote_service_account;
    let member = grant
        .metadata
        .namespace
        .as_deref()
        .and_then(names::member_of_namespace)
        .unwrap_or_default()
        .to_owned();
    let empty = BTreeMap::new();
    let member_labels = hub
        .members
        .iter()
        .find(|m| m.metadata.name.as_deref() == Some(member.as_str()))
        .and_then(|m| m.metadata.labels.as_ref())
        .unwrap_or(&empty);
    let policies: Vec<&RemoteAccessPolicy> = hub.policies.iter().collect();
    let decision = policy::evaluate(
        &Request::from(spec),
        &Subject {
            name: &owner.namespace,
            labels: hub.namespaces.get(&owner.namespace).unwrap_or(&empty),
        },
        &Subject {
            name: &member,
            labels: member_labels,
        },
        &policies,
    );
    let mut findings = Vec::new();
    let allowed_by = match decision {
        Decision::Allowed(names) => names,
        Decision::Refused(refusal) => {
            findings.push(format!("beyond policy: {refusal}"));
            Vec::new()
        }
    };
    let rsa_behind = hub.rsas.iter().any(|r| {
        r.metadata.namespace.as_deref() == Some(owner.namespace.as_str())
            && r.metadata.name.as_deref() == Some(owner.name.as_str())
            && r.metadata.uid.as_deref() == Some(owner.uid.as_str())
    });
    if !rsa_behind {
        findings.push("no RemoteServiceAccount behind it (written on the hub directly?)".into());
    }
    let status = grant.status.clone().unwrap_or_default();
    match hub.ceilings.get(&member).and_then(|c| c.refusal(spec)) {
        Some(refusal) => findings.push(refusal),
        None if status.message.contains("ceiling") => {
            findings.push(format!("refused by the member: {}", status.message));
        }
        None => {}
    }
    let expiry = status.token_expiry.as_ref().map(|t| t.0);
    let refreshed = status.last_refresh.as_ref().map(|t| t.0);
    if let Some(finding) = staleness(expiry, refreshed, now) {
        findings.push(finding);
    }
    Identity {
        namespace: owner.namespace.clone(),
        remote_service_account: owner.name.clone(),
        member,
        service_account: if spec.federated_user.is_some() {
            String::new()
        } else {
            format!(
                "{}/{}",
                spec.service_account.namespace, spec.service_account.name
            )
        },
        federated_user: spec.federated_user.clone(),
        cluster_roles: spec.cluster_roles.clone(),
        roles: spec
            .roles
            .iter()
            .map(|r| format!("{}: {}", r.namespace, r.cluster_role))
            .collect(),
        rules: spec.rules.iter().map(policy::rules::describe).collect(),
        allowed_by,
        token_expiry: expiry,
        last_refresh: refreshed,
        findings,
    }
}

/// Whether a token missed its refresh: expired, or with less than [`STALE_SHARE`] of its life
/// left.
fn staleness(
    expiry: Option<Timestamp>,
    minted: Option<Timestamp>,
    now: Timestamp,
) -> Option<String> {
    let expiry = expiry?;
    if expiry <= now {
        return Some(format!("token expired at {expiry} and was not refreshed"));
    }
    let minted = minted?;
    let life = expiry.duration_since(minted).as_secs_f64();
    let left = expiry.duration_since(now).as_secs_f64();
    (life > 0.0 && left < life * STALE_SHARE).then(|| {
        format!(
            "token not refreshed in time: {} of its {} left",
            crate::table::short_duration(SignedDuration::from_secs_f64(left)),
            crate::table::short_duration(SignedDuration::from_secs_f64(life))
        )
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use roster_api::{
        RemoteAccessPolicySpec, RemoteAccountGrantSpec, RemoteAccountGrantStatus,
        RemoteServiceAccountSpec,
        remote_access_policy::Consumers,
        remote_account_grant::{GrantOwner, GrantServiceAccount},
    };

    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn grant(rsa: &str, uid: &str, cluster_role: &str) -> RemoteAccountGrant {
        let mut g = RemoteAccountGrant::new(
            &format!("team-a.{rsa}"),
            RemoteAccountGrantSpec {
                remote_service_account: GrantOwner {
                    namespace: "team-a".into(),
                    name: rsa.into(),
                    uid: uid.into(),
                },
                service_account: GrantServiceAccount {
                    namespace: "roster-remote".into(),
                    name: format!("team-a-{rsa}"),
                },
                cluster_roles: vec![cluster_role.into()],
                ..Default::default()
            },
        );
        g.metadata.namespace = Some("roster-member-member-1".into());
        g.status = Some(RemoteAccountGrantStatus {
            ready: true,
            token_expiry: Some(Time(at(3_600))),
            last_refresh: Some(Time(at(0))),
            ..Default::default()
        });
        g
    }

    fn hub() -> Hub {
        let mut rsa = RemoteServiceAccount::new("viewer", RemoteServiceAccountSpec::default());
        rsa.metadata.namespace = Some("team-a".into());
        rsa.metadata.uid = Some("u1".into());
        Hub {
            grants: vec![grant("viewer", "u1", "view"), grant("rogue", "u2", "edit")],
            rsas: vec![rsa],
            policies: vec![RemoteAccessPolicy::new(
                "team-a",
                RemoteAccessPolicySpec {
                    consumers: Consumers {
                        namespaces: Some(vec!["team-a".into()]),
                        namespace_selector: None,
                    },
                    cluster_roles: vec!["view".into()],
                    ..Default::default()
                },
            )],
            namespaces: BTreeMap::new(),
            members: vec![MemberCluster::new("member-1", Default::default())],
            ceilings: BTreeMap::new(),
        }
    }

    #[test]
    fn identities_in_policy_are_clean_and_the_rest_marked() {
        let rows = identities(&hub(), at(60));
        let [rogue, viewer] = rows.as_slice() else {
            panic!("{rows:?}")
        };
        assert_eq!(viewer.remote_service_account, "viewer");
        assert_eq!(viewer.member, "member-1");
        assert_eq!(viewer.service_account, "roster-remote/team-a-viewer");
        assert_eq!(viewer.allowed_by, ["team-a"]);
        assert!(!viewer.marked(), "{viewer:?}");
        assert!(rogue.marked());
        assert!(rogue.findings[0].starts_with("beyond policy: not allowed for namespace team-a"));
        assert!(rogue.findings[1].starts_with("no RemoteServiceAccount behind it"));
    }

    #[test]
    fn tokens_that_missed_their_refresh_are_marked() {
        let rows = identities(&hub(), at(3_300));
        let viewer = &rows[1];
        assert_eq!(
            viewer.findings,
            ["token not refreshed in time: 5m of its 1h left"]
        );
        let rows = identities(&hub(), at(3_600));
        assert_eq!(
            rows[1].findings,
            ["token expired at 1970-01-01T01:00:00Z and was not refreshed"]
        );
    }

    #[test]
    fn the_reported_ceiling_marks_grants_beyond_it_and_lists_agent_rights() {
        let mut hub = hub();
        hub.ceilings.insert("member-1".into(), Ceiling::default());
        let rows = identities(&hub, at(60));
        assert!(
            rows[0].findings.iter().any(|f| f
                .starts_with("beyond this member's ceiling, set when it joined: ClusterRole edit")),
            "{:?}",
            rows[0].findings
        );
        assert!(!rows[1].marked());
        assert_eq!(
            agents(&hub),
            [Agent {
                member: "member-1".into(),
                ceiling: Some(Ceiling::default())
            }]
        );
    }
}
