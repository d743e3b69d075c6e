//! Names every Roster component agrees on: the cluster manager's name, labels, annotations,
//! defaults and field managers.

/// The cluster manager name Roster writes into `spec.clusterManager.name` and the
/// `x-k8s.io/cluster-manager` label of its ClusterProfiles.
pub const CLUSTER_MANAGER: &str = "roster";

/// The access provider entry Roster publishes in each ClusterProfile.
pub const ACCESS_PROVIDER: &str = "roster";

/// Name of the federated access provider in every ClusterProfile whose member trusts the hub:
/// consumers present their own hub token for the member's audience.
pub const FEDERATED_ACCESS_PROVIDER: &str = "roster-federated";

/// Default namespace holding the ClusterProfiles Roster publishes.
pub const DEFAULT_INVENTORY_NAMESPACE: &str = "cluster-inventory";

/// The Inventory the hub creates at start (all members, in its `--inventory-namespace`) when
/// none of that name exists.
pub const DEFAULT_INVENTORY: &str = "cluster-inventory";

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

/// Annotation the hub sets on a grant whose delivery Secret it had to create again (someone
/// deleted it): the change wakes the member's agent, which finds the Secret empty and delivers
/// a fresh token. The value is when the hub asked.
pub const ANNOTATION_DELIVERY_REQUESTED: &str = "roster.dev/delivery-requested";

/// Where automounted remote credentials appear in a container.
pub const AUTOMOUNT_ROOT: &str = "/var/run/secrets/roster.dev";

/// Default namespace, on each member, of the service accounts RemoteServiceAccounts create.
pub const DEFAULT_REMOTE_NAMESPACE: &str = "roster-remote";

/// Field manager of every write `roster-hub` makes.
pub const HUB_FIELD_MANAGER: &str = "roster-hub";

/// Field manager of the writes `kubectl roster` makes.
pub const CLI_FIELD_MANAGER: &str = "kubectl-roster";

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

/// Longest member name whose namespace (`roster-member-<name>`) is still a valid namespace name.
pub const MAX_MEMBER_NAME_LEN: usize = 63 - MEMBER_NAMESPACE_PREFIX.len();

/// Why a MemberCluster name cannot become a per-member namespace.
pub fn member_namespace_problem(member: &str) -> Option<String> {
    let valid_label = !member.is_empty()
        && member
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !member.starts_with('-')
        && !member.ends_with('-');
    if !valid_label {
        return Some(format!(
            "member name {member:?} cannot become a namespace suffix: use lowercase letters, digits \
             and '-' only (no dots), starting and ending with a letter or digit"
        ));
    }
    if member.len() > MAX_MEMBER_NAME_LEN {
        return Some(format!(
            "member name {member:?} is {} characters; at most {MAX_MEMBER_NAME_LEN} fit in the \
             namespace {MEMBER_NAMESPACE_PREFIX}<name>",
            member.len()
        ));
    }
    None
}

/// The member a per-member namespace belongs to.
pub fn member_of_namespace(namespace: &str) -> Option<&str> {
    namespace.strip_prefix(MEMBER_NAMESPACE_PREFIX)
}

/// The agent's identity on the hub: a service account in the member's namespace.
pub const AGENT_SERVICE_ACCOUNT: &str = "roster-agent";

/// The bootstrap identity in the member's namespace: may only mint tokens for the agent's.
pub const BOOTSTRAP_SERVICE_ACCOUNT: &str = "roster-bootstrap";

/// The Lease the agent renews in its member's namespace on the hub.
pub const AGENT_LEASE: &str = "roster-agent";

/// Name of the Role (and RoleBinding) giving the agent its rights in its member namespace.
pub const AGENT_ROLE: &str = "roster-agent";

/// Name of the Role (and RoleBinding) giving the bootstrap identity its one right.
pub const BOOTSTRAP_ROLE: &str = "roster-bootstrap";

/// Name of the ClusterRole (and ClusterRoleBinding) letting one agent read its MemberCluster.
pub fn agent_cluster_role(member: &str) -> String {
    format!("roster-agent:{member}")
}

/// Namespace the agent runs in on its member cluster.
pub const AGENT_NAMESPACE: &str = "roster-system";

/// Default lifetime of the bootstrap credential `kubectl roster join` issues, seconds.
pub const DEFAULT_BOOTSTRAP_TTL_SECONDS: i64 = 3600;

/// Lifetime the agent asks for its own hub token, seconds.
pub const DEFAULT_AGENT_TOKEN_TTL_SECONDS: i64 = 3600;

/// Name of the Secret holding a RemoteServiceAccount's token for one member cluster, in the
/// RemoteServiceAccount's namespace on the hub.
pub fn token_secret_name(remote_service_account: &str, cluster: &str) -> String {
    format!("{remote_service_account}-{cluster}")
}

/// Label on hub objects serving a RemoteServiceAccount, naming its namespace.
pub const LABEL_CONSUMER_NAMESPACE: &str = "roster.dev/consumer-namespace";

/// Label on the member-side objects an agent provisions, naming the grant's UID.
pub const LABEL_GRANT_UID: &str = "roster.dev/grant-uid";

/// Annotation on a member-side service account naming its RemoteServiceAccount
/// (`<namespace>/<name>` on the hub).
pub const ANNOTATION_REMOTE_SERVICE_ACCOUNT: &str = "roster.dev/remote-service-account";

/// Finalizer the hub puts on RemoteServiceAccounts: their grants live in member namespaces
/// and their service accounts on member clusters, beyond owner references.
pub const REMOTE_SERVICE_ACCOUNT_FINALIZER: &str = "roster.dev/revoke-remote-access";

/// Name of the Role (and RoleBinding) letting an agent write its grants' token Secrets.
pub const AGENT_TOKENS_ROLE: &str = "roster-agent-tokens";

/// Name of the RemoteAccountGrant (and its token Secret) in a member's namespace for the
/// RemoteServiceAccount `namespace/name`. Dots cannot appear in a namespace, so the name is
/// unambiguous.
pub fn grant_name(namespace: &str, name: &str) -> String {
    format!("{namespace}.{name}")
}

/// Keys of a remote token Secret (`<rsa>-<cluster>`).
pub mod token_secret {
    /// The bearer token.
    pub const TOKEN: &str = "token";
    /// PEM bundle of the member API server's CA.
    pub const CA: &str = "ca.crt";
    /// The member API server's URL.
    pub const SERVER: &str = "server";
    /// Namespace of the service account on the member.
    pub const NAMESPACE: &str = "namespace";
    /// A kubeconfig reading `token` and `ca.crt` from the automount folder.
    pub const KUBECONFIG: &str = "kubeconfig";
    /// When the token expires, RFC 3339 (UTC, seconds).
    pub const EXPIRATION: &str = "expirationTimestamp";
    /// The Secret type Roster gives remote token Secrets.
    pub const TYPE: &str = "roster.dev/remote-token";
    /// Label naming the RemoteServiceAccount a token Secret belongs to.
    pub const LABEL_REMOTE_SERVICE_ACCOUNT: &str = "roster.dev/remote-service-account";

    use k8s_openapi::jiff::Timestamp;

    /// The [`EXPIRATION`] value for `time`: RFC 3339 in UTC, whole seconds
    /// (`2026-11-22T21:00:00Z`), as `ExecCredential.status.expirationTimestamp` has it.
    pub fn format_expiry(time: Timestamp) -> String {
        time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// The time an [`EXPIRATION`] value says (any RFC 3339 time is accepted).
    pub fn parse_expiry(text: &str) -> Option<Timestamp> {
        text.trim().parse().ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn expiries_round_trip_to_the_second_in_utc() {
            let t = Timestamp::new(1_795_381_200, 250_000_000).unwrap();
            assert_eq!(format_expiry(t), "2026-11-22T21:00:00Z");
            assert_eq!(
                parse_expiry("2026-11-22T22:00:00+01:00"),
                Some(Timestamp::new(1_795_381_200, 0).unwrap())
            );
            assert_eq!(
                parse_expiry(" 2026-11-22T21:00:00Z\n"),
                parse_expiry("2026-11-22T21:00:00Z")
            );
            assert_eq!(parse_expiry("soon"), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_that_fit_a_namespace() {
        assert_eq!(member_namespace_problem("member-1"), None);
        assert_eq!(
            member_namespace_problem(&"a".repeat(MAX_MEMBER_NAME_LEN)),
            None
        );
        for bad in ["", "Member", "a.b", "-a", "a-", "a_b"] {
            assert!(member_namespace_problem(bad).is_some(), "{bad:?} accepted");
        }
        let long = "a".repeat(MAX_MEMBER_NAME_LEN + 1);
        assert!(member_namespace_problem(&long).is_some_and(|m| m.contains("at most 49")));
        assert_eq!(member_of_namespace("roster-member-x"), Some("x"));
        assert_eq!(member_of_namespace("default"), None);
    }
}
