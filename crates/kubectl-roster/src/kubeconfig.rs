//! The bootstrap kubeconfig: how the agent first reaches the hub, with the bootstrap token.

use base64::{Engine, engine::general_purpose::STANDARD};
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use roster_api::names;

/// Name of the kubeconfig's one cluster.
pub const CLUSTER: &str = "hub";

/// Name of the kubeconfig's user and context.
pub const USER: &str = names::BOOTSTRAP_SERVICE_ACCOUNT;

/// How the member reaches the hub's API server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HubEndpoint {
    /// The hub's API server URL.
    pub server: String,
    /// PEM bundle of the CAs that sign the hub's serving certificate; none for system roots.
    pub ca_pem: Option<String>,
    /// Server name to check the hub's certificate against, when it differs from the URL's.
    pub tls_server_name: Option<String>,
    /// The kubeconfig in use skips certificate checks, so the agent has to as well.
    pub insecure: bool,
}

impl HubEndpoint {
    /// The endpoint the admin's own kubeconfig uses, with `server` overriding its URL.
    pub fn from_config(config: &kube::Config, server: Option<&str>) -> Self {
        Self {
            server: server.map_or_else(
                || server_url(&config.cluster_url.to_string()),
                str::to_owned,
            ),
            ca_pem: config
                .root_cert
                .as_deref()
                .map(roster_runtime::pem::certificates),
            tls_server_name: config.tls_server_name.clone(),
            insecure: config.accept_invalid_certs,
        }
    }
}

/// The URL as written in a kubeconfig: no trailing `/` when there is no path.
fn server_url(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match url.strip_suffix('/') {
        Some(bare) if after_scheme.find('/') == Some(after_scheme.len() - 1) => bare.to_owned(),
        _ => url.to_owned(),
    }
}

/// The bootstrap kubeconfig of member `member`: cluster `hub`, user and context
/// `roster-bootstrap`, namespace `roster-member-<member>`.
pub fn bootstrap(member: &str, hub: &HubEndpoint, token: &str) -> Kubeconfig {
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: CLUSTER.to_owned(),
            cluster: Some(Cluster {
                server: Some(hub.server.clone()),
                certificate_authority_data: hub.ca_pem.as_ref().map(|pem| STANDARD.encode(pem)),
                tls_server_name: hub.tls_server_name.clone(),
                insecure_skip_tls_verify: hub.insecure.then_some(true),
                ..Cluster::default()
            }),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: USER.to_owned(),
            auth_info: Some(AuthInfo {
                token: Some(token.to_owned().into()),
                ..AuthInfo::default()
            }),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: USER.to_owned(),
            context: Some(Context {
                cluster: CLUSTER.to_owned(),
                user: Some(USER.to_owned()),
                namespace: Some(names::member_namespace(member)),
                ..Context::default()
            }),
            other: Default::default(),
        }],
        current_context: Some(USER.to_owned()),
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        ..Kubeconfig::default()
    }
}

/// The kubeconfig as YAML.
pub fn to_yaml(kubeconfig: &Kubeconfig) -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(kubeconfig)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token of a kubeconfig user (kept in a SecretString), for assertions.
    fn token(auth: &AuthInfo) -> String {
        serde_json::to_value(auth).expect("serializes")["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn endpoint() -> HubEndpoint {
        HubEndpoint {
            server: "https://hub.example:6443".into(),
            ca_pem: Some(roster_runtime::pem::certificates(&[vec![1, 2, 3]])),
            ..HubEndpoint::default()
        }
    }

    #[test]
    fn pem_wraps_base64_der_in_certificate_lines() {
        let pem = roster_runtime::pem::certificates(&[vec![0; 51], vec![1]]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2], "AAAA");
        assert_eq!(lines[3], "-----END CERTIFICATE-----");
        assert_eq!(lines[5], "AQ==");
        assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
    }

    #[test]
    fn server_url_has_no_trailing_slash() {
        for (given, written) in [
            ("https://127.0.0.1:6443", "https://127.0.0.1:6443"),
            ("https://hub.example/", "https://hub.example"),
            ("https://hub.example/prefix", "https://hub.example/prefix"),
            ("https://hub.example/prefix/", "https://hub.example/prefix/"),
        ] {
            assert_eq!(server_url(given), written);
        }
    }

    #[test]
    fn bootstrap_kubeconfig_round_trips_through_yaml() {
        let yaml = to_yaml(&bootstrap("m1", &endpoint(), "secret-token")).expect("yaml");
        let parsed = Kubeconfig::from_yaml(&yaml).expect("parses back");
        assert_eq!(parsed.current_context.as_deref(), Some("roster-bootstrap"));
        let context = parsed.contexts[0].context.as_ref().expect("context");
        assert_eq!(context.cluster, "hub");
        assert_eq!(context.user.as_deref(), Some("roster-bootstrap"));
        assert_eq!(context.namespace.as_deref(), Some("roster-member-m1"));
        let cluster = parsed.clusters[0].cluster.as_ref().expect("cluster");
        assert_eq!(cluster.server.as_deref(), Some("https://hub.example:6443"));
        let ca = STANDARD
            .decode(cluster.certificate_authority_data.as_deref().expect("ca"))
            .expect("base64");
        assert!(
            String::from_utf8(ca)
                .expect("utf8")
                .contains("BEGIN CERTIFICATE")
        );
        assert_eq!(cluster.insecure_skip_tls_verify, None);
        let user = parsed.auth_infos[0].auth_info.as_ref().expect("user");
        assert_eq!(token(user), "secret-token");
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let kubeconfig = bootstrap("m1", &endpoint(), "secret-token");
        assert!(!format!("{kubeconfig:?}").contains("secret-token"));
    }
}
