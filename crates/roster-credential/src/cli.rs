//! Command line of `roster-credential`.

use clap::Parser;

/// ClusterProfile access-provider exec plugin: prints an ExecCredential with a Roster remote
/// service account token for the cluster named in KUBERNETES_EXEC_INFO.
#[derive(Parser, Debug, Clone)]
#[command(name = "roster-credential", version, about, long_about = None)]
pub struct Cli {
    /// Name of the RemoteServiceAccount (in this pod's namespace) whose token to use.
    #[arg(long, env = "ROSTER_REMOTE_SERVICE_ACCOUNT")]
    pub remote_service_account: String,
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
