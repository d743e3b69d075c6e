//! Command line of `roster-credential`.

use std::path::PathBuf;

use clap::Parser;

use crate::error::Error;

/// The API server's shortest TokenRequest, seconds.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;

/// How long a requested federated token lasts unless asked otherwise, seconds.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// ClusterProfile access-provider exec plugin: prints an ExecCredential with a Roster remote
/// service account token (or, with --federated, a token of the plugin's own hub service
/// account) for the cluster named in KUBERNETES_EXEC_INFO.
#[derive(Parser, Debug, Clone)]
#[command(name = "roster-credential", version, about, long_about = None)]
pub struct Cli {
    /// Name of the RemoteServiceAccount (in this pod's namespace) whose token to use.
    #[arg(long, env = "ROSTER_REMOTE_SERVICE_ACCOUNT")]
    pub remote_service_account: Option<String>,

    /// Federated mode: a token of the plugin's own hub service account, for the audience the
    /// cluster's exec extension names (members that trust the hub's issuer accept it).
    #[arg(
        long,
        env = "ROSTER_CREDENTIAL_FEDERATED",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub federated: bool,

    /// Federated mode: read DIR/<cluster>/token, a projected service-account token, instead
    /// of requesting one from the hub.
    #[arg(long, env = "ROSTER_FEDERATED_TOKEN_DIR", value_name = "DIR")]
    pub token_dir: Option<PathBuf>,

    /// Federated mode: how long a requested token lasts, seconds (at least 600).
    #[arg(
        long,
        env = "ROSTER_FEDERATED_EXPIRATION_SECONDS",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub expiration_seconds: Option<i64>,

    /// Kubeconfig for the hub; when unset, the pod's service account is used in a pod, else
    /// KUBECONFIG or ~/.kube/config.
    // Not `env = "KUBECONFIG"`: that variable may list several files, which kube's loader merges.
    #[arg(long, env = "ROSTER_CREDENTIAL_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace of the RemoteServiceAccount and its token Secrets; defaults to the pod's
    /// namespace, else the kubeconfig context's.
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
}

/// Where the token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The Secret of this RemoteServiceAccount.
    RemoteServiceAccount(String),
    /// The plugin's own hub service account.
    Federated(Federated),
}

/// How a federated token is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Federated {
    /// Read from `<dir>/<cluster>/token`.
    TokenDir(PathBuf),
    /// A TokenRequest lasting this many seconds.
    TokenRequest {
        /// `expirationSeconds`.
        expiration_seconds: i64,
    },
}

impl Cli {
    /// The token source the flags ask for. Checked here rather than by clap, so that a wrong
    /// combination is one line on stderr like every other failure.
    pub fn mode(&self) -> Result<Mode, Error> {
        let rsa = self.remote_service_account.as_deref();
        match (rsa, self.federated) {
            (Some(_), true) => Err(Error::BothModes),
            (None, false) => Err(Error::NoMode),
            (Some(rsa), false) => {
                if self.token_dir.is_some() {
                    return Err(Error::FederatedFlagWithoutFederated {
                        flag: "--token-dir",
                    });
                }
                if self.expiration_seconds.is_some() {
                    return Err(Error::FederatedFlagWithoutFederated {
                        flag: "--expiration-seconds",
                    });
                }
                Ok(Mode::RemoteServiceAccount(rsa.to_owned()))
            }
            (None, true) => {
                let seconds = self
                    .expiration_seconds
                    .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
                if seconds < MIN_EXPIRATION_SECONDS {
                    return Err(Error::ExpirationTooShort { seconds });
                }
                Ok(Mode::Federated(match &self.token_dir {
                    Some(dir) => Federated::TokenDir(dir.clone()),
                    None => Federated::TokenRequest {
                        expiration_seconds: seconds,
                    },
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("roster-credential").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse() {
        let cli = parse(&[
            "--remote-service-account",
            "deployer",
            "--kubeconfig",
            "/tmp/hub.kubeconfig",
            "--namespace",
            "team-a",
        ]);
        assert_eq!(cli.remote_service_account.as_deref(), Some("deployer"));
        assert_eq!(cli.kubeconfig, Some(PathBuf::from("/tmp/hub.kubeconfig")));
        assert_eq!(cli.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            cli.mode().unwrap(),
            Mode::RemoteServiceAccount("deployer".into())
        );
    }

    #[test]
    fn federated_modes() {
        assert_eq!(
            parse(&["--federated"]).mode().unwrap(),
            Mode::Federated(Federated::TokenRequest {
                expiration_seconds: 3600
            })
        );
        assert_eq!(
            parse(&["--federated", "--expiration-seconds", "600"])
                .mode()
                .unwrap(),
            Mode::Federated(Federated::TokenRequest {
                expiration_seconds: 600
            })
        );
        assert_eq!(
            parse(&[
                "--federated",
                "--token-dir",
                "/var/run/secrets/roster.dev/x"
            ])
            .mode()
            .unwrap(),
            Mode::Federated(Federated::TokenDir("/var/run/secrets/roster.dev/x".into()))
        );
    }

    #[test]
    fn wrong_combinations_are_usage_errors() {
        assert!(matches!(parse(&[]).mode(), Err(Error::NoMode)));
        assert!(matches!(
            parse(&["--federated", "--remote-service-account", "x"]).mode(),
            Err(Error::BothModes)
        ));
        assert!(matches!(
            parse(&["--remote-service-account", "x", "--token-dir", "/d"]).mode(),
            Err(Error::FederatedFlagWithoutFederated {
                flag: "--token-dir"
            })
        ));
        assert!(matches!(
            parse(&[
                "--remote-service-account",
                "x",
                "--expiration-seconds",
                "900"
            ])
            .mode(),
            Err(Error::FederatedFlagWithoutFederated {
                flag: "--expiration-seconds"
            })
        ));
        for seconds in ["599", "0", "-5"] {
            assert!(matches!(
                parse(&["--federated", "--expiration-seconds", seconds]).mode(),
                Err(Error::ExpirationTooShort { .. })
            ));
        }
    }
}
