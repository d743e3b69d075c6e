//! Profile-sourced arguments and variables: upstream's `BuildConfigFromCP` cases, plus
//! deterministic order, decoding, and no shared state between calls.

use std::collections::BTreeMap;

use super::*;
use crate::{AccessError, extensions};
use cluster_inventory::names::{
    ADDITIONAL_ARGS_EXTENSION, ADDITIONAL_ENVS_EXTENSION, EXEC_EXTENSION,
};

/// Upstream's profile: server, CA, proxy and the three extensions, the args and envs as the
/// YAML text upstream's test marshals.
fn upstream_profile() -> v1alpha1::ClusterProfile {
    upstream_profile_with(
        json!("- --audience\n- audience\n"),
        json!("CLIENT_ID: client-id\nTENANT_ID: tenant-id\n"),
    )
}

fn upstream_profile_with(args: Value, envs: Value) -> v1alpha1::ClusterProfile {
    let cluster = v1alpha1::Cluster {
        certificate_authority_data: Some(ca_data()),
        proxy_url: Some("http://proxy.example.com".to_owned()),
        extensions: vec![
            extension(EXEC_EXTENSION, json!("arbitrary-data")),
            extension(ADDITIONAL_ARGS_EXTENSION, args),
            extension(ADDITIONAL_ENVS_EXTENSION, envs),
        ],
        ..cluster("https://test-server.com")
    };
    profile_v1alpha1(vec![entry("test-provider-1", cluster)], vec![])
}

/// Upstream's exec provider: `cat <file>` with one variable of its own.
fn cat_provider(
    env: ExecEnvVar,
    cli: ProfileSourcedCliArgsPolicy,
    envs: ProfileSourcedEnvVarsPolicy,
) -> Provider {
    let mut exec = ExecConfig::new(API_V1, "cat");
    exec.args = vec!["/tmp/test-config.json".to_owned()];
    exec.env = vec![env];
    Provider {
        profile_sourced_cli_args_policy: cli,
        profile_sourced_env_vars_policy: envs,
        ..Provider::new("test-provider-1", exec)
    }
}

fn build(provider: Provider) -> kube::Config {
    builder(vec![provider])
        .config_for_v1alpha1(&upstream_profile())
        .unwrap()
}

fn assert_cluster_fields(config: &kube::Config) {
    assert_eq!(config.cluster_url.host(), Some("test-server.com"));
    assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
    assert_eq!(exec_of(config).command.as_deref(), Some("cat"));
}

#[test]
fn default_policies_leave_profile_args_and_envs_out() {
    let config = build(cat_provider(
        env_var("foo", "bar"),
        Default::default(),
        Default::default(),
    ));
    assert_cluster_fields(&config);
    assert_eq!(args_of(&config), ["/tmp/test-config.json"]);
    assert_eq!(env_of(&config), pairs(&[("foo", "bar")]));
}

#[test]
fn append_and_replace_let_the_profile_win() {
    let config = build(cat_provider(
        env_var("CLIENT_ID", "None"),
        ProfileSourcedCliArgsPolicy::Append,
        ProfileSourcedEnvVarsPolicy::Replace,
    ));
    assert_cluster_fields(&config);
    assert_eq!(
        args_of(&config),
        ["/tmp/test-config.json", "--audience", "audience"]
    );
    assert_eq!(
        env_of(&config),
        pairs(&[("CLIENT_ID", "client-id"), ("TENANT_ID", "tenant-id")])
    );
}

#[test]
fn append_if_not_exists_lets_the_file_win() {
    let config = build(cat_provider(
        env_var("CLIENT_ID", "None"),
        ProfileSourcedCliArgsPolicy::Append,
        ProfileSourcedEnvVarsPolicy::AppendIfNotExists,
    ));
    assert_eq!(
        args_of(&config),
        ["/tmp/test-config.json", "--audience", "audience"]
    );
    assert_eq!(
        env_of(&config),
        pairs(&[("CLIENT_ID", "None"), ("TENANT_ID", "tenant-id")])
    );
}

#[test]
fn ignore_policies_leave_profile_args_and_envs_out() {
    let config = build(cat_provider(
        env_var("CLIENT_ID", "None"),
        ProfileSourcedCliArgsPolicy::Ignore,
        ProfileSourcedEnvVarsPolicy::Ignore,
    ));
    assert_eq!(args_of(&config), ["/tmp/test-config.json"]);
    assert_eq!(env_of(&config), pairs(&[("CLIENT_ID", "None")]));
}

#[test]
fn the_exec_extension_is_the_plugin_cluster_config() {
    let mut provider = cat_provider(env_var("a", "b"), Default::default(), Default::default());
    provider.exec_config.provide_cluster_info = true;
    let config = build(provider);
    let cluster = exec_of(&config).cluster.as_ref().unwrap();
    assert_eq!(cluster.config, Some(json!("arbitrary-data")));
}

#[test]
fn json_lists_and_maps_are_accepted_as_well_as_yaml_text() {
    let profile = upstream_profile_with(
        json!(["--audience", "audience", 7]),
        json!({"TENANT_ID": "tenant-id", "CLIENT_ID": "client-id", "RETRIES": 3}),
    );
    let builder = builder(vec![cat_provider(
        env_var("CLIENT_ID", "None"),
        ProfileSourcedCliArgsPolicy::Append,
        ProfileSourcedEnvVarsPolicy::Replace,
    )]);
    let config = builder.config_for_v1alpha1(&profile).unwrap();
    assert_eq!(
        args_of(&config),
        ["/tmp/test-config.json", "--audience", "audience", "7"]
    );
    assert_eq!(
        env_of(&config),
        pairs(&[
            ("CLIENT_ID", "client-id"),
            ("RETRIES", "3"),
            ("TENANT_ID", "tenant-id")
        ])
    );
}

#[test]
fn invalid_extension_data_is_an_error_when_the_policy_reads_it() {
    let append = || {
        builder(vec![cat_provider(
            env_var("a", "b"),
            ProfileSourcedCliArgsPolicy::Append,
            ProfileSourcedEnvVarsPolicy::Replace,
        )])
    };
    let bad_args = upstream_profile_with(json!({"not": "a list"}), json!({}));
    let error = append().config_for_v1alpha1(&bad_args).unwrap_err();
    assert!(
        matches!(&error, AccessError::InvalidExtension { extension, .. } if extension == ADDITIONAL_ARGS_EXTENSION),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("expected a list of strings, got a map"),
        "{error}"
    );

    let bad_envs = upstream_profile_with(json!([]), json!("- not\n- a map\n"));
    let error = append().config_for_v1alpha1(&bad_envs).unwrap_err();
    assert!(
        matches!(&error, AccessError::InvalidExtension { extension, .. } if extension == ADDITIONAL_ENVS_EXTENSION),
        "{error:?}"
    );
    assert_eq!(error.category(), "InvalidExtension");

    let bad_yaml = upstream_profile_with(json!("[unclosed"), json!({}));
    assert!(append().config_for_v1alpha1(&bad_yaml).is_err());

    // With Ignore the data is never read, as upstream.
    let ignoring = builder(vec![cat_provider(
        env_var("a", "b"),
        Default::default(),
        Default::default(),
    )]);
    assert!(ignoring.config_for_v1alpha1(&bad_args).is_ok());
    assert!(ignoring.config_for_v1alpha1(&bad_envs).is_ok());
}

#[test]
fn unsafe_variable_names_and_nul_characters_are_rejected() {
    assert!(extensions::additional_envs(&json!({"A=B": "x"})).is_err());
    assert!(extensions::additional_envs(&json!({"": "x"})).is_err());
    assert!(extensions::additional_envs(&json!({"A": "x\u{0}"})).is_err());
    assert!(extensions::additional_args(&json!(["a\u{0}b"])).is_err());
    assert!(extensions::additional_args(&json!([null])).is_err());
    assert_eq!(
        extensions::additional_args(&json!(null)).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        extensions::additional_args(&json!("")).unwrap(),
        Vec::<String>::new()
    );
    assert!(
        extensions::additional_envs(&json!(null))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn repeated_builds_do_not_accumulate_arguments_or_variables() {
    // Upstream appends to the shared exec config on every call; here each call starts afresh.
    let builder = builder(vec![cat_provider(
        env_var("CLIENT_ID", "None"),
        ProfileSourcedCliArgsPolicy::Append,
        ProfileSourcedEnvVarsPolicy::Replace,
    )]);
    let profile = upstream_profile();
    let first = builder.config_for_v1alpha1(&profile).unwrap();
    for _ in 0..3 {
        let again = builder.config_for_v1alpha1(&profile).unwrap();
        assert_eq!(args_of(&again), args_of(&first));
        assert_eq!(env_of(&again), env_of(&first));
    }
    let file_exec = &builder.provider_file().providers()[0].exec_config;
    assert_eq!(file_exec.args, ["/tmp/test-config.json"]);
    assert_eq!(file_exec.env, [env_var("CLIENT_ID", "None")]);
}

#[test]
fn a_profile_without_extensions_does_not_see_another_profiles() {
    let builder = builder(vec![cat_provider(
        env_var("CLIENT_ID", "None"),
        ProfileSourcedCliArgsPolicy::Append,
        ProfileSourcedEnvVarsPolicy::Replace,
    )]);
    builder.config_for_v1alpha1(&upstream_profile()).unwrap();
    let plain = profile_v1alpha1(
        vec![entry(
            "test-provider-1",
            cluster("https://plain.example.com"),
        )],
        vec![],
    );
    let config = builder.config_for_v1alpha1(&plain).unwrap();
    assert_eq!(args_of(&config), ["/tmp/test-config.json"]);
    assert_eq!(env_of(&config), pairs(&[("CLIENT_ID", "None")]));
}

fn profile_env(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn merged(
    file: &[ExecEnvVar],
    profile: &[(&str, &str)],
    profile_wins: bool,
) -> Vec<(String, String)> {
    extensions::merge_env(file, &profile_env(profile), profile_wins)
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect()
}

#[test]
fn merged_variables_have_a_deterministic_order() {
    let file = [
        env_var("Z_FILE", "z"),
        env_var("A_FILE", "a"),
        env_var("SHARED", "file"),
    ];
    let profile = [
        ("M_NEW", "m"),
        ("B_NEW", "b"),
        ("SHARED", "profile"),
        ("Y_NEW", "y"),
    ];
    // The file's names in file order, then the profile's new names sorted.
    assert_eq!(
        merged(&file, &profile, false),
        pairs(&[
            ("Z_FILE", "z"),
            ("A_FILE", "a"),
            ("SHARED", "file"),
            ("B_NEW", "b"),
            ("M_NEW", "m"),
            ("Y_NEW", "y")
        ])
    );
    assert_eq!(
        merged(&file, &profile, true),
        pairs(&[
            ("Z_FILE", "z"),
            ("A_FILE", "a"),
            ("SHARED", "profile"),
            ("B_NEW", "b"),
            ("M_NEW", "m"),
            ("Y_NEW", "y")
        ])
    );
    for _ in 0..10 {
        assert_eq!(
            merged(&file, &profile, false),
            merged(&file, &profile, false)
        );
    }
}

#[test]
fn a_name_twice_in_the_file_keeps_its_first_place_and_last_value() {
    let file = [env_var("A", "1"), env_var("B", "2"), env_var("A", "3")];
    assert_eq!(
        merged(&file, &[("C", "4")], false),
        pairs(&[("A", "3"), ("B", "2"), ("C", "4")])
    );
}

#[test]
fn a_builder_can_be_shared_between_tasks() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<ConfigBuilder>();
}
