//! Choosing the provider: upstream's `getExecConfigAndFlagsFromConfig` and
//! `getClusterAccessorFromClusterProfile` cases, the credentialProviders fallback and v1alpha2.

use super::*;
use crate::{AccessError, select};

fn upstream_profile() -> v1alpha1::ClusterProfile {
    let mut unsupported = cluster("https://unsupported-server.com");
    unsupported.certificate_authority_data = None;
    let with_ca = |server: &str| v1alpha1::Cluster {
        certificate_authority_data: Some(ca_data()),
        ..cluster(server)
    };
    profile_v1alpha1(
        vec![
            entry("test-provider-1", with_ca("https://test-server-1.com")),
            entry("test-provider-2", with_ca("https://test-server-2.com")),
            entry("unsupported-provider", unsupported),
        ],
        vec![],
    )
}

#[test]
fn the_file_gives_each_providers_exec_config_and_policies() {
    let file = file(test_providers());
    let first = file.provider("test-provider-1").unwrap();
    assert_eq!(first.exec_config.command, "test-command-1");
    assert_eq!(first.exec_config.args, ["arg1", "arg2"]);
    assert_eq!(
        first.profile_sourced_cli_args_policy,
        ProfileSourcedCliArgsPolicy::Ignore
    );
    assert_eq!(
        first.profile_sourced_env_vars_policy,
        ProfileSourcedEnvVarsPolicy::Ignore
    );
    let second = file.provider("test-provider-2").unwrap();
    assert_eq!(second.exec_config.command, "test-command-2");
    assert_eq!(second.exec_config.args, ["arg3"]);
    assert_eq!(
        second.profile_sourced_cli_args_policy,
        ProfileSourcedCliArgsPolicy::Append
    );
    assert_eq!(
        second.profile_sourced_env_vars_policy,
        ProfileSourcedEnvVarsPolicy::Replace
    );
    assert!(file.provider("non-existent-provider").is_none());
    assert!(file.provider("").is_none());
    assert!(super::file(vec![]).provider("any-provider").is_none());
}

#[test]
fn the_first_matching_provider_is_chosen() {
    let file = file(test_providers());
    let profile = upstream_profile();
    let selection = select::v1alpha1(&file, &profile).unwrap();
    assert_eq!(selection.provider.name, "test-provider-1");
    assert_eq!(selection.cluster.server, "https://test-server-1.com");
}

#[test]
fn provider_file_order_decides_not_profile_order() {
    let file = file(vec![
        provider("test-provider-2", "c2", &[]),
        provider("test-provider-1", "c1", &[]),
    ]);
    let profile = upstream_profile();
    let selection = select::v1alpha1(&file, &profile).unwrap();
    assert_eq!(selection.provider.name, "test-provider-2");
    assert_eq!(selection.cluster.server, "https://test-server-2.com");
}

#[test]
fn no_match_is_an_error_listing_both_sides() {
    let builder = builder(vec![provider("different-provider", "cmd", &[])]);
    let error = builder
        .config_for_v1alpha1(&upstream_profile())
        .unwrap_err();
    let AccessError::NoMatchingProvider {
        profile,
        offered,
        configured,
    } = &error
    else {
        panic!("unexpected {error:?}");
    };
    assert_eq!(profile, "inventory/test-cluster");
    assert_eq!(
        offered,
        &["test-provider-1", "test-provider-2", "unsupported-provider"]
    );
    assert_eq!(configured, &["different-provider"]);
    assert_eq!(error.category(), "NoMatchingProvider");
    let message = error.to_string();
    assert!(
        message.contains("ClusterProfile inventory/test-cluster"),
        "{message}"
    );
    assert!(
        message.contains("the file has [different-provider]"),
        "{message}"
    );
}

#[test]
fn a_profile_without_providers_matches_nothing() {
    let file = file(test_providers());
    let mut profile = upstream_profile();
    profile.status = None;
    assert!(select::v1alpha1(&file, &profile).is_err());
    profile.status = Some(Default::default());
    let Err(AccessError::NoMatchingProvider { offered, .. }) = select::v1alpha1(&file, &profile)
    else {
        panic!("expected no match");
    };
    assert!(offered.is_empty());
}

/// Upstream returns a deep copy; here the config owns everything it needs.
#[test]
fn the_built_config_does_not_depend_on_the_profile_afterwards() {
    let builder = builder(test_providers());
    let mut profile = upstream_profile();
    let config = builder.config_for_v1alpha1(&profile).unwrap();
    profile.status.as_mut().unwrap().access_providers[0]
        .cluster
        .as_mut()
        .unwrap()
        .server = "modified-server".to_owned();
    assert_eq!(config.cluster_url.to_string(), "https://test-server-1.com/");
}

#[test]
fn deprecated_credential_providers_are_used_when_access_providers_lack_the_name() {
    let file = file(test_providers());
    let profile = profile_v1alpha1(
        vec![],
        vec![entry(
            "test-provider-2",
            cluster("https://legacy.example.com"),
        )],
    );
    let selection = select::v1alpha1(&file, &profile).unwrap();
    assert_eq!(selection.provider.name, "test-provider-2");
    assert_eq!(selection.cluster.server, "https://legacy.example.com");
    assert!(selection.deprecated_field);
}

#[test]
fn access_providers_win_over_credential_providers_of_the_same_name() {
    let file = file(test_providers());
    let profile = profile_v1alpha1(
        vec![entry("test-provider-1", cluster("https://new.example.com"))],
        vec![entry("test-provider-1", cluster("https://old.example.com"))],
    );
    let selection = select::v1alpha1(&file, &profile).unwrap();
    assert_eq!(selection.cluster.server, "https://new.example.com");
    assert!(!selection.deprecated_field);
}

#[test]
fn file_order_applies_across_both_fields() {
    // The file prefers provider 1, offered only in the deprecated field.
    let file = file(test_providers());
    let profile = profile_v1alpha1(
        vec![entry("test-provider-2", cluster("https://two.example.com"))],
        vec![entry("test-provider-1", cluster("https://one.example.com"))],
    );
    let selection = select::v1alpha1(&file, &profile).unwrap();
    assert_eq!(selection.provider.name, "test-provider-1");
    assert_eq!(selection.cluster.server, "https://one.example.com");
}

#[test]
fn a_v1alpha1_entry_without_cluster_has_no_server() {
    let builder = builder(test_providers());
    let profile = profile_v1alpha1(
        vec![v1alpha1::AccessProvider {
            name: "test-provider-1".to_owned(),
            cluster: None,
        }],
        vec![],
    );
    let error = builder.config_for_v1alpha1(&profile).unwrap_err();
    assert!(
        matches!(&error, AccessError::InvalidServer { provider, .. } if provider == "test-provider-1"),
        "{error:?}"
    );
    assert!(error.to_string().contains("no server"), "{error}");
}

#[test]
fn v1alpha2_profiles_are_matched_in_file_order() {
    let file = file(test_providers());
    let entry = |name: &str, server: &str| v1alpha2::AccessProvider {
        name: name.to_owned(),
        cluster: v1alpha2::Cluster {
            server: server.to_owned(),
            ..Default::default()
        },
    };
    let profile = profile_v1alpha2(vec![
        entry("other", "https://other.example.com"),
        entry("test-provider-2", "https://two.example.com"),
        entry("test-provider-1", "https://one.example.com"),
    ]);
    let selection = select::v1alpha2(&file, &profile).unwrap();
    assert_eq!(selection.provider.name, "test-provider-1");
    assert_eq!(selection.cluster.server, "https://one.example.com");

    let profile = profile_v1alpha2(vec![entry("other", "https://other.example.com")]);
    let Err(AccessError::NoMatchingProvider {
        offered,
        configured,
        ..
    }) = select::v1alpha2(&file, &profile)
    else {
        panic!("expected no match");
    };
    assert_eq!(offered, ["other"]);
    assert_eq!(configured, ["test-provider-1", "test-provider-2"]);
}
