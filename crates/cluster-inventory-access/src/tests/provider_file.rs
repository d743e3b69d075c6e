//! Loading provider files: upstream's `New` and `NewFromFile` cases, plus what is rejected at
//! load here (and only at build time upstream).

use super::*;
use crate::ProviderFileError;

#[test]
fn new_keeps_providers_in_order() {
    let file = file(vec![
        provider("provider1", "cmd1", &[]),
        provider("provider2", "cmd2", &[]),
    ]);
    assert_eq!(file.names(), ["provider1", "provider2"]);
    assert_eq!(file.providers()[1].exec_config.command, "cmd2");
    assert_eq!(file.provider("provider2").unwrap().name, "provider2");
    assert!(file.provider("provider3").is_none());
}

#[test]
fn new_accepts_no_providers() {
    assert!(file(vec![]).providers().is_empty());
}

#[test]
fn from_path_reads_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test-config.json");
    let json = json!({"providers": [{
        "name": "gkeFleet",
        "execConfig": {
            "apiVersion": API_V1BETA1,
            "command": "gke-gcloud-auth-plugin",
            "provideClusterInfo": true
        }
    }]});
    std::fs::write(&path, json.to_string()).unwrap();

    let file = ProviderFile::from_path(&path).unwrap();
    assert_eq!(file.names(), ["gkeFleet"]);
    let provider = &file.providers()[0];
    assert_eq!(provider.exec_config.command, "gke-gcloud-auth-plugin");
    assert!(provider.exec_config.provide_cluster_info);
    assert_eq!(
        provider.profile_sourced_cli_args_policy,
        ProfileSourcedCliArgsPolicy::Ignore
    );
    assert_eq!(
        provider.profile_sourced_env_vars_policy,
        ProfileSourcedEnvVarsPolicy::Ignore
    );
}

#[test]
fn from_path_names_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("non-existent.json");
    let error = ProviderFile::from_path(&path).unwrap_err();
    assert!(matches!(error, ProviderFileError::Read { .. }));
    let message = error.to_string();
    assert!(message.contains("cannot read provider file"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn from_path_names_a_file_with_invalid_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invalid.json");
    std::fs::write(&path, "invalid json content").unwrap();
    let error = ProviderFile::from_path(&path).unwrap_err();
    assert!(matches!(error, ProviderFileError::Parse { .. }));
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn an_empty_object_has_no_providers() {
    assert!(
        ProviderFile::from_json("{}")
            .unwrap()
            .providers()
            .is_empty()
    );
    let file = ProviderFile::from_json(r#"{"providers": null}"#).unwrap();
    assert!(file.providers().is_empty());
}

#[test]
fn policies_are_read_and_empty_means_ignore() {
    let json = json!({"providers": [
        {"name": "a", "execConfig": {"apiVersion": API_V1, "command": "a"},
         "profileSourcedCLIArgsPolicy": "Append", "profileSourcedEnvVarsPolicy": "Replace"},
        {"name": "b", "execConfig": {"apiVersion": API_V1, "command": "b"},
         "profileSourcedCLIArgsPolicy": "", "profileSourcedEnvVarsPolicy": "AppendIfNotExists"},
        {"name": "c", "execConfig": {"apiVersion": API_V1, "command": "c"},
         "profileSourcedCLIArgsPolicy": "Ignore", "profileSourcedEnvVarsPolicy": ""}
    ]});
    let file = ProviderFile::from_json(&json.to_string()).unwrap();
    let policies: Vec<_> = file
        .providers()
        .iter()
        .map(|p| {
            (
                p.profile_sourced_cli_args_policy,
                p.profile_sourced_env_vars_policy,
            )
        })
        .collect();
    use ProfileSourcedCliArgsPolicy as Cli;
    use ProfileSourcedEnvVarsPolicy as Env;
    assert_eq!(
        policies,
        [
            (Cli::Append, Env::Replace),
            (Cli::Ignore, Env::AppendIfNotExists),
            (Cli::Ignore, Env::Ignore)
        ]
    );
}

/// Rejects `json`, with a message containing each of `expected`.
fn rejects(json: Value, expected: &[&str]) {
    let error = ProviderFile::from_json(&json.to_string()).unwrap_err();
    let message = error.to_string();
    for part in expected {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
}

#[test]
fn an_unsupported_cli_args_policy_is_rejected_at_load() {
    rejects(
        json!({"providers": [{"name": "p", "execConfig": {"apiVersion": API_V1, "command": "c"},
            "profileSourcedCLIArgsPolicy": "Prepend"}]}),
        &[
            "provider \"p\"",
            "unsupported profileSourcedCLIArgsPolicy \"Prepend\"",
            "Append, Ignore",
        ],
    );
}

#[test]
fn an_unsupported_env_vars_policy_is_rejected_at_load() {
    rejects(
        json!({"providers": [{"name": "p", "execConfig": {"apiVersion": API_V1, "command": "c"},
            "profileSourcedEnvVarsPolicy": "Merge"}]}),
        &[
            "provider \"p\"",
            "unsupported profileSourcedEnvVarsPolicy \"Merge\"",
            "AppendIfNotExists, Replace, Ignore",
        ],
    );
}

/// Upstream: "should return an error when no exec config is found" (at build time there).
#[test]
fn a_provider_without_exec_config_is_rejected_at_load() {
    rejects(
        json!({"providers": [{"name": "test-provider-1"}]}),
        &["provider \"test-provider-1\" has no execConfig"],
    );
    rejects(
        json!({"providers": [{"name": "test-provider-1", "execConfig": null}]}),
        &["has no execConfig"],
    );
}

#[test]
fn a_provider_without_command_is_rejected() {
    rejects(
        json!({"providers": [{"name": "p", "execConfig": {"apiVersion": API_V1}}]}),
        &["provider \"p\": execConfig has no command"],
    );
    let error = ProviderFile::new(vec![provider("p", " ", &[])]).unwrap_err();
    assert!(error.to_string().contains("has no command"), "{error}");
}

#[test]
fn an_unknown_exec_api_version_is_rejected() {
    rejects(
        json!({"providers": [{"name": "p", "execConfig": {"command": "c"}}]}),
        &["execConfig.apiVersion \"\" is not one of"],
    );
    rejects(
        json!({"providers": [{"name": "p", "execConfig":
            {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "c"}}]}),
        &["v1alpha1"],
    );
}

#[test]
fn names_must_be_present_and_unique() {
    rejects(
        json!({"providers": [{"execConfig": {"apiVersion": API_V1, "command": "c"}}]}),
        &["provider #1 has no name"],
    );
    rejects(
        json!({"providers": [
            {"name": "p", "execConfig": {"apiVersion": API_V1, "command": "a"}},
            {"name": "p", "execConfig": {"apiVersion": API_V1, "command": "b"}}
        ]}),
        &["provider \"p\" is listed twice"],
    );
}

#[test]
fn unknown_fields_are_ignored_like_upstream() {
    let json = json!({"providers": [{"name": "p", "future": 1,
        "execConfig": {"apiVersion": API_V1, "command": "c", "future": true}}]});
    assert_eq!(
        ProviderFile::from_json(&json.to_string()).unwrap().names(),
        ["p"]
    );
}

#[test]
fn exec_config_fields_are_read() {
    let json = json!({"providers": [{"name": "p", "execConfig": {
        "apiVersion": API_V1,
        "command": "plugin",
        "args": ["--a", "b"],
        "env": [{"name": "FOO", "value": "bar"}],
        "provideClusterInfo": true,
        "interactiveMode": "IfAvailable",
        "installHint": "install the plugin"
    }}]});
    let file = ProviderFile::from_json(&json.to_string()).unwrap();
    let exec = &file.providers()[0].exec_config;
    assert_eq!(exec.args, ["--a", "b"]);
    assert_eq!(exec.env, [env_var("FOO", "bar")]);
    assert!(exec.provide_cluster_info);
    assert_eq!(exec.interactive_mode.as_deref(), Some("IfAvailable"));
    assert_eq!(exec.install_hint.as_deref(), Some("install the plugin"));
}

#[test]
fn a_file_round_trips_through_json() {
    let providers = test_providers();
    let written = serde_json::to_string(&file(providers.clone())).unwrap();
    let read = ProviderFile::from_json(&written).unwrap();
    assert_eq!(read.providers(), providers.as_slice());
    let value: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(
        value["providers"][1]["profileSourcedCLIArgsPolicy"],
        "Append"
    );
    assert_eq!(
        value["providers"][1]["execConfig"]["command"],
        "test-command-2"
    );
}

#[test]
fn the_flag_has_upstreams_name_and_default() {
    use crate::{DEFAULT_PROVIDER_FILE, PROVIDER_FILE_FLAG};
    assert_eq!(PROVIDER_FILE_FLAG, "clusterprofile-provider-file");
    assert_eq!(DEFAULT_PROVIDER_FILE, "clusterprofile-provider-file.json");
}
