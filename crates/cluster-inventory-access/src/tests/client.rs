//! Clients run the exec plugin lazily: not at build time, once for many requests, again when
//! the token expires or is rejected, with the plugin's failure reported on the request. The
//! plugin is a shell script that counts its runs; the API server is a loopback HTTP responder.

use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use prometheus::Registry;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::*;
use crate::{ExecPluginError, ExecProblem, PLUGIN_RUNS_TOTAL};

/// A loopback HTTP/1 server answering `/version`-shaped JSON, one request per connection,
/// with scripted statuses (200 once the script is used up). It records each request's head.
struct Server {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(statuses: &[u16]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(
            statuses.iter().copied().collect::<VecDeque<_>>(),
        ));
        let recorded = heads.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, recorded.clone(), statuses.clone()));
            }
        });
        Self { port, heads }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `Authorization` header of every request so far, in order (empty when absent).
    fn authorizations(&self) -> Vec<String> {
        self.heads
            .lock()
            .unwrap()
            .iter()
            .map(|head| {
                head.lines()
                    .find_map(|line| line.strip_prefix("authorization: "))
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }
}

async fn answer(
    mut stream: TcpStream,
    heads: Arc<Mutex<Vec<String>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
) {
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    heads
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&head).into_owned());
    let status = statuses.lock().unwrap().pop_front().unwrap_or(200);
    let body = if status == 200 {
        json!({
            "major": "1", "minor": "37", "gitVersion": "v1.37.0", "gitCommit": "test",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.26", "compiler": "gc", "platform": "linux/amd64"
        })
    } else {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status,
               "reason": "Unauthorized", "message": "Unauthorized"})
    }
    .to_string();
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// A fake plugin in a temporary directory: each run appends a line to `runs`, then the script's
/// `body` prints (or fails); `$n` is the run's number.
struct Plugin {
    dir: tempfile::TempDir,
}

impl Plugin {
    fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        std::fs::write(
            dir.path().join("plugin.sh"),
            format!(
                "echo run >> '{}'\nn=$(wc -l < '{}' | tr -d ' ')\n{body}\n",
                runs.display(),
                runs.display()
            ),
        )
        .unwrap();
        Self { dir }
    }

    /// A plugin printing the token `token-<run>`, expiring at `expires`.
    fn token(expires: Timestamp) -> Self {
        Self::new(&format!(
            r#"printf '{{"apiVersion": "{API_V1}", "kind": "ExecCredential", "status": {{"token": "token-%s", "expirationTimestamp": "{expires}"}}}}' "$n""#
        ))
    }

    fn script(&self) -> PathBuf {
        self.dir.path().join("plugin.sh")
    }

    fn runs(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("runs"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    /// A provider running the script with `/bin/sh` (executing a file just written races with
    /// forks in other test threads: "text file busy").
    fn provider(&self) -> Provider {
        let mut exec = ExecConfig::new(API_V1, "/bin/sh");
        exec.args = vec![self.script().display().to_string()];
        exec.install_hint = Some("install the fake plugin".to_owned());
        Provider::new("fake", exec)
    }
}

fn profile(server: &Server) -> v1alpha2::ClusterProfile {
    profile_v1alpha2(vec![v1alpha2::AccessProvider {
        name: "fake".to_owned(),
        cluster: v1alpha2::Cluster {
            server: server.url(),
            ..Default::default()
        },
    }])
}

fn client(provider: Provider, server: &Server) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    builder(vec![provider])
        .client_for_v1alpha2(&profile(server))
        .unwrap()
}

async fn version(client: &kube::Client) -> Result<String, kube::Error> {
    tokio::time::timeout(Duration::from_secs(30), client.apiserver_version())
        .await
        .expect("the request timed out")
        .map(|info| info.git_version)
}

fn in_an_hour() -> Timestamp {
    Timestamp::now() + SignedDuration::from_hours(1)
}

fn plugin_runs(registry: &Registry, result: &str) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == PLUGIN_RUNS_TOTAL)
        .flat_map(|family| family.get_metric())
        .filter(|metric| {
            let labels: Vec<(&str, &str)> = metric
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            labels == [("provider", "fake"), ("result", result)]
        })
        .map(|metric| metric.get_counter().get_value() as u64)
        .sum()
}

/// The `ExecPluginError` a failed request carries.
fn plugin_error(error: &kube::Error) -> &ExecPluginError {
    match error {
        kube::Error::Service(source) => source
            .downcast_ref::<ExecPluginError>()
            .unwrap_or_else(|| panic!("not an exec plugin error: {source:?}")),
        other => panic!("not a service error: {other:?}"),
    }
}

#[tokio::test]
async fn building_clients_runs_no_plugin() {
    let server = Server::start(&[]).await;
    let plugin = Plugin::token(in_an_hour());
    for _ in 0..3 {
        client(plugin.provider(), &server);
    }
    assert_eq!(plugin.runs(), 0);
    assert!(server.authorizations().is_empty());
}

#[tokio::test]
async fn the_first_request_runs_the_plugin_and_later_ones_reuse_its_token() {
    let server = Server::start(&[]).await;
    let plugin = Plugin::token(in_an_hour());
    let registry = Registry::new();
    let client = builder(vec![plugin.provider()])
        .with_metrics(&registry)
        .unwrap()
        .client_for_v1alpha2(&profile(&server))
        .unwrap();

    assert_eq!(version(&client).await.unwrap(), "v1.37.0");
    assert_eq!(plugin.runs(), 1);
    for _ in 0..9 {
        version(&client).await.unwrap();
    }
    assert_eq!(plugin.runs(), 1);
    assert_eq!(server.authorizations(), vec!["Bearer token-1"; 10]);
    assert_eq!(plugin_runs(&registry, "ok"), 1);
    assert_eq!(plugin_runs(&registry, "error"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_wait_for_one_run() {
    let server = Server::start(&[]).await;
    let expires = in_an_hour();
    let plugin = Plugin::new(&format!(
        r#"sleep 0.2
printf '{{"apiVersion": "{API_V1}", "kind": "ExecCredential", "status": {{"token": "token-%s", "expirationTimestamp": "{expires}"}}}}' "$n""#
    ));
    let client = client(plugin.provider(), &server);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let client = client.clone();
        requests.spawn(async move { version(&client).await });
    }
    while let Some(result) = requests.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(plugin.runs(), 1);
    assert_eq!(server.authorizations(), vec!["Bearer token-1"; 10]);
}

#[tokio::test]
async fn an_expired_token_is_renewed_by_the_next_request() {
    let server = Server::start(&[]).await;
    let plugin = Plugin::token("2020-01-01T00:00:00Z".parse().unwrap());
    let client = client(plugin.provider(), &server);
    for _ in 0..3 {
        version(&client).await.unwrap();
    }
    assert_eq!(plugin.runs(), 3);
    assert_eq!(
        server.authorizations(),
        ["Bearer token-1", "Bearer token-2", "Bearer token-3"]
    );
}

#[tokio::test]
async fn a_token_about_to_expire_is_renewed() {
    let server = Server::start(&[]).await;
    // Half of its one-second life left after the first run: the next request renews it.
    let plugin = Plugin::token(Timestamp::now() + SignedDuration::from_secs(1));
    let client = client(plugin.provider(), &server);
    version(&client).await.unwrap();
    let renewed = Instant::now() + Duration::from_millis(600);
    tokio::time::sleep_until(renewed.into()).await;
    version(&client).await.unwrap();
    assert_eq!(plugin.runs(), 2);
    assert_eq!(
        server.authorizations(),
        ["Bearer token-1", "Bearer token-2"]
    );
}

#[tokio::test]
async fn a_token_due_for_renewal_is_used_while_the_plugin_fails_until_it_expires() {
    let server = Server::start(&[]).await;
    let expires = Timestamp::now() + SignedDuration::from_secs(2);
    let plugin = Plugin::new(&format!(
        r#"if [ "$n" -gt 1 ]; then echo 'hub unreachable' >&2; exit 1; fi
printf '{{"apiVersion": "{API_V1}", "kind": "ExecCredential", "status": {{"token": "token-%s", "expirationTimestamp": "{expires}"}}}}' "$n""#
    ));
    let client = client(plugin.provider(), &server);
    version(&client).await.unwrap();
    // Due for renewal (half its life is gone), not expired: the failed run does not fail it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    version(&client).await.unwrap();
    assert_eq!(plugin.runs(), 2);
    assert_eq!(
        server.authorizations(),
        ["Bearer token-1", "Bearer token-1"]
    );
    // Expired: the plugin's failure is the request's.
    let expired = Duration::try_from(expires.duration_since(Timestamp::now())).unwrap_or_default();
    tokio::time::sleep(expired + Duration::from_millis(50)).await;
    let error = version(&client).await.unwrap_err();
    assert!(error.to_string().contains("hub unreachable"), "{error}");
    assert_eq!(server.authorizations().len(), 2);
}

#[tokio::test]
async fn a_rejected_token_is_renewed_by_the_next_request() {
    let server = Server::start(&[401]).await;
    let plugin = Plugin::token(in_an_hour());
    let client = client(plugin.provider(), &server);

    let error = version(&client).await.unwrap_err();
    assert!(
        matches!(&error, kube::Error::Api(status) if status.code == 401),
        "{error:?}"
    );
    version(&client).await.unwrap();
    version(&client).await.unwrap();
    assert_eq!(plugin.runs(), 2);
    assert_eq!(
        server.authorizations(),
        ["Bearer token-1", "Bearer token-2", "Bearer token-2"]
    );
}

#[tokio::test]
async fn a_failing_plugin_fails_the_request_naming_provider_and_command() {
    let server = Server::start(&[]).await;
    let plugin = Plugin::new("echo 'no token for deployer' >&2\nexit 3");
    let registry = Registry::new();
    let client = builder(vec![plugin.provider()])
        .with_metrics(&registry)
        .unwrap()
        .client_for_v1alpha2(&profile(&server))
        .unwrap();

    let error = version(&client).await.unwrap_err();
    let plugin_error = plugin_error(&error);
    assert!(
        matches!(&plugin_error.problem, ExecProblem::Failed { status, .. } if status.code() == Some(3)),
        "{plugin_error:?}"
    );
    assert_eq!(plugin_error.category(), "ExecPluginFailed");
    let message = error.to_string();
    for expected in [
        "provider \"fake\"",
        "exec plugin \"/bin/sh\"",
        "exit status: 3",
        "no token for deployer",
    ] {
        assert!(message.contains(expected), "{expected} not in {message}");
    }
    // Nothing reached the server, and a failure is not cached: the next request tries again.
    assert!(server.authorizations().is_empty());
    version(&client).await.unwrap_err();
    assert_eq!(plugin.runs(), 2);
    assert_eq!(plugin_runs(&registry, "error"), 2);
}

#[tokio::test]
async fn a_missing_command_is_named_with_its_install_hint() {
    let server = Server::start(&[]).await;
    let mut provider = Plugin::token(in_an_hour()).provider();
    provider.exec_config.command = "/nonexistent/roster-credential".to_owned();
    let client = client(provider, &server);
    let error = version(&client).await.unwrap_err();
    assert!(matches!(
        plugin_error(&error).problem,
        ExecProblem::Start { .. }
    ));
    let message = error.to_string();
    for expected in ["/nonexistent/roster-credential", "install the fake plugin"] {
        assert!(message.contains(expected), "{expected} not in {message}");
    }
}

#[tokio::test]
async fn a_credential_of_another_api_version_is_refused() {
    let server = Server::start(&[]).await;
    let plugin = Plugin::new(&format!(
        r#"echo '{{"apiVersion": "{API_V1BETA1}", "kind": "ExecCredential", "status": {{"token": "t"}}}}'"#
    ));
    let client = client(plugin.provider(), &server);
    let error = version(&client).await.unwrap_err();
    assert!(
        matches!(
            plugin_error(&error).problem,
            ExecProblem::InvalidCredential(_)
        ),
        "{error:?}"
    );
    let message = error.to_string();
    for expected in [API_V1, API_V1BETA1, "\"fake\""] {
        assert!(message.contains(expected), "{expected} not in {message}");
    }
    assert!(server.authorizations().is_empty());
}

#[tokio::test]
async fn the_plugin_gets_its_input_and_runs_without_blocking_the_runtime() {
    let server = Server::start(&[]).await;
    let expires = in_an_hour();
    let plugin = Plugin::new(&format!(
        r#"printf '%s' "$KUBERNETES_EXEC_INFO" > "$(dirname "$0")/exec-info.json"
sleep 0.3
printf '{{"apiVersion": "{API_V1}", "kind": "ExecCredential", "status": {{"token": "token-%s", "expirationTimestamp": "{expires}"}}}}' "$n""#
    ));
    // This test runs on a single-threaded runtime: a blocking plugin run, while the client is
    // built or while it sends, would hold the timer until the request is done.
    let started = Instant::now();
    let request = async {
        let client = client(plugin.provider(), &server);
        let result = version(&client).await;
        (result, started.elapsed())
    };
    let timer = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        started.elapsed()
    };
    let ((result, request), timer) = tokio::join!(request, timer);
    result.unwrap();
    assert!(
        timer < request,
        "the timer fired after {timer:?}, the request took {request:?}"
    );
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(plugin.dir.path().join("exec-info.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        info,
        json!({"apiVersion": API_V1, "kind": "ExecCredential", "spec": {"interactive": false}})
    );
}

#[tokio::test]
async fn a_certificate_plugin_falls_back_to_kubes_client() {
    let server = Server::start(&[]).await;
    let certified = rcgen::generate_simple_self_signed(vec!["consumer".to_owned()]).unwrap();
    let credential = json!({
        "apiVersion": API_V1, "kind": "ExecCredential",
        "status": {
            "clientCertificateData": certified.cert.pem(),
            "clientKeyData": certified.signing_key.serialize_pem(),
        },
    });
    // Keys are multi-line: the plugin prints a file beside it.
    let plugin = Plugin::new(r#"cat "$(dirname "$0")/credential.json""#);
    std::fs::write(
        plugin.dir.path().join("credential.json"),
        credential.to_string(),
    )
    .unwrap();
    let client = client(plugin.provider(), &server);

    assert_eq!(version(&client).await.unwrap(), "v1.37.0");
    let runs = plugin.runs();
    // Once by this library, then by kube while it builds its client.
    assert!(runs >= 2, "{runs} runs");
    version(&client).await.unwrap();
    assert_eq!(plugin.runs(), runs, "kube's client is kept");
    // The certificate is for TLS (this server is plain HTTP): no token is sent.
    assert_eq!(server.authorizations(), ["", ""]);
}
