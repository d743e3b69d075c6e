//! `Inventory`: one namespace of ClusterProfiles for the consumers that read it (KEP-4322: one
//! namespace, one inventory). The hub publishes a ClusterProfile there for each member the
//! inventory selects, and removes it when the member leaves the selection or the inventory goes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::remote_service_account::MemberSelector;

/// InventorySpec says where profiles are published, for which members, with what.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "roster.dev",
    version = "v1alpha1",
    kind = "Inventory",
    status = "InventoryStatus",
    shortname = "inv",
    category = "roster",
    derive = "PartialEq",
    derive = "Default",
    doc = "Inventory is one namespace of ClusterProfiles: the hub publishes a profile there for each MemberCluster the inventory selects, and removes it when the member leaves the selection or the inventory is deleted. Consumers (Kueue MultiKueue, Argo CD, multicluster-runtime) read the namespace they are configured with.",
    printcolumn(name = "Namespace", type_ = "string", json_path = ".spec.namespace"),
    printcolumn(name = "Members", type_ = "integer", json_path = ".status.members"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct InventorySpec {
    /// The namespace the ClusterProfiles are published in; it must exist, and the hub must be
    /// allowed to write ClusterProfiles there (see the README). Immutable: create another
    /// inventory to publish elsewhere. One inventory per namespace; the oldest wins.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("!format.dns1123Label().validate(self).hasValue()").message("namespace must be a valid namespace name (DNS label)"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("namespace is immutable; create another Inventory to publish elsewhere"))]
    pub namespace: String,

    /// Which MemberClusters; every member when absent. Followed as labels change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<MemberSelector>,

    /// Which access providers the profiles carry, by name (Roster's is `roster`); all of them
    /// when absent, none when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 63)))]
    pub access_providers: Option<Vec<String>>,
}

/// InventoryStatus is what the hub publishes for the inventory.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InventoryStatus {
    /// Ready: the hub publishes the selected members' profiles here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "cluster_inventory::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// How many members the inventory selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<i32>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
