//! Configs from a mounted credentials directory.

use std::path::Path;

use super::*;
use crate::{DirectoryError, from_directory, from_directory_or_infer};

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).unwrap();
}

#[test]
fn token_files_build_a_config_that_reads_the_token_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "token", "secret-token\n");
    write(dir.path(), "server", "https://member-1.example.com:6443\n");
    write(dir.path(), "ca.crt", &ca_pem());
    write(dir.path(), "namespace", "team-a\n");

    let config = from_directory(dir.path()).unwrap();
    assert_eq!(
        config.cluster_url.to_string(),
        "https://member-1.example.com:6443/"
    );
    assert_eq!(config.default_namespace, "team-a");
    assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
    assert_eq!(
        config.root_cert_file.as_deref(),
        Some(&*dir.path().join("ca.crt"))
    );
    // The token is read by kube from the file (so refreshes are seen), never copied in.
    assert!(config.auth_info.token.is_none());
    assert_eq!(
        config.auth_info.token_file.as_deref(),
        dir.path().join("token").to_str()
    );
}

#[test]
fn namespace_and_ca_are_optional() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "token", "t");
    write(dir.path(), "server", "https://member.example.com");
    let config = from_directory(dir.path()).unwrap();
    assert_eq!(config.default_namespace, "default");
    assert!(config.root_cert.is_none());
    assert!(config.root_cert_file.is_none());
}

#[test]
fn missing_or_invalid_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let error = from_directory(dir.path()).unwrap_err();
    assert!(
        matches!(error, DirectoryError::Missing { file: "token", .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("neither kubeconfig nor token"),
        "{error}"
    );

    write(dir.path(), "token", "t");
    let error = from_directory(dir.path()).unwrap_err();
    assert!(
        matches!(error, DirectoryError::Missing { file: "server", .. }),
        "{error:?}"
    );

    write(dir.path(), "server", "member.example.com");
    let error = from_directory(dir.path()).unwrap_err();
    assert!(matches!(error, DirectoryError::Invalid { .. }), "{error:?}");
    assert!(error.to_string().contains("server"), "{error}");

    write(dir.path(), "server", "https://member.example.com");
    write(dir.path(), "ca.crt", "not a certificate");
    let error = from_directory(dir.path()).unwrap_err();
    assert!(error.to_string().contains("ca.crt"), "{error}");
}

fn kubeconfig(namespace: Option<&str>) -> String {
    let namespace = namespace
        .map(|ns| format!("\n    namespace: {ns}"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: member
  cluster:
    server: https://kubeconfig.example.com
    certificate-authority: ca.crt
contexts:
- name: member
  context:
    cluster: member
    user: member{namespace}
current-context: member
users:
- name: member
  user:
    tokenFile: token
"#
    )
}

#[test]
fn a_kubeconfig_wins_and_its_relative_paths_are_resolved() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "kubeconfig",
        &kubeconfig(Some("from-kubeconfig")),
    );
    write(dir.path(), "token", "t");
    write(dir.path(), "ca.crt", &ca_pem());
    write(dir.path(), "server", "https://ignored.example.com");
    write(dir.path(), "namespace", "from-file");

    let config = from_directory(dir.path()).unwrap();
    assert_eq!(config.cluster_url.host(), Some("kubeconfig.example.com"));
    assert_eq!(config.default_namespace, "from-kubeconfig");
    assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
    assert_eq!(
        config.auth_info.token_file.as_deref(),
        dir.path().join("token").to_str()
    );
}

#[test]
fn the_namespace_file_fills_in_for_a_kubeconfig_without_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "kubeconfig", &kubeconfig(None));
    write(dir.path(), "token", "t");
    write(dir.path(), "ca.crt", &ca_pem());
    write(dir.path(), "namespace", "from-file");
    assert_eq!(
        from_directory(dir.path()).unwrap().default_namespace,
        "from-file"
    );
}

#[test]
fn a_broken_kubeconfig_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "kubeconfig", "clusters: [");
    let error = from_directory(dir.path()).unwrap_err();
    assert!(
        matches!(error, DirectoryError::Kubeconfig { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains(&dir.path().join("kubeconfig").display().to_string()),
        "{error}"
    );
}

#[tokio::test]
async fn an_existing_directory_is_used_and_not_skipped_when_broken() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "token", "t");
    write(dir.path(), "server", "https://member.example.com");
    let config = from_directory_or_infer(dir.path()).await.unwrap();
    assert_eq!(config.cluster_url.host(), Some("member.example.com"));

    std::fs::remove_file(dir.path().join("server")).unwrap();
    let error = from_directory_or_infer(dir.path()).await.unwrap_err();
    assert!(matches!(error, DirectoryError::Missing { .. }), "{error:?}");
}
