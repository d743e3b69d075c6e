//! Assembling the `kube::Config` for a chosen provider: the cluster's connection details (server,
//! CA, TLS server name, insecure flag, proxy, compression) and the provider's exec plugin.
//!
//! What the provider file fixes of the plugin (command, arguments, environment, API version) is
//! built once per builder ([`exec_template`]); a build copies it, and works the profile's
//! arguments and variables in afresh only when its extensions and the provider's policies add
//! some. The server and CA are parsed by [`parse_cluster`], which the builder calls only when
//! its per-profile cache (`parsed.rs`) does not already hold them.

use std::collections::HashMap;

use kube::config::{ExecAuthCluster, ExecConfig as KubeExecConfig, ExecInteractiveMode};

use super::{
    AccessError, ExecEnvVar, ProfileSourcedCliArgsPolicy, ProfileSourcedEnvVarsPolicy, Provider,
    extensions::plugin_input,
    parsed::Parsed,
    select::{ClusterView, Extensions, Selection},
};
use cluster_inventory::names::{
    ADDITIONAL_ARGS_EXTENSION, ADDITIONAL_ENVS_EXTENSION, EXEC_EXTENSION,
};

/// Parses what a build derives from the cluster's server and CA.
pub(crate) fn parse_cluster(selection: &Selection<'_>) -> Result<Parsed, AccessError> {
    let provider = selection.provider.name.as_str();
    let cluster = &selection.cluster;
    let url = server_url(cluster.server).map_err(|reason| AccessError::InvalidServer {
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
    Ok(Parsed { url, root_cert })
}

/// Builds the config for a selection from its parsed server and CA and the provider's exec
/// template (pure: reads no files and no environment).
pub(crate) fn build(
    selection: &Selection<'_>,
    exec_template: &KubeExecConfig,
    parsed: Parsed,
) -> Result<kube::Config, AccessError> {
    let provider = selection.provider.name.as_str();
    let cluster = &selection.cluster;
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
    let mut config = kube::Config::new(parsed.url);
    config.root_cert = parsed.root_cert;
    config.tls_server_name = non_empty(cluster.tls_server_name).map(str::to_owned);
    config.accept_invalid_certs = cluster.insecure_skip_tls_verify.unwrap_or(false);
    config.disable_compression = cluster.disable_compression.unwrap_or(false);
    // An unset proxy means no proxy: like upstream, HTTPS_PROXY is not consulted.
    config.proxy_url = proxy_url;
    // Filled in place: the exec config is large, and so is the config.
    let exec = config.auth_info.exec.insert(exec_template.clone());
    if extensions_apply(selection.provider, cluster.extensions) {
        let input = plugin_input(selection.provider, cluster.extensions.iter()).map_err(
            |(extension, reason)| AccessError::InvalidExtension {
                provider: provider.to_owned(),
                extension: extension.to_owned(),
                reason,
            },
        )?;
        exec.args = (!input.args.is_empty()).then_some(input.args);
        exec.env = kube_env(&input.env);
    }
    if exec.provide_cluster_info {
        exec.cluster = Some(exec_cluster(cluster));
    }
    Ok(config)
}

/// The provider's exec plugin config as the provider file fixes it: its command, arguments and
/// environment, never interactive, without the cluster (which each build adds when the provider
/// asks for cluster info).
pub(crate) fn exec_template(provider: &Provider) -> KubeExecConfig {
    let exec = &provider.exec_config;
    KubeExecConfig {
        api_version: Some(exec.api_version.clone()),
        command: Some(exec.command.clone()),
        args: (!exec.args.is_empty()).then(|| exec.args.clone()),
        env: kube_env(&exec.env),
        install_hint: exec.install_hint.clone(),
        interactive_mode: Some(ExecInteractiveMode::Never),
        provide_cluster_info: exec.provide_cluster_info,
        cluster: None,
        ..KubeExecConfig::default()
    }
}

/// Whether the profile's extensions change the plugin's arguments or environment: one of them
/// is present and the provider's policy takes it in.
fn extensions_apply(provider: &Provider, extensions: Extensions<'_>) -> bool {
    extensions.iter().any(|(name, _)| match name {
        ADDITIONAL_ARGS_EXTENSION => {
            provider.profile_sourced_cli_args_policy != ProfileSourcedCliArgsPolicy::Ignore
        }
        ADDITIONAL_ENVS_EXTENSION => {
            provider.profile_sourced_env_vars_policy != ProfileSourcedEnvVarsPolicy::Ignore
        }
        _ => false,
    })
}

/// Variables as kube's exec config holds them (`None` for none).
fn kube_env(env: &[ExecEnvVar]) -> Option<Vec<HashMap<String, String>>> {
    (!env.is_empty()).then(|| {
        env.iter()
            .map(|var| {
                HashMap::from([
                    ("name".to_owned(), var.name.clone()),
                    ("value".to_owned(), var.value.clone()),
                ])
            })
            .collect()
    })
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
        config: cluster.extensions.get(EXEC_EXTENSION).cloned(),
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
