//! Configs from a mounted credentials directory, the shape Kubernetes uses for in-cluster
//! credentials: a folder holding `kubeconfig`, or `token`, `server`, `ca.crt` (optional) and
//! `namespace` (optional). Tokens are read from their file by kube, so a refreshed token is
//! picked up without rebuilding the config.

use std::path::{Path, PathBuf};

use kube::config::{InferConfigError, Kubeconfig, KubeconfigError};

use super::config::{certificates, server_url};

/// File holding a complete kubeconfig.
pub const KUBECONFIG_FILE: &str = "kubeconfig";
/// File holding the bearer token.
pub const TOKEN_FILE: &str = "token";
/// File holding the API server URL.
pub const SERVER_FILE: &str = "server";
/// File holding the PEM CA bundle of the API server.
pub const CA_FILE: &str = "ca.crt";
/// File holding the default namespace.
pub const NAMESPACE_FILE: &str = "namespace";

/// Why a config could not be built from a directory (or inferred).
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory's `kubeconfig` could not be loaded.
    #[error("cannot use kubeconfig {}: {error}", path.display())]
    Kubeconfig {
        /// The kubeconfig's path.
        path: PathBuf,
        /// kube's error.
        error: KubeconfigError,
    },
    /// A file the directory needs is absent.
    #[error("{} has neither {KUBECONFIG_FILE} nor {file}", dir.display())]
    Missing {
        /// The directory.
        dir: PathBuf,
        /// The missing file.
        file: &'static str,
    },
    /// A file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A file's content is unusable.
    #[error("{} is invalid: {reason}", path.display())]
    Invalid {
        /// The file's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No directory, and neither a kubeconfig nor in-cluster credentials were found.
    #[error("no credentials directory at {}, and {error}", dir.display())]
    Infer {
        /// The directory that does not exist.
        dir: PathBuf,
        /// kube's inference error.
        error: InferConfigError,
    },
}

/// Builds a config from a credentials directory: its `kubeconfig` if present, else its
/// `token`, `server`, `ca.crt` and `namespace` files.
pub fn from_directory(dir: impl AsRef<Path>) -> Result<kube::Config, DirectoryError> {
    let dir = dir.as_ref();
    let kubeconfig = dir.join(KUBECONFIG_FILE);
    if kubeconfig.is_file() {
        from_kubeconfig(dir, &kubeconfig)
    } else {
        from_token_files(dir)
    }
}

/// Builds a config from `dir` if it exists (a broken directory is an error, not skipped), else
/// infers one like kube does: `KUBECONFIG` or `~/.kube/config`, then in-cluster.
pub async fn from_directory_or_infer(
    dir: impl AsRef<Path>,
) -> Result<kube::Config, DirectoryError> {
    let dir = dir.as_ref();
    if dir.is_dir() {
        return from_directory(dir);
    }
    kube::Config::infer()
        .await
        .map_err(|error| DirectoryError::Infer {
            dir: dir.to_owned(),
            error,
        })
}

fn from_kubeconfig(dir: &Path, path: &Path) -> Result<kube::Config, DirectoryError> {
    let kubeconfig_error = |error| DirectoryError::Kubeconfig {
        path: path.to_owned(),
        error,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
    let context_namespace = current_namespace(&kubeconfig);
    let mut config = kube::Config::try_from(kubeconfig).map_err(kubeconfig_error)?;
    // The kubeconfig's context decides; the namespace file fills in when it is silent.
    if context_namespace.is_none()
        && let Some(namespace) = read_optional(&dir.join(NAMESPACE_FILE))?
    {
        config.default_namespace = namespace;
    }
    Ok(config)
}

fn from_token_files(dir: &Path) -> Result<kube::Config, DirectoryError> {
    let token = required(dir, TOKEN_FILE)?;
    let server_path = required(dir, SERVER_FILE)?;
    let server = read_optional(&server_path)?.unwrap_or_default();
    let cluster_url = server_url(&server).map_err(|reason| DirectoryError::Invalid {
        path: server_path,
        reason,
    })?;
    let mut config = kube::Config::new(cluster_url);

    let ca_path = dir.join(CA_FILE);
    if ca_path.is_file() {
        let pem = std::fs::read(&ca_path).map_err(|error| DirectoryError::Read {
            path: ca_path.clone(),
            error,
        })?;
        config.root_cert = Some(
            certificates(&pem).map_err(|reason| DirectoryError::Invalid {
                path: ca_path.clone(),
                reason,
            })?,
        );
        // kube re-reads this file, so a rotated CA is picked up too.
        config.root_cert_file = Some(ca_path);
    }
    if let Some(namespace) = read_optional(&dir.join(NAMESPACE_FILE))? {
        config.default_namespace = namespace;
    }
    let token_file = token.to_str().ok_or_else(|| DirectoryError::Invalid {
        path: token.clone(),
        reason: "the path is not UTF-8".to_owned(),
    })?;
    config.auth_info.token_file = Some(token_file.to_owned());
    Ok(config)
}

fn current_namespace(kubeconfig: &Kubeconfig) -> Option<String> {
    let current = kubeconfig.current_context.as_deref()?;
    kubeconfig
        .contexts
        .iter()
        .find(|context| context.name == current)?
        .context
        .as_ref()?
        .namespace
        .clone()
}

fn required(dir: &Path, file: &'static str) -> Result<PathBuf, DirectoryError> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(DirectoryError::Missing {
            dir: dir.to_owned(),
            file,
        })
    }
}

/// The trimmed content of a file, or `None` when it is absent or blank.
fn read_optional(path: &Path) -> Result<Option<String>, DirectoryError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(DirectoryError::Read {
            path: path.to_owned(),
            error,
        }),
    }
}
