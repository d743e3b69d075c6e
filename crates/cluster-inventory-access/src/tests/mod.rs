//! Unit tests of the access library. The upstream cases are those of
//! `sigs.k8s.io/cluster-inventory-api` v0.1.0 `pkg/access/config_test.go`.

mod client;
mod config;
mod directory;
mod exec;
mod metrics;
mod parsed;
mod policies;
mod provider_file;
mod selection;

use k8s_openapi::ByteString;
use kube::api::ObjectMeta;
use serde_json::{Value, json};

use super::{
    ConfigBuilder, ExecConfig, ExecEnvVar, ProfileSourcedCliArgsPolicy,
    ProfileSourcedEnvVarsPolicy, Provider, ProviderFile,
};
use cluster_inventory::{v1alpha1, v1alpha2};

const API_V1: &str = "client.authentication.k8s.io/v1";
const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// A provider running `command args...` with both policies at their default.
fn provider(name: &str, command: &str, args: &[&str]) -> Provider {
    let mut exec = ExecConfig::new(API_V1BETA1, command);
    exec.args = args.iter().map(|a| a.to_string()).collect();
    Provider::new(name, exec)
}

fn file(providers: Vec<Provider>) -> ProviderFile {
    ProviderFile::new(providers).unwrap()
}

fn builder(providers: Vec<Provider>) -> ConfigBuilder {
    ConfigBuilder::new(file(providers))
}

/// Upstream's `testProviders`: provider 1 with default policies, provider 2 with Append/Replace.
fn test_providers() -> Vec<Provider> {
    let mut second = provider("test-provider-2", "test-command-2", &["arg3"]);
    second.profile_sourced_cli_args_policy = ProfileSourcedCliArgsPolicy::Append;
    second.profile_sourced_env_vars_policy = ProfileSourcedEnvVarsPolicy::Replace;
    vec![
        provider("test-provider-1", "test-command-1", &["arg1", "arg2"]),
        second,
    ]
}

fn cluster(server: &str) -> v1alpha1::Cluster {
    v1alpha1::Cluster {
        server: server.to_owned(),
        ..Default::default()
    }
}

fn entry(name: &str, cluster: v1alpha1::Cluster) -> v1alpha1::AccessProvider {
    v1alpha1::AccessProvider {
        name: name.to_owned(),
        cluster: Some(cluster),
    }
}

fn extension(name: &str, value: Value) -> v1alpha1::NamedExtension {
    v1alpha1::NamedExtension {
        name: name.to_owned(),
        extension: value,
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some("inventory".to_owned()),
        ..Default::default()
    }
}

/// A v1alpha1 profile offering `access` in accessProviders and `credential` in the deprecated
/// credentialProviders.
fn profile_v1alpha1(
    access: Vec<v1alpha1::AccessProvider>,
    credential: Vec<v1alpha1::AccessProvider>,
) -> v1alpha1::ClusterProfile {
    v1alpha1::ClusterProfile {
        metadata: meta("test-cluster"),
        spec: Default::default(),
        status: Some(v1alpha1::ClusterProfileStatus {
            access_providers: access,
            credential_providers: credential,
            ..Default::default()
        }),
    }
}

fn profile_v1alpha2(access: Vec<v1alpha2::AccessProvider>) -> v1alpha2::ClusterProfile {
    v1alpha2::ClusterProfile {
        metadata: meta("test-cluster"),
        spec: Default::default(),
        status: Some(v1alpha2::ClusterProfileStatus {
            access_providers: access,
            ..Default::default()
        }),
    }
}

/// A PEM CA certificate, generated once for the test run.
fn ca_pem() -> String {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(|| {
        rcgen::generate_simple_self_signed(vec!["member.example.com".to_owned()])
            .unwrap()
            .cert
            .pem()
    })
    .clone()
}

fn ca_data() -> ByteString {
    ByteString(ca_pem().into_bytes())
}

/// The built exec config.
fn exec_of(config: &kube::Config) -> &kube::config::ExecConfig {
    config.auth_info.exec.as_ref().unwrap()
}

/// The exec plugin's environment as (name, value) pairs, in order.
fn env_of(config: &kube::Config) -> Vec<(String, String)> {
    exec_of(config)
        .env
        .iter()
        .flatten()
        .map(|var| (var["name"].clone(), var["value"].clone()))
        .collect()
}

fn args_of(config: &kube::Config) -> Vec<String> {
    exec_of(config).args.clone().unwrap_or_default()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn env_var(name: &str, value: &str) -> ExecEnvVar {
    ExecEnvVar::new(name, value)
}

/// The exec cluster config `{"clusterName": name}`.
fn exec_extension(name: &str) -> Value {
    json!({ "clusterName": name })
}
