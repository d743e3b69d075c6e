//! In-process tests of the webhook: AdmissionReview JSON through the router (`oneshot`), and
//! TLS on a loopback port with certificates made here.

use std::{path::Path, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use k8s_openapi::api::core::v1::Pod;
use roster_api::{
    MemberCluster, RemoteServiceAccount, RemoteServiceAccountSpec,
    remote_service_account::ClusterSelection,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::{
    review::{self, Stores},
    server,
    tls::{self, CurrentCert, files},
};
use crate::{clock::SystemClock, metrics::Metrics, shared_cache::SharedCache};

/// Caches holding `rsas` and `members`, as after their first list.
fn caches(rsas: Vec<RemoteServiceAccount>, members: Vec<MemberCluster>) -> Stores {
    Stores {
        rsas: SharedCache::loaded(rsas),
        members: SharedCache::loaded(members),
    }
}

fn rsa(namespace: &str, name: &str, clusters: &[&str]) -> RemoteServiceAccount {
    let mut rsa = RemoteServiceAccount::new(
        name,
        RemoteServiceAccountSpec {
            clusters: ClusterSelection {
                names: Some(clusters.iter().map(|c| (*c).to_owned()).collect()),
                selector: None,
            },
            ..Default::default()
        },
    );
    rsa.metadata.namespace = Some(namespace.to_owned());
    rsa
}

fn world() -> Stores {
    caches(
        vec![
            rsa("team-a", "deployer", &["member-1", "member-2"]),
            rsa("team-a", "reader", &["member-2", "member-1"]),
            rsa("team-b", "other", &["member-1"]),
        ],
        vec![
            MemberCluster::new("member-1", Default::default()),
            MemberCluster::new("member-2", Default::default()),
        ],
    )
}

fn pod(annotation: Option<&str>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "app-", "namespace": "team-a"},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "app", "image": "app"}, {"name": "sidecar", "image": "s"}]
        }
    });
    if let Some(a) = annotation {
        pod["metadata"]["annotations"] = json!({"roster.dev/remote-service-accounts": a});
    }
    pod
}

fn review_of(object: Value, operation: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "",
            "namespace": "team-a",
            "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    })
}

async fn post(
    stores: &Stores,
    metrics: Option<Arc<Metrics>>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let response = review::router(stores.clone(), metrics)
        .oneshot(
            Request::post(review::PATH)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body.to_vec())
}

/// Posts `review` and returns the `response` of the AdmissionReview that comes back.
async fn admit(stores: &Stores, review: Value) -> Value {
    let (status, body) = post(stores, None, serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(
        answer["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002",
        "the uid is echoed"
    );
    answer["response"].clone()
}

fn denial(response: &Value) -> String {
    assert_eq!(response["allowed"], false, "{response}");
    response["status"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_annotated_pod_gets_every_mount_in_every_container() {
    let world = world();
    let original = pod(Some("deployer, reader"));
    let response = admit(&world, review_of(original.clone(), "CREATE")).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(response["patchType"], "JSONPatch");
    // kube's AdmissionResponse sends the patch bytes as a JSON array, which the API server's
    // decoder takes for a []byte as readily as base64.
    let patch: Vec<u8> = serde_json::from_value(response["patch"].clone()).unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut patched = original;
    json_patch::patch(&mut patched, &patch).unwrap();
    let pod: Pod = serde_json::from_value(patched.clone()).unwrap();
    let spec = pod.spec.unwrap();
    let volumes: Vec<(String, bool)> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| {
            let s = v.secret.as_ref().unwrap();
            (s.secret_name.clone().unwrap(), s.optional == Some(true))
        })
        .collect();
    assert_eq!(
        volumes,
        [
            ("deployer-member-1".into(), true),
            ("deployer-member-2".into(), true),
            ("reader-member-1".into(), true),
            ("reader-member-2".into(), true),
        ]
    );
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        let paths: Vec<&str> = c
            .volume_mounts
            .iter()
            .flatten()
            .filter(|m| m.read_only == Some(true))
            .map(|m| m.mount_path.as_str())
            .collect();
        assert_eq!(
            paths,
            [
                "/var/run/secrets/roster.dev/deployer/member-1",
                "/var/run/secrets/roster.dev/deployer/member-2",
                "/var/run/secrets/roster.dev/reader/member-1",
                "/var/run/secrets/roster.dev/reader/member-2",
            ],
            "{}",
            c.name
        );
    }
    // The API server calls again (reinvocation): nothing more to add.
    let again = admit(&world, review_of(patched, "CREATE")).await;
    assert_eq!(again["allowed"], true);
    assert!(again.get("patch").is_none(), "{again}");
}

#[tokio::test]
async fn pods_without_the_annotation_and_other_operations_pass_untouched() {
    let world = world();
    for review in [
        review_of(pod(None), "CREATE"),
        review_of(pod(Some("")), "CREATE"),
        review_of(pod(Some("deployer")), "UPDATE"),
        review_of(pod(Some("no-such-account")), "DELETE"),
    ] {
        let response = admit(&world, review).await;
        assert_eq!(response["allowed"], true, "{response}");
        assert!(response.get("patch").is_none(), "{response}");
    }
}

#[tokio::test]
async fn refusals_say_why() {
    let world = world();
    let cases = [
        (
            "deployer,missing",
            "remote service account \"missing\" not found in namespace \"team-a\" (annotation \
             roster.dev/remote-service-accounts)",
        ),
        (
            // Another namespace's account is not this pod's.
            "other",
            "remote service account \"other\" not found in namespace \"team-a\" (annotation \
             roster.dev/remote-service-accounts)",
        ),
        (
            "deployer,,reader",
            "invalid annotation roster.dev/remote-service-accounts: \"deployer,,reader\" has an \
             empty entry (list RemoteServiceAccount names separated by commas)",
        ),
        (
            "Deployer",
            "invalid annotation roster.dev/remote-service-accounts: \"Deployer\" is not a valid \
             RemoteServiceAccount name (a DNS subdomain: lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters)",
        ),
    ];
    for (annotation, message) in cases {
        let response = admit(&world, review_of(pod(Some(annotation)), "CREATE")).await;
        assert_eq!(denial(&response), message, "{annotation}");
    }
}

#[tokio::test]
async fn an_account_without_targets_is_admitted_with_a_warning() {
    let caches = caches(vec![rsa("team-a", "idle", &["a.b"])], vec![]);
    let response = admit(&caches, review_of(pod(Some("idle")), "CREATE")).await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("patch").is_none());
    assert_eq!(
        response["warnings"],
        json!([
            "remote service account \"idle\" targets no member cluster yet: nothing is \
                mounted for it (recreate the pod once it does)"
        ])
    );
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    let world = world();
    for (body, message) in [
        (
            b"not json".to_vec(),
            "the body is not an AdmissionReview: expected ident",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
            "the AdmissionReview has no request",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":1}}"#
                .to_vec(),
            "the body is not an AdmissionReview: invalid type",
        ),
    ] {
        let (status, answer) = post(&world, None, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with(message), "{answer}");
    }
}

#[tokio::test]
async fn a_pod_that_cannot_be_read_is_denied_not_a_panic() {
    let world = world();
    let mut object = pod(Some("deployer"));
    object["spec"]["containers"] = json!("not a list");
    let response = admit(&world, review_of(object, "CREATE")).await;
    assert!(
        denial(&response).starts_with("the pod in the review cannot be read: invalid type"),
        "{response}"
    );
}

#[tokio::test]
async fn reviews_before_the_caches_are_loaded_are_denied_with_a_retry() {
    // Watches that have not listed yet (their futures alive, but not polled).
    let (rsas, _rsa_watch) = SharedCache::from_watch(futures::stream::pending());
    let (members, _member_watch) = SharedCache::from_watch(futures::stream::pending());
    let stores = Stores { rsas, members };
    let response = admit(&stores, review_of(pod(Some("deployer")), "CREATE")).await;
    assert_eq!(
        denial(&response),
        "roster-hub has not loaded the RemoteServiceAccounts and MemberClusters yet; retry in a \
         few seconds"
    );
}

#[tokio::test]
async fn answers_are_counted() {
    let world = world();
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(Metrics::register(&registry, Arc::new(SystemClock)).unwrap());
    let body = serde_json::to_vec(&review_of(pod(Some("deployer,reader")), "CREATE")).unwrap();
    let router = review::router(world.clone(), Some(metrics.clone()));
    let mut took = Vec::new();
    for _ in 0..500 {
        let started = std::time::Instant::now();
        let response = router
            .clone()
            .oneshot(
                Request::post(review::PATH)
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let _ = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        took.push(started.elapsed());
    }
    took.sort();
    let p50 = took[took.len() / 2];
    let p99 = took[took.len() * 99 / 100];
    println!(
        "in-process admission of a 3-container pod, 2 accounts x 2 clusters: p50 {p50:?}, p99 {p99:?}"
    );
    // Printed, not asserted: timing assertions flake on shared machines; `make bench` measures.
    post(&world, Some(metrics), b"{".to_vec()).await;
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    for line in [
        "roster_webhook_requests_total{result=\"patched\"} 500",
        "roster_webhook_requests_total{result=\"invalid\"} 1",
        "roster_webhook_duration_seconds_count 501",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
}

// --- TLS ---

struct Pki {
    ca_pem: String,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Self {
            ca_pem,
            ca: rcgen::Issuer::new(params, key),
        }
    }

    /// A loopback serving certificate: (cert PEM, key PEM, cert DER).
    fn leaf(&self) -> (String, String, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

/// Writes the pair the way the kubelet updates a Secret volume: a new timestamped folder, then
/// the `..data` symlink swapped onto it with a rename.
fn publish(dir: &Path, generation: u32, cert: &str, key: &str) {
    let folder = dir.join(format!("..gen{generation}"));
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("tls.crt"), cert).unwrap();
    std::fs::write(folder.join("tls.key"), key).unwrap();
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(&folder, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(file), &link).unwrap();
        }
    }
}

/// The certificate the server on `port` presents to a new connection that trusts `ca_pem`, and
/// the status line it answers a POST of `{}` with.
async fn handshake(port: u16, ca_pem: &str) -> (Vec<u8>, String) {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut stream = connector.connect(name, tcp).await.unwrap();
    let presented = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    stream
        .write_all(
            b"POST /mutate-pods HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    (
        presented,
        answer.lines().next().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn new_handshakes_present_the_certificate_files_swapped_in() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert_1, key_1, der_1) = pki.leaf();
    publish(dir.path(), 1, &cert_1, &key_1);

    let current = Arc::new(CurrentCert::default());
    let loaded = files::load(dir.path(), &current).await.unwrap();
    let watch = tokio::spawn(files::watch(
        dir.path().to_owned(),
        current.clone(),
        loaded,
        Duration::from_millis(50),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = Arc::new(tls::server_config(current).unwrap());
    let world = world();
    let serve = tokio::spawn(server::serve(
        listener,
        tls,
        review::router(world.clone(), None),
    ));

    let (presented, status) = handshake(port, &pki.ca_pem).await;
    assert_eq!(presented, der_1);
    assert_eq!(
        status, "HTTP/1.1 400 Bad Request",
        "HTTP over the TLS connection"
    );

    // A half-written pair (a key that does not fit) is not served...
    let (cert_2, key_2, der_2) = pki.leaf();
    publish(dir.path(), 2, &cert_2, &key_1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(handshake(port, &pki.ca_pem).await.0, der_1);
    // ...the complete one is, without a restart.
    publish(dir.path(), 3, &cert_2, &key_2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if handshake(port, &pki.ca_pem).await.0 == der_2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was never presented"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watch.abort();
    serve.abort();
}

#[tokio::test]
async fn unreadable_certificate_files_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let current = CurrentCert::default();
    let err = files::load(dir.path(), &current)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("reading ") && err.contains("tls.crt"),
        "{err}"
    );
    std::fs::write(dir.path().join("tls.crt"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("tls.key"), "not a key").unwrap();
    let err = files::load(dir.path(), &current)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no certificate"), "{err}");
    assert!(current.get().is_none());
}

#[test]
fn self_generated_serving_certificates_chain_to_their_ca() {
    use super::tls::{issue, rotation::Lifetimes};
    let lifetimes = Lifetimes::new(Duration::from_secs(60));
    let now = k8s_openapi::jiff::Timestamp::now();
    let now = k8s_openapi::jiff::Timestamp::from_second(now.as_second()).unwrap();
    let ca = issue::new_ca(lifetimes.ca_validity(now)).unwrap();
    let validity = lifetimes.serving_validity(now, ca.validity);
    let names = vec![
        "127.0.0.1".to_owned(),
        "roster-hub.roster-system.svc".to_owned(),
    ];
    let (cert, key) = issue::serving(&ca, &names, validity).unwrap();
    let served = tls::certified_key(cert.as_bytes(), key.as_bytes()).unwrap();
    assert_eq!(issue::validity(cert.as_bytes()).unwrap(), validity);
    // rustls's own verifier, as a client trusting only the CA would check it.
    use rustls::{
        client::danger::ServerCertVerifier,
        pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
    };
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        tls::provider(),
    )
    .build()
    .unwrap();
    for name in ["127.0.0.1", "roster-hub.roster-system.svc"] {
        verifier
            .verify_server_cert(
                &served.cert[0],
                &[],
                &ServerName::try_from(name).unwrap(),
                &[],
                UnixTime::now(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
