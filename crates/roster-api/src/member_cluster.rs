//! `MemberCluster`: the hub's record of one member cluster. Creating it approves the join.

use k8s_openapi::{
    ByteString,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::names;

/// MemberClusterSpec is what the hub administrator declares about a member cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "roster.dev",
    version = "v1alpha1",
    kind = "MemberCluster",
    status = "MemberClusterStatus",
    shortname = "mc",
    category = "roster",
    derive = "PartialEq",
    derive = "Default",
    doc = "MemberCluster is the hub's record of one member cluster. Creating it approves the cluster's join; deleting it revokes the agent's access and removes everything the hub created for the member.",
    printcolumn(
        name = "Display Name",
        type_ = "string",
        json_path = ".spec.displayName",
        priority = 1
    ),
    printcolumn(
        name = "Joined",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Joined\")].status"
    ),
    printcolumn(
        name = "Healthy",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"ControlPlaneHealthy\")].status"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.kubernetesVersion"
    ),
    printcolumn(
        name = "Inventories",
        type_ = "string",
        json_path = ".status.inventories"
    ),
    printcolumn(
        name = "Cluster ID",
        type_ = "string",
        json_path = ".status.clusterId",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct MemberClusterSpec {
    /// Human-readable name, copied into the ClusterProfile's spec.displayName.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub display_name: Option<String>,

    /// Static properties, copied into the ClusterProfile's status.properties beside what the
    /// agent reports. The cluster id property is reported by the agent and cannot be set here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub properties: Vec<StaticProperty>,

    /// Overrides the API server URL and CA the agent reports, for members reachable through a
    /// load balancer or a different name than the one they know themselves by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server: Option<ApiServer>,

    /// How often the agent heartbeats and how long the hub waits before calling the member
    /// Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Heartbeat>,
}

/// A name/value property of the member cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticProperty {
    /// Property name, for example topology.kubernetes.io/region.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self != 'cluster.clusterset.k8s.io'").message("cluster.clusterset.k8s.io is the cluster id the agent reports; it cannot be set statically"))]
    pub name: String,
    /// Property value.
    #[schemars(length(min = 1, max = 1024))]
    pub value: String,
}

/// How consumers reach the member's API server.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    /// HTTPS URL of the member's API server, for example https://member-1.example.com:6443.
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() == 'https' && url(self).getHost() != ''").message("server must be an https:// URL with a host"))]
    pub server: String,
    /// PEM bundle of the certificate authorities that sign the API server's certificate,
    /// base64-encoded. When empty, the CA the agent reports is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "cluster_inventory::schema::byte_string")]
    pub ca_data: Option<ByteString>,
}

/// Heartbeat settings of the member's agent.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.graceSeconds >= 2 * self.periodSeconds").message("graceSeconds must be at least twice periodSeconds, so one late heartbeat does not make the member Unknown"))]
pub struct Heartbeat {
    /// Seconds between heartbeats (lease renewals). Default 10.
    #[serde(default = "default_period")]
    #[schemars(range(min = 1, max = 300))]
    pub period_seconds: i32,
    /// Seconds without a heartbeat after which the member's health becomes Unknown. Default 40.
    #[serde(default = "default_grace")]
    #[schemars(range(min = 2, max = 3600))]
    pub grace_seconds: i32,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            period_seconds: default_period(),
            grace_seconds: default_grace(),
        }
    }
}

fn default_period() -> i32 {
    names::DEFAULT_HEARTBEAT_PERIOD_SECONDS
}

fn default_grace() -> i32 {
    names::DEFAULT_HEARTBEAT_GRACE_SECONDS
}

/// MemberClusterStatus is what the member's agent reported and what the hub concluded.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberClusterStatus {
    /// Joined, ControlPlaneHealthy and Ready conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "cluster_inventory::schema::conditions")]
    pub conditions: Vec<Condition>,

    /// The member's stable cluster id: its cluster.clusterset.k8s.io ClusterProperty, else the
    /// UID of its kube-system namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,

    /// The member's Kubernetes version, for example v1.37.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,

    /// How the member's API server is reached, as reported or overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server: Option<ApiServer>,

    /// Summary of the member's nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeSummary>,

    /// Properties reported by the agent (ClusterProperties and derived topology).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub properties: Vec<ReportedProperty>,

    /// Version of the roster-agent running on the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,

    /// The Inventories whose namespaces hold a ClusterProfile of this member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 253)))]
    pub inventories: Vec<String>,

    /// The metadata.generation the hub last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl MemberCluster {
    /// Whether the status holds condition `type_` with status `True`.
    pub fn condition_true(&self, type_: &str) -> bool {
        self.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == type_ && c.status == "True")
        })
    }

    /// Whether the member is `Joined` and its control plane healthy: a working member.
    pub fn joined_and_healthy(&self) -> bool {
        self.condition_true(crate::conditions::CONDITION_JOINED)
            && self.condition_true(crate::conditions::CONDITION_CONTROL_PLANE_HEALTHY)
    }
}

/// Node counts on the member.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    /// Number of nodes.
    pub total: i64,
    /// Number of nodes whose Ready condition is True.
    pub ready: i64,
}

/// A property the agent observed on the member. Values are not truncated here; the hub reports
/// values too long for a ClusterProfile instead of cutting them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportedProperty {
    /// Property name.
    pub name: String,
    /// Property value.
    pub value: String,
    /// When the agent last observed the property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_time: Option<Time>,
}
