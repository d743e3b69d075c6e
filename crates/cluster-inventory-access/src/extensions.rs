//! The profile-sourced extensions of KEP-5339: extra arguments and environment variables for
//! the exec plugin, applied according to the provider's policies.
//!
//! An extension holds either the data itself (a JSON list or object) or a string of YAML (or
//! JSON) text with it, which is what the upstream library's YAML decoding accepts. Scalars
//! other than strings are taken as their text, as YAML decoding into strings does.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{ExecEnvVar, ProfileSourcedCliArgsPolicy, ProfileSourcedEnvVarsPolicy, Provider};
use cluster_inventory::names::{ADDITIONAL_ARGS_EXTENSION, ADDITIONAL_ENVS_EXTENSION};

/// The plugin's arguments and environment for one build, copied from the provider file and
/// extended from the profile; the provider file itself is never changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PluginInput {
    pub args: Vec<String>,
    pub env: Vec<ExecEnvVar>,
}

/// An extension that could not be decoded: its name and the reason.
pub(crate) type ExtensionError = (&'static str, String);

/// Applies the profile's extensions to a copy of the provider's args and env.
pub(crate) fn plugin_input<'a>(
    provider: &Provider,
    extensions: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> Result<PluginInput, ExtensionError> {
    let mut input = PluginInput {
        args: provider.exec_config.args.clone(),
        env: provider.exec_config.env.clone(),
    };
    for (name, value) in extensions {
        match name {
            ADDITIONAL_ARGS_EXTENSION => match provider.profile_sourced_cli_args_policy {
                ProfileSourcedCliArgsPolicy::Ignore => {}
                ProfileSourcedCliArgsPolicy::Append => {
                    let extra =
                        additional_args(value).map_err(|e| (ADDITIONAL_ARGS_EXTENSION, e))?;
                    input.args.extend(extra);
                }
            },
            ADDITIONAL_ENVS_EXTENSION => {
                let profile_wins = match provider.profile_sourced_env_vars_policy {
                    ProfileSourcedEnvVarsPolicy::Ignore => continue,
                    ProfileSourcedEnvVarsPolicy::AppendIfNotExists => false,
                    ProfileSourcedEnvVarsPolicy::Replace => true,
                };
                let extra = additional_envs(value).map_err(|e| (ADDITIONAL_ENVS_EXTENSION, e))?;
                input.env = merge_env(&input.env, &extra, profile_wins);
            }
            _ => {}
        }
    }
    Ok(input)
}

/// Decodes the `additional-args` extension: a list of strings (`null` is no arguments).
pub(crate) fn additional_args(value: &Value) -> Result<Vec<String>, String> {
    match decoded(value)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| scalar_text(item).ok_or_else(|| format!("item {i} is not a string")))
            .map(|arg| arg.and_then(|arg| no_nul(arg, "an argument")))
            .collect(),
        other => Err(format!("expected a list of strings, got {}", kind(&other))),
    }
}

/// Decodes the `additional-envs` extension: a map of variable names to values (`null` is none).
pub(crate) fn additional_envs(value: &Value) -> Result<BTreeMap<String, String>, String> {
    match decoded(value)? {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .iter()
            .map(|(name, value)| {
                if name.is_empty() || name.contains('=') || name.contains('\0') {
                    return Err(format!("{name:?} is not a valid variable name"));
                }
                let value = scalar_text(value)
                    .ok_or_else(|| format!("the value of {name} is not a string"))
                    .and_then(|v| no_nul(v, "a value"))?;
                Ok((name.clone(), value))
            })
            .collect(),
        other => Err(format!("expected a map of strings, got {}", kind(&other))),
    }
}

/// Merges profile variables into the provider file's, deterministically: the file's names
/// first, in file order (one entry per name, holding its last value, as a process environment
/// would), then the profile's new names in sorted order. For a name in both, `profile_wins`
/// picks the value.
pub(crate) fn merge_env(
    file: &[ExecEnvVar],
    profile: &BTreeMap<String, String>,
    profile_wins: bool,
) -> Vec<ExecEnvVar> {
    let mut merged: Vec<ExecEnvVar> = Vec::with_capacity(file.len() + profile.len());
    for var in file {
        match merged.iter_mut().find(|seen| seen.name == var.name) {
            Some(seen) => seen.value.clone_from(&var.value),
            None => merged.push(var.clone()),
        }
    }
    let in_file: BTreeSet<String> = merged.iter().map(|v| v.name.clone()).collect();
    if profile_wins {
        for var in &mut merged {
            if let Some(value) = profile.get(&var.name) {
                var.value.clone_from(value);
            }
        }
    }
    merged.extend(
        profile
            .iter()
            .filter(|(name, _)| !in_file.contains(*name))
            .map(|(name, value)| ExecEnvVar::new(name, value)),
    );
    merged
}

/// The extension's data: a string is YAML (or JSON) text to decode, anything else is the data.
fn decoded(value: &Value) -> Result<Value, String> {
    match value {
        Value::String(text) if text.trim().is_empty() => Ok(Value::Null),
        Value::String(text) => {
            serde_saphyr::from_str(text).map_err(|e| format!("cannot decode its YAML text: {e}"))
        }
        other => Ok(other.clone()),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn no_nul(text: String, what: &str) -> Result<String, String> {
    if text.contains('\0') {
        Err(format!("{what} contains a NUL character"))
    } else {
        Ok(text)
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
