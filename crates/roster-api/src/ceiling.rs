//! A member's ceiling: what its admin lets the agent grant there, whatever the hub asks (a
//! defense against a compromised or misconfigured hub). Set at `kubectl roster join`
//! (`--grantable-cluster-roles`, `--allow-rules`), carried to the agent as flags of the same
//! names in the join manifest, enforced twice on the member: by the agent's RBAC there (`bind`
//! only on those ClusterRoles, `escalate` only with rules) and by the agent, which refuses a
//! grant beyond it ([`Ceiling::refusal`]) and says so in the grant's status.

use std::fmt;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::{remote_access_policy::ANY, remote_account_grant::RemoteAccountGrantSpec};

/// ClusterRoles an agent may bind when its member admin did not say: reading only.
pub const DEFAULT_GRANTABLE_CLUSTER_ROLES: &[&str] = &["view"];

/// The agent flag (and `kubectl roster join` flag) listing the grantable ClusterRoles.
pub const FLAG_GRANTABLE_CLUSTER_ROLES: &str = "grantable-cluster-roles";

/// The agent flag (and `kubectl roster join` flag) allowing `rules`.
pub const FLAG_ALLOW_RULES: &str = "allow-rules";

/// What an agent may grant on its member (the agent also reports it in its MemberReport, so
/// `kubectl roster audit` shows each agent's rights from the hub).
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Ceiling {
    /// ClusterRoles it may bind, cluster-wide or in a namespace; `*` for any.
    #[schemars(length(max = 64), inner(length(max = 253)))]
    pub cluster_roles: Vec<String>,
    /// Whether grants may carry `rules` (a ClusterRole the agent writes, which needs
    /// `escalate`, and `bind` on names nobody can list in advance).
    pub allow_rules: bool,
}

impl Default for Ceiling {
    fn default() -> Self {
        Self {
            cluster_roles: DEFAULT_GRANTABLE_CLUSTER_ROLES
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            allow_rules: false,
        }
    }
}

impl Ceiling {
    /// Whether any ClusterRole may be bound.
    pub fn any_cluster_role(&self) -> bool {
        self.cluster_roles.iter().any(|r| r == ANY)
    }

    fn grantable(&self, role: &str) -> bool {
        self.any_cluster_role() || self.cluster_roles.iter().any(|r| r == role)
    }

    /// Why `grant` is beyond the ceiling (every reason), or `None` when it is within.
    pub fn refusal(&self, grant: &RemoteAccountGrantSpec) -> Option<String> {
        let mut roles: Vec<&str> = grant
            .cluster_roles
            .iter()
            .map(String::as_str)
            .chain(grant.roles.iter().map(|r| r.cluster_role.as_str()))
            .filter(|r| !self.grantable(r))
            .collect();
        roles.sort_unstable();
        roles.dedup();
        let mut reasons = Vec::new();
        if !roles.is_empty() {
            reasons.push(format!(
                "ClusterRole {} is not grantable here (--{FLAG_GRANTABLE_CLUSTER_ROLES} {})",
                roles.join(", "),
                self.cluster_roles.join(",")
            ));
        }
        if !grant.rules.is_empty() && !self.allow_rules {
            reasons.push(format!(
                "rules are not allowed here (no --{FLAG_ALLOW_RULES})"
            ));
        }
        (!reasons.is_empty()).then(|| {
            format!(
                "beyond this member's ceiling, set when it joined: {}",
                reasons.join("; ")
            )
        })
    }

    /// The agent's arguments saying this ceiling.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![format!(
            "--{FLAG_GRANTABLE_CLUSTER_ROLES}={}",
            self.cluster_roles.join(",")
        )];
        if self.allow_rules {
            args.push(format!("--{FLAG_ALLOW_RULES}"));
        }
        args
    }
}

impl fmt::Display for Ceiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ClusterRoles {}; rules {}",
            self.cluster_roles.join(","),
            if self.allow_rules {
                "allowed"
            } else {
                "not allowed"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::rbac::v1::PolicyRule;

    use super::*;
    use crate::remote_service_account::NamespacedRole;

    fn grant(cluster_roles: &[&str], role: Option<&str>, rules: bool) -> RemoteAccountGrantSpec {
        RemoteAccountGrantSpec {
            cluster_roles: cluster_roles.iter().map(|r| (*r).to_owned()).collect(),
            roles: role
                .map(|r| NamespacedRole {
                    namespace: "apps".into(),
                    cluster_role: r.into(),
                })
                .into_iter()
                .collect(),
            rules: if rules {
                vec![PolicyRule::default()]
            } else {
                Vec::new()
            },
            ..Default::default()
        }
    }

    #[test]
    fn the_default_grants_view_only() {
        let c = Ceiling::default();
        assert_eq!(c.refusal(&grant(&["view"], Some("view"), false)), None);
        assert_eq!(
            c.refusal(&grant(&["cluster-admin", "view"], Some("edit"), true))
                .unwrap(),
            "beyond this member's ceiling, set when it joined: ClusterRole cluster-admin, edit \
             is not grantable here (--grantable-cluster-roles view); rules are not allowed \
             here (no --allow-rules)"
        );
        assert_eq!(c.args(), ["--grantable-cluster-roles=view"]);
    }

    #[test]
    fn a_wider_ceiling() {
        let c = Ceiling {
            cluster_roles: vec!["*".into()],
            allow_rules: true,
        };
        assert_eq!(
            c.refusal(&grant(&["cluster-admin"], Some("edit"), true)),
            None
        );
        assert_eq!(c.args(), ["--grantable-cluster-roles=*", "--allow-rules"]);
        assert_eq!(c.to_string(), "ClusterRoles *; rules allowed");
    }
}
