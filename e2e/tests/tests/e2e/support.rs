//! Helpers shared by the end-to-end tests.

use kube::{
    Api,
    api::{DynamicObject, PostParams},
};
use serde_json::Value;

/// Creates `object` and returns the API server's rejection message; fails the test if the
/// object was accepted.
pub async fn rejected(api: &Api<DynamicObject>, object: Value) -> String {
    let object: DynamicObject = serde_json::from_value(object).expect("object is well-formed JSON");
    let name = object.metadata.name.clone().unwrap_or_default();
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => panic!("{name}: the API server accepted an invalid object"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{name}: expected Invalid, got {status:?}");
            status.message
        }
        Err(other) => panic!("{name}: unexpected error {other:?}"),
    }
}

/// Creates `object`, failing the test with the API server's message if it is rejected.
pub async fn accepted(api: &Api<DynamicObject>, object: Value) -> DynamicObject {
    let object: DynamicObject = serde_json::from_value(object).expect("object is well-formed JSON");
    let name = object.metadata.name.clone().unwrap_or_default();
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => created,
        Err(e) => panic!("{name}: the API server rejected a valid object: {e}"),
    }
}

/// Asserts that `message` contains every one of `parts`.
pub fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "expected {part:?} in: {message}");
    }
}

/// The `roster-hub` process this test binary shares, started on first use against the shared
/// fleet's hub with the default inventory namespace, as the service account of `deploy/hub`
/// with exactly its RBAC (so every test that uses it exercises those rules).
pub async fn hub_process() -> &'static roster_testenv::process::Process {
    static HUB: tokio::sync::OnceCell<roster_testenv::process::Process> =
        tokio::sync::OnceCell::const_new();
    let hub = HUB
        .get_or_init(|| async {
            let fleet = roster_testenv::shared_fleet().await;
            let kubeconfig = roster_testenv::deploy::hub_kubeconfig(&fleet.hub, fleet.dir())
                .await
                .expect("roster-hub's identity from deploy/hub");
            roster_testenv::roster::spawn(
                "roster-hub",
                &[
                    format!("--kubeconfig={}", kubeconfig.display()),
                    // A free port: test binaries run side by side, and `make dev` keeps 8080.
                    format!("--admin-address=127.0.0.1:{}", admin_port()),
                    // The webhook on a free port too, with serving certificates that rotate
                    // every 10 s, and a new CA prepared 100 s after start and signing 5 s
                    // later, while the tests run (see webhook.rs). The hub creates and keeps
                    // the configuration roster-hub pointing there.
                    format!("--webhook-address=127.0.0.1:{}", webhook_port()),
                    format!("--webhook-url={}", webhook_url(webhook_port())),
                    "--webhook-dns-names=127.0.0.1".into(),
                    format!("--webhook-cert-validity={WEBHOOK_CERT_VALIDITY}"),
                ],
                &[("RUST_LOG", "info,roster_hub=debug")],
                &fleet.dir().join("roster-hub.log"),
            )
            .expect("roster-hub starts")
        })
        .await;
    HUB_PID.store(hub.pid(), std::sync::atomic::Ordering::Relaxed);
    hub
}

/// The loopback port of the shared hub's admin server (`/metrics`, `/healthz`, `/readyz`).
pub fn admin_port() -> u16 {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *PORT.get_or_init(|| roster_testenv::ports::free_port().expect("a free port"))
}

/// The shared hub's metrics, as Prometheus text.
pub async fn hub_metrics() -> anyhow::Result<String> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], admin_port()));
    let answer =
        roster_testenv::admin::get(address, "/metrics", std::time::Duration::from_secs(10))
            .await?
            .ok_or_else(|| anyhow::anyhow!("nothing listens on the hub's admin port {address}"))?;
    Ok(answer.body)
}

/// `--webhook-cert-validity` of the shared hub, seconds.
pub const WEBHOOK_CERT_VALIDITY: u64 = 15;

/// The loopback port the shared hub serves its pod webhook on (HTTPS, `/mutate-pods`).
pub fn webhook_port() -> u16 {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *PORT.get_or_init(|| roster_testenv::ports::free_port().expect("a free port"))
}

/// The URL the API server calls a hub's webhook at when it listens on the loopback `port`.
pub fn webhook_url(port: u16) -> String {
    format!("https://127.0.0.1:{port}{}", roster_api::webhook::PATH)
}

/// The inventory namespace the shared hub publishes in.
pub const INVENTORY: &str = "cluster-inventory";

/// What the shared roster-hub is doing, for a failed wait: alive or not, and its last log lines.
pub fn hub_diagnostics(env: &roster_testenv::TestEnv) -> String {
    let log = env.fleet.dir().join("roster-hub.log");
    let pid = HUB_PID.load(std::sync::atomic::Ordering::Relaxed);
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
    format!(
        "roster-hub (pid {pid}, alive: {alive}); last log lines:\n{}",
        roster_testenv::process::log_tail(&log, 15)
    )
}

static HUB_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The user name the API server authenticates `client` as (a SelfSubjectReview).
pub async fn username(client: &kube::Client) -> anyhow::Result<String> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    Ok(review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .unwrap_or_default())
}

/// `kubectl roster join MEMBER --output kubeconfig` on `fleet`'s hub: the member is approved
/// and its bootstrap kubeconfig written to `file`.
pub async fn join_kubeconfig(
    fleet: &roster_testenv::Fleet,
    member: &str,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    let args = ["join", member, "--output", "kubeconfig", "--file"];
    roster_testenv::command::kubectl_roster(&fleet.hub.kubeconfig_path(), &args)?
        .arg(file)
        .run_async()
        .await?;
    Ok(())
}

/// Roster on a private fleet's hub: its CRDs installed and `roster-hub` running with `flags`,
/// logging to `dir/roster-hub.log`. Returns the hub's admin client and the process.
pub async fn roster_on_hub(
    fleet: &roster_testenv::Fleet,
    dir: &std::path::Path,
    flags: &[String],
) -> anyhow::Result<(kube::Client, roster_testenv::process::Process)> {
    let hub = fleet.hub.client().await?;
    roster_testenv::crds::install(&hub, &roster_api::crd::all()).await?;
    let process = roster_testenv::roster::spawn_hub(
        fleet,
        roster_testenv::ports::free_address()?,
        flags,
        &dir.join("roster-hub.log"),
    )?;
    Ok((hub, process))
}
