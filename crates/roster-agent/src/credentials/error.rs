//! Why the agent has no hub credential.

use std::path::PathBuf;

use k8s_openapi::jiff::Timestamp;
use roster_api::names;

/// Why the agent has no hub credential.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The bootstrap token's `exp` has passed and no saved token is valid.
    #[error(
        "the bootstrap credential expired at {at}; run 'kubectl roster join {member}' to issue \
         a new one"
    )]
    BootstrapExpired {
        /// When it expired.
        at: Timestamp,
        /// The member, for the hint.
        member: String,
    },
    /// The hub answered 401.
    #[error(
        "the hub refused the credential (wrong, expired or revoked); run 'kubectl roster join \
         {member}' to issue a new bootstrap credential"
    )]
    Refused {
        /// The member, for the hint.
        member: String,
    },
    /// The hub answered 403.
    #[error(
        "the hub does not allow this credential to request a token for service account \
         {namespace}/{}: {message}",
        names::AGENT_SERVICE_ACCOUNT
    )]
    Forbidden {
        /// The namespace asked about.
        namespace: String,
        /// The hub's message.
        message: String,
    },
    /// A failure a retry may cure (no answer, 429, 5xx, a 404 while the hub prepares the
    /// member): see `roster_runtime::errors::Category`.
    #[error("the hub cannot serve the token request yet")]
    Unavailable(#[source] kube::Error),
    /// Any other answer.
    #[error("the hub rejected the token request")]
    Rejected(#[source] kube::Error),
    /// The TokenRequest answer held no token.
    #[error("the hub's TokenRequest answer holds no token")]
    NoToken,
    /// The bootstrap kubeconfig cannot be used.
    #[error("the bootstrap kubeconfig {path}: {message}")]
    Bootstrap {
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The state folder cannot be written.
    #[error("the state folder {path}")]
    State {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl CredentialError {
    /// Whether retrying later may help (the hub is down or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
