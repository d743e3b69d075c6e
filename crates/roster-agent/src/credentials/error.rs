//! Why the agent has no hub credential, and how the hub's answers map onto it.

use std::path::PathBuf;

use k8s_openapi::jiff::Timestamp;
use roster_api::names;

use roster_runtime::errors::Category;

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

/// The credential problem a failed TokenRequest reveals.
pub(super) fn classify(error: kube::Error, settings: &super::Settings) -> CredentialError {
    match (Category::of(&error), &error) {
        (Category::Unauthorized, _) => CredentialError::Refused {
            member: settings.member.clone(),
        },
        (Category::Forbidden, kube::Error::Api(status)) => CredentialError::Forbidden {
            namespace: settings.namespace.clone(),
            message: status.message.clone(),
        },
        (category, _) if category.is_transient() => CredentialError::Unavailable(error),
        _ => CredentialError::Rejected(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Settings;

    #[test]
    fn refusals_and_outages_are_told_apart() {
        let settings = Settings {
            member: "m".into(),
            namespace: "ns".into(),
            bootstrap_kubeconfig: "/b".into(),
            state_dir: "/s".into(),
            ttl_seconds: 3600,
            kept: None,
        };
        let api = |code| {
            kube::Error::Api(
                kube::core::Status::failure("no", "x")
                    .with_code(code)
                    .boxed(),
            )
        };
        assert!(matches!(
            classify(api(401), &settings),
            CredentialError::Refused { .. }
        ));
        assert!(matches!(
            classify(api(403), &settings),
            CredentialError::Forbidden { .. }
        ));
        assert!(classify(api(503), &settings).is_transient());
        // The hub may not have prepared the member's service account yet.
        assert!(classify(api(404), &settings).is_transient());
        assert!(!classify(api(422), &settings).is_transient());
        let refused = classify(api(401), &settings).to_string();
        assert!(
            refused.starts_with("the hub refused the credential"),
            "{refused}"
        );
        assert!(refused.contains("kubectl roster join m"), "{refused}");
    }
}
