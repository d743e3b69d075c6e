//! Command line of `roster-agent`; every flag can also be set from the environment.

use clap::Parser;
use roster_runtime::logging::LogOptions;

/// The Roster agent: joins this member cluster to the hub, heartbeats, probes the API server,
/// and provisions remote service accounts.
#[derive(Parser, Debug, Clone)]
#[command(name = "roster-agent", version, about, long_about = None)]
pub struct Cli {
    /// Name of this member cluster on the hub (its MemberCluster).
    #[arg(long, env = "ROSTER_MEMBER_NAME")]
    pub member_name: String,

    /// Address of the admin server (metrics, health).
    #[arg(long, env = "ROSTER_ADMIN_ADDRESS", default_value = "0.0.0.0:8081")]
    pub admin_address: std::net::SocketAddr,

    #[command(flatten)]
    pub log: LogOptions,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
