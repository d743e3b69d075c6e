//! Command line of `roster-agent`; every flag can also be set from the environment.

use std::path::PathBuf;

use clap::Parser;
use roster_api::names;

use crate::credentials::kept::SecretRef;
use roster_runtime::logging::LogOptions;

/// The Roster agent: joins this member cluster to the hub, heartbeats, probes the API server,
/// and provisions remote service accounts.
#[derive(Parser, Debug, Clone)]
#[command(name = "roster-agent", version, about, long_about = None)]
pub struct Cli {
    /// Name of this member cluster on the hub (its MemberCluster).
    #[arg(long, env = "ROSTER_MEMBER_NAME")]
    pub member_name: String,

    /// Kubeconfig holding the bootstrap credential `kubectl roster join` issued; it also names
    /// the hub's server and CA.
    #[arg(long, env = "ROSTER_BOOTSTRAP_KUBECONFIG")]
    pub bootstrap_kubeconfig: PathBuf,

    /// Kubeconfig of this member cluster; by default the usual inference ($KUBECONFIG,
    /// ~/.kube/config, then in-cluster).
    #[arg(long, env = "ROSTER_MEMBER_KUBECONFIG")]
    pub member_kubeconfig: Option<PathBuf>,

    /// Folder where the agent keeps its hub token across restarts.
    #[arg(
        long,
        env = "ROSTER_STATE_DIR",
        default_value = "/var/lib/roster-agent"
    )]
    pub state_dir: PathBuf,

    /// Secret on this member (`namespace/name`) where the agent keeps its current hub token,
    /// so that a replacement pod finds its identity without a new join (the join manifest sets
    /// it). Unset: the token lives only in --state-dir.
    #[arg(long, env = "ROSTER_CREDENTIAL_SECRET")]
    pub credential_secret: Option<SecretRef>,

    /// Secret on this member (`namespace/name`, key `kubeconfig`) holding the bootstrap
    /// kubeconfig; once the agent's own token is kept in --credential-secret, the bootstrap
    /// token is removed from it (the hub's server and CA stay).
    #[arg(long, env = "ROSTER_BOOTSTRAP_SECRET", requires = "credential_secret")]
    pub bootstrap_secret: Option<SecretRef>,

    /// API server URL to report, overriding the member kubeconfig's.
    #[arg(long, env = "ROSTER_API_SERVER_URL")]
    pub api_server_url: Option<String>,

    /// PEM file of the CAs to report for the API server, overriding the member kubeconfig's.
    #[arg(long, env = "ROSTER_API_SERVER_CA_FILE")]
    pub api_server_ca_file: Option<PathBuf>,

    /// Seconds between report gatherings (a health transition reports at once).
    #[arg(long, env = "ROSTER_REPORT_INTERVAL", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub report_interval: u64,

    /// Consecutive failed /readyz probes before the API server is reported unhealthy.
    #[arg(long, env = "ROSTER_PROBE_FAILURE_THRESHOLD", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub probe_failure_threshold: u32,

    /// Lifetime, in seconds, the agent asks for its own hub token (the hub may grant less).
    #[arg(long, env = "ROSTER_HUB_TOKEN_TTL",
          default_value_t = names::DEFAULT_AGENT_TOKEN_TTL_SECONDS,
          value_parser = clap::value_parser!(i64).range(names::MIN_TOKEN_EXPIRATION_SECONDS..))]
    pub hub_token_ttl: i64,

    /// Point of a remote token's granted life at which it is refreshed, between 0 and 1
    /// (default 0.8: a one-hour token is replaced after 48 minutes).
    #[arg(long, env = "ROSTER_TOKEN_REFRESH_FRACTION", default_value_t = 0.8,
          value_parser = refresh_fraction)]
    pub token_refresh_fraction: f64,

    /// ClusterRoles this agent may bind on its member, comma-separated ("*": any). A grant
    /// asking for another is refused, whatever the hub asks; the join manifest gives the agent
    /// `bind` on exactly these (`kubectl roster join --grantable-cluster-roles`).
    #[arg(long, env = "ROSTER_GRANTABLE_CLUSTER_ROLES", value_delimiter = ',',
          default_values_t = roster_api::ceiling::DEFAULT_GRANTABLE_CLUSTER_ROLES.iter().map(|r| (*r).to_owned()))]
    pub grantable_cluster_roles: Vec<String>,

    /// Whether grants may carry `rules` (then the join manifest gives the agent `escalate`, and
    /// `bind` on any ClusterRole: cluster-admin-level power on the member).
    #[arg(long, env = "ROSTER_ALLOW_RULES")]
    pub allow_rules: bool,

    /// Address of the admin server: /metrics (Prometheus), /healthz, and /readyz (ready once
    /// the agent holds a hub token and has heartbeated).
    #[arg(long, env = "ROSTER_ADMIN_ADDRESS", default_value = "0.0.0.0:8081")]
    pub admin_address: std::net::SocketAddr,

    #[command(flatten)]
    pub log: LogOptions,
}

fn refresh_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1 (exclusive)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from([
            "roster-agent",
            "--member-name=m",
            "--bootstrap-kubeconfig=/b",
        ])
        .unwrap();
        assert_eq!(cli.state_dir, PathBuf::from("/var/lib/roster-agent"));
        assert_eq!(cli.report_interval, 30);
        assert_eq!(cli.probe_failure_threshold, 3);
        assert_eq!(cli.hub_token_ttl, names::DEFAULT_AGENT_TOKEN_TTL_SECONDS);
        assert_eq!(cli.member_kubeconfig, None);
        assert_eq!(cli.admin_address, "0.0.0.0:8081".parse().unwrap());
        assert_eq!(cli.grantable_cluster_roles, ["view"]);
        assert!(!cli.allow_rules);
    }

    #[test]
    fn token_ttl_below_the_api_floor_is_refused() {
        let parsed = Cli::try_parse_from([
            "roster-agent",
            "--member-name=m",
            "--bootstrap-kubeconfig=/b",
            "--hub-token-ttl=60",
        ]);
        assert!(parsed.is_err());
    }
}
