//! Condition types and reasons Roster writes, shared by the hub (which writes them) and
//! `kubectl roster` (which reads them).

pub use cluster_inventory::names::{CONDITION_CONTROL_PLANE_HEALTHY, CONDITION_JOINED};

/// MemberCluster condition: every property fits in the ClusterProfile.
pub const CONDITION_PROPERTIES_PUBLISHED: &str = "PropertiesPublished";

/// MemberCluster condition: the member's API server trusts the hub's service-account issuer,
/// so federated RemoteServiceAccounts work there.
pub const CONDITION_FEDERATION_TRUSTED: &str = "FederationTrusted";

/// RemoteServiceAccount condition: every target cluster has a valid token.
pub const CONDITION_READY: &str = "Ready";

/// Reasons of the Joined condition.
pub mod joined {
    /// False: the MemberCluster name cannot become a namespace.
    pub const INVALID_NAME: &str = "InvalidName";
    /// False: the hub has prepared the member's namespace and identity; no agent yet.
    pub const AWAITING_AGENT: &str = "AwaitingAgent";
    /// True: the agent has connected (heartbeat or report seen).
    pub const AGENT_CONNECTED: &str = "AgentConnected";
}

/// Reasons of the ControlPlaneHealthy condition.
pub mod health {
    /// Unknown: no heartbeat yet.
    pub const AWAITING_AGENT: &str = "AwaitingAgent";
    /// Unknown: heartbeats stopped for longer than the grace period.
    pub const HEARTBEAT_MISSED: &str = "HeartbeatMissed";
    /// False: the agent reports its API server unhealthy.
    pub const API_SERVER_UNHEALTHY: &str = "ApiServerUnhealthy";
    /// True: the agent heartbeats and its API server is ready.
    pub const API_SERVER_READY: &str = "ApiServerReady";
    /// Unknown: the member cannot be set up (see Joined).
    pub const NOT_JOINED: &str = "NotJoined";
}

/// Reasons of the PropertiesPublished condition.
pub mod properties {
    /// True: every property is in the ClusterProfile.
    pub const PUBLISHED: &str = "Published";
    /// False: some values exceed the ClusterProfile's 1024-character limit and were left out.
    pub const VALUE_TOO_LONG: &str = "ValueTooLong";
}

/// Reasons of the FederationTrusted condition.
pub mod federation {
    /// True: the member authenticated a hub token for its audience as the federated user.
    pub const HUB_ISSUER_TRUSTED: &str = "HubIssuerTrusted";
    /// False: the member refused the hub token, or mapped it to another user.
    pub const HUB_ISSUER_NOT_TRUSTED: &str = "HubIssuerNotTrusted";
    /// Unknown: the agent has not reported a check (not joined yet, or an older agent).
    pub const NOT_CHECKED: &str = "NotChecked";
}

/// Reasons of a RemoteServiceAccount's Ready condition.
pub mod ready {
    /// True: every target cluster has a valid token in its Secret.
    pub const TOKENS_READY: &str = "TokensReady";
    /// False: some target clusters have no valid token yet (the message says which and why).
    pub const TOKENS_PENDING: &str = "TokensPending";
    /// False: no MemberCluster matches the selection.
    pub const NO_CLUSTERS: &str = "NoClusters";
    /// False: the cluster selector cannot be evaluated.
    pub const INVALID_SELECTOR: &str = "InvalidSelector";
}

/// Reasons of an Inventory's Ready condition.
pub mod inventory {
    /// True: the hub publishes the selected members' profiles in the namespace.
    pub const PUBLISHING: &str = "Publishing";
    /// False: another inventory serves the namespace, or the selector cannot be evaluated.
    pub const NOT_PUBLISHING: &str = "NotPublishing";
}

/// `t` truncated to whole seconds: the precision the API server stores a `metav1.Time` at, so a
/// time computed by a component compares equal to the one it reads back.
pub fn whole_seconds(t: k8s_openapi::jiff::Timestamp) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
}
