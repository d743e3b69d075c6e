//! `RemoteAccountGrant`: one RemoteServiceAccount's work for one member's agent. Internal: the
//! hub writes the spec into the member's namespace on the hub, the agent provisions the
//! service account on its member, puts the token into the Secret of the same name (which the
//! hub pre-creates, so the agent never creates Secrets) and reports in the status. Users read
//! the RemoteServiceAccount instead.

use k8s_openapi::{api::rbac::v1::PolicyRule, apimachinery::pkg::apis::meta::v1::Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::remote_service_account::{NamespacedRole, TokenSettings};

/// RemoteAccountGrantSpec is what one member's agent must provision for one
/// RemoteServiceAccount.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "roster.dev",
    version = "v1alpha1",
    kind = "RemoteAccountGrant",
    namespaced,
    status = "RemoteAccountGrantStatus",
    category = "roster",
    derive = "PartialEq",
    derive = "Default",
    validation = Rule::new("has(self.spec.federatedUser) != (has(self.spec.serviceAccount) && self.spec.serviceAccount.name != '')").message("exactly one of spec.serviceAccount and spec.federatedUser"),
    doc = "RemoteAccountGrant is internal to Roster: the hub asks one member's agent, in the member's namespace on the hub, to provision a RemoteServiceAccount's service account and RBAC on its member and to deliver a token for it into the Secret of the same name.",
    printcolumn(
        name = "Service Account",
        type_ = "string",
        json_path = ".spec.serviceAccount.name"
    ),
    printcolumn(
        name = "Federated User",
        type_ = "string",
        json_path = ".spec.federatedUser"
    ),
    printcolumn(name = "Ready", type_ = "boolean", json_path = ".status.ready"),
    printcolumn(name = "Expires", type_ = "date", json_path = ".status.tokenExpiry"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RemoteAccountGrantSpec {
    /// The RemoteServiceAccount on the hub this grant serves.
    pub remote_service_account: GrantOwner,
    /// The service account to create on the member (token access; empty with
    /// `federatedUser`).
    #[serde(default)]
    pub service_account: GrantServiceAccount,
    /// Federated access: bind the rights to this member user (a hub service account's
    /// federated user, `roster-hub:system:serviceaccount:<namespace>:<name>`) and create no
    /// service account, mint no token and deliver nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub federated_user: Option<String>,
    /// ClusterRoles bound cluster-wide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub cluster_roles: Vec<String>,
    /// ClusterRoles bound inside one namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub roles: Vec<NamespacedRole>,
    /// Extra rules, through a ClusterRole the agent owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub rules: Vec<PolicyRule>,
    /// Token lifetime and audiences.
    #[serde(default)]
    pub token: TokenSettings,
}

/// The RemoteServiceAccount a grant serves.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantOwner {
    /// Its namespace on the hub.
    #[schemars(length(max = 63))]
    pub namespace: String,
    /// Its name.
    #[schemars(length(max = 63))]
    pub name: String,
    /// Its UID, so a re-created RemoteServiceAccount gets a fresh identity.
    #[schemars(length(max = 64))]
    pub uid: String,
}

/// The service account on the member.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantServiceAccount {
    /// Namespace on the member.
    #[schemars(length(max = 63))]
    pub namespace: String,
    /// Name on the member.
    #[schemars(length(max = 253))]
    pub name: String,
}

/// RemoteAccountGrantStatus is the agent's report; never a token.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RemoteAccountGrantStatus {
    /// Whether the service account, its RBAC and a valid token are in place.
    pub ready: bool,
    /// What went wrong, or what was last done.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub message: String,
    /// The metadata.generation the agent acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// UID of the service account on the member the token belongs to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 64))]
    pub service_account_uid: String,
    /// When the token in the Secret expires (as granted by the member's API server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiry: Option<Time>,
    /// When that token was minted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<Time>,
}
