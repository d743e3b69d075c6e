//! The consumer's provider file (KEP-5339's `--clusterprofile-provider-file`): which access
//! providers a controller supports, in order of preference, and the exec plugin each one runs.
//!
//! The JSON format is the upstream one:
//! `{"providers":[{"name", "execConfig": {...}, "profileSourcedCLIArgsPolicy",
//! "profileSourcedEnvVarsPolicy"}]}`. Everything that upstream would only trip over when a
//! config is built (a missing `execConfig`, an unsupported policy) is rejected here, at load.

use std::{
    collections::BTreeSet,
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

/// The command-line flag consumers conventionally take the provider file's path from (upstream's
/// `SetupProviderFileFlag`).
pub const PROVIDER_FILE_FLAG: &str = "clusterprofile-provider-file";

/// The flag's default path.
pub const DEFAULT_PROVIDER_FILE: &str = "clusterprofile-provider-file.json";

/// The exec credential API versions an exec plugin may speak (those client-go accepts).
pub const EXEC_API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// A loaded, validated provider file: the supported access providers in order of preference.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProviderFile {
    providers: Vec<Provider>,
}

/// One access provider the consumer supports: its name and the exec plugin that obtains
/// credentials for clusters offering it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// The name matched against the names of a ClusterProfile's access providers.
    pub name: String,
    /// The exec credential plugin to run.
    pub exec_config: ExecConfig,
    /// Whether the profile's `additional-args` extension reaches the plugin.
    #[serde(rename = "profileSourcedCLIArgsPolicy")]
    pub profile_sourced_cli_args_policy: ProfileSourcedCliArgsPolicy,
    /// Whether, and with which precedence, the profile's `additional-envs` extension reaches
    /// the plugin.
    pub profile_sourced_env_vars_policy: ProfileSourcedEnvVarsPolicy,
}

/// The exec credential plugin of a provider (client-go's `ExecConfig` as it appears in a
/// provider file).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecConfig {
    /// The `ExecCredential` API version the plugin speaks (see [`EXEC_API_VERSIONS`]).
    #[serde(default)]
    pub api_version: String,
    /// The command to run: a path, or a name looked up in `PATH`.
    #[serde(default)]
    pub command: String,
    /// Arguments passed to the command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables set for the command, on top of the caller's environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<ExecEnvVar>,
    /// Whether the plugin receives the cluster (`KUBERNETES_EXEC_INFO.spec.cluster`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provide_cluster_info: bool,
    /// The interactive mode the file asks for; built configs always use `Never`, since a
    /// controller has no terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive_mode: Option<String>,
    /// Text shown to the user when the command cannot be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_hint: Option<String>,
}

/// One environment variable of an exec plugin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecEnvVar {
    /// The variable's name.
    pub name: String,
    /// The variable's value.
    pub value: String,
}

/// What to do with the arguments a ClusterProfile supplies in its `additional-args` extension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfileSourcedCliArgsPolicy {
    /// Leave the profile's arguments out (the default).
    #[default]
    Ignore,
    /// Append the profile's arguments after the provider file's.
    Append,
}

/// What to do with the variables a ClusterProfile supplies in its `additional-envs` extension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProfileSourcedEnvVarsPolicy {
    /// Leave the profile's variables out (the default).
    #[default]
    Ignore,
    /// Add the profile's variables; for a name in both, the provider file's value wins.
    AppendIfNotExists,
    /// Add the profile's variables; for a name in both, the profile's value wins.
    Replace,
}

/// Why a provider file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProviderFileError {
    /// The file could not be read.
    #[error("cannot read provider file {}: {error}", path.display())]
    Read {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The content is not JSON of the provider file's shape.
    #[error("provider file {origin} is not valid: {error}")]
    Parse {
        /// Where the content came from (a path, or a description).
        origin: String,
        /// The JSON error, with line and column.
        error: serde_json::Error,
    },
    /// The content parsed but describes an unusable provider.
    #[error("provider file {origin}: {problem}")]
    Invalid {
        /// Where the content came from (a path, or a description).
        origin: String,
        /// What is wrong, naming the provider.
        problem: String,
    },
}

impl ProviderFile {
    /// Validates providers given in code (the same checks as a file gets).
    pub fn new(providers: Vec<Provider>) -> Result<Self, ProviderFileError> {
        validate(&providers).map_err(|problem| ProviderFileError::Invalid {
            origin: "(built in code)".to_owned(),
            problem,
        })?;
        Ok(Self { providers })
    }

    /// Reads and validates the provider file at `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ProviderFileError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|error| ProviderFileError::Read {
            path: path.to_owned(),
            error,
        })?;
        parse(&json, &path.display().to_string())
    }

    /// Parses and validates provider-file JSON.
    pub fn from_json(json: &str) -> Result<Self, ProviderFileError> {
        parse(json, "(inline JSON)")
    }

    /// The providers, in order of preference.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The provider with this name, if the file has one.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|provider| provider.name == name)
    }

    /// The providers' names, in order of preference.
    pub fn names(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.name.clone()).collect()
    }
}

impl Provider {
    /// A provider with both profile-sourced policies at `Ignore`.
    pub fn new(name: impl Into<String>, exec_config: ExecConfig) -> Self {
        Self {
            name: name.into(),
            exec_config,
            profile_sourced_cli_args_policy: ProfileSourcedCliArgsPolicy::Ignore,
            profile_sourced_env_vars_policy: ProfileSourcedEnvVarsPolicy::Ignore,
        }
    }
}

impl ExecConfig {
    /// An exec config running `command` that speaks `api_version`.
    pub fn new(api_version: impl Into<String>, command: impl Into<String>) -> Self {
        Self {
            api_version: api_version.into(),
            command: command.into(),
            ..Self::default()
        }
    }
}

impl ExecEnvVar {
    /// A variable `name=value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl ProfileSourcedCliArgsPolicy {
    /// Every policy, as spelled in a provider file.
    pub const NAMES: [&str; 2] = ["Append", "Ignore"];
}

impl ProfileSourcedEnvVarsPolicy {
    /// Every policy, as spelled in a provider file.
    pub const NAMES: [&str; 3] = ["AppendIfNotExists", "Replace", "Ignore"];
}

impl FromStr for ProfileSourcedCliArgsPolicy {
    type Err = String;

    /// Parses a policy; the empty string means `Ignore`, as upstream.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "Ignore" => Ok(Self::Ignore),
            "Append" => Ok(Self::Append),
            other => Err(unsupported(
                "profileSourcedCLIArgsPolicy",
                other,
                &Self::NAMES,
            )),
        }
    }
}

impl FromStr for ProfileSourcedEnvVarsPolicy {
    type Err = String;

    /// Parses a policy; the empty string means `Ignore`, as upstream.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "Ignore" => Ok(Self::Ignore),
            "AppendIfNotExists" => Ok(Self::AppendIfNotExists),
            "Replace" => Ok(Self::Replace),
            other => Err(unsupported(
                "profileSourcedEnvVarsPolicy",
                other,
                &Self::NAMES,
            )),
        }
    }
}

impl fmt::Display for ProfileSourcedCliArgsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ignore => "Ignore",
            Self::Append => "Append",
        })
    }
}

impl fmt::Display for ProfileSourcedEnvVarsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ignore => "Ignore",
            Self::AppendIfNotExists => "AppendIfNotExists",
            Self::Replace => "Replace",
        })
    }
}

fn unsupported(field: &str, value: &str, supported: &[&str]) -> String {
    format!(
        "unsupported {field} {value:?} (supported: {})",
        supported.join(", ")
    )
}

/// The file as written, before validation: policies are plain strings so that an unsupported
/// one gets a message naming its provider.
#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    providers: Option<Vec<RawProvider>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProvider {
    #[serde(default)]
    name: String,
    #[serde(default)]
    exec_config: Option<ExecConfig>,
    #[serde(default, rename = "profileSourcedCLIArgsPolicy")]
    profile_sourced_cli_args_policy: Option<String>,
    #[serde(default)]
    profile_sourced_env_vars_policy: Option<String>,
}

fn parse(json: &str, origin: &str) -> Result<ProviderFile, ProviderFileError> {
    let raw: RawFile = serde_json::from_str(json).map_err(|error| ProviderFileError::Parse {
        origin: origin.to_owned(),
        error,
    })?;
    let invalid = |problem| ProviderFileError::Invalid {
        origin: origin.to_owned(),
        problem,
    };
    let providers = raw
        .providers
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, raw)| provider_from_raw(index, raw))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    validate(&providers).map_err(invalid)?;
    Ok(ProviderFile { providers })
}

fn provider_from_raw(index: usize, raw: RawProvider) -> Result<Provider, String> {
    let label = if raw.name.is_empty() {
        format!("provider #{}", index + 1)
    } else {
        format!("provider {:?}", raw.name)
    };
    let exec_config = raw
        .exec_config
        .ok_or_else(|| format!("{label} has no execConfig"))?;
    let cli = raw.profile_sourced_cli_args_policy.unwrap_or_default();
    let env = raw.profile_sourced_env_vars_policy.unwrap_or_default();
    Ok(Provider {
        name: raw.name,
        exec_config,
        profile_sourced_cli_args_policy: cli.parse().map_err(|e| format!("{label}: {e}"))?,
        profile_sourced_env_vars_policy: env.parse().map_err(|e| format!("{label}: {e}"))?,
    })
}

/// Checks what the types cannot: names present and unique, a command and a known API version.
fn validate(providers: &[Provider]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for (index, provider) in providers.iter().enumerate() {
        if provider.name.is_empty() {
            return Err(format!("provider #{} has no name", index + 1));
        }
        if !seen.insert(provider.name.as_str()) {
            return Err(format!("provider {:?} is listed twice", provider.name));
        }
        let exec = &provider.exec_config;
        if exec.command.trim().is_empty() {
            return Err(format!(
                "provider {:?}: execConfig has no command",
                provider.name
            ));
        }
        if !EXEC_API_VERSIONS.contains(&exec.api_version.as_str()) {
            return Err(format!(
                "provider {:?}: execConfig.apiVersion {:?} is not one of {}",
                provider.name,
                exec.api_version,
                EXEC_API_VERSIONS.join(", ")
            ));
        }
    }
    Ok(())
}
