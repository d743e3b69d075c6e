//! RemoteAccessPolicies in the remote access controller: at every reconcile each target member
//! is served only when [`roster_api::policy::evaluate`] allows the RemoteServiceAccount there;
//! a refused member gets no grant (an existing one is deleted, so its agent deletes the
//! service account and the old token dies) and the refusal is the cluster's status message.
//! Policy and Namespace changes wake the RemoteServiceAccounts they may concern.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};
use roster_api::{
    MemberCluster, RemoteAccessPolicy, RemoteServiceAccount,
    policy::{self, Decision, Request, Subject},
};

/// Why `rsa` may not be served on `member` under the policies, or `None` when it may.
/// `namespace_labels` are its namespace's labels (none when the namespace is not cached).
pub fn refusal(
    rsa: &RemoteServiceAccount,
    namespace_labels: &BTreeMap<String, String>,
    member: &MemberCluster,
    policies: &[Arc<RemoteAccessPolicy>],
) -> Option<String> {
    let policies: Vec<&RemoteAccessPolicy> = policies.iter().map(AsRef::as_ref).collect();
    let namespace = rsa.metadata.namespace.as_deref().unwrap_or_default();
    let empty = BTreeMap::new();
    let decision = policy::evaluate(
        &Request::from(&rsa.spec),
        &Subject {
            name: namespace,
            labels: namespace_labels,
        },
        &Subject {
            name: member.metadata.name.as_deref().unwrap_or_default(),
            labels: member.metadata.labels.as_ref().unwrap_or(&empty),
        },
        &policies,
    );
    match decision {
        Decision::Allowed(_) => None,
        Decision::Refused(refusal) => Some(refusal.to_string()),
    }
}

/// The labels of the hub namespace `name`, as cached.
pub fn namespace_labels(namespaces: &Store<Namespace>, name: &str) -> BTreeMap<String, String> {
    namespaces
        .get(&ObjectRef::new(name))
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_default()
}

/// The RemoteServiceAccounts in namespace `namespace` (its labels changed).
pub fn in_namespace(
    rsas: &Store<RemoteServiceAccount>,
    namespace: &str,
) -> Vec<ObjectRef<RemoteServiceAccount>> {
    rsas.state()
        .iter()
        .filter(|r| r.namespace().as_deref() == Some(namespace))
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_api::{
        RemoteAccessPolicySpec, RemoteServiceAccountSpec, remote_access_policy::Consumers,
    };

    fn rsa(cluster_roles: &[&str]) -> RemoteServiceAccount {
        let mut rsa = RemoteServiceAccount::new(
            "deployer",
            RemoteServiceAccountSpec {
                cluster_roles: cluster_roles.iter().map(|r| (*r).to_owned()).collect(),
                ..Default::default()
            },
        );
        rsa.metadata.namespace = Some("team-a".into());
        rsa
    }

    fn view_for_team_a() -> Arc<RemoteAccessPolicy> {
        Arc::new(RemoteAccessPolicy::new(
            "view",
            RemoteAccessPolicySpec {
                consumers: Consumers {
                    namespaces: Some(vec!["team-a".into()]),
                    namespace_selector: None,
                },
                cluster_roles: vec!["view".into()],
                ..Default::default()
            },
        ))
    }

    #[test]
    fn members_are_served_only_as_the_policies_allow() {
        let member = MemberCluster::new("member-1", Default::default());
        let none = BTreeMap::new();
        assert_eq!(
            refusal(&rsa(&["view"]), &none, &member, &[view_for_team_a()]),
            None
        );
        let refused = refusal(&rsa(&["edit"]), &none, &member, &[view_for_team_a()]).unwrap();
        assert_eq!(
            refused,
            "not allowed for namespace team-a on member member-1: ClusterRole edit: no \
             RemoteAccessPolicy allows it"
        );
        let refused = refusal(&rsa(&["view"]), &none, &member, &[]).unwrap();
        assert!(refused.starts_with("no RemoteAccessPolicy lets namespace team-a"));
    }
}
