//! Command line of `roster-hub`; every flag can also be set from the environment.

use clap::Parser;
use roster_runtime::logging::LogOptions;

/// The Roster hub operator: publishes one ClusterProfile per member cluster and keeps its
/// status true.
#[derive(Parser, Debug, Clone)]
#[command(name = "roster-hub", version, about, long_about = None)]
pub struct Cli {
    /// Namespace the ClusterProfiles are published in.
    #[arg(
        long,
        env = "ROSTER_INVENTORY_NAMESPACE",
        default_value = "cluster-inventory"
    )]
    pub inventory_namespace: String,

    /// Kubeconfig of the hub cluster; default: in-cluster, then the usual kubeconfig lookup.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Address of the admin server (metrics, health).
    #[arg(long, env = "ROSTER_ADMIN_ADDRESS", default_value = "127.0.0.1:8080")]
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
