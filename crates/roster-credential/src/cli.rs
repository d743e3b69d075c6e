//! Command line of `roster-credential`.

use std::path::PathBuf;

use clap::Parser;

/// ClusterProfile access-provider exec plugin: prints an ExecCredential with a Roster remote
/// service account token for the cluster named in KUBERNETES_EXEC_INFO.
#[derive(Parser, Debug, Clone)]
#[command(name = "roster-credential", version, about, long_about = None)]
pub struct Cli {
    /// Name of the RemoteServiceAccount (in this pod's namespace) whose token to use.
    #[arg(long, env = "ROSTER_REMOTE_SERVICE_ACCOUNT")]
    pub remote_service_account: String,

    /// Kubeconfig for the hub; when unset, the pod's service account is used in a pod, else
    /// KUBECONFIG or ~/.kube/config.
    // Not `env = "KUBECONFIG"`: that variable may list several files, which kube's loader merges.
    #[arg(long, env = "ROSTER_CREDENTIAL_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace of the RemoteServiceAccount and its token Secrets; defaults to the pod's
    /// namespace, else the kubeconfig context's.
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
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
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "roster-credential",
            "--remote-service-account",
            "deployer",
            "--kubeconfig",
            "/tmp/hub.kubeconfig",
            "--namespace",
            "team-a",
        ])
        .unwrap();
        assert_eq!(cli.remote_service_account, "deployer");
        assert_eq!(cli.kubeconfig, Some(PathBuf::from("/tmp/hub.kubeconfig")));
        assert_eq!(cli.namespace.as_deref(), Some("team-a"));
    }
}
