//! Kubeconfig files for the test clusters.

use base64::{Engine, engine::general_purpose::STANDARD};
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};

use crate::pki::CertKey;

/// A single-context kubeconfig for `server`, trusting `ca_pem`, authenticating with `client`.
pub fn client_cert_kubeconfig(
    name: &str,
    server: &str,
    ca_pem: &str,
    client: &CertKey,
) -> Kubeconfig {
    let auth = AuthInfo {
        client_certificate_data: Some(STANDARD.encode(&client.cert_pem)),
        client_key_data: Some(STANDARD.encode(&client.key_pem).into()),
        ..AuthInfo::default()
    };
    single_context(name, server, ca_pem, auth)
}

/// A single-context kubeconfig for `server`, trusting `ca_pem`, authenticating with a bearer
/// token.
pub fn token_kubeconfig(name: &str, server: &str, ca_pem: &str, token: &str) -> Kubeconfig {
    let auth = AuthInfo {
        token: Some(token.to_owned().into()),
        ..AuthInfo::default()
    };
    single_context(name, server, ca_pem, auth)
}

fn single_context(name: &str, server: &str, ca_pem: &str, auth: AuthInfo) -> Kubeconfig {
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: name.to_owned(),
            cluster: Some(Cluster {
                server: Some(server.to_owned()),
                certificate_authority_data: Some(STANDARD.encode(ca_pem)),
                ..Cluster::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.to_owned(),
            auth_info: Some(auth),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: name.to_owned(),
            context: Some(Context {
                cluster: name.to_owned(),
                user: Some(name.to_owned()),
                ..Context::default()
            }),
            other: Default::default(),
        }],
        current_context: Some(name.to_owned()),
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        ..Kubeconfig::default()
    }
}

/// Serializes a kubeconfig as YAML.
pub fn to_yaml(config: &Kubeconfig) -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(config)?)
}

/// A client configuration from a kubeconfig.
pub async fn to_config(config: Kubeconfig) -> anyhow::Result<kube::Config> {
    Ok(
        kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default())
            .await?,
    )
}

/// The bearer token of a kubeconfig's first user, as written (`None` when the kubeconfig does
/// not parse or that user has no token).
pub fn bearer_token(yaml: &str) -> Option<String> {
    let config: serde_json::Value = serde_saphyr::from_str(yaml).ok()?;
    config["users"][0]["user"]["token"]
        .as_str()
        .map(str::to_owned)
}
