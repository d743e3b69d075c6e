//! The objects an agent creates on its member for one grant: the service account and the RBAC
//! that gives it exactly what the RemoteServiceAccount asked for. Every object carries the
//! grant's UID, so what a deleted grant left behind can be found and removed.
//!
//! A federated grant (`spec.federatedUser`, issue 17) has no service account: its bindings name
//! the member User the hub's service account becomes through the member's structured
//! authentication. Its objects are named after the RemoteServiceAccount,
//! `roster-federated:<rsa namespace>:<rsa name>[:<role>]`, which no token grant's
//! `roster:<sa namespace>:<sa name>[:<role>]` can equal, and which differ between
//! RemoteServiceAccounts (namespaces and names hold no `:`).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        core::v1::ServiceAccount,
        rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding, RoleRef, Subject},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use roster_api::{RemoteAccountGrant, federation, names};

/// The prefix of the names of a federated grant's objects (token grants' start `roster:`).
pub const FEDERATED_PREFIX: &str = "roster-federated";

/// Everything one grant needs on the member.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberObjects {
    /// The service account (none for a federated grant).
    pub service_account: Option<ServiceAccount>,
    /// Bindings of the requested ClusterRoles, cluster-wide.
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    /// Bindings of ClusterRoles inside namespaces.
    pub role_bindings: Vec<RoleBinding>,
    /// The ClusterRole holding the grant's extra rules, if it has any (bound by the last of
    /// `cluster_role_bindings`).
    pub cluster_role: Option<ClusterRole>,
}

/// Labels of every member object of the grant with UID `uid`.
pub fn labels(uid: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            names::LABEL_MANAGED_BY.to_owned(),
            names::MANAGED_BY.to_owned(),
        ),
        (names::LABEL_GRANT_UID.to_owned(), uid.to_owned()),
    ])
}

/// Label selector of every member object Roster's grants created.
pub fn all_grants_selector() -> String {
    format!(
        "{}={},{}",
        names::LABEL_MANAGED_BY,
        names::MANAGED_BY,
        names::LABEL_GRANT_UID
    )
}

/// Why the agent will not bind a federated grant's user: anything but a hub service account's
/// federated user (`roster-hub:system:serviceaccount:<namespace>:<name>`) would hand the rights
/// to a member identity the hub does not own. `None` for a token grant or a well-formed user.
pub fn federated_user_refusal(grant: &RemoteAccountGrant) -> Option<String> {
    let user = grant.spec.federated_user.as_deref()?;
    let example = federation::federated_user("<namespace>", "<name>");
    let prefix = example.trim_end_matches("<namespace>:<name>");
    let well_formed = user.strip_prefix(prefix).is_some_and(|rest| {
        let mut parts = rest.split(':');
        let is_name = |p: Option<&str>| {
            p.is_some_and(|p| {
                !p.is_empty()
                    && p.len() <= 253
                    && p.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    })
            })
        };
        is_name(parts.next()) && is_name(parts.next()) && parts.next().is_none()
    });
    (!well_formed).then(|| {
        format!(
            "spec.federatedUser {user:?} is not a hub service account's federated user \
             ({example}); nothing is bound"
        )
    })
}

/// The member objects `grant` asks for.
pub fn desired(grant: &RemoteAccountGrant) -> MemberObjects {
    let uid = grant.metadata.uid.clone().unwrap_or_default();
    let sa = &grant.spec.service_account;
    let owner = &grant.spec.remote_service_account;
    let meta = |name: String, namespace: Option<&str>| ObjectMeta {
        name: Some(name),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels(&uid)),
        ..ObjectMeta::default()
    };
    let (subject, base) = match &grant.spec.federated_user {
        Some(user) => (
            Subject {
                kind: "User".into(),
                name: user.clone(),
                namespace: None,
                api_group: Some("rbac.authorization.k8s.io".into()),
            },
            format!("{FEDERATED_PREFIX}:{}:{}", owner.namespace, owner.name),
        ),
        None => (
            Subject {
                kind: "ServiceAccount".into(),
                name: sa.name.clone(),
                namespace: Some(sa.namespace.clone()),
                api_group: None,
            },
            format!("roster:{}:{}", sa.namespace, sa.name),
        ),
    };
    let role_ref = |name: &str| RoleRef {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "ClusterRole".into(),
        name: name.to_owned(),
    };
    let mut cluster_roles = grant.spec.cluster_roles.clone();
    cluster_roles.sort();
    cluster_roles.dedup();
    let mut cluster_role_bindings: Vec<ClusterRoleBinding> = cluster_roles
        .iter()
        .map(|role| ClusterRoleBinding {
            metadata: meta(format!("{base}:{role}"), None),
            role_ref: role_ref(role),
            subjects: Some(vec![subject.clone()]),
        })
        .collect();
    let mut roles = grant.spec.roles.clone();
    roles.sort_by(|a, b| (&a.namespace, &a.cluster_role).cmp(&(&b.namespace, &b.cluster_role)));
    roles.dedup();
    let role_bindings = roles
        .iter()
        .map(|r| RoleBinding {
            metadata: meta(format!("{base}:{}", r.cluster_role), Some(&r.namespace)),
            role_ref: role_ref(&r.cluster_role),
            subjects: Some(vec![subject.clone()]),
        })
        .collect();
    let cluster_role = (!grant.spec.rules.is_empty()).then(|| {
        cluster_role_bindings.push(ClusterRoleBinding {
            metadata: meta(base.clone(), None),
            role_ref: role_ref(&base),
            subjects: Some(vec![subject.clone()]),
        });
        ClusterRole {
            metadata: meta(base.clone(), None),
            rules: Some(grant.spec.rules.clone()),
            aggregation_rule: None,
        }
    });
    let service_account = grant.spec.federated_user.is_none().then(|| {
        let mut sa_meta = meta(sa.name.clone(), Some(&sa.namespace));
        sa_meta.annotations = Some(BTreeMap::from([(
            names::ANNOTATION_REMOTE_SERVICE_ACCOUNT.to_owned(),
            format!("{}/{}", owner.namespace, owner.name),
        )]));
        ServiceAccount {
            metadata: sa_meta,
            ..ServiceAccount::default()
        }
    });
    MemberObjects {
        service_account,
        cluster_role_bindings,
        role_bindings,
        cluster_role,
    }
}

/// Whether an existing service account on the member may be taken for `grant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Nothing there, or already this grant's.
    Ours,
    /// Left by a grant that no longer exists: delete it first (its tokens die with it).
    Stale,
    /// Another live grant's: refuse, naming it.
    Taken(String),
    /// Not created by Roster: refuse.
    Foreign,
}

/// Who owns `existing`, given the UIDs of the live grants.
pub fn ownership(
    existing: Option<&ServiceAccount>,
    grant_uid: &str,
    live: &dyn Fn(&str) -> bool,
) -> Ownership {
    let Some(existing) = existing else {
        return Ownership::Ours;
    };
    let labels = existing.metadata.labels.clone().unwrap_or_default();
    match labels.get(names::LABEL_GRANT_UID) {
        None => Ownership::Foreign,
        Some(uid) if uid == grant_uid => Ownership::Ours,
        Some(uid) if live(uid) => Ownership::Taken(
            existing
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(names::ANNOTATION_REMOTE_SERVICE_ACCOUNT))
                .cloned()
                .unwrap_or_else(|| "another RemoteServiceAccount".into()),
        ),
        Some(_) => Ownership::Stale,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::PolicyRule;
    use roster_api::{
        RemoteAccountGrantSpec,
        remote_account_grant::{GrantOwner, GrantServiceAccount},
        remote_service_account::NamespacedRole,
    };

    /// The grant of RemoteServiceAccount `team-a/<account>` (UID `uid`) for service account
    /// `roster-remote/<account>`: ClusterRole view, edit in namespace apps, and a rule.
    pub(crate) fn sample(uid: &str, account: &str) -> RemoteAccountGrant {
        let mut g = RemoteAccountGrant::new(
            &format!("team-a.{account}"),
            RemoteAccountGrantSpec {
                remote_service_account: GrantOwner {
                    namespace: "team-a".into(),
                    name: account.into(),
                    uid: "rsa-uid".into(),
                },
                service_account: GrantServiceAccount {
                    namespace: "roster-remote".into(),
                    name: account.into(),
                },
                cluster_roles: vec!["view".into()],
                roles: vec![NamespacedRole {
                    namespace: "apps".into(),
                    cluster_role: "edit".into(),
                }],
                rules: vec![PolicyRule {
                    api_groups: Some(vec![String::new()]),
                    resources: Some(vec!["configmaps".into()]),
                    verbs: vec!["list".into()],
                    resource_names: Some(vec![]),
                    ..PolicyRule::default()
                }],
                ..Default::default()
            },
        );
        g.metadata.uid = Some(uid.into());
        g
    }

    /// [`sample`] for `deployer`, its account named `team-a-deployer`, view asked twice.
    fn grant() -> RemoteAccountGrant {
        let mut g = sample("grant-uid", "deployer");
        g.spec.service_account.name = "team-a-deployer".into();
        g.spec.cluster_roles.push("view".into());
        g
    }

    #[test]
    fn one_binding_per_role_all_labelled_with_the_grant() {
        let o = desired(&grant());
        let names: Vec<_> = o
            .cluster_role_bindings
            .iter()
            .map(|b| b.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "roster:roster-remote:team-a-deployer:view",
                "roster:roster-remote:team-a-deployer"
            ]
        );
        assert_eq!(o.role_bindings.len(), 1);
        assert_eq!(
            o.role_bindings[0].metadata.namespace.as_deref(),
            Some("apps")
        );
        assert_eq!(o.role_bindings[0].role_ref.name, "edit");
        let cr = o.cluster_role.as_ref().unwrap();
        assert_eq!(cr.rules.as_ref().unwrap()[0].verbs, ["list"]);
        let sa = o.service_account.as_ref().unwrap();
        for meta in [&sa.metadata, &o.role_bindings[0].metadata, &cr.metadata] {
            assert_eq!(
                meta.labels.as_ref().unwrap()[names::LABEL_GRANT_UID],
                "grant-uid"
            );
        }
        let subject = &o.role_bindings[0].subjects.as_ref().unwrap()[0];
        assert_eq!(
            (subject.name.as_str(), subject.namespace.as_deref()),
            ("team-a-deployer", Some("roster-remote"))
        );
        assert_eq!(
            sa.metadata.annotations.as_ref().unwrap()[names::ANNOTATION_REMOTE_SERVICE_ACCOUNT],
            "team-a/deployer"
        );
    }

    #[test]
    fn no_rules_no_cluster_role() {
        let mut g = grant();
        g.spec.rules.clear();
        let o = desired(&g);
        assert!(o.cluster_role.is_none());
        assert_eq!(o.cluster_role_bindings.len(), 1);
    }

    /// [`sample`] as a federated grant: the rights go to the hub service account
    /// `team-a/<account>`'s federated user.
    pub(crate) fn federated(uid: &str, account: &str) -> RemoteAccountGrant {
        let mut g = sample(uid, account);
        g.spec.service_account = GrantServiceAccount::default();
        g.spec.federated_user = Some(roster_api::federation::federated_user("team-a", account));
        g
    }

    #[test]
    fn a_federated_grant_binds_its_user_and_creates_no_account() {
        let o = desired(&federated("grant-uid", "deployer"));
        assert_eq!(o.service_account, None);
        let names: Vec<_> = o
            .cluster_role_bindings
            .iter()
            .map(|b| b.metadata.name.clone().unwrap())
            .chain(o.role_bindings.iter().map(|b| {
                format!(
                    "{}/{}",
                    b.metadata.namespace.as_deref().unwrap(),
                    b.metadata.name.as_deref().unwrap()
                )
            }))
            .collect();
        assert_eq!(
            names,
            [
                "roster-federated:team-a:deployer:view",
                "roster-federated:team-a:deployer",
                "apps/roster-federated:team-a:deployer:edit",
            ]
        );
        let subjects: Vec<_> = o
            .cluster_role_bindings
            .iter()
            .filter_map(|b| b.subjects.clone())
            .chain(o.role_bindings.iter().filter_map(|b| b.subjects.clone()))
            .collect();
        assert_eq!(subjects.len(), 3);
        for s in subjects {
            assert_eq!(
                s,
                [Subject {
                    kind: "User".into(),
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    name: "roster-hub:system:serviceaccount:team-a:deployer".into(),
                    namespace: None,
                }]
            );
        }
        let cr = o.cluster_role.as_ref().unwrap();
        assert_eq!(
            cr.metadata.name.as_deref(),
            Some("roster-federated:team-a:deployer")
        );
        for meta in [&o.role_bindings[0].metadata, &cr.metadata] {
            assert_eq!(
                meta.labels.as_ref().unwrap()[names::LABEL_GRANT_UID],
                "grant-uid",
                "found by the sweeper and the repair watches like a token grant's"
            );
        }
    }

    #[test]
    fn federated_names_never_meet_token_names() {
        // A token grant whose service account has the RemoteServiceAccount's namespace and name.
        let mut token = sample("t", "deployer");
        token.spec.service_account = GrantServiceAccount {
            namespace: "team-a".into(),
            name: "deployer".into(),
        };
        let fed = desired(&federated("f", "deployer"));
        let token = desired(&token);
        let all = |o: &MemberObjects| -> Vec<String> {
            o.cluster_role_bindings
                .iter()
                .map(|b| &b.metadata)
                .chain(o.role_bindings.iter().map(|b| &b.metadata))
                .chain(o.cluster_role.iter().map(|r| &r.metadata))
                .map(|m| m.name.clone().unwrap())
                .collect()
        };
        for name in all(&token) {
            assert!(name.starts_with("roster:"), "{name}");
            assert!(!all(&fed).contains(&name), "{name}");
        }
        // Another RemoteServiceAccount of the same hub service account gets its own objects.
        let mut other = federated("o", "deployer");
        other.spec.remote_service_account.name = "deployer-2".into();
        let other = desired(&other);
        for name in all(&other) {
            assert!(!all(&fed).contains(&name), "{name}");
        }
    }

    #[test]
    fn only_hub_service_accounts_federated_users_are_bound() {
        let mut g = federated("u", "deployer");
        assert_eq!(federated_user_refusal(&g), None);
        assert_eq!(
            federated_user_refusal(&sample("t", "x")),
            None,
            "token grant"
        );
        for user in [
            "",
            "admin",
            "system:serviceaccount:kube-system:default",
            "roster-hub:system:serviceaccount:team-a",
            "roster-hub:system:serviceaccount:team-a:",
            "roster-hub:system:serviceaccount:team-a:x:y",
            "roster-hub:system:serviceaccount:Team-A:x",
            "roster-hub:system:node:n1",
        ] {
            g.spec.federated_user = Some(user.into());
            let message = federated_user_refusal(&g).unwrap_or_else(|| panic!("{user:?}"));
            assert!(message.contains("spec.federatedUser"), "{message}");
        }
    }

    #[test]
    fn ownership_of_an_existing_service_account() {
        let sa = |uid: Option<&str>| {
            let mut s = ServiceAccount::default();
            if let Some(uid) = uid {
                s.metadata.labels = Some(labels(uid));
                s.metadata.annotations = Some(BTreeMap::from([(
                    names::ANNOTATION_REMOTE_SERVICE_ACCOUNT.to_owned(),
                    "team-b/x".to_owned(),
                )]));
            }
            s
        };
        let live = |uid: &str| uid == "live";
        assert_eq!(ownership(None, "me", &live), Ownership::Ours);
        assert_eq!(
            ownership(Some(&sa(Some("me"))), "me", &live),
            Ownership::Ours
        );
        assert_eq!(
            ownership(Some(&sa(Some("gone"))), "me", &live),
            Ownership::Stale
        );
        assert_eq!(
            ownership(Some(&sa(Some("live"))), "me", &live),
            Ownership::Taken("team-b/x".into())
        );
        assert_eq!(ownership(Some(&sa(None)), "me", &live), Ownership::Foreign);
    }
}
