//! Golden files of everything the plugin prints: the ExecCredential on stdout (v1 and v1beta1)
//! and each error line on stderr, in `tests/golden/`.
//!
//! Messages come from the library's pure functions with fixed inputs and a fixed clock; the
//! cases that fail before any API call are also run through the built binary, which must print
//! exactly the same line on stderr, nothing on stdout, and exit non-zero.
//!
//! After an intended change of output, regenerate the files and review the diff:
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test -p roster-credential --test golden
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use k8s_openapi::{ByteString, api::core::v1::Secret, jiff::Timestamp};
use roster_api::names::token_secret;
use roster_credential::{
    Error, error_line,
    exec_info::{self, ApiVersion, AudienceField},
    federated, hub, jwt, namespace, output,
    secret::{self, SecretRef},
    target::ServiceAccountRef,
};

const BINARY: &str = env!("CARGO_BIN_EXE_roster-credential");
const RSA: &str = "deployer";
const CLUSTER: &str = "member-1";
const NAMESPACE: &str = "team-a";
const SERVER: &str = "https://hub.example.com:6443";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJnb2xkZW4ifQ.c2lnbmF0dXJl";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `actual` with the golden file `name`, or writes it when `UPDATE_GOLDEN` is set.
fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run UPDATE_GOLDEN=1 cargo test -p roster-credential --test golden",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "{name} differs from its golden file; if intended, regenerate with UPDATE_GOLDEN=1"
    );
}

fn now() -> Timestamp {
    "2026-11-22T20:00:00Z".parse().unwrap()
}

fn at() -> SecretRef {
    SecretRef::new(RSA, CLUSTER)
        .unwrap()
        .in_namespace(NAMESPACE)
}

fn remote_secret(data: &[(&str, &str)]) -> Secret {
    Secret {
        type_: Some(token_secret::TYPE.into()),
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

fn exec_info(api_version: &str) -> String {
    serde_json::json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {
            "interactive": false,
            "cluster": {
                "server": "https://member-1.example.com:6443",
                "config": {"clusterName": CLUSTER},
            },
        },
    })
    .to_string()
}

fn api_status(code: u16, reason: &str, message: &str) -> kube::Error {
    kube::Error::Api(
        kube::core::Status::failure(message, reason)
            .with_code(code)
            .boxed(),
    )
}

#[test]
fn credentials_for_each_api_version() {
    let secret = remote_secret(&[
        (token_secret::TOKEN, TOKEN),
        (token_secret::EXPIRATION, "2026-11-22T21:00:00Z"),
        (token_secret::CA, "-----BEGIN CERTIFICATE-----\n"),
        (token_secret::SERVER, "https://member-1.example.com:6443"),
        (token_secret::NAMESPACE, "roster-remote"),
        (token_secret::KUBECONFIG, "apiVersion: v1\n"),
    ]);
    for (version, file) in [
        ("client.authentication.k8s.io/v1", "credential-v1.json"),
        (
            "client.authentication.k8s.io/v1beta1",
            "credential-v1beta1.json",
        ),
    ] {
        let request = exec_info::parse(Some(&exec_info(version))).unwrap();
        let at = SecretRef::new(RSA, &request.cluster)
            .unwrap()
            .in_namespace(NAMESPACE);
        let credential = secret::credential(&at, &secret, now()).unwrap();
        check_golden(
            file,
            &output::render(request.api_version, &credential).unwrap(),
        );
    }
}

/// How to reach an error through the built binary: its arguments and environment (on top of
/// an empty one, with `HOME` in a fresh temporary folder).
struct BinaryCase {
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

/// Like [`binary_case`], with exactly `args` (no `--remote-service-account` added).
fn binary_case_with(exec_info: Option<&str>, args: &[&str]) -> Option<BinaryCase> {
    Some(BinaryCase {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: exec_info
            .map(|e| vec![(exec_info::EXEC_INFO_ENV, e.to_owned())])
            .unwrap_or_default(),
    })
}

fn binary_case(exec_info: Option<&str>, extra_args: &[&str]) -> Option<BinaryCase> {
    let mut args = vec!["--remote-service-account".to_owned(), RSA.to_owned()];
    args.extend(extra_args.iter().map(|a| (*a).to_owned()));
    Some(BinaryCase {
        args,
        env: exec_info
            .map(|e| vec![(exec_info::EXEC_INFO_ENV, e.to_owned())])
            .unwrap_or_default(),
    })
}

/// Runs the binary with nothing from this process's environment.
fn run_binary(case: &BinaryCase, home: &Path) -> Output {
    Command::new(BINARY)
        .args(&case.args)
        .env_clear()
        .env("HOME", home)
        .envs(case.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

#[test]
fn a_malformed_flag_gets_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (file, args) in [
        (
            "error-flag-invalid-value.txt",
            &["--federated", "--expiration-seconds=soon"][..],
        ),
        (
            "error-flag-unknown.txt",
            &["--remote-service-acount", RSA][..],
        ),
    ] {
        let out = run_binary(&binary_case_with(None, args).unwrap(), dir.path());
        assert_eq!(out.status.code(), Some(2), "a usage error: {out:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        check_golden(file, &stderr);
    }
}

/// A kubeconfig whose current context names no namespace, so the plugin finds none.
fn kubeconfig_without_namespace(dir: &Path) -> PathBuf {
    let path = dir.join("no-namespace.kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\ncurrent-context: hub\n\
         clusters: [{name: hub, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: hub, user: {token: not-used}}]\n\
         contexts: [{name: hub, context: {cluster: hub, user: hub}}]\n",
    )
    .unwrap();
    path
}

#[test]
fn error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let no_ns_kubeconfig = kubeconfig_without_namespace(dir.path());
    let no_ns_kubeconfig = no_ns_kubeconfig.to_str().unwrap();
    let v1 = exec_info("client.authentication.k8s.io/v1");
    let v1alpha1 = r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1","kind":"ExecCredential","spec":{"cluster":{"config":{"clusterName":"member-1"}}}}"#;
    let no_cluster = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#;
    let no_cluster_name = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"cluster":{"server":"https://member-1.example.com:6443"}}}"#;
    let bad_cluster_name = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"cluster":{"config":{"clusterName":"../configmaps/x"}}}}"#;
    let missing_kubeconfig = "/nonexistent/roster-credential-golden.kubeconfig";
    let credential =
        |data: &[(&str, &str)]| secret::credential(&at(), &remote_secret(data), now()).unwrap_err();
    let api = |error: kube::Error| hub::api_error(&at(), SERVER, error);

    let mut cases: Vec<(&str, Error, Option<BinaryCase>)> = vec![
        (
            "exec-info-missing",
            exec_info::parse(None).unwrap_err(),
            binary_case(None, &[]),
        ),
        (
            "exec-info-not-json",
            exec_info::parse(Some("{apiVersion: v1")).unwrap_err(),
            binary_case(Some("{apiVersion: v1"), &[]),
        ),
        (
            "unsupported-api-version",
            exec_info::parse(Some(v1alpha1)).unwrap_err(),
            binary_case(Some(v1alpha1), &[]),
        ),
        (
            "no-cluster-info",
            exec_info::parse(Some(no_cluster)).unwrap_err(),
            binary_case(Some(no_cluster), &[]),
        ),
        (
            "no-cluster-name",
            exec_info::parse(Some(no_cluster_name)).unwrap_err(),
            binary_case(Some(no_cluster_name), &[]),
        ),
        (
            "invalid-secret-name",
            SecretRef::new(RSA, "../configmaps/x").unwrap_err(),
            binary_case(Some(bad_cluster_name), &[]),
        ),
        (
            "no-namespace",
            namespace::resolve(None, || None, || None).unwrap_err(),
            binary_case(Some(&v1), &["--kubeconfig", no_ns_kubeconfig]),
        ),
        (
            "hub-config-missing-kubeconfig",
            Error::HubConfig(format!(
                "failed to read kubeconfig from '{missing_kubeconfig:?}': No such file or \
                 directory (os error 2)"
            )),
            binary_case(
                Some(&v1),
                &["--kubeconfig", missing_kubeconfig, "--namespace", NAMESPACE],
            ),
        ),
        (
            "secret-not-found",
            api(api_status(
                404,
                "NotFound",
                "secrets \"deployer-member-1\" not found",
            )),
            None,
        ),
        (
            "wrong-secret-type",
            secret::credential(
                &at(),
                &Secret {
                    type_: Some("kubernetes.io/service-account-token".into()),
                    ..Default::default()
                },
                now(),
            )
            .unwrap_err(),
            None,
        ),
        (
            "token-not-delivered",
            credential(&[(token_secret::CA, "pem")]),
            None,
        ),
        (
            "malformed-token",
            credential(&[(token_secret::TOKEN, "two words")]),
            None,
        ),
        (
            "expiration-missing",
            credential(&[(token_secret::TOKEN, TOKEN)]),
            None,
        ),
        (
            "expiration-invalid",
            credential(&[
                (token_secret::TOKEN, TOKEN),
                (token_secret::EXPIRATION, "22/11/2026 21:00"),
            ]),
            None,
        ),
        (
            "token-expired",
            credential(&[
                (token_secret::TOKEN, TOKEN),
                (token_secret::EXPIRATION, "2026-11-22T18:55:00Z"),
            ]),
            None,
        ),
        (
            "forbidden",
            api(api_status(
                403,
                "Forbidden",
                "secrets \"deployer-member-1\" is forbidden: User \
                 \"system:serviceaccount:other:outsider\" cannot get resource \"secrets\" in API \
                 group \"\" in the namespace \"team-a\"",
            )),
            None,
        ),
        (
            "unauthorized",
            api(api_status(401, "Unauthorized", "Unauthorized")),
            None,
        ),
        (
            "unreachable",
            api(kube::Error::Service(Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "tcp connect error: Connection refused (os error 111)",
            )))),
            None,
        ),
        (
            "api-error",
            api(api_status(
                500,
                "InternalError",
                "Internal error occurred: etcd cluster is unavailable",
            )),
            None,
        ),
    ];

    cases.extend(federated_error_cases(&v1));

    for (name, error, binary) in cases {
        let line = format!("{}\n", error_line(&error));
        assert!(!line.contains(TOKEN), "{name} prints the token: {line}");
        assert_eq!(line.lines().count(), 1, "{name} is not one line: {line}");
        check_golden(&format!("error-{name}.txt"), &line);

        if let Some(case) = binary {
            let output = run_binary(&case, dir.path());
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
            assert!(output.stdout.is_empty(), "{name} wrote on stdout");
            assert_eq!(stderr, line, "{name}: the binary prints another line");
        }
    }
}

/// With a CA in the kubeconfig the plugin takes its own HTTPS client (`https`), without one
/// kube's: both name an unreachable hub the same way.
#[test]
fn unreachable_hub_through_the_binary() {
    for with_ca in [false, true] {
        unreachable_hub(with_ca);
    }
}

fn unreachable_hub(with_ca: bool) {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_without_namespace(dir.path());
    if with_ca {
        let ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let ca = base64::engine::general_purpose::STANDARD.encode(ca.cert.pem());
        let text = std::fs::read_to_string(&kubeconfig).unwrap().replace(
            "cluster: {server:",
            &format!("cluster: {{certificate-authority-data: {ca}, server:"),
        );
        std::fs::write(&kubeconfig, text).unwrap();
    }
    // A port that was just free: connecting to it is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = std::fs::read_to_string(&kubeconfig)
        .unwrap()
        .replace("127.0.0.1:1", &format!("127.0.0.1:{port}"));
    std::fs::write(&kubeconfig, text).unwrap();
    let case = BinaryCase {
        args: vec![
            "--remote-service-account".into(),
            RSA.into(),
            "--kubeconfig".into(),
            kubeconfig.to_str().unwrap().into(),
        ],
        env: vec![
            (exec_info::EXEC_INFO_ENV, exec_info(ApiVersion::V1.as_str())),
            ("POD_NAMESPACE", NAMESPACE.into()),
        ],
    };
    let output = run_binary(&case, dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    let expected =
        format!("roster-credential: cannot reach the hub API server at https://127.0.0.1:{port}: ");
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(stderr.contains("onnection refused"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    if with_ca {
        assert_eq!(
            stderr,
            format!("{expected}tcp connect error: Connection refused (os error 111)\n")
        );
    }
}

/// Where the golden messages say the webhook mounted a federated token.
const TOKEN_DIR: &str = "/var/run/secrets/roster.dev/deployer";

/// `KUBERNETES_EXEC_INFO` for the roster-federated provider, with `audience` as given.
fn federated_exec_info(audience: serde_json::Value) -> String {
    serde_json::json!({
        "apiVersion": ApiVersion::V1.as_str(),
        "kind": "ExecCredential",
        "spec": {"cluster": {
            "server": "https://member-1.example.com:6443",
            "config": {"clusterName": CLUSTER, "audience": audience},
        }},
    })
    .to_string()
}

/// A projected token's text with these claims (unsigned: the plugin does not check).
fn projected_token(aud: &[&str], exp: &str) -> String {
    let exp: Timestamp = exp.parse().unwrap();
    jwt::unsigned_for_tests(&serde_json::json!({
        "aud": aud,
        "exp": exp.as_second(),
        "sub": "system:serviceaccount:team-a:deployer",
    }))
}

fn federated_error_cases(v1: &str) -> Vec<(&'static str, Error, Option<BinaryCase>)> {
    let path = Path::new(TOKEN_DIR).join(CLUSTER).join("token");
    let file = |contents: std::io::Result<Vec<u8>>| {
        federated::file_credential(&path, CLUSTER, contents, "roster:member-1", now()).unwrap_err()
    };
    let bad_audience = federated_exec_info(serde_json::json!(""));
    let account = ServiceAccountRef {
        namespace: NAMESPACE.into(),
        name: RSA.into(),
    };
    vec![
        ("no-mode", Error::NoMode, binary_case_with(Some(v1), &[])),
        (
            "both-modes",
            Error::BothModes,
            binary_case(Some(v1), &["--federated"]),
        ),
        (
            "token-dir-without-federated",
            Error::FederatedFlagWithoutFederated {
                flag: "--token-dir",
            },
            binary_case(Some(v1), &["--token-dir", TOKEN_DIR]),
        ),
        (
            "expiration-too-short",
            Error::ExpirationTooShort { seconds: 300 },
            binary_case_with(Some(v1), &["--federated", "--expiration-seconds", "300"]),
        ),
        (
            "bad-audience",
            federated::audience(CLUSTER, &AudienceField::Invalid("\"\"".into())).unwrap_err(),
            binary_case_with(Some(&bad_audience), &["--federated"]),
        ),
        (
            "federated-invalid-cluster-name",
            federated::token_file(Path::new(TOKEN_DIR), "../x").unwrap_err(),
            None,
        ),
        (
            "token-file-unreadable",
            file(Err(std::io::Error::from_raw_os_error(2))),
            None,
        ),
        (
            "token-file-not-jwt",
            file(Ok(b"opaque-token".to_vec())),
            None,
        ),
        (
            "token-file-wrong-audience",
            file(Ok(projected_token(
                &["roster:member-2"],
                "2026-11-22T21:00:00Z",
            )
            .into_bytes())),
            None,
        ),
        (
            "token-file-expired",
            file(Ok(projected_token(
                &["roster:member-1"],
                "2026-11-22T19:55:00Z",
            )
            .into_bytes())),
            None,
        ),
        (
            "not-a-service-account",
            Error::NotAServiceAccount {
                identity: "User \"kubernetes-admin\"".into(),
            },
            None,
        ),
        (
            "token-request-forbidden",
            hub::token_request_error(
                &account,
                SERVER,
                api_status(
                    403,
                    "Forbidden",
                    "serviceaccounts \"deployer\" is forbidden: User \
                     \"system:serviceaccount:team-a:deployer\" cannot create resource \
                     \"serviceaccounts/token\" in API group \"\" in the namespace \"team-a\"",
                ),
            ),
            None,
        ),
    ]
}

/// Federated mode with a token file, through the binary: the file's token with its `exp`, and
/// a missing file refused with the same line as the library's (the folder aside).
#[test]
fn federated_token_file_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let token_dir = dir.path().join("deployer");
    let token = projected_token(&["roster:member-1"], "2099-01-01T00:00:00Z");
    std::fs::create_dir_all(token_dir.join(CLUSTER)).unwrap();
    std::fs::write(token_dir.join(CLUSTER).join("token"), format!("{token}\n")).unwrap();
    let token_dir_arg = token_dir.to_str().unwrap();

    for (audience, env_flag) in [
        (serde_json::Value::Null, None),
        ("roster:member-1".into(), Some("true")),
        ("roster:member-1".into(), Some("1")),
    ] {
        let mut case = binary_case_with(
            Some(&federated_exec_info(audience)),
            &["--token-dir", token_dir_arg],
        )
        .unwrap();
        match env_flag {
            Some(value) => case.env.push(("ROSTER_CREDENTIAL_FEDERATED", value.into())),
            None => case.args.push("--federated".into()),
        }
        let output = run_binary(&case, dir.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let expected = format!(
            "{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{{\"token\":\"{token}\",\"expirationTimestamp\":\"2099-01-01T00:00:00Z\"}}}}\n"
        );
        assert_eq!(stdout, expected);
    }

    let other = federated_exec_info(serde_json::json!("roster:member-1")).replace(
        "\"clusterName\":\"member-1\"",
        "\"clusterName\":\"member-9\"",
    );
    let case = binary_case_with(Some(&other), &["--federated", "--token-dir", token_dir_arg]);
    let output = run_binary(&case.unwrap(), dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    let path = token_dir.join("member-9").join("token");
    let expected = error_line(
        &federated::file_credential(
            &path,
            "member-9",
            Err(std::io::Error::from_raw_os_error(2)),
            "roster:member-1",
            now(),
        )
        .unwrap_err(),
    );
    assert_eq!(stderr, format!("{expected}\n"));
}
