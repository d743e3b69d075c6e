//! Names every Roster component agrees on: the cluster manager's name, labels, annotations,
//! defaults and field managers.

/// The cluster manager name Roster writes into `spec.clusterManager.name` and the
/// `x-k8s.io/cluster-manager` label of its ClusterProfiles.
pub const CLUSTER_MANAGER: &str = "roster";

/// The access provider entry Roster publishes in each ClusterProfile.
pub const ACCESS_PROVIDER: &str = "roster";

/// Default namespace holding the ClusterProfiles Roster publishes.
pub const DEFAULT_INVENTORY_NAMESPACE: &str = "cluster-inventory";

/// Prefix of the per-member namespace on the hub (`roster-member-<name>`).
pub const MEMBER_NAMESPACE_PREFIX: &str = "roster-member-";

/// Label put on everything Roster creates for a member, naming the member.
pub const LABEL_MEMBER: &str = "roster.dev/member";

/// Label marking objects Roster manages.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Value of [`LABEL_MANAGED_BY`] on Roster's objects.
pub const MANAGED_BY: &str = "roster";

/// Pod annotation listing the RemoteServiceAccounts whose tokens are automounted.
pub const ANNOTATION_REMOTE_SERVICE_ACCOUNTS: &str = "roster.dev/remote-service-accounts";

/// Where automounted remote credentials appear in a container.
pub const AUTOMOUNT_ROOT: &str = "/var/run/secrets/roster.dev";

/// Default namespace, on each member, of the service accounts RemoteServiceAccounts create.
pub const DEFAULT_REMOTE_NAMESPACE: &str = "roster-remote";

/// Field manager of every write `roster-hub` makes.
pub const HUB_FIELD_MANAGER: &str = "roster-hub";

/// Field manager of every write `roster-agent` makes.
pub const AGENT_FIELD_MANAGER: &str = "roster-agent";

/// Default heartbeat period, seconds.
pub const DEFAULT_HEARTBEAT_PERIOD_SECONDS: i32 = 10;

/// Default heartbeat grace period, seconds.
pub const DEFAULT_HEARTBEAT_GRACE_SECONDS: i32 = 40;

/// Default remote token lifetime, seconds.
pub const DEFAULT_TOKEN_EXPIRATION_SECONDS: i64 = 3600;

/// Shortest remote token lifetime Roster accepts, seconds (the TokenRequest API's own floor).
pub const MIN_TOKEN_EXPIRATION_SECONDS: i64 = 600;

/// The per-member namespace on the hub for a member name.
pub fn member_namespace(member: &str) -> String {
    format!("{MEMBER_NAMESPACE_PREFIX}{member}")
}
