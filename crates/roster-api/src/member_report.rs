//! `MemberReport`: what a member's agent observed, written by the agent into its member's
//! namespace on the hub and read by the hub. Internal: users read MemberCluster and
//! ClusterProfile instead.

use k8s_openapi::{ByteString, apimachinery::pkg::apis::meta::v1::Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::member_cluster::{NodeSummary, ReportedProperty};

/// The name of the one MemberReport in each member namespace.
pub const REPORT_NAME: &str = "report";

/// MemberReportSpec is the agent's latest view of its member cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "roster.dev",
    version = "v1alpha1",
    kind = "MemberReport",
    namespaced,
    category = "roster",
    derive = "PartialEq",
    derive = "Default",
    doc = "MemberReport is internal to Roster: the agent of one member cluster writes what it observes there, in the member's namespace on the hub, and the hub turns it into the MemberCluster status and the ClusterProfile.",
    printcolumn(name = "Cluster ID", type_ = "string", json_path = ".spec.clusterId"),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".spec.kubernetesVersion"
    ),
    printcolumn(
        name = "API Server Healthy",
        type_ = "boolean",
        json_path = ".spec.apiServerHealth.healthy"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct MemberReportSpec {
    /// The member's stable id: its cluster.clusterset.k8s.io ClusterProperty, else the UID of
    /// its kube-system namespace.
    #[schemars(length(max = 253))]
    pub cluster_id: String,

    /// The member's Kubernetes version (gitVersion), for example v1.37.2.
    #[schemars(length(max = 64))]
    pub kubernetes_version: String,

    /// The member's API server as the agent knows it (or as configured on the agent).
    pub api_server: ReportedApiServer,

    /// The agent's probe of its API server's /readyz, after its anti-flap threshold.
    pub api_server_health: ApiServerHealth,

    /// Node counts.
    #[serde(default)]
    pub nodes: NodeSummary,

    /// ClusterProperty values and derived properties (uniform node topology region/zone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub properties: Vec<ReportedProperty>,

    /// Version of the reporting roster-agent.
    #[schemars(length(max = 64))]
    pub agent_version: String,

    /// What the agent may grant on its member (its ceiling, set at join).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_ceiling: Option<crate::ceiling::Ceiling>,

    /// Whether the member's API server trusts the hub's service-account issuer for federated
    /// access (absent from agents that do not check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<FederationTrust>,
}

/// The agent's check of federated trust: a hub token of its own hub service account for the
/// member's audience, presented to the member's API server in a SelfSubjectReview.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FederationTrust {
    /// Whether the member authenticated the hub token as the expected federated user.
    pub trusted: bool,
    /// What the check saw, for humans (never a token).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub message: String,
}

/// The member API server's URL and CA.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportedApiServer {
    /// URL of the API server.
    #[schemars(length(max = 2048))]
    pub server: String,
    /// PEM bundle of the CAs that sign its serving certificate, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "cluster_inventory::schema::byte_string")]
    pub ca_data: Option<ByteString>,
}

/// The result of the agent's readiness probe.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiServerHealth {
    /// Whether /readyz answered ok (after the anti-flap threshold).
    pub healthy: bool,
    /// What the probe saw, for humans.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub message: String,
    /// When `healthy` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}
