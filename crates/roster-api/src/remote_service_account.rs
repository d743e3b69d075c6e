//! `RemoteServiceAccount`: "give this hub namespace an identity on these member clusters".

use std::collections::BTreeMap;

use k8s_openapi::{
    api::rbac::v1::PolicyRule,
    apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, LabelSelectorRequirement, Time},
};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::names;

/// RemoteServiceAccountSpec says which member clusters get a service account for this
/// namespace, what it may do there, and how long its tokens live.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "roster.dev",
    version = "v1alpha1",
    kind = "RemoteServiceAccount",
    namespaced,
    status = "RemoteServiceAccountStatus",
    shortname = "rsa",
    category = "roster",
    derive = "PartialEq",
    derive = "Default",
    doc = "RemoteServiceAccount gives the namespace it lives in an identity on member clusters: Roster creates a service account with the requested permissions on each selected member and keeps a short-lived token for it in the Secret <name>-<cluster> of this namespace.",
    validation = Rule::new("size(self.metadata.name) <= 63").message("a RemoteServiceAccount name is at most 63 characters: it names Secrets (<name>-<cluster>) and labels"),
    validation = Rule::new("!has(oldSelf.spec.serviceAccount) || (has(self.spec.serviceAccount) && self.spec.serviceAccount == oldSelf.spec.serviceAccount)").message("spec.serviceAccount is immutable: create a new RemoteServiceAccount instead"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Clusters", type_ = "integer", json_path = ".status.readyClusters"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct RemoteServiceAccountSpec {
    /// The member clusters to provision: exactly one of names or selector.
    pub clusters: ClusterSelection,

    /// The service account created on each member. Defaults: namespace roster-remote, name
    /// <namespace>-<name> of this RemoteServiceAccount. Immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountRef>,

    /// ClusterRoles bound cluster-wide on each member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 253)))]
    #[x_kube(validation = Rule::new("self.all(r, r != '.' && r != '..' && !r.contains('/') && !r.contains('%'))").message("each cluster role must be a valid ClusterRole name (not . or .., no / or %)"))]
    pub cluster_roles: Vec<String>,

    /// ClusterRoles bound inside one namespace on each member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub roles: Vec<NamespacedRole>,

    /// Extra rules, granted cluster-wide through a ClusterRole Roster owns on each member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub rules: Vec<PolicyRule>,

    /// Token lifetime and audiences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenSettings>,
}

/// Which member clusters: exactly one of names or selector.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("has(self.names) != has(self.selector)").message("exactly one of clusters.names or clusters.selector must be set"))]
pub struct ClusterSelection {
    /// MemberCluster names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), inner(length(min = 1, max = 253)))]
    #[x_kube(validation = Rule::new("self.all(n, !format.dns1123Subdomain().validate(n).hasValue())").message("each cluster name must be a valid MemberCluster name (DNS subdomain)"))]
    pub names: Option<Vec<String>>,

    /// Label selector over MemberClusters; followed as labels change. (Label keys are checked by
    /// the hub, which reports a bad key on the object: a CEL rule over unbounded map keys would
    /// exceed the API server's cost budget.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(SELECTOR_VALUES_RULE).message(SELECTOR_VALUES_MESSAGE))]
    #[x_kube(validation = Rule::new(SELECTOR_OPERATORS_RULE).message(SELECTOR_OPERATORS_MESSAGE))]
    pub selector: Option<MemberSelector>,
}

/// CEL rule of every [`MemberSelector`] field: matchLabels values are label values.
pub const SELECTOR_VALUES_RULE: &str = "!has(self.matchLabels) || self.matchLabels.all(k, !format.labelValue().validate(self.matchLabels[k]).hasValue())";
/// Message of [`SELECTOR_VALUES_RULE`].
pub const SELECTOR_VALUES_MESSAGE: &str = "selector.matchLabels values must be valid label values";
/// CEL rule of every [`MemberSelector`] field: known operators, values exactly for In/NotIn.
pub const SELECTOR_OPERATORS_RULE: &str = "!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'] && ((e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0)))";
/// Message of [`SELECTOR_OPERATORS_RULE`].
pub const SELECTOR_OPERATORS_MESSAGE: &str = "selector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist, and values are required exactly for In and NotIn";

/// A label selector over MemberClusters, with the bounds the API server needs to cost its
/// validation rules. Same fields and meaning as a Kubernetes LabelSelector.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemberSelector {
    /// Labels a MemberCluster must carry, each with exactly this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "match_labels_schema")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Label requirements a MemberCluster must meet; all must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub match_expressions: Option<Vec<MemberSelectorRequirement>>,
}

fn match_labels_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Labels a MemberCluster must carry, each with exactly this value.",
        "type": "object",
        "maxProperties": 64,
        "additionalProperties": {"type": "string", "maxLength": 63}
    })
}

/// One requirement of a [`MemberSelector`].
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberSelectorRequirement {
    /// The label key.
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// In, NotIn, Exists or DoesNotExist.
    #[schemars(length(max = 16))]
    pub operator: String,
    /// Values for In and NotIn; empty for Exists and DoesNotExist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub values: Option<Vec<String>>,
}

impl MemberSelector {
    /// Whether `labels` satisfy the selector, as Kubernetes evaluates a label selector (an
    /// empty selector selects everything; an unknown operator selects nothing).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let labels_ok = self
            .match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v));
        labels_ok
            && self
                .match_expressions
                .iter()
                .flatten()
                .all(|e| e.holds(labels))
    }
}

impl MemberSelectorRequirement {
    fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let values = self.values.as_deref().unwrap_or_default();
        match self.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    }
}

impl From<&MemberSelector> for LabelSelector {
    fn from(s: &MemberSelector) -> Self {
        LabelSelector {
            match_labels: s.match_labels.clone(),
            match_expressions: s.match_expressions.as_ref().map(|exprs| {
                exprs
                    .iter()
                    .map(|e| LabelSelectorRequirement {
                        key: e.key.clone(),
                        operator: e.operator.clone(),
                        values: e.values.clone(),
                    })
                    .collect()
            }),
        }
    }
}

/// The service account Roster creates on each member.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAccountRef {
    /// Namespace on the member. Default roster-remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("!format.dns1123Label().validate(self).hasValue()").message("namespace must be a valid namespace name (DNS label)"))]
    pub namespace: Option<String>,
    /// Name on the member. Default <namespace>-<name> of the RemoteServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("!format.dns1123Subdomain().validate(self).hasValue()").message("name must be a valid service account name (DNS subdomain)"))]
    pub name: Option<String>,
}

/// A ClusterRole bound inside one namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedRole {
    /// Namespace on the member.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("!format.dns1123Label().validate(self).hasValue()").message("namespace must be a valid namespace name (DNS label)"))]
    pub namespace: String,
    /// ClusterRole bound there with a RoleBinding.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self != '.' && self != '..' && !self.contains('/') && !self.contains('%')").message("clusterRole must be a valid ClusterRole name (not . or .., no / or %)"))]
    pub cluster_role: String,
}

/// Token settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenSettings {
    /// Requested token lifetime in seconds; at least 600, default 3600. The member's API
    /// server may grant less; Roster refreshes at 80% of what it grants.
    #[serde(default = "default_expiration")]
    #[schemars(range(min = 600, max = 86400))]
    pub expiration_seconds: i64,
    /// Audiences of the token. Default: the member API server's own audiences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub audiences: Vec<String>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            expiration_seconds: default_expiration(),
            audiences: Vec::new(),
        }
    }
}

fn default_expiration() -> i64 {
    names::DEFAULT_TOKEN_EXPIRATION_SECONDS
}

/// RemoteServiceAccountStatus reports the identity's state on each target cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RemoteServiceAccountStatus {
    /// The Ready condition: True when every target cluster has a valid token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "cluster_inventory::schema::conditions")]
    pub conditions: Vec<Condition>,

    /// Per target cluster state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub clusters: Vec<ClusterTokenStatus>,

    /// How many target clusters have a valid token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_clusters: Option<i32>,

    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The identity's state on one member cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTokenStatus {
    /// MemberCluster name.
    pub name: String,
    /// Whether a valid token for this cluster is in the Secret.
    pub ready: bool,
    /// When the current token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiry: Option<Time>,
    /// When the token was last refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<Time>,
    /// Why the cluster is not ready, or what was last done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl RemoteServiceAccount {
    /// Namespace and name of the service account on each member, with defaults applied.
    pub fn remote_service_account(&self) -> (String, String) {
        let sa = self.spec.service_account.clone().unwrap_or_default();
        let namespace = sa
            .namespace
            .unwrap_or_else(|| names::DEFAULT_REMOTE_NAMESPACE.to_owned());
        let name = sa.name.unwrap_or_else(|| {
            format!(
                "{}-{}",
                self.metadata.namespace.as_deref().unwrap_or_default(),
                self.metadata.name.as_deref().unwrap_or_default()
            )
        });
        (namespace, name)
    }
}
