//! Well-known names of the Cluster Inventory API: labels, condition types, property names and
//! the access-provider extension.

/// Label naming the cluster manager that owns a ClusterProfile; its value equals
/// `spec.clusterManager.name`.
pub const LABEL_CLUSTER_MANAGER: &str = "x-k8s.io/cluster-manager";

/// Label correlating ClusterProfiles that represent the same member cluster.
pub const LABEL_INVENTORY_MEMBER_ID: &str = "multicluster.x-k8s.io/inventory-member-id";

/// Namespace label naming the ClusterSet whose ClusterProfiles the namespace holds.
pub const LABEL_CLUSTER_SET: &str = "multicluster.x-k8s.io/clusterset";

/// Condition type: the cluster's control plane is healthy.
pub const CONDITION_CONTROL_PLANE_HEALTHY: &str = "ControlPlaneHealthy";

/// Condition type used by cluster managers to say the cluster has joined the inventory.
pub const CONDITION_JOINED: &str = "Joined";

/// Property holding the cluster's stable id (KEP-2149 `cluster.clusterset.k8s.io`).
pub const PROPERTY_CLUSTER_ID: &str = "cluster.clusterset.k8s.io";

/// Property holding the ClusterSet a cluster belongs to (KEP-2149 `clusterset.k8s.io`).
pub const PROPERTY_CLUSTER_SET: &str = "clusterset.k8s.io";

/// Well-known topology property: the cluster's region.
pub const PROPERTY_REGION: &str = "topology.kubernetes.io/region";

/// Well-known topology property: the cluster's zone.
pub const PROPERTY_ZONE: &str = "topology.kubernetes.io/zone";

/// Name of the cluster extension whose content is handed to an exec credential plugin as
/// `KUBERNETES_EXEC_INFO.spec.cluster.config`.
pub const EXEC_EXTENSION: &str = "client.authentication.k8s.io/exec";

/// Upper bound the API puts on a property value.
pub const PROPERTY_VALUE_MAX_LEN: usize = 1024;

/// Upper bound the API puts on a property name.
pub const PROPERTY_NAME_MAX_LEN: usize = 253;

/// Name of the cluster extension (KEP-5339) holding extra command-line arguments for the exec
/// plugin, appended when the consumer's provider allows it.
pub const ADDITIONAL_ARGS_EXTENSION: &str =
    "clusterprofiles.multicluster.x-k8s.io/exec/additional-args";

/// Name of the cluster extension (KEP-5339) holding extra environment variables for the exec
/// plugin, merged when the consumer's provider allows it.
pub const ADDITIONAL_ENVS_EXTENSION: &str =
    "clusterprofiles.multicluster.x-k8s.io/exec/additional-envs";
