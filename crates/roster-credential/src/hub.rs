//! The hub through kube's client: connection settings (the pod's service account or a
//! kubeconfig), the token Secret's GET when [`crate::direct`] cannot make it, federated mode's
//! SelfSubjectReview and TokenRequest, and the API's answers turned into the plugin's errors.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use k8s_openapi::api::{
    authentication::v1::{SelfSubjectReview, TokenRequest},
    core::v1::{Secret, ServiceAccount},
};
use kube::{
    Api,
    api::PostParams,
    config::{KubeConfigOptions, Kubeconfig},
};
use roster_runtime::errors::{self, Category};
use secrecy::SecretString;

use crate::{
    error::{Error, one_line},
    secret::SecretRef,
    target::ServiceAccountRef,
};

/// The token of the pod's service account; with `KUBERNETES_SERVICE_HOST`, the sign of a pod.
const SERVICE_ACCOUNT_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// How long the hub may take to answer; clients wait on the plugin, so it must not hang.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting to the hub may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the hub's connection settings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The pod's service account.
    InCluster,
    /// A kubeconfig file, or `KUBECONFIG`/`~/.kube/config` when `None`.
    Kubeconfig(Option<PathBuf>),
}

/// An explicit `--kubeconfig` wins; else the pod's service account in a pod; else the
/// standard kubeconfig.
pub fn source(kubeconfig: Option<&Path>, in_pod: bool) -> Source {
    match kubeconfig {
        Some(path) => Source::Kubeconfig(Some(path.to_owned())),
        None if in_pod => Source::InCluster,
        None => Source::Kubeconfig(None),
    }
}

/// Whether this runs in a pod with a service account token, as client-go decides.
pub fn running_in_pod() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|host| !host.is_empty())
        && Path::new(SERVICE_ACCOUNT_TOKEN_FILE).is_file()
}

/// How to reach the hub.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The client configuration.
    pub config: kube::Config,
    /// The kubeconfig current context's namespace, when the settings come from a kubeconfig.
    pub context_namespace: Option<String>,
}

/// Loads the hub's connection settings from `source`.
pub async fn settings(source: &Source) -> Result<Settings, Error> {
    let (mut config, context_namespace) = match source {
        Source::InCluster => {
            let config = kube::Config::incluster().map_err(|e| {
                Error::HubConfig(format!("in-cluster configuration: {}", chain(&e)))
            })?;
            (config, None)
        }
        Source::Kubeconfig(path) => {
            let kubeconfig = match path {
                Some(path) => Kubeconfig::read_from(path).map_err(|e| chain(&e)),
                None => Kubeconfig::read().map_err(|e| {
                    format!(
                        "{} (pass --kubeconfig or set KUBECONFIG, or run in a pod)",
                        chain(&e)
                    )
                }),
            }
            .map_err(Error::HubConfig)?;
            let namespace = context_namespace(&kubeconfig);
            let config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| Error::HubConfig(chain(&e)))?;
            (config, namespace)
        }
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout.get_or_insert(READ_TIMEOUT);
    Ok(Settings {
        config,
        context_namespace,
    })
}

/// The namespace of the kubeconfig's current context, if it sets one.
pub fn context_namespace(kubeconfig: &Kubeconfig) -> Option<String> {
    let current = kubeconfig.current_context.as_deref()?;
    kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == current)?
        .context
        .as_ref()?
        .namespace
        .clone()
}

/// Reads the Secret `at` with one GET.
pub async fn get_secret(config: kube::Config, at: &SecretRef) -> Result<Secret, Error> {
    let (client, server) = client(config)?;
    Api::<Secret>::namespaced(client, &at.namespace)
        .get(&at.name)
        .await
        .map_err(|e| api_error(at, &server, e))
}

/// The hub's URL as users write it (no trailing `/`).
pub(crate) fn server_url(config: &kube::Config) -> String {
    config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_owned()
}

/// A client for `config`, and the hub's URL as messages name it.
pub fn client(config: kube::Config) -> Result<(kube::Client, String), Error> {
    let server = server_url(&config);
    let client = kube::Client::try_from(config).map_err(|e| Error::HubConfig(chain(&e)))?;
    Ok((client, server))
}

/// The bearer token the plugin authenticates to the hub with, when its settings hold one
/// (a kubeconfig `token`, or a token file such as the pod's service account token).
pub fn bearer_token(config: &kube::Config) -> Option<SecretString> {
    if let Some(token) = &config.auth_info.token {
        return Some(token.clone());
    }
    let file = config.auth_info.token_file.as_deref()?;
    let text = std::fs::read_to_string(file).ok()?;
    Some(SecretString::from(text.trim().to_owned()))
}

/// What a SelfSubjectReview is, as failure messages name it.
pub const WHO_AM_I: &str = "review the plugin's own identity (SelfSubjectReview)";

/// Who the hub says the plugin is (a SelfSubjectReview): its username.
pub async fn who_am_i(client: &kube::Client, server: &str) -> Result<String, Error> {
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(|e| federated_error(WHO_AM_I, server, e))?;
    username(review, server)
}

/// The username a SelfSubjectReview answered.
pub fn username(review: SelfSubjectReview, server: &str) -> Result<String, Error> {
    review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .ok_or_else(|| Error::FederatedApi {
            what: WHO_AM_I.to_owned(),
            server: server.to_owned(),
            cause: "the review came back without a username".into(),
        })
}

/// What a TokenRequest for `account` is, as failure messages name it.
pub fn token_request_what(account: &ServiceAccountRef) -> String {
    format!("create a token for service account {account} (TokenRequest)")
}

/// Creates `request` for the service account `account` (TokenRequest).
pub async fn request_token(
    client: &kube::Client,
    server: &str,
    account: &ServiceAccountRef,
    request: &TokenRequest,
) -> Result<TokenRequest, Error> {
    Api::<ServiceAccount>::namespaced(client.clone(), &account.namespace)
        .create_token_request(&account.name, &PostParams::default(), request)
        .await
        .map_err(|e| token_request_error(account, server, e))
}

/// The plugin's error for a failed TokenRequest for `account` on `server`.
pub fn token_request_error(account: &ServiceAccountRef, server: &str, error: kube::Error) -> Error {
    if let kube::Error::Api(status) = &error
        && matches!(
            Category::of_status(status),
            Category::Forbidden | Category::Terminating
        )
    {
        return Error::TokenRequestForbidden {
            account: Box::new(account.clone()),
            identity: refused_identity(&status.message),
        };
    }
    federated_error(&token_request_what(account), server, error)
}

/// The plugin's error for a federated request (`what`) that failed on `server`.
pub fn federated_error(what: &str, server: &str, error: kube::Error) -> Error {
    transport_error(server, error).unwrap_or_else(|(server, error)| Error::FederatedApi {
        what: what.to_owned(),
        server,
        cause: match error {
            kube::Error::Api(status) => one_line(&format!(
                "{} {}: {}",
                status.code, status.reason, status.message
            )),
            other => chain(&other),
        },
    })
}

/// The plugin's error for a failed GET of `at` on `server`.
pub fn api_error(at: &SecretRef, server: &str, error: kube::Error) -> Error {
    let secret = Box::new(at.clone());
    let (server, error) = match transport_error(server, error) {
        Ok(error) => return error,
        Err(rest) => rest,
    };
    match error {
        kube::Error::Api(status) => match Category::of_status(&status) {
            Category::NotFound => Error::SecretNotFound { secret },
            Category::Forbidden | Category::Terminating => Error::Forbidden {
                secret,
                identity: refused_identity(&status.message),
            },
            _ => Error::Api {
                secret,
                server,
                cause: one_line(&format!(
                    "{} {}: {}",
                    status.code, status.reason, status.message
                )),
            },
        },
        other => Error::Api {
            secret,
            server,
            cause: chain(&other),
        },
    }
}

/// The errors that read the same whatever was asked: the hub rejecting the plugin's own
/// credentials, failing to authenticate, failing to connect. Anything else comes back with the
/// server's URL, for the caller to name what failed.
fn transport_error(server: &str, error: kube::Error) -> Result<Error, (String, kube::Error)> {
    let server = server.to_owned();
    match error {
        kube::Error::Api(status) if Category::of_status(&status) == Category::Unauthorized => {
            Ok(Error::Unauthorized { server })
        }
        kube::Error::Auth(e) => Ok(Error::HubAuth {
            server,
            cause: chain(&e),
        }),
        // Transport failures: connection refused, DNS, TLS, timeouts. The wrapper's own text
        // ("ServiceError: ...") says nothing to a user, so the chain starts below it.
        kube::Error::Service(e) => Ok(Error::Unreachable {
            server,
            cause: chain(&*e),
        }),
        kube::Error::HyperError(e) => Ok(Error::Unreachable {
            server,
            cause: chain(&e),
        }),
        other => Err((server, other)),
    }
}

/// Who an RBAC denial names, as `User "..."`, or a description quoting the API server.
fn refused_identity(message: &str) -> String {
    match refused_user(message) {
        Some(user) => format!("User {user:?}"),
        None => format!(
            "the plugin's identity (the API server said: {})",
            one_line(message)
        ),
    }
}

/// The causes of `error` on one line (`roster_runtime::errors::chain`, line breaks folded).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    one_line(&errors::chain(error))
}

/// The user an RBAC denial names: `... User "system:serviceaccount:ns:sa" cannot get ...`.
fn refused_user(message: &str) -> Option<&str> {
    let start = message.find("User \"")? + "User \"".len();
    let rest = &message[start..];
    let user = &rest[..rest.find('"')?];
    (!user.is_empty()).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn at() -> SecretRef {
        SecretRef::new("deployer", "member-1")
            .unwrap()
            .in_namespace("team-a")
    }

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    const SERVER: &str = "https://hub.example.com:6443";

    #[test]
    fn explicit_kubeconfig_wins_then_pod_then_default() {
        let path = Path::new("/k");
        assert_eq!(
            source(Some(path), true),
            Source::Kubeconfig(Some(path.into()))
        );
        assert_eq!(source(None, true), Source::InCluster);
        assert_eq!(source(None, false), Source::Kubeconfig(None));
    }

    #[test]
    fn context_namespace_of_the_current_context() {
        let yaml = r#"
apiVersion: v1
kind: Config
current-context: b
contexts:
- name: a
  context: {cluster: c, user: u, namespace: ns-a}
- name: b
  context: {cluster: c, user: u, namespace: ns-b}
- name: c
  context: {cluster: c, user: u}
"#;
        let mut kubeconfig = Kubeconfig::from_yaml(yaml).unwrap();
        assert_eq!(context_namespace(&kubeconfig).as_deref(), Some("ns-b"));
        kubeconfig.current_context = Some("c".into());
        assert_eq!(context_namespace(&kubeconfig), None);
        kubeconfig.current_context = None;
        assert_eq!(context_namespace(&kubeconfig), None);
    }

    #[test]
    fn not_found() {
        let err = api_error(
            &at(),
            SERVER,
            status(404, "NotFound", "secrets \"x\" not found"),
        );
        assert!(matches!(err, Error::SecretNotFound { .. }));
    }

    #[test]
    fn forbidden_names_the_refused_identity() {
        let message = "secrets \"deployer-member-1\" is forbidden: User \
                       \"system:serviceaccount:other:outsider\" cannot get resource \"secrets\" in \
                       API group \"\" in the namespace \"team-a\"";
        match api_error(&at(), SERVER, status(403, "Forbidden", message)) {
            Error::Forbidden { identity, .. } => {
                assert_eq!(identity, "User \"system:serviceaccount:other:outsider\"");
            }
            other => panic!("{other:?}"),
        }
        match api_error(&at(), SERVER, status(403, "Forbidden", "denied\nby policy")) {
            Error::Forbidden { identity, .. } => assert_eq!(
                identity,
                "the plugin's identity (the API server said: denied by policy)"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unauthorized_and_other_codes() {
        assert!(matches!(
            api_error(&at(), SERVER, status(401, "Unauthorized", "Unauthorized")),
            Error::Unauthorized { server } if server == SERVER
        ));
        match api_error(&at(), SERVER, status(500, "InternalError", "etcd is gone")) {
            Error::Api { cause, .. } => assert_eq!(cause, "500 InternalError: etcd is gone"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn transport_failures_are_unreachable() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = api_error(&at(), SERVER, kube::Error::Service(Box::new(refused)));
        assert!(matches!(err, Error::Unreachable { cause, .. } if cause == "refused"));
    }

    fn account() -> ServiceAccountRef {
        ServiceAccountRef {
            namespace: "team-a".into(),
            name: "deployer".into(),
        }
    }

    #[test]
    fn token_request_errors() {
        let message = "serviceaccounts \"deployer\" is forbidden: User \
                       \"system:serviceaccount:team-a:deployer\" cannot create resource \
                       \"serviceaccounts/token\" in API group \"\" in the namespace \"team-a\"";
        match token_request_error(&account(), SERVER, status(403, "Forbidden", message)) {
            Error::TokenRequestForbidden {
                account: a,
                identity,
            } => {
                assert_eq!(*a, account());
                assert_eq!(identity, "User \"system:serviceaccount:team-a:deployer\"");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            token_request_error(
                &account(),
                SERVER,
                status(401, "Unauthorized", "Unauthorized")
            ),
            Error::Unauthorized { .. }
        ));
        match token_request_error(&account(), SERVER, status(404, "NotFound", "gone")) {
            Error::FederatedApi { what, cause, .. } => {
                assert_eq!(
                    what,
                    "create a token for service account team-a/deployer (TokenRequest)"
                );
                assert_eq!(cause, "404 NotFound: gone");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bearer_tokens_from_the_settings() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let mut config = kube::Config::new("https://hub.example.com".parse().unwrap());
        assert!(bearer_token(&config).is_none());
        config.auth_info.token_file = Some(file.to_str().unwrap().into());
        assert_eq!(bearer_token(&config).unwrap().expose_secret(), "from-file");
        config.auth_info.token = Some("inline".to_owned().into());
        assert_eq!(bearer_token(&config).unwrap().expose_secret(), "inline");
    }

    #[test]
    fn refused_user_parsing() {
        assert_eq!(refused_user("User \"a:b\" cannot"), Some("a:b"));
        assert_eq!(refused_user("User \"\" cannot"), None);
        assert_eq!(refused_user("User \"unterminated"), None);
        assert_eq!(refused_user("nothing"), None);
    }
}
