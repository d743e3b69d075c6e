//! The built `kube::Config`: cluster connection fields, the exec plugin, cluster info, errors.

use super::*;
use crate::AccessError;
use cluster_inventory::names::{ADDITIONAL_ARGS_EXTENSION, EXEC_EXTENSION};

fn full_cluster_v1alpha2() -> v1alpha2::Cluster {
    v1alpha2::Cluster {
        server: "https://member-1.example.com:6443".to_owned(),
        tls_server_name: Some("api.member-1.internal".to_owned()),
        insecure_skip_tls_verify: Some(true),
        certificate_authority_data: Some(ca_data()),
        proxy_url: Some("socks5://proxy.example.com:1080".to_owned()),
        disable_compression: Some(true),
        extensions: vec![v1alpha2::NamedExtension {
            name: EXEC_EXTENSION.to_owned(),
            extension: exec_extension("member-1"),
        }],
    }
}

fn roster_like_provider(provide_cluster_info: bool) -> Provider {
    let mut exec = ExecConfig::new(API_V1, "credential-plugin");
    exec.args = vec!["--flag".to_owned()];
    exec.provide_cluster_info = provide_cluster_info;
    exec.interactive_mode = Some("Always".to_owned());
    exec.install_hint = Some("install credential-plugin".to_owned());
    Provider::new("p", exec)
}

fn build_v1alpha2(
    provider: Provider,
    cluster: v1alpha2::Cluster,
) -> Result<kube::Config, AccessError> {
    let profile = profile_v1alpha2(vec![v1alpha2::AccessProvider {
        name: "p".to_owned(),
        cluster,
    }]);
    builder(vec![provider]).config_for_v1alpha2(&profile)
}

#[test]
fn tls_proxy_and_compression_fields_are_honoured() {
    let config = build_v1alpha2(roster_like_provider(false), full_cluster_v1alpha2()).unwrap();
    assert_eq!(
        config.cluster_url.to_string(),
        "https://member-1.example.com:6443/"
    );
    assert_eq!(
        config.tls_server_name.as_deref(),
        Some("api.member-1.internal")
    );
    assert!(config.accept_invalid_certs);
    assert!(config.disable_compression);
    assert_eq!(
        config.proxy_url.as_ref().map(ToString::to_string),
        Some("socks5://proxy.example.com:1080/".to_owned())
    );
    let expected_der = pem::parse(ca_data().0).unwrap().into_contents();
    let root_cert = config.root_cert.as_ref().unwrap();
    assert_eq!(root_cert.len(), 1);
    assert_eq!(root_cert[0], expected_der);
    assert_eq!(config.default_namespace, "default");
}

#[test]
fn unset_fields_keep_kube_defaults_and_ignore_proxy_environment() {
    let cluster = v1alpha2::Cluster {
        server: "https://member.example.com".to_owned(),
        proxy_url: Some(String::new()),
        tls_server_name: Some(String::new()),
        ..Default::default()
    };
    let config = build_v1alpha2(roster_like_provider(false), cluster).unwrap();
    assert!(config.root_cert.is_none());
    assert!(config.proxy_url.is_none());
    assert!(config.tls_server_name.is_none());
    assert!(!config.accept_invalid_certs);
    assert!(!config.disable_compression);
}

#[test]
fn the_exec_plugin_is_the_providers_never_interactive() {
    let config = build_v1alpha2(roster_like_provider(false), full_cluster_v1alpha2()).unwrap();
    let exec = exec_of(&config);
    assert_eq!(exec.api_version.as_deref(), Some(API_V1));
    assert_eq!(exec.command.as_deref(), Some("credential-plugin"));
    assert_eq!(exec.args.as_deref(), Some(&["--flag".to_owned()][..]));
    assert_eq!(exec.env, None);
    assert_eq!(
        exec.interactive_mode,
        Some(kube::config::ExecInteractiveMode::Never)
    );
    assert_eq!(
        exec.install_hint.as_deref(),
        Some("install credential-plugin")
    );
    assert!(!exec.provide_cluster_info);
    assert!(exec.cluster.is_none());
}

#[test]
fn provide_cluster_info_fills_the_exec_cluster() {
    let config = build_v1alpha2(roster_like_provider(true), full_cluster_v1alpha2()).unwrap();
    let exec = exec_of(&config);
    assert!(exec.provide_cluster_info);
    let cluster = serde_json::to_value(exec.cluster.as_ref().unwrap()).unwrap();
    use base64::Engine;
    let ca_base64 = base64::engine::general_purpose::STANDARD.encode(ca_data().0);
    assert_eq!(
        cluster,
        json!({
            "server": "https://member-1.example.com:6443",
            "tls-server-name": "api.member-1.internal",
            "insecure-skip-tls-verify": true,
            "certificate-authority-data": ca_base64,
            "proxy-url": "socks5://proxy.example.com:1080",
            "config": {"clusterName": "member-1"}
        })
    );
}

#[test]
fn without_the_exec_extension_the_cluster_config_is_absent() {
    let mut cluster = full_cluster_v1alpha2();
    cluster.extensions = vec![v1alpha2::NamedExtension {
        name: ADDITIONAL_ARGS_EXTENSION.to_owned(),
        extension: json!(["--x"]),
    }];
    let config = build_v1alpha2(roster_like_provider(true), cluster).unwrap();
    assert!(exec_of(&config).cluster.as_ref().unwrap().config.is_none());
}

#[test]
fn v1alpha1_profiles_build_the_same_config() {
    let v2 = full_cluster_v1alpha2();
    let v1 = v1alpha1::Cluster {
        server: v2.server.clone(),
        tls_server_name: v2.tls_server_name.clone(),
        insecure_skip_tls_verify: v2.insecure_skip_tls_verify,
        certificate_authority_data: v2.certificate_authority_data.clone(),
        proxy_url: v2.proxy_url.clone(),
        disable_compression: v2.disable_compression,
        extensions: vec![extension(EXEC_EXTENSION, exec_extension("member-1"))],
        ..Default::default()
    };
    let builder = builder(vec![roster_like_provider(true)]);
    let from_v1 = builder
        .config_for_v1alpha1(&profile_v1alpha1(vec![entry("p", v1)], vec![]))
        .unwrap();
    let from_v2 = build_v1alpha2(roster_like_provider(true), v2).unwrap();
    assert_eq!(format!("{from_v1:?}"), format!("{from_v2:?}"));
}

fn server_error(server: &str) -> AccessError {
    let cluster = v1alpha2::Cluster {
        server: server.to_owned(),
        ..Default::default()
    };
    build_v1alpha2(roster_like_provider(false), cluster).unwrap_err()
}

#[test]
fn an_invalid_server_is_an_error() {
    for server in [
        "",
        "not a url",
        "member.example.com",
        "ftp://member.example.com",
        "https://",
    ] {
        let error = server_error(server);
        assert!(
            matches!(&error, AccessError::InvalidServer { server: s, .. } if s == server),
            "{server:?}: {error:?}"
        );
        assert_eq!(error.category(), "InvalidServer");
    }
    // Plain http is allowed (kube supports it, for example behind a local proxy).
    let cluster = v1alpha2::Cluster {
        server: "http://127.0.0.1:8001".to_owned(),
        ..Default::default()
    };
    assert!(build_v1alpha2(roster_like_provider(false), cluster).is_ok());
}

#[test]
fn an_invalid_ca_is_an_error() {
    for data in [
        &b"test-ca-data"[..],
        b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    ] {
        let cluster = v1alpha2::Cluster {
            server: "https://member.example.com".to_owned(),
            certificate_authority_data: Some(ByteString(data.to_vec())),
            ..Default::default()
        };
        let error = build_v1alpha2(roster_like_provider(false), cluster).unwrap_err();
        assert!(
            matches!(&error, AccessError::InvalidCertificateAuthority { provider, .. } if provider == "p"),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("certificate-authority-data"),
            "{error}"
        );
    }
}

#[test]
fn an_invalid_proxy_is_an_error() {
    for proxy in ["ftp://proxy.example.com", "proxy.example.com:3128"] {
        let cluster = v1alpha2::Cluster {
            server: "https://member.example.com".to_owned(),
            proxy_url: Some(proxy.to_owned()),
            ..Default::default()
        };
        let error = build_v1alpha2(roster_like_provider(false), cluster).unwrap_err();
        assert!(
            matches!(&error, AccessError::InvalidProxyUrl { proxy_url, .. } if proxy_url == proxy),
            "{proxy}: {error:?}"
        );
    }
}
