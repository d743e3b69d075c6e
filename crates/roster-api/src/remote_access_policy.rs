//! `RemoteAccessPolicy`: the platform admin's word on who may obtain what on which members.
//! Cluster-scoped, so only whoever may write cluster-scoped objects on the hub (not a tenant
//! with rights in its own namespace) decides. Without a policy that allows it, a
//! RemoteServiceAccount gets nothing; [`crate::policy`] decides.

use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::remote_service_account::MemberSelector;

/// The name that stands for any name in [`RemoteAccessPolicySpec::cluster_roles`] and
/// [`RoleAllowance`]; in `rules` it is Kubernetes' own wildcard, allowed only where listed.
pub const ANY: &str = "*";

/// RemoteAccessPolicySpec says which hub namespaces may obtain which rights on which members.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "roster.dev",
    version = "v1alpha1",
    kind = "RemoteAccessPolicy",
    category = "roster",
    shortname = "rap",
    derive = "PartialEq",
    derive = "Default",
    doc = "RemoteAccessPolicy lets the RemoteServiceAccounts of some hub namespaces obtain some rights on some member clusters. A RemoteServiceAccount gets a member identity only where the policies selecting its namespace and that member together allow everything it asks for; narrowing a policy revokes what it no longer allows.",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RemoteAccessPolicySpec {
    /// The hub namespaces whose RemoteServiceAccounts this policy serves.
    pub consumers: Consumers,

    /// The members it applies to, by MemberCluster labels; {} selects every member.
    pub members: MemberSelector,

    /// ClusterRoles that may be bound cluster-wide (and so in any namespace too); "*" allows
    /// any, cluster-admin included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 253)))]
    #[x_kube(validation = Rule::new("self.all(r, r != '.' && r != '..' && !r.contains('/') && !r.contains('%'))").message("each cluster role must be a ClusterRole name or \"*\" (not . or .., no / or %)"))]
    pub cluster_roles: Vec<String>,

    /// ClusterRoles that may be bound inside member namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub roles: Vec<RoleAllowance>,

    /// The rules a RemoteServiceAccount's `rules` may hold: each requested rule must fit
    /// inside one of these (verbs, API groups, resources, resource names and non-resource URLs
    /// each a subset). A "*" is allowed in a request only where a rule here has it. Empty: no
    /// rules at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.all(r, (has(r.resources) && size(r.resources) > 0) || (has(r.nonResourceURLs) && size(r.nonResourceURLs) > 0))").message("each rule names resources or nonResourceURLs"))]
    pub rules: Vec<PolicyRule>,

    /// The longest token lifetime and the audiences allowed. Unset: tokens of up to the
    /// RemoteServiceAccount maximum with the member API server's default audiences only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenLimits>,
}

/// Which hub namespaces: by name, by label, or both (a namespace either names counts).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.namespaces) || has(self.namespaceSelector)").message("consumers needs namespaces, namespaceSelector or both"))]
pub struct Consumers {
    /// Namespace names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), inner(length(min = 1, max = 63)))]
    #[x_kube(validation = Rule::new("self.all(n, !format.dns1123Label().validate(n).hasValue())").message("each consumer namespace must be a valid namespace name (DNS label)"))]
    pub namespaces: Option<Vec<String>>,

    /// A selector over the namespaces' labels; {} selects every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<MemberSelector>,
}

/// ClusterRoles that may be bound inside some member namespaces.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleAllowance {
    /// Member namespaces; "*" allows any.
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 63)))]
    #[x_kube(validation = Rule::new("self.all(n, n == '*' || !format.dns1123Label().validate(n).hasValue())").message("each namespace must be a namespace name (DNS label) or \"*\""))]
    pub namespaces: Vec<String>,
    /// ClusterRoles bound there with a RoleBinding; "*" allows any.
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 253)))]
    #[x_kube(validation = Rule::new("self.all(r, r != '.' && r != '..' && !r.contains('/') && !r.contains('%'))").message("each cluster role must be a ClusterRole name or \"*\" (not . or .., no / or %)"))]
    pub cluster_roles: Vec<String>,
}

/// Limits on the tokens.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenLimits {
    /// The longest lifetime a RemoteServiceAccount may ask for, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 600, max = 86400))]
    pub max_expiration_seconds: Option<i64>,
    /// Audiences a RemoteServiceAccount may ask for besides the member API server's default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 253)))]
    pub audiences: Vec<String>,
}
