//! `RemoteServiceAccount`: "give this hub namespace an identity on these member clusters".

use k8s_openapi::{
    api::rbac::v1::PolicyRule,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::names;
pub use crate::selector::{MemberSelector, MemberSelectorRequirement};

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
    validation = Rule::new("has(self.spec.federation) == has(oldSelf.spec.federation) && (!has(self.spec.federation) || self.spec.federation == oldSelf.spec.federation)").message("spec.federation is immutable (it decides whose identity acts on the members): create a new RemoteServiceAccount instead"),
    validation = Rule::new("!has(self.spec.federation) || !has(self.spec.serviceAccount)").message("spec.serviceAccount names a service account created on each member, which federated access does not create: set spec.federation or spec.serviceAccount, not both"),
    validation = Rule::new("!has(self.spec.federation) || !has(self.spec.token) || !has(self.spec.token.audiences) || size(self.spec.token.audiences) == 0").message("spec.token.audiences cannot be set with spec.federation: a federated token's audience is always the member's (roster:<member>)"),
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

    /// Token lifetime and audiences. With federation, only the lifetime counts: it is the
    /// lifetime of the projected tokens the pod webhook mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenSettings>,

    /// Federated access: bind the rights on each member to a hub ServiceAccount of this
    /// namespace (as the member user `roster-hub:system:serviceaccount:<namespace>:<name>`)
    /// instead of creating a member service account. No token is minted or stored: consumers
    /// present their own hub token for the member's audience `roster:<member>`, which the
    /// member's API server must trust (see the MemberCluster's FederationTrusted condition).
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<Federation>,
}

/// Federated access settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Federation {
    /// The hub ServiceAccount, in this namespace, whose tokens act on the members. Default:
    /// the RemoteServiceAccount's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("!format.dns1123Subdomain().validate(self).hasValue()").message("serviceAccountName must be a valid service account name (DNS subdomain)"))]
    pub service_account_name: Option<String>,
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
    pub selector: Option<MemberSelector>,
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
    /// Federated access only: whether the member's API server trusts the hub's issuer, as its
    /// agent last saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_trusts_hub: Option<bool>,
}

impl RemoteServiceAccount {
    /// With federated access, the hub ServiceAccount (in the RemoteServiceAccount's namespace)
    /// that acts on the members, default applied; `None` for token access.
    pub fn federated_service_account(&self) -> Option<String> {
        let federation = self.spec.federation.as_ref()?;
        Some(
            federation
                .service_account_name
                .clone()
                .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default()),
        )
    }

    /// With federated access, the member user that acts:
    /// `roster-hub:system:serviceaccount:<namespace>:<service account>`.
    pub fn federated_user(&self) -> Option<String> {
        let name = self.federated_service_account()?;
        Some(crate::federation::federated_user(
            self.metadata.namespace.as_deref().unwrap_or_default(),
            &name,
        ))
    }

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
