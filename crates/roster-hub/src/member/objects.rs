//! The objects the hub creates for each member: its namespace, the agent's and the bootstrap
//! identities, their least-privilege RBAC, and the agent's Lease.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        coordination::v1::{Lease, LeaseSpec},
        core::v1::{Namespace, ServiceAccount},
        rbac::v1::{
            ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
        },
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::Resource;
use roster_api::{
    MemberCluster, MemberReport, RemoteAccountGrant, member_report::REPORT_NAME, names,
};

/// Everything the hub creates for one member, all owned by its MemberCluster.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberObjects {
    /// `roster-member-<name>`.
    pub namespace: Namespace,
    /// The agent's and the bootstrap identities.
    pub service_accounts: Vec<ServiceAccount>,
    /// Their rights inside the namespace.
    pub roles: Vec<Role>,
    /// Binding each Role to its service account.
    pub role_bindings: Vec<RoleBinding>,
    /// Read access to this member's MemberCluster only.
    pub cluster_role: ClusterRole,
    /// Binding it to the agent.
    pub cluster_role_binding: ClusterRoleBinding,
    /// The Lease the agent renews.
    pub lease: Lease,
}

/// The objects for `member`, whose name must fit a namespace.
pub fn desired(member: &MemberCluster, grace_seconds: i32) -> MemberObjects {
    let name = member.metadata.name.clone().unwrap_or_default();
    let ns = names::member_namespace(&name);
    let meta = |object_name: &str, namespace: Option<&str>| ObjectMeta {
        name: Some(object_name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels(&name)),
        owner_references: owner(member).map(|o| vec![o]),
        ..ObjectMeta::default()
    };
    let agent = names::AGENT_SERVICE_ACCOUNT;
    let bootstrap = names::BOOTSTRAP_SERVICE_ACCOUNT;
    let sa = |n: &str| ServiceAccount {
        metadata: meta(n, Some(&ns)),
        ..ServiceAccount::default()
    };
    let binding_to = |role: &str, account: &str| RoleBinding {
        metadata: meta(role, Some(&ns)),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: role.into(),
        },
        subjects: Some(vec![subject(account, &ns)]),
    };
    let cluster_role_name = names::agent_cluster_role(&name);
    MemberObjects {
        namespace: Namespace {
            metadata: meta(&ns, None),
            ..Namespace::default()
        },
        service_accounts: vec![sa(agent), sa(bootstrap)],
        roles: vec![
            Role {
                metadata: meta(names::AGENT_ROLE, Some(&ns)),
                rules: Some(vec![
                    rule(
                        "coordination.k8s.io",
                        "leases",
                        &["get", "update", "patch"],
                        &[names::AGENT_LEASE],
                    ),
                    rule(
                        &MemberReport::group(&()),
                        &MemberReport::plural(&()),
                        &["create"],
                        &[],
                    ),
                    rule(
                        &MemberReport::group(&()),
                        &MemberReport::plural(&()),
                        &["get", "update", "patch"],
                        &[REPORT_NAME],
                    ),
                    rule("", "serviceaccounts/token", &["create"], &[agent]),
                    rule(
                        &RemoteAccountGrant::group(&()),
                        &RemoteAccountGrant::plural(&()),
                        &["get", "list", "watch"],
                        &[],
                    ),
                    rule(
                        &RemoteAccountGrant::group(&()),
                        &format!("{}/status", RemoteAccountGrant::plural(&())),
                        &["get", "update", "patch"],
                        &[],
                    ),
                    // Token delivery into the Secrets the hub pre-creates for grants. No
                    // `create`: an agent that could create Secrets could ask for a legacy,
                    // non-expiring service-account token Secret.
                    rule("", "secrets", &["get", "update", "patch"], &[]),
                ]),
            },
            Role {
                metadata: meta(names::BOOTSTRAP_ROLE, Some(&ns)),
                rules: Some(vec![rule(
                    "",
                    "serviceaccounts/token",
                    &["create"],
                    &[agent],
                )]),
            },
        ],
        role_bindings: vec![
            binding_to(names::AGENT_ROLE, agent),
            binding_to(names::BOOTSTRAP_ROLE, bootstrap),
        ],
        cluster_role: ClusterRole {
            metadata: meta(&cluster_role_name, None),
            rules: Some(vec![rule(
                &MemberCluster::group(&()),
                &MemberCluster::plural(&()),
                &["get", "list", "watch"],
                &[&name],
            )]),
            aggregation_rule: None,
        },
        cluster_role_binding: ClusterRoleBinding {
            metadata: meta(&cluster_role_name, None),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: cluster_role_name.clone(),
            },
            subjects: Some(vec![subject(agent, &ns)]),
        },
        lease: lease(member, grace_seconds),
    }
}

/// The agent's Lease for `member`: the hub creates it (the agent may only renew it).
pub fn lease(member: &MemberCluster, grace_seconds: i32) -> Lease {
    let name = member.metadata.name.clone().unwrap_or_default();
    Lease {
        metadata: ObjectMeta {
            name: Some(names::AGENT_LEASE.to_owned()),
            namespace: Some(names::member_namespace(&name)),
            labels: Some(labels(&name)),
            owner_references: owner(member).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            lease_duration_seconds: Some(grace_seconds),
            ..LeaseSpec::default()
        }),
    }
}

/// Labels of every object Roster creates for `member`.
pub fn labels(member: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            names::LABEL_MANAGED_BY.to_owned(),
            names::MANAGED_BY.to_owned(),
        ),
        (names::LABEL_MEMBER.to_owned(), member.to_owned()),
    ])
}

/// An owner reference to `member`, so the garbage collector removes what the hub created.
pub fn owner(member: &MemberCluster) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: MemberCluster::api_version(&()).into_owned(),
        kind: MemberCluster::kind(&()).into_owned(),
        name: member.metadata.name.clone()?,
        uid: member.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: None,
    })
}

fn rule(group: &str, resource: &str, verbs: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(vec![resource.to_owned()]),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        resource_names: (!names.is_empty())
            .then(|| names.iter().map(|n| (*n).to_owned()).collect()),
        non_resource_urls: None,
    }
}

fn subject(account: &str, namespace: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        name: account.into(),
        namespace: Some(namespace.into()),
        api_group: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> MemberCluster {
        let mut m = MemberCluster::new("member-1", Default::default());
        m.metadata.uid = Some("uid-1".into());
        m
    }

    #[test]
    fn everything_lives_in_the_member_namespace_and_is_owned() {
        let o = desired(&member(), 40);
        assert_eq!(
            o.namespace.metadata.name.as_deref(),
            Some("roster-member-member-1")
        );
        for meta in o
            .service_accounts
            .iter()
            .map(|s| &s.metadata)
            .chain(o.roles.iter().map(|r| &r.metadata))
            .chain([&o.lease.metadata])
        {
            assert_eq!(meta.namespace.as_deref(), Some("roster-member-member-1"));
            assert_eq!(meta.owner_references.as_ref().unwrap()[0].uid, "uid-1");
            assert_eq!(
                meta.labels.as_ref().unwrap()[names::LABEL_MEMBER],
                "member-1"
            );
        }
        assert_eq!(o.lease.spec.unwrap().lease_duration_seconds, Some(40));
    }

    #[test]
    fn rights_name_only_this_member() {
        let o = desired(&member(), 40);
        let cluster_rule = &o.cluster_role.rules.as_ref().unwrap()[0];
        assert_eq!(
            cluster_rule.resource_names.as_deref(),
            Some(&["member-1".to_owned()][..])
        );
        let bootstrap = &o.roles[1].rules.as_ref().unwrap()[0];
        assert_eq!(
            bootstrap.resources.as_deref(),
            Some(&["serviceaccounts/token".to_owned()][..])
        );
        assert_eq!(
            bootstrap.resource_names.as_deref(),
            Some(&["roster-agent".to_owned()][..])
        );
        // Unrestricted by name: `create` of the report (RBAC cannot name what does not exist
        // yet), and grants and their token Secrets, all inside this member's namespace only.
        for r in o.roles[0].rules.as_ref().unwrap() {
            let resource = r.resources.as_ref().unwrap()[0].as_str();
            assert!(
                r.resource_names.is_some()
                    || r.verbs == ["create"]
                    || resource.starts_with("remoteaccountgrants")
                    || resource == "secrets",
                "{r:?}"
            );
            if resource == "secrets" {
                assert!(
                    !r.verbs.iter().any(|v| v == "create" || v == "list"),
                    "{r:?}"
                );
            }
        }
    }
}
