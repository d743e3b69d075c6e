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
//! # Federated mode (no stored token)
//!
//! Members that trust the hub's service-account issuer (see `roster_api::federation`) accept a
//! token of the caller's own hub service account, audience-bound to them. Each ClusterProfile
//! carries a second access provider, `roster-federated`, whose exec extension names the
//! audience: `{"clusterName": "member-1", "audience": "roster:member-1"}`. Its provider file
//! entry runs the plugin with `--federated` (or `ROSTER_CREDENTIAL_FEDERATED=true`) instead of
//! `--remote-service-account`; giving both, or neither, is a usage error.
//!
//! The audience is the extension's `audience` (a non-empty string) or else
//! `roster:<clusterName>`. The token comes from one of two places:
//!
//! - `--token-dir DIR` (`ROSTER_FEDERATED_TOKEN_DIR`): the file `DIR/<clusterName>/token`, a
//!   projected service-account token that Roster's webhook mounts and the kubelet rotates
//!   (`/var/run/secrets/roster.dev/<rsa>/<cluster>/token`). Its `exp` claim is the expiry; a
//!   file that is missing or unreadable, not a JWT, for another audience or expired is refused.
//!   The hub is not contacted.
//! - otherwise a TokenRequest for the plugin's own hub service account (the pod's, or the
//!   kubeconfig's): its namespace and name come from the bearer token's `sub` claim, or else
//!   from a SelfSubjectReview; the plugin creates
//!   `serviceaccounts/<name>/token` in its namespace with `audiences: [<audience>]` and
//!   `expirationSeconds` from `--expiration-seconds` (default 3600, at least 600), and hands out
//!   the token with the API server's `expirationTimestamp`. The service account needs `create`
//!   on `serviceaccounts/token` with `resourceNames: [<its name>]` in its namespace; without it
//!   the plugin says exactly that.
//!
//! The output, and the failure behaviour, are those of the normal mode.
//!
//! The decisions are plain functions ([`exec_info::parse`], [`secret::credential`],
//! [`federated`], [`output::render`]); [`run`] is the I/O around them.

pub mod cli;
pub mod direct;
pub mod error;
pub mod exec_info;
pub mod federated;
pub mod https;
pub mod hub;
pub mod jwt;
pub mod namespace;
pub mod output;
pub mod secret;
pub mod target;

use std::io::Write;

use k8s_openapi::jiff::Timestamp;
use secrecy::ExposeSecret;

use cli::{Federated, Mode};
pub use error::{Error, error_line, usage_line};
use exec_info::ExecRequest;
use k8s_openapi::api::authentication::v1::TokenRequest;
use secret::Credential;
use target::ServiceAccountRef;

/// Prints one ExecCredential on stdout, or fails with the error to print on stderr.
pub fn run(cli: cli::Cli) -> Result<(), Error> {
    let mode = cli.mode()?;
    let exec_info = std::env::var_os(exec_info::EXEC_INFO_ENV);
    let exec_info = exec_info.as_ref().map(|v| v.to_string_lossy());
    let request = exec_info::parse(exec_info.as_deref())?;

    let credential = match mode {
        Mode::RemoteServiceAccount(rsa) => remote_token(&cli, &rsa, &request)?,
        Mode::Federated(how) => federated_token(&cli, &how, &request)?,
    };

    let text = output::render(request.api_version, &credential)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Output)
}

/// The token of RemoteServiceAccount `rsa` for the cluster: one GET of its Secret.
fn remote_token(cli: &cli::Cli, rsa: &str, request: &ExecRequest) -> Result<Credential, Error> {
    // Checked before any I/O: the cluster name comes from the client.
    let secret = secret::SecretRef::new(rsa, &request.cluster)?;
    let source = hub::source(cli.kubeconfig.as_deref(), hub::running_in_pod());
    let settings = settings_now(&source)?;
    let namespace = namespace::resolve(cli.namespace.as_deref(), namespace::pod_namespace, || {
        settings.context_namespace.clone()
    })?;
    let secret = secret.in_namespace(&namespace);
    // One request: the plugin's own HTTPS client when the settings allow, without a runtime.
    let found = match direct::get_secret(&settings.config, &secret) {
        Some(found) => found?,
        None => block_on(hub::get_secret(settings.config, &secret))?,
    };
    secret::credential(&secret, &found, Timestamp::now())
}

/// A token of the plugin's own hub service account for the cluster's audience: from the
/// projected token file, or requested from the hub.
fn federated_token(
    cli: &cli::Cli,
    how: &Federated,
    request: &ExecRequest,
) -> Result<Credential, Error> {
    let audience = federated::audience(&request.cluster, &request.audience)?;
    match how {
        Federated::TokenDir(dir) => {
            let path = federated::token_file(dir, &request.cluster)?;
            let contents = std::fs::read(&path);
            federated::file_credential(
                &path,
                &request.cluster,
                contents,
                &audience,
                Timestamp::now(),
            )
        }
        Federated::TokenRequest { expiration_seconds } => {
            let source = hub::source(cli.kubeconfig.as_deref(), hub::running_in_pod());
            let config = settings_now(&source)?.config;
            let request = federated::token_request(&audience, *expiration_seconds);
            let (answer, server, account) = request_own_token(config, &request)?;
            federated::requested_credential(answer).map_err(|cause| Error::FederatedApi {
                what: hub::token_request_what(&account),
                server,
                cause,
            })
        }
    }
}

/// Creates `request` for the plugin's own hub service account: the bearer token's `sub`, else
/// who a SelfSubjectReview says the plugin is. The plugin's own HTTPS client when the settings
/// allow, else kube's.
fn request_own_token(
    config: kube::Config,
    request: &TokenRequest,
) -> Result<(TokenRequest, String, ServiceAccountRef), Error> {
    let from_token = hub::bearer_token(&config)
        .and_then(|t| federated::service_account_of_token(t.expose_secret()));
    if let Some(connection) = direct::connection(&config) {
        let (connection, server) = connection?;
        let account = match from_token {
            Some(account) => account,
            None => own_account(&direct::who_am_i(&connection, &server)?)?,
        };
        let answer = direct::request_token(&connection, &server, &account, request)?;
        return Ok((answer, server, account));
    }
    block_on(async {
        let (client, server) = hub::client(config)?;
        let account = match from_token {
            Some(account) => account,
            None => own_account(&hub::who_am_i(&client, &server).await?)?,
        };
        let answer = hub::request_token(&client, &server, &account, request).await?;
        Ok((answer, server, account))
    })
}

/// The service account `username` names, or why federated mode cannot use it.
fn own_account(username: &str) -> Result<ServiceAccountRef, Error> {
    federated::service_account(username).ok_or_else(|| Error::NotAServiceAccount {
        identity: format!("User {username:?}"),
    })
}

/// The hub's connection settings, without a runtime: kube's loader is `async` but reads its
/// files synchronously, so its future is ready at the first poll (a runtime is the fallback).
fn settings_now(source: &hub::Source) -> Result<hub::Settings, Error> {
    let mut work = std::pin::pin!(hub::settings(source));
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match work.as_mut().poll(&mut context) {
        std::task::Poll::Ready(done) => done,
        std::task::Poll::Pending => block_on(work),
    }
}

/// Runs `work` on a single-threaded runtime: the plugin makes one or two requests in a row.
fn block_on<T>(work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?
        .block_on(work)
}
