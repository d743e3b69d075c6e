//! The hub's errors, each with a bounded category for metric labels and Event reasons.

pub use roster_runtime::errors::Category;

/// Why a reconcile failed. Each message carries its cause (logs and Events print the message
/// alone), so no variant has a `#[source]`: the Display rule of `roster_runtime::errors`.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("{}", roster_runtime::errors::brief(.0))]
    Kube(kube::Error),
    /// An object could not be serialized.
    #[error("serializing an object: {0}")]
    Serialize(serde_json::Error),
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

impl From<kube::Error> for Error {
    fn from(error: kube::Error) -> Self {
        Error::Kube(error)
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::Serialize(error)
    }
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

    /// What kind of failure it is: the metric label, and whether to retry soon.
    pub fn category(&self) -> Category {
        match self {
            Error::Write { error, .. } => error.category(),
            Error::Kube(e) => Category::of(e),
            Error::Serialize(_) => Category::Serialize,
            Error::Finalizer(_) => Category::Finalizer,
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

    /// Whether retrying soon can help (the one decision, in [`Category::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.category().is_transient()
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
        assert_eq!(e.category(), Category::Invalid);
        assert!(!e.is_transient());
    }
}
