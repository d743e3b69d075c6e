#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::*;
use crate::{
    RemoteServiceAccountSpec,
    remote_access_policy::{Consumers, RoleAllowance, TokenLimits},
    remote_service_account::{MemberSelector, TokenSettings},
};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| (*x).to_owned()).collect()
}

fn policy(name: &str, spec: RemoteAccessPolicySpec) -> RemoteAccessPolicy {
    RemoteAccessPolicy::new(name, spec)
}

/// Namespace `team-a` on every member: view cluster-wide, edit in `apps`, reading pods.
fn team_a() -> RemoteAccessPolicy {
    policy(
        "team-a",
        RemoteAccessPolicySpec {
            consumers: Consumers {
                namespaces: Some(strings(&["team-a"])),
                namespace_selector: None,
            },
            members: MemberSelector::default(),
            cluster_roles: strings(&["view"]),
            roles: vec![RoleAllowance {
                namespaces: strings(&["apps"]),
                cluster_roles: strings(&["edit"]),
            }],
            rules: vec![PolicyRule {
                api_groups: Some(strings(&[""])),
                resources: Some(strings(&["pods"])),
                verbs: strings(&["get", "list"]),
                ..Default::default()
            }],
            token: Some(TokenLimits {
                max_expiration_seconds: Some(3600),
                audiences: strings(&["vault"]),
            }),
        },
    )
}

/// Anything, for namespaces labelled `tier=platform`, on members labelled `env=dev`.
fn platform_dev() -> RemoteAccessPolicy {
    policy(
        "platform-dev",
        RemoteAccessPolicySpec {
            consumers: Consumers {
                namespaces: None,
                namespace_selector: Some(MemberSelector {
                    match_labels: Some(labels(&[("tier", "platform")])),
                    match_expressions: None,
                }),
            },
            members: MemberSelector {
                match_labels: Some(labels(&[("env", "dev")])),
                match_expressions: None,
            },
            cluster_roles: strings(&["*"]),
            roles: Vec::new(),
            rules: vec![PolicyRule {
                api_groups: Some(strings(&["*"])),
                resources: Some(strings(&["*"])),
                verbs: strings(&["*"]),
                ..Default::default()
            }],
            token: None,
        },
    )
}

fn spec(cluster_roles: &[&str]) -> RemoteServiceAccountSpec {
    RemoteServiceAccountSpec {
        cluster_roles: strings(cluster_roles),
        ..Default::default()
    }
}

struct World {
    namespace_labels: BTreeMap<String, String>,
    member_labels: BTreeMap<String, String>,
    policies: Vec<RemoteAccessPolicy>,
}

impl World {
    fn new(policies: Vec<RemoteAccessPolicy>) -> Self {
        Self {
            namespace_labels: BTreeMap::new(),
            member_labels: labels(&[("env", "prod")]),
            policies,
        }
    }

    fn decide(&self, namespace: &str, spec: &RemoteServiceAccountSpec) -> Decision {
        let policies: Vec<&RemoteAccessPolicy> = self.policies.iter().collect();
        evaluate(
            &Request::from(spec),
            &Subject {
                name: namespace,
                labels: &self.namespace_labels,
            },
            &Subject {
                name: "member-1",
                labels: &self.member_labels,
            },
            &policies,
        )
    }

    fn refusal(&self, namespace: &str, spec: &RemoteServiceAccountSpec) -> String {
        match self.decide(namespace, spec) {
            Decision::Refused(r) => r.to_string(),
            Decision::Allowed(p) => panic!("allowed by {p:?}"),
        }
    }
}

#[test]
fn no_policy_allows_nothing_not_even_an_identity_without_rights() {
    let world = World::new(Vec::new());
    assert_eq!(
        world.refusal("team-a", &spec(&[])),
        "no RemoteAccessPolicy lets namespace team-a obtain anything on member member-1"
    );
    assert_eq!(
        world.refusal("team-a", &spec(&["view"])),
        "no RemoteAccessPolicy lets namespace team-a obtain anything on member member-1 \
         (ClusterRole view: no RemoteAccessPolicy allows it)"
    );
}

#[test]
fn what_the_policy_lists_is_allowed_and_names_the_policy() {
    let world = World::new(vec![team_a(), platform_dev()]);
    let mut asked = spec(&["view"]);
    asked.roles = vec![NamespacedRole {
        namespace: "apps".into(),
        cluster_role: "edit".into(),
    }];
    asked.rules = vec![PolicyRule {
        api_groups: Some(strings(&[""])),
        resources: Some(strings(&["pods"])),
        verbs: strings(&["list"]),
        ..Default::default()
    }];
    asked.token = Some(TokenSettings {
        expiration_seconds: 3600,
        audiences: strings(&["vault"]),
    });
    assert_eq!(
        world.decide("team-a", &asked),
        Decision::Allowed(vec!["team-a".into()])
    );
    // A ClusterRole allowed cluster-wide may be bound in any namespace.
    asked.roles.push(NamespacedRole {
        namespace: "anywhere".into(),
        cluster_role: "view".into(),
    });
    assert!(world.decide("team-a", &asked).is_allowed());
}

#[test]
fn each_thing_beyond_the_policy_is_named() {
    let world = World::new(vec![team_a(), platform_dev()]);
    let message = world.refusal("team-a", &spec(&["view", "cluster-admin"]));
    assert_eq!(
        message,
        "not allowed for namespace team-a on member member-1: ClusterRole cluster-admin: \
         allowed by RemoteAccessPolicy platform-dev (selects neither namespace team-a nor \
         member member-1)"
    );

    let mut asked = spec(&[]);
    asked.roles = vec![NamespacedRole {
        namespace: "kube-system".into(),
        cluster_role: "edit".into(),
    }];
    asked.rules = vec![PolicyRule {
        api_groups: Some(strings(&["*"])),
        resources: Some(strings(&["*"])),
        verbs: strings(&["*"]),
        ..Default::default()
    }];
    asked.token = Some(TokenSettings {
        expiration_seconds: 7200,
        audiences: strings(&["other"]),
    });
    let message = world.refusal("team-a", &asked);
    for part in [
        "ClusterRole edit in namespace kube-system: allowed by RemoteAccessPolicy platform-dev",
        "rule verbs [*] resources [\"*\"] apiGroups [\"*\"]: allowed by RemoteAccessPolicy \
         platform-dev",
        "a token lifetime of 7200 s: allowed by RemoteAccessPolicy platform-dev",
        "token audience \"other\": no RemoteAccessPolicy allows it",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
}

#[test]
fn selectors_follow_namespace_and_member_labels() {
    let mut world = World::new(vec![platform_dev()]);
    let admin = spec(&["cluster-admin"]);
    world.namespace_labels = labels(&[("tier", "platform")]);
    let message = world.refusal("ops", &admin);
    assert!(
        message.contains("no RemoteAccessPolicy lets namespace ops")
            && message.contains("platform-dev (does not select member member-1)"),
        "{message}"
    );
    world.member_labels = labels(&[("env", "dev")]);
    assert_eq!(
        world.decide("ops", &admin),
        Decision::Allowed(vec!["platform-dev".into()])
    );
    // The namespace relabelled out of the selector: refused again.
    world.namespace_labels = labels(&[("tier", "apps")]);
    let message = world.refusal("ops", &admin);
    assert!(
        message.contains("platform-dev (does not select namespace ops)"),
        "{message}"
    );
}

#[test]
fn policies_add_up_and_each_thing_needs_only_one() {
    let mut world = World::new(vec![team_a(), platform_dev()]);
    world.namespace_labels = labels(&[("tier", "platform")]);
    world.member_labels = labels(&[("env", "dev")]);
    // team-a allows view (by name), platform-dev anything (by label).
    let asked = spec(&["view", "cluster-admin"]);
    assert_eq!(
        world.decide("team-a", &asked),
        Decision::Allowed(vec!["platform-dev".into(), "team-a".into()])
    );
}

#[test]
fn token_limits() {
    let world = World::new(vec![team_a()]);
    let mut asked = spec(&[]);
    // Default lifetime (3600) and audiences: allowed.
    assert!(world.decide("team-a", &asked).is_allowed());
    asked.token = Some(TokenSettings {
        expiration_seconds: 3601,
        audiences: Vec::new(),
    });
    assert!(
        world
            .refusal("team-a", &asked)
            .contains("a token lifetime of 3601 s: no RemoteAccessPolicy allows it")
    );
    // No token limits in a policy: any lifetime, default audiences only.
    let mut open = team_a();
    open.spec.token = None;
    let world = World::new(vec![open]);
    assert!(world.decide("team-a", &asked).is_allowed());
    asked.token = Some(TokenSettings {
        expiration_seconds: 600,
        audiences: strings(&["vault"]),
    });
    assert!(world.refusal("team-a", &asked).contains("token audience"));
}

#[test]
fn grants_are_requests_too() {
    let grant = RemoteAccountGrantSpec {
        cluster_roles: strings(&["cluster-admin"]),
        ..Default::default()
    };
    let request = Request::from(&grant);
    assert_eq!(
        request.items(),
        [Item::ClusterRole("cluster-admin"), Item::Expiration(3600)]
    );
}

#[test]
fn refusals_name_a_few_policies_closest_first() {
    let mut policies: Vec<RemoteAccessPolicy> = (0..5)
        .map(|i| {
            let mut p = platform_dev();
            p.metadata.name = Some(format!("p{i}"));
            p
        })
        .collect();
    let mut near = team_a();
    near.metadata.name = Some("zz-team-a-dev".into());
    near.spec.cluster_roles = strings(&["edit"]);
    near.spec.members = MemberSelector {
        match_labels: Some(labels(&[("env", "dev")])),
        match_expressions: None,
    };
    policies.push(near);
    policies.push(team_a());
    let world = World::new(policies);
    let message = world.refusal("team-a", &spec(&["edit"]));
    assert_eq!(
        message,
        "not allowed for namespace team-a on member member-1: ClusterRole edit: allowed by \
         RemoteAccessPolicy zz-team-a-dev (does not select member member-1), p0 (selects \
         neither namespace team-a nor member member-1), p1 (selects neither namespace team-a \
         nor member member-1), 3 more"
    );
}
