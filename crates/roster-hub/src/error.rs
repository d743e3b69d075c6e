//! The hub's errors, each with a bounded category for metric labels and Event reasons.

/// Why a reconcile failed.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("{}", roster_runtime::errors::brief(.0))]
    Kube(#[from] kube::Error),
    /// An object could not be serialized.
    #[error("serializing an object: {0}")]
    Serialize(#[from] serde_json::Error),
    /// Adding or removing a finalizer went wrong outside an API call.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Writing one object failed: which one, and why.
    #[error("writing {kind} {object}: {error}")]
    Write {
        /// The object's kind (bounded: the kinds the hub writes).
        kind: &'static str,
        /// `namespace/name`, or `name` for cluster-scoped objects.
        object: String,
        /// Why.
        error: Box<Error>,
    },
}

impl Error {
    /// `error` met while writing the `kind` object `object`.
    pub fn writing(kind: &'static str, object: impl Into<String>, error: impl Into<Error>) -> Self {
        Error::Write {
            kind,
            object: object.into(),
            error: Box::new(error.into()),
        }
    }

    /// A short, bounded name of the failure.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Write { error, .. } => error.category(),
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 403 || s.code == 401 => "forbidden",
            Error::Kube(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => "invalid",
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "transport",
            Error::Serialize(_) => "serialize",
            Error::Finalizer(_) => "finalizer",
        }
    }

    /// The error behind a finalizer step.
    pub fn from_finalizer(error: kube::runtime::finalizer::Error<Error>) -> Self {
        use kube::runtime::finalizer::Error as F;
        match error {
            F::ApplyFailed(e) | F::CleanupFailed(e) => e,
            F::AddFinalizer(e) | F::RemoveFinalizer(e) => Error::Kube(e),
            other => Error::Finalizer(other.to_string()),
        }
    }

    /// Whether retrying soon can help.
    pub fn is_transient(&self) -> bool {
        !matches!(self.category(), "invalid" | "serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_like_kubectl_and_keep_their_category() {
        let status = kube::core::Status {
            message: "denied by policy".into(),
            reason: "Invalid".into(),
            code: 422,
            ..Default::default()
        };
        let e = Error::writing(
            "ClusterProfile status",
            "inv/p",
            kube::Error::Api(Box::new(status)),
        );
        assert_eq!(
            e.to_string(),
            "writing ClusterProfile status inv/p: denied by policy (Invalid, 422)"
        );
        assert_eq!(e.category(), "invalid");
        assert!(!e.is_transient());
    }
}
