//! Why a config or client could not be built for a ClusterProfile, and why a client's exec
//! plugin gave no credential.

use std::process::ExitStatus;

/// Why a config or client could not be built for a ClusterProfile.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// None of the profile's access providers is in the provider file.
    #[error(
        "no access provider of ClusterProfile {profile} is in the provider file: the profile offers [{}], the file has [{}]",
        .offered.join(", "),
        .configured.join(", ")
    )]
    NoMatchingProvider {
        /// The profile, as `namespace/name`.
        profile: String,
        /// The provider names the profile offers (sorted).
        offered: Vec<String>,
        /// The provider names the file has (in file order).
        configured: Vec<String>,
    },
    /// A profile extension the provider consumes holds data of the wrong shape.
    #[error("provider {provider:?}: extension {extension:?} is invalid: {reason}")]
    InvalidExtension {
        /// The provider whose cluster carries the extension.
        provider: String,
        /// The extension's name.
        extension: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cluster's server is not an absolute http(s) URL.
    #[error("provider {provider:?}: server {server:?} is not a valid URL: {reason}")]
    InvalidServer {
        /// The provider whose cluster has the server.
        provider: String,
        /// The server as given.
        server: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cluster's certificate-authority-data holds no usable PEM certificate.
    #[error("provider {provider:?}: certificate-authority-data is invalid: {reason}")]
    InvalidCertificateAuthority {
        /// The provider whose cluster has the CA.
        provider: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cluster's proxy-url is not an absolute http, https or socks5 URL.
    #[error("provider {provider:?}: proxy-url {proxy_url:?} is not valid: {reason}")]
    InvalidProxyUrl {
        /// The provider whose cluster has the proxy.
        provider: String,
        /// The proxy URL as given.
        proxy_url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// kube could not make a client from the built config.
    #[error("cannot create a client for provider {provider:?}: {error}")]
    Client {
        /// The provider the config was built for.
        provider: String,
        /// kube's error.
        error: kube::Error,
    },
}

impl AccessError {
    /// A short, bounded name of the error's kind, fit for a metric label or an Event reason.
    pub fn category(&self) -> &'static str {
        match self {
            Self::NoMatchingProvider { .. } => "NoMatchingProvider",
            Self::InvalidExtension { .. } => "InvalidExtension",
            Self::InvalidServer { .. } => "InvalidServer",
            Self::InvalidCertificateAuthority { .. } => "InvalidCertificateAuthority",
            Self::InvalidProxyUrl { .. } => "InvalidProxyUrl",
            Self::Client { .. } => "Client",
        }
    }
}

/// Why a client's exec plugin gave no usable credential. A request through a client of
/// [`ConfigBuilder`](super::ConfigBuilder) fails with it, as the source of
/// `kube::Error::Service`; the next request runs the plugin again.
#[derive(Debug, thiserror::Error)]
#[error("provider {provider:?}: exec plugin {command:?} {problem}")]
pub struct ExecPluginError {
    /// The provider whose plugin ran.
    pub provider: String,
    /// The plugin's command (without its arguments, which may carry profile data).
    pub command: String,
    /// What went wrong.
    pub problem: ExecProblem,
}

/// What went wrong when running an exec plugin.
#[derive(Debug, thiserror::Error)]
pub enum ExecProblem {
    /// The command could not be started (not found, not executable...).
    #[error("could not be started: {error}{}", hint(.install_hint))]
    Start {
        /// The I/O error.
        error: std::io::Error,
        /// The provider file's install hint, given when the command was not found.
        install_hint: Option<String>,
    },
    /// The command ran and failed.
    #[error("failed ({status}){}", detail(.stderr))]
    Failed {
        /// How it ended.
        status: ExitStatus,
        /// The end of what it wrote on stderr, trimmed.
        stderr: String,
    },
    /// The command succeeded but printed no usable `ExecCredential`.
    #[error("returned an invalid ExecCredential: {0}")]
    InvalidCredential(String),
    /// The plugin's input could not be prepared.
    #[error("cannot be given its input: {0}")]
    Input(String),
}

impl ExecPluginError {
    /// A short, bounded name of the error's kind, fit for a metric label or an Event reason.
    pub fn category(&self) -> &'static str {
        match self.problem {
            ExecProblem::Start { .. } => "ExecPluginStart",
            ExecProblem::Failed { .. } => "ExecPluginFailed",
            ExecProblem::InvalidCredential(_) => "ExecPluginInvalidCredential",
            ExecProblem::Input(_) => "ExecPluginInput",
        }
    }
}

fn hint(install_hint: &Option<String>) -> String {
    install_hint
        .as_deref()
        .map(|hint| format!("; {hint}"))
        .unwrap_or_default()
}

fn detail(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}
