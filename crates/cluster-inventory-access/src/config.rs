//! Assembling the `kube::Config` for a chosen provider: the cluster's connection details (server,
//! CA, TLS server name, insecure flag, proxy, compression) and an exec plugin built afresh from
//! the provider file for every call.

use std::collections::HashMap;

use kube::config::{ExecAuthCluster, ExecConfig as KubeExecConfig, ExecInteractiveMode};

use super::{
    AccessError,
    extensions::{PluginInput, plugin_input},
    select::{ClusterView, Selection},
};
use cluster_inventory::names::EXEC_EXTENSION;

/// Builds the config for a selection (pure: reads no files and no environment).
pub(crate) fn build(selection: &Selection<'_>) -> Result<kube::Config, AccessError> {
    let provider = selection.provider.name.as_str();
    let cluster = &selection.cluster;

    let cluster_url = server_url(cluster.server).map_err(|reason| AccessError::InvalidServer {
        provider: provider.to_owned(),
        server: cluster.server.to_owned(),
        reason,
    })?;
    let root_cert =
        match cluster.certificate_authority_data {
            Some(pem) if !pem.is_empty() => Some(certificates(pem).map_err(|reason| {
                AccessError::InvalidCertificateAuthority {
                    provider: provider.to_owned(),
                    reason,
                }
            })?),
            _ => None,
        };
    let proxy_url = match non_empty(cluster.proxy_url) {
        Some(proxy) => Some(
            proxy_url(proxy).map_err(|reason| AccessError::InvalidProxyUrl {
                provider: provider.to_owned(),
                proxy_url: proxy.to_owned(),
                reason,
            })?,
        ),
        None => None,
    };
    let input =
        plugin_input(selection.provider, &cluster.extensions).map_err(|(extension, reason)| {
            AccessError::InvalidExtension {
                provider: provider.to_owned(),
                extension: extension.to_owned(),
                reason,
            }
        })?;

    let mut config = kube::Config::new(cluster_url);
    config.root_cert = root_cert;
    config.tls_server_name = non_empty(cluster.tls_server_name).map(str::to_owned);
    config.accept_invalid_certs = cluster.insecure_skip_tls_verify.unwrap_or(false);
    config.disable_compression = cluster.disable_compression.unwrap_or(false);
    // An unset proxy means no proxy: like upstream, HTTPS_PROXY is not consulted.
    config.proxy_url = proxy_url;
    config.auth_info.exec = Some(exec_config(selection, input));
    Ok(config)
}

/// The exec plugin config: the provider's command with this call's args and env, never
/// interactive, and the cluster (with the profile's exec extension as its `config`) when the
/// provider asks for cluster info.
fn exec_config(selection: &Selection<'_>, input: PluginInput) -> KubeExecConfig {
    let exec = &selection.provider.exec_config;
    let env: Vec<HashMap<String, String>> = input
        .env
        .into_iter()
        .map(|var| {
            HashMap::from([
                ("name".to_owned(), var.name),
                ("value".to_owned(), var.value),
            ])
        })
        .collect();
    KubeExecConfig {
        api_version: Some(exec.api_version.clone()),
        command: Some(exec.command.clone()),
        args: (!input.args.is_empty()).then_some(input.args),
        env: (!env.is_empty()).then_some(env),
        install_hint: exec.install_hint.clone(),
        interactive_mode: Some(ExecInteractiveMode::Never),
        provide_cluster_info: exec.provide_cluster_info,
        cluster: exec
            .provide_cluster_info
            .then(|| exec_cluster(&selection.cluster)),
        ..KubeExecConfig::default()
    }
}

/// The cluster as the plugin sees it in `KUBERNETES_EXEC_INFO.spec.cluster`.
pub(crate) fn exec_cluster(cluster: &ClusterView<'_>) -> ExecAuthCluster {
    ExecAuthCluster {
        server: Some(cluster.server.to_owned()),
        insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
        certificate_authority_data: cluster
            .certificate_authority_data
            .filter(|pem| !pem.is_empty())
            .map(<[u8]>::to_vec),
        proxy_url: non_empty(cluster.proxy_url).map(str::to_owned),
        tls_server_name: non_empty(cluster.tls_server_name).map(str::to_owned),
        config: cluster
            .extensions
            .iter()
            .find(|(name, _)| *name == EXEC_EXTENSION)
            .map(|(_, value)| (*value).clone()),
    }
}

/// Parses the server: an absolute `https` or `http` URL with a host.
pub(crate) fn server_url(server: &str) -> Result<http::Uri, String> {
    if server.is_empty() {
        return Err("the cluster has no server".to_owned());
    }
    absolute_url(server, &["https", "http"])
}

fn proxy_url(proxy: &str) -> Result<http::Uri, String> {
    absolute_url(proxy, &["http", "https", "socks5"])
}

fn absolute_url(text: &str, schemes: &[&str]) -> Result<http::Uri, String> {
    let uri: http::Uri = text.parse().map_err(|e| format!("{e}"))?;
    match uri.scheme_str() {
        Some(scheme) if schemes.contains(&scheme) => {}
        Some(scheme) => {
            return Err(format!(
                "scheme {scheme:?} is not one of {}",
                schemes.join(", ")
            ));
        }
        None => return Err(format!("it has no scheme (one of {})", schemes.join(", "))),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(uri),
        _ => Err("it has no host".to_owned()),
    }
}

/// Splits PEM data into the DER certificates kube expects (other PEM blocks are skipped, as
/// kube does for kubeconfigs); data without any certificate is an error.
pub(crate) fn certificates(pem_data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let certificates: Vec<Vec<u8>> = pem::parse_many(pem_data)
        .map_err(|e| format!("not PEM: {e}"))?
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certificates.is_empty() {
        return Err("no PEM certificate found".to_owned());
    }
    Ok(certificates)
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}
