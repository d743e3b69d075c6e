//! The access library end to end: a client built from a ClusterProfile runs a real exec plugin
//! (a shell script) on its first request, and sends the plugin's token to a local HTTP listener.
//! Only the loopback interface is used.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    sync::mpsc,
    thread,
    time::Duration,
};

use base64::Engine;
use cluster_inventory::{
    names::{ADDITIONAL_ARGS_EXTENSION, ADDITIONAL_ENVS_EXTENSION, EXEC_EXTENSION},
    v1alpha2,
};
use cluster_inventory_access::{
    ConfigBuilder, ExecConfig, ExecEnvVar, ProfileSourcedCliArgsPolicy,
    ProfileSourcedEnvVarsPolicy, Provider, ProviderFile, from_directory_or_infer,
};
use k8s_openapi::ByteString;
use serde_json::{Value, json};

const TOKEN: &str = "token-from-plugin";

/// Writes a plugin that records its arguments, environment and `KUBERNETES_EXEC_INFO` in `dir`
/// and prints a fixed `ExecCredential`.
fn write_plugin(dir: &Path) -> PathBuf {
    let script = dir.join("plugin.sh");
    let out = dir.display();
    std::fs::write(
        &script,
        format!(
            r#"printf '%s\n' "$@" > '{out}/args'
env > '{out}/env'
printf '%s' "$KUBERNETES_EXEC_INFO" > '{out}/exec-info.json'
cat <<'EOF'
{{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {{"token": "{TOKEN}"}}}}
EOF
"#
        ),
    )
    .unwrap();
    script
}

/// Serves one request on a loopback port with an API server's `/version` answer, and hands
/// back the request's head.
fn serve_version_once() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let body = json!({
            "major": "1", "minor": "37", "gitVersion": "v1.37.0", "gitCommit": "test",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.26", "compiler": "gc", "platform": "linux/amd64"
        })
        .to_string();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        sender.send(head).unwrap();
    });
    (port, receiver)
}

fn ca_pem() -> String {
    rcgen::generate_simple_self_signed(vec!["member-1.example.com".to_owned()])
        .unwrap()
        .cert
        .pem()
}

fn provider(script: &Path) -> Provider {
    let mut exec = ExecConfig::new("client.authentication.k8s.io/v1", "/bin/sh");
    exec.args = vec![
        script.display().to_string(),
        "--remote-service-account".to_owned(),
        "deployer".to_owned(),
    ];
    exec.env = vec![
        ExecEnvVar::new("FILE_VAR", "from-file"),
        ExecEnvVar::new("SHARED_VAR", "from-file"),
    ];
    exec.provide_cluster_info = true;
    Provider {
        profile_sourced_cli_args_policy: ProfileSourcedCliArgsPolicy::Append,
        profile_sourced_env_vars_policy: ProfileSourcedEnvVarsPolicy::Replace,
        ..Provider::new("plugin", exec)
    }
}

fn profile(port: u16, ca: &str) -> v1alpha2::ClusterProfile {
    let extension = |name: &str, value: Value| v1alpha2::NamedExtension {
        name: name.to_owned(),
        extension: value,
    };
    v1alpha2::ClusterProfile {
        metadata: kube::api::ObjectMeta {
            name: Some("member-1".to_owned()),
            namespace: Some("inventory".to_owned()),
            ..Default::default()
        },
        spec: Default::default(),
        status: Some(v1alpha2::ClusterProfileStatus {
            access_providers: vec![v1alpha2::AccessProvider {
                name: "plugin".to_owned(),
                cluster: v1alpha2::Cluster {
                    server: format!("http://127.0.0.1:{port}"),
                    certificate_authority_data: Some(ByteString(ca.as_bytes().to_vec())),
                    tls_server_name: Some("member-1.example.com".to_owned()),
                    extensions: vec![
                        extension(EXEC_EXTENSION, json!({"clusterName": "member-1"})),
                        extension(ADDITIONAL_ARGS_EXTENSION, json!(["--audience", "member-1"])),
                        extension(
                            ADDITIONAL_ENVS_EXTENSION,
                            json!({"SHARED_VAR": "from-profile", "PROFILE_VAR": "from-profile"}),
                        ),
                    ],
                    ..Default::default()
                },
            }],
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn the_client_runs_the_plugin_with_the_profiles_args_env_and_cluster() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    // The script is run by /bin/sh rather than executed itself: writing an executable and
    // running it at once races with forks in other test threads ("text file busy").
    let script = write_plugin(dir.path());
    let (port, requests) = serve_version_once();
    let ca = ca_pem();

    let builder = ConfigBuilder::new(ProviderFile::new(vec![provider(&script)]).unwrap());
    let client = builder.client_for_v1alpha2(&profile(port, &ca)).unwrap();
    let version = tokio::time::timeout(Duration::from_secs(30), client.apiserver_version())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version.git_version, "v1.37.0");

    // The plugin's token reached the server.
    let head = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    let authorization = head
        .lines()
        .find_map(|line| line.strip_prefix("authorization: "))
        .unwrap_or_else(|| panic!("no Authorization header in {head:?}"));
    assert_eq!(authorization, format!("Bearer {TOKEN}"));

    // The provider file's args, then the profile's.
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "--remote-service-account",
            "deployer",
            "--audience",
            "member-1"
        ]
    );

    // The file's variables, the profile's value winning under Replace, and the profile's own.
    let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
    let env: Vec<&str> = env.lines().collect();
    for expected in [
        "FILE_VAR=from-file",
        "SHARED_VAR=from-profile",
        "PROFILE_VAR=from-profile",
    ] {
        assert!(env.contains(&expected), "{expected} not in {env:?}");
    }

    // The cluster, with the exec extension as its config.
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("exec-info.json")).unwrap())
            .unwrap();
    assert_eq!(info["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(info["kind"], "ExecCredential");
    assert_eq!(info["spec"]["interactive"], false);
    let cluster = &info["spec"]["cluster"];
    assert_eq!(cluster["server"], format!("http://127.0.0.1:{port}"));
    assert_eq!(cluster["config"], json!({"clusterName": "member-1"}));
    assert_eq!(cluster["tls-server-name"], "member-1.example.com");
    assert_eq!(
        cluster["certificate-authority-data"],
        base64::engine::general_purpose::STANDARD.encode(&ca)
    );
}

#[test]
fn the_sample_provider_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/provider-file.json");
    let file = ProviderFile::from_path(&path).unwrap();
    assert_eq!(file.names(), ["roster"]);
    let exec = &file.providers()[0].exec_config;
    assert!(exec.provide_cluster_info);
    assert_eq!(exec.args, ["--remote-service-account", "deployer"]);
}

/// Set in the child process of [`a_missing_directory_falls_back_to_the_kubeconfig`].
const CHILD_DIR: &str = "CLUSTER_INVENTORY_TEST_INFER_DIR";

/// `from_directory_or_infer` without the directory uses `KUBECONFIG`. Environment variables
/// are process-wide, so the check runs in a child process of this test binary.
#[test]
fn a_missing_directory_falls_back_to_the_kubeconfig() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let config = runtime
            .block_on(from_directory_or_infer(Path::new(&dir).join("absent")))
            .unwrap();
        assert_eq!(config.cluster_url.host(), Some("kubeconfig.example.com"));
        assert_eq!(config.default_namespace, "from-kubeconfig");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        r#"apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://kubeconfig.example.com"}
contexts:
- name: c
  context: {cluster: c, user: u, namespace: from-kubeconfig}
current-context: c
users:
- name: u
  user: {token: not-a-secret}
"#,
    )
    .unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_missing_directory_falls_back_to_the_kubeconfig",
        ])
        .env(CHILD_DIR, dir.path())
        .env("KUBECONFIG", &kubeconfig)
        .status()
        .unwrap();
    assert!(status.success());
}
