//! Running an exec credential plugin as client-go does: the command with its arguments and
//! environment, `KUBERNETES_EXEC_INFO` on top, and the `ExecCredential` it prints checked against
//! the API version it was asked to speak. The plugin is a Tokio child process, so a run never
//! blocks a runtime thread, and it is killed if the run is dropped.

use std::process::Stdio;

use http::HeaderValue;
use k8s_openapi::jiff::Timestamp;
use kube::config::{ExecAuthCluster, ExecConfig as KubeExecConfig, ExecInteractiveMode};
use serde::{Deserialize, Serialize};

use super::{ExecPluginError, error::ExecProblem};

/// The variable through which the plugin gets its input.
const EXEC_INFO_VAR: &str = "KUBERNETES_EXEC_INFO";
/// The `kind` of the plugin's input and output.
const EXEC_CREDENTIAL: &str = "ExecCredential";
/// How much of the plugin's stderr an error quotes.
const STDERR_LIMIT: usize = 1024;

/// One provider's exec plugin, ready to run as often as needed.
#[derive(Clone, Debug)]
pub(crate) struct ExecPlugin {
    provider: String,
    command: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    drop_env: Vec<String>,
    api_version: String,
    interactive: bool,
    cluster: Option<ExecAuthCluster>,
    provide_cluster_info: bool,
    install_hint: Option<String>,
}

/// What a plugin gave.
#[derive(Clone, Debug)]
pub(crate) enum Credential {
    /// A bearer token (as an `Authorization` header value) and when it expires, if it does.
    Token {
        authorization: HeaderValue,
        expires: Option<Timestamp>,
    },
    /// A client certificate and key, for TLS.
    Certificate,
}

/// The plugin's input, `KUBERNETES_EXEC_INFO`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecInfo<'a> {
    api_version: &'a str,
    kind: &'static str,
    spec: ExecInfoSpec<'a>,
}

#[derive(Serialize)]
struct ExecInfoSpec<'a> {
    interactive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a ExecAuthCluster>,
}

/// The plugin's output, as far as a client reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecOutput {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    status: Option<ExecStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    #[serde(default)]
    token: String,
    expiration_timestamp: Option<String>,
    #[serde(default)]
    client_certificate_data: String,
    #[serde(default)]
    client_key_data: String,
}

impl ExecPlugin {
    /// The plugin of a kube exec config, run for `provider`.
    pub(crate) fn new(provider: &str, exec: &KubeExecConfig) -> Self {
        let env = exec
            .env
            .iter()
            .flatten()
            .filter_map(|var| Some((var.get("name")?.clone(), var.get("value")?.clone())))
            .collect();
        Self {
            provider: provider.to_owned(),
            command: exec.command.clone().unwrap_or_default(),
            args: exec.args.clone().unwrap_or_default(),
            env,
            drop_env: exec.drop_env.clone().unwrap_or_default(),
            api_version: exec.api_version.clone().unwrap_or_default(),
            // As kube and client-go: anything but `Never` may use the terminal.
            interactive: exec.interactive_mode != Some(ExecInteractiveMode::Never),
            cluster: exec.cluster.clone(),
            provide_cluster_info: exec.provide_cluster_info,
            install_hint: exec.install_hint.clone(),
        }
    }

    /// The provider the plugin runs for.
    pub(crate) fn provider(&self) -> &str {
        &self.provider
    }

    /// Runs the plugin once and reads its credential.
    pub(crate) async fn run(&self) -> Result<Credential, ExecPluginError> {
        let input = self
            .exec_info()
            .map_err(|reason| self.error(ExecProblem::Input(reason)))?;
        let mut command = tokio::process::Command::new(&self.command);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .env(EXEC_INFO_VAR, input);
        for name in &self.drop_env {
            command.env_remove(name);
        }
        let (stdin, stderr) = if self.interactive {
            (Stdio::inherit(), Stdio::inherit())
        } else {
            (Stdio::null(), Stdio::piped())
        };
        command
            .stdin(stdin)
            .stderr(stderr)
            .stdout(Stdio::piped())
            .kill_on_drop(true);

        let output = command.output().await.map_err(|error| {
            let install_hint = (error.kind() == std::io::ErrorKind::NotFound)
                .then(|| self.install_hint.clone())
                .flatten();
            self.error(ExecProblem::Start {
                error,
                install_hint,
            })
        })?;
        let stderr = stderr_excerpt(&output.stderr);
        if !output.status.success() {
            return Err(self.error(ExecProblem::Failed {
                status: output.status,
                stderr,
            }));
        }
        if !stderr.is_empty() {
            tracing::debug!(provider = %self.provider, %stderr, "exec plugin wrote on stderr");
        }
        parse_credential(&self.api_version, &output.stdout)
            .map_err(|reason| self.error(ExecProblem::InvalidCredential(reason)))
    }

    fn exec_info(&self) -> Result<String, String> {
        let cluster = match (&self.cluster, self.provide_cluster_info) {
            (Some(cluster), true) => Some(cluster),
            (None, true) => return Err("provideClusterInfo is set but there is no cluster".into()),
            (_, false) => None,
        };
        serde_json::to_string(&ExecInfo {
            api_version: &self.api_version,
            kind: EXEC_CREDENTIAL,
            spec: ExecInfoSpec {
                interactive: self.interactive,
                cluster,
            },
        })
        .map_err(|e| format!("cannot encode {EXEC_INFO_VAR}: {e}"))
    }

    fn error(&self, problem: ExecProblem) -> ExecPluginError {
        ExecPluginError {
            provider: self.provider.clone(),
            command: self.command.clone(),
            problem,
        }
    }
}

/// Reads the `ExecCredential` a plugin printed (JSON, or YAML as client-go's decoder accepts),
/// with client-go's checks: the kind, the API version it was asked for, a status, and either a
/// token or a certificate and key.
pub(crate) fn parse_credential(api_version: &str, stdout: &[u8]) -> Result<Credential, String> {
    let output: ExecOutput = serde_saphyr::from_slice(stdout).map_err(|e| format!("{e}"))?;
    if output.kind != EXEC_CREDENTIAL {
        return Err(format!(
            "kind is {:?}, not {EXEC_CREDENTIAL:?}",
            output.kind
        ));
    }
    if output.api_version != api_version {
        return Err(format!(
            "the plugin is configured to use API version {api_version:?}, it returned {:?}",
            output.api_version
        ));
    }
    let status = output.status.ok_or_else(|| "it has no status".to_owned())?;
    let expires = status
        .expiration_timestamp
        .filter(|text| !text.is_empty())
        .map(|text| {
            text.parse::<Timestamp>()
                .map_err(|e| format!("expirationTimestamp {text:?} is not RFC 3339: {e}"))
        })
        .transpose()?;
    match (
        status.client_certificate_data.is_empty(),
        status.client_key_data.is_empty(),
    ) {
        (false, false) => return Ok(Credential::Certificate),
        (true, false) | (false, true) => {
            return Err("it has a client certificate or key, not both".to_owned());
        }
        (true, true) => {}
    }
    if status.token.is_empty() {
        return Err("it has neither a token nor a client certificate and key".to_owned());
    }
    let mut authorization = HeaderValue::try_from(format!("Bearer {}", status.token))
        .map_err(|_| "the token is not valid in an HTTP header".to_owned())?;
    authorization.set_sensitive(true);
    Ok(Credential::Token {
        authorization,
        expires,
    })
}

/// The end of the plugin's stderr (where the reason usually is), trimmed and bounded.
pub(crate) fn stderr_excerpt(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let excess = text.chars().count().saturating_sub(STDERR_LIMIT);
    match text.char_indices().nth(excess) {
        Some((start, _)) if excess > 0 => format!("…{}", &text[start..]),
        _ => text.to_owned(),
    }
}
