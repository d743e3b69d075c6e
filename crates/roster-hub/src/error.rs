//! The hub's errors, each with a bounded category for metric labels and Event reasons.

/// Why a reconcile failed.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// An object could not be serialized.
    #[error("serializing an object: {0}")]
    Serialize(#[from] serde_json::Error),
    /// Adding or removing a finalizer went wrong outside an API call.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    /// A short, bounded name of the failure.
    pub fn category(&self) -> &'static str {
        match self {
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
