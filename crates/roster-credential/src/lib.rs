//! `roster-credential`: the ClusterProfile access-provider exec plugin. It turns
//! `KUBERNETES_EXEC_INFO` into an `ExecCredential` holding a remote service account token.

pub mod cli;

/// Prints one ExecCredential on stdout, or fails with a message for stderr.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    anyhow::bail!(
        "remote service account {:?}: the plugin is not built yet (issue 5)",
        cli.remote_service_account
    )
}
