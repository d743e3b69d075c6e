//! Everything that can go wrong, each with the one-line message the user reads on stderr.
//!
//! Messages name what was looked for and where, and what to check next; none holds a token.

use std::path::PathBuf;

use crate::target::{ApiVersion, EXEC_INFO_ENV, SecretRef, ServiceAccountRef};

/// Why no credential was printed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `KUBERNETES_EXEC_INFO` is unset or blank.
    #[error(
        "{EXEC_INFO_ENV} is unset or empty: roster-credential is an exec credential plugin; run it \
         from a ClusterProfile provider file (or a kubeconfig exec section) with \
         provideClusterInfo: true"
    )]
    ExecInfoMissing,

    /// `KUBERNETES_EXEC_INFO` does not parse as JSON.
    #[error("{EXEC_INFO_ENV} is not valid JSON (an ExecCredential was expected): {0}")]
    ExecInfoNotJson(serde_json::Error),

    /// The ExecCredential's `apiVersion` is missing or not one the plugin speaks.
    #[error(
        "{EXEC_INFO_ENV} has {}; roster-credential supports {} and {}: set one of them as the \
         apiVersion of the provider's execConfig",
        found.as_ref().map_or("no apiVersion".to_owned(), |v| format!("apiVersion {v:?}")),
        ApiVersion::V1.as_str(),
        ApiVersion::V1Beta1.as_str()
    )]
    UnsupportedApiVersion {
        /// The apiVersion found, if any.
        found: Option<String>,
    },

    /// The client passed no `spec.cluster`.
    #[error(
        "{EXEC_INFO_ENV} has no spec.cluster: set provideClusterInfo: true in the provider's \
         execConfig so the client tells the plugin which cluster it wants a token for"
    )]
    NoClusterInfo,

    /// `spec.cluster.config` carries no `clusterName`.
    #[error(
        "{EXEC_INFO_ENV} has no clusterName in spec.cluster.config: the cluster's \
         client.authentication.k8s.io/exec extension must be {{\"clusterName\": \"<member>\"}}, \
         as in the roster access provider of each Roster ClusterProfile"
    )]
    NoClusterName,

    /// The RemoteServiceAccount and cluster names do not make a valid Secret name.
    #[error(
        "RemoteServiceAccount {remote_service_account:?} and cluster {cluster:?} do not make a \
         valid Secret name ({name:?}): names are lowercase letters, digits, '-' and '.', at most \
         253 characters"
    )]
    InvalidSecretName {
        /// The name they make.
        name: String,
        /// The `--remote-service-account` flag.
        remote_service_account: String,
        /// The cluster name from `KUBERNETES_EXEC_INFO`.
        cluster: String,
    },

    /// No namespace from the flag, the pod or the kubeconfig.
    #[error(
        "cannot tell which namespace holds the token Secrets: pass --namespace (or set \
         POD_NAMESPACE), run in a pod, or set a namespace in the kubeconfig's current context"
    )]
    NoNamespace,

    /// No usable connection settings for the hub.
    #[error("cannot load the hub's connection settings: {0}")]
    HubConfig(String),

    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),

    /// The Secret does not exist.
    #[error(
        "Secret {secret} not found: RemoteServiceAccount {:?} has no token for cluster {:?} in \
         namespace {:?}; check that it exists and selects that cluster with `kubectl get rsa {} \
         -n {}`",
        secret.remote_service_account,
        secret.cluster,
        secret.namespace,
        secret.remote_service_account,
        secret.namespace
    )]
    SecretNotFound {
        /// The Secret looked for.
        secret: Box<SecretRef>,
    },

    /// The Secret exists but is not a Roster remote token.
    #[error(
        "Secret {secret} has type {found:?}, not {}: refusing to hand out its data as a token",
        roster_api::names::token_secret::TYPE
    )]
    WrongSecretType {
        /// The Secret read.
        secret: Box<SecretRef>,
        /// Its type.
        found: String,
    },

    /// The Secret exists but holds no token yet.
    #[error(
        "Secret {secret} holds no token yet: the token of RemoteServiceAccount {:?} for cluster \
         {:?} has not been delivered yet; check its status with `kubectl get rsa {} -n {}`",
        secret.remote_service_account,
        secret.cluster,
        secret.remote_service_account,
        secret.namespace
    )]
    TokenNotDelivered {
        /// The Secret read.
        secret: Box<SecretRef>,
    },

    /// The token is not a usable bearer token (not UTF-8, or with spaces or control characters).
    #[error("Secret {secret} holds a malformed token (not printable text without spaces)")]
    MalformedToken {
        /// The Secret read.
        secret: Box<SecretRef>,
    },

    /// The expiry is missing or not RFC 3339.
    #[error(
        "Secret {secret} has {}: it must be RFC 3339 in UTC, like 2026-11-22T21:00:00Z",
        found.as_ref().map_or(
            "no expirationTimestamp".to_owned(),
            |v| format!("an invalid expirationTimestamp {v:?}")
        )
    )]
    BadExpiration {
        /// The Secret read.
        secret: Box<SecretRef>,
        /// The value found, if any.
        found: Option<String>,
    },

    /// The token's expiry has passed.
    #[error(
        "the token for cluster {:?} in Secret {secret} expired at {expired_at} ({ago} ago): \
         roster-hub or the member's agent may not be refreshing it; check `kubectl get rsa {} \
         -n {}`",
        secret.cluster,
        secret.remote_service_account,
        secret.namespace
    )]
    TokenExpired {
        /// The Secret read.
        secret: Box<SecretRef>,
        /// When it expired, RFC 3339.
        expired_at: String,
        /// How long ago, like `2h5m`.
        ago: String,
    },

    /// The hub refused to let the plugin's identity read the Secret (403).
    #[error(
        "access denied: {identity} is not allowed to get secrets in namespace {:?} (reading \
         Secret {secret}); grant it get on secrets there with a Role and RoleBinding, or run the \
         plugin as an identity that has it",
        secret.namespace
    )]
    Forbidden {
        /// The Secret looked for.
        secret: Box<SecretRef>,
        /// Who was refused, as the API server named it (`User "..."`), or a description.
        identity: String,
    },

    /// The hub did not accept the plugin's own credentials (401).
    #[error(
        "the hub API server at {server} rejected the plugin's own credentials (401 \
         Unauthorized): the pod's service account token or the kubeconfig's user is invalid or \
         expired"
    )]
    Unauthorized {
        /// The hub's URL.
        server: String,
    },

    /// The plugin could not authenticate before sending the request.
    #[error("cannot authenticate to the hub API server at {server}: {cause}")]
    HubAuth {
        /// The hub's URL.
        server: String,
        /// What failed.
        cause: String,
    },

    /// The hub could not be reached (connection, TLS, timeout).
    #[error("cannot reach the hub API server at {server}: {cause}")]
    Unreachable {
        /// The hub's URL.
        server: String,
        /// What failed.
        cause: String,
    },

    /// Any other failure of the GET (another status code, an unreadable answer).
    #[error("the hub API server at {server} failed to return Secret {secret}: {cause}")]
    Api {
        /// The Secret looked for.
        secret: Box<SecretRef>,
        /// The hub's URL.
        server: String,
        /// What it answered, or what failed.
        cause: String,
    },

    /// Neither `--remote-service-account` nor `--federated`.
    #[error(
        "no token source: pass --remote-service-account NAME (the token of a \
         RemoteServiceAccount, from its Secret) or --federated (a token of the plugin's own hub \
         service account, for members that trust the hub)"
    )]
    NoMode,

    /// Both `--remote-service-account` and `--federated`.
    #[error(
        "--remote-service-account and --federated exclude each other: the roster access provider \
         passes the first, the roster-federated provider the second; pass one of them"
    )]
    BothModes,

    /// `--token-dir` or `--expiration-seconds` without `--federated`.
    #[error("{flag} is only used with --federated")]
    FederatedFlagWithoutFederated {
        /// The flag given.
        flag: &'static str,
    },

    /// `--expiration-seconds` below what the API server accepts.
    #[error(
        "--expiration-seconds {seconds} is too short: the API server issues tokens for at least \
         600 seconds"
    )]
    ExpirationTooShort {
        /// The value given.
        seconds: i64,
    },

    /// `spec.cluster.config.audience` is there but not a non-empty string.
    #[error(
        "{EXEC_INFO_ENV} has audience {found} in spec.cluster.config: it must be a non-empty \
         string, as in the roster-federated access provider of each Roster ClusterProfile \
         ({{\"clusterName\": \"<member>\", \"audience\": \"roster:<member>\"}})"
    )]
    BadAudience {
        /// The value found, as JSON.
        found: String,
    },

    /// The cluster name cannot name a folder under `--token-dir`.
    #[error(
        "cluster {cluster:?} cannot name a token file under --token-dir: names are lowercase \
         letters, digits, '-' and '.', at most 253 characters"
    )]
    InvalidClusterName {
        /// The cluster name from `KUBERNETES_EXEC_INFO`.
        cluster: String,
    },

    /// The projected token file cannot be read.
    #[error(
        "cannot read the federated token file {}: {cause}; the pod needs the projected \
         service-account token for cluster {cluster:?} there (Roster's webhook mounts it for a \
         federated RemoteServiceAccount), or drop --token-dir to request one",
        path.display()
    )]
    TokenFileUnreadable {
        /// The file.
        path: PathBuf,
        /// The cluster it is for.
        cluster: String,
        /// What failed.
        cause: String,
    },

    /// The token file holds no JWT with an expiry.
    #[error(
        "{} does not hold a service-account token (a JWT whose payload has aud and exp)",
        path.display()
    )]
    TokenFileNotJwt {
        /// The file.
        path: PathBuf,
    },

    /// The token file's token is not for the member's audience.
    #[error(
        "the token in {} is for audience {found:?}, not {audience:?}: the member would reject \
         it; the projected volume must ask for audience {audience:?}",
        path.display()
    )]
    TokenFileWrongAudience {
        /// The file.
        path: PathBuf,
        /// The audience needed.
        audience: String,
        /// The token's audiences.
        found: Vec<String>,
    },

    /// The token file's token has expired.
    #[error(
        "the token in {} expired at {expired_at} ({ago} ago): the kubelet refreshes projected \
         tokens well before they expire; check that the pod's volume is still mounted and the \
         kubelet running",
        path.display()
    )]
    TokenFileExpired {
        /// The file.
        path: PathBuf,
        /// When it expired, RFC 3339.
        expired_at: String,
        /// How long ago, like `2h5m`.
        ago: String,
    },

    /// The plugin's hub identity is not a service account.
    #[error(
        "federated mode needs a hub service account, and the plugin reaches the hub as \
         {identity}: run it in a pod with its service account, or with a kubeconfig holding a \
         service-account token"
    )]
    NotAServiceAccount {
        /// Who the hub says the plugin is.
        identity: String,
    },

    /// The hub refused the TokenRequest (403).
    #[error(
        "access denied: {identity} may not request a token for its own service account \
         {account}: the missing RBAC rule is create on serviceaccounts/token with resourceNames \
         [{:?}] in namespace {:?} (a Role, bound to the service account by a RoleBinding)",
        account.name,
        account.namespace
    )]
    TokenRequestForbidden {
        /// The service account.
        account: Box<ServiceAccountRef>,
        /// Who was refused, as the API server named it (`User "..."`), or a description.
        identity: String,
    },

    /// Any other failure of a federated request (TokenRequest, SelfSubjectReview).
    #[error("the hub API server at {server} failed to {what}: {cause}")]
    FederatedApi {
        /// What was asked.
        what: String,
        /// The hub's URL.
        server: String,
        /// What it answered, or what failed.
        cause: String,
    },

    /// Writing the credential failed.
    #[error("cannot write the ExecCredential to stdout: {0}")]
    Output(std::io::Error),
}

/// The line printed on stderr for `error`: `roster-credential: <message>`, on one line.
pub fn error_line(error: &Error) -> String {
    one_line(&format!("roster-credential: {error}"))
}

/// The one line printed for flags the plugin cannot parse: clap's own error (`error: invalid
/// value 'x' for '--expiration-seconds <SECONDS>': …`) and its tips (a similar flag), without
/// its usage block, and where to look. Help and version requests are not errors and keep clap's output.
pub fn usage_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("cannot parse the arguments");
    let message = first.strip_prefix("error: ").unwrap_or(first);
    let tips: Vec<&str> = lines.filter_map(|l| l.strip_prefix("tip: ")).collect();
    let tips = tips.iter().map(|t| format!("; {t}")).collect::<String>();
    format!("roster-credential: {message}{tips} (see roster-credential --help)")
}

/// `text` with line breaks turned into spaces, for messages quoted from elsewhere.
pub fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_single_lines() {
        assert_eq!(one_line("a\nb\r\n c"), "a b c");
        let line = error_line(&Error::HubConfig("first\nsecond".into()));
        assert_eq!(
            line,
            "roster-credential: cannot load the hub's connection settings: first second"
        );
    }
}
