//! `roster-credential`: the ClusterProfile access-provider exec plugin. It turns
//! `KUBERNETES_EXEC_INFO` into an `ExecCredential` holding a remote service account token.
//!
//! # Usage
//!
//! A consumer on the hub lists Roster in its provider file (the upstream access-provider
//! format) and names the RemoteServiceAccount whose tokens it uses:
//!
//! ```json
//! {"providers":[{"name":"roster","execConfig":{
//!   "apiVersion":"client.authentication.k8s.io/v1",
//!   "command":"roster-credential",
//!   "args":["--remote-service-account","deployer"],
//!   "provideClusterInfo":true,
//!   "interactiveMode":"Never"}}]}
//! ```
//!
//! The client (client-go or kube-rs) runs the plugin with `KUBERNETES_EXEC_INFO` holding the
//! cluster from the ClusterProfile; the plugin takes the member's name from the cluster's
//! `client.authentication.k8s.io/exec` extension (`{"clusterName": "member-1"}`), reads the
//! Secret `deployer-member-1` in its own namespace on the hub with one GET, and prints
//!
//! ```json
//! {"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"…","expirationTimestamp":"2026-11-22T21:00:00Z"}}
//! ```
//!
//! in the `apiVersion` it was asked for (`v1` or `v1beta1`). Any failure prints one line
//! starting `roster-credential: ` on stderr, nothing on stdout, and exits non-zero.
//!
//! The namespace is `--namespace` (`POD_NAMESPACE`), else the pod's own, else the kubeconfig
//! context's. The hub is reached with `--kubeconfig` (`ROSTER_CREDENTIAL_KUBECONFIG`) when
//! given, else the pod's service account in a pod, else `KUBECONFIG` or `~/.kube/config`; that
//! identity needs `get` on secrets in the namespace.
//!
//! The decisions are plain functions ([`exec_info::parse`], [`secret::credential`],
//! [`output::render`]); [`run`] is the I/O around them.

pub mod cli;
pub mod error;
pub mod exec_info;
pub mod hub;
pub mod namespace;
pub mod output;
pub mod secret;
pub mod target;

use std::io::Write;

use k8s_openapi::jiff::Timestamp;

pub use error::{Error, error_line};

/// Prints one ExecCredential on stdout, or fails with the error to print on stderr.
pub fn run(cli: cli::Cli) -> Result<(), Error> {
    let exec_info = std::env::var_os(exec_info::EXEC_INFO_ENV);
    let exec_info = exec_info.as_ref().map(|v| v.to_string_lossy());
    let request = exec_info::parse(exec_info.as_deref())?;
    // Checked before any I/O: the cluster name comes from the client.
    let secret = secret::SecretRef::new(&cli.remote_service_account, &request.cluster)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let credential = runtime.block_on(async {
        let source = hub::source(cli.kubeconfig.as_deref(), hub::running_in_pod());
        let settings = hub::settings(&source).await?;
        let namespace =
            namespace::resolve(cli.namespace.as_deref(), namespace::pod_namespace, || {
                settings.context_namespace.clone()
            })?;
        let secret = secret.in_namespace(&namespace);
        let found = hub::get_secret(settings.config, &secret).await?;
        secret::credential(&secret, &found, Timestamp::now())
    })?;

    let text = output::render(request.api_version, &credential)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Output)
}
