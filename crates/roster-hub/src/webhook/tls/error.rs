//! Why a webhook certificate could not be made, read or loaded.

use std::path::PathBuf;

use k8s_openapi::jiff::Timestamp;

/// Why a webhook certificate could not be made, read or loaded. Each message names what was
/// being done and carries the library's answer, so no variant has a `#[source]` (the Display
/// rule of `roster_runtime::errors`).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen could not generate a key, read the CA or sign.
    #[error("{doing}: {error}")]
    Issue {
        /// What was being done.
        doing: String,
        /// rcgen's answer.
        error: rcgen::Error,
    },
    /// A PEM, a certificate or a time in it does not parse.
    #[error("{doing}: {detail}")]
    Parse {
        /// What was being read.
        doing: &'static str,
        /// The parser's answer.
        detail: String,
    },
    /// A time a certificate cannot hold.
    #[error("{time}: {detail}")]
    Time {
        /// The time.
        time: Timestamp,
        /// Why.
        detail: String,
    },
    /// The certificate PEM holds no certificate.
    #[error("no certificate in the certificate PEM")]
    NoCertificate,
    /// The private key does not belong to the leaf certificate.
    #[error("the private key does not fit the certificate: {0}")]
    KeyMismatch(rustls::Error),
    /// A certificate file could not be read.
    #[error("reading {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The files of `--webhook-cert-dir` do not load.
    #[error("{}: {error}", dir.display())]
    Files {
        /// The folder.
        dir: PathBuf,
        /// Why.
        error: Box<TlsError>,
    },
    /// The CA rotation keeps finding steps to take (a bug, not a state to wait out).
    #[error("CA rotation does not settle: {0}")]
    Unsettled(String),
}

impl TlsError {
    /// rcgen's `error` while `doing`.
    pub fn issue(doing: impl Into<String>) -> impl FnOnce(rcgen::Error) -> Self {
        move |error| TlsError::Issue {
            doing: doing.into(),
            error,
        }
    }

    /// A parser's `error` while reading `doing`.
    pub fn parse<E: std::fmt::Display>(doing: &'static str) -> impl FnOnce(E) -> Self {
        move |error| TlsError::Parse {
            doing,
            detail: error.to_string(),
        }
    }
}
