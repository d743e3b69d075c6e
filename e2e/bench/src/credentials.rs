//! The `credentials` suite: what a consumer pays for a member-cluster credential.
//!
//! 1. **Per ExecCredential**: whole-process runs of `roster-credential` and of the upstream Go
//!    `secretreader` plugin (built from `sigs.k8s.io/cluster-inventory-api` by `make interop`),
//!    doing the same work against the same hub API server with the same identity: read one
//!    Secret in the kubeconfig context's namespace and print an ExecCredential. Runs alternate
//!    (Rust, Go, Rust, Go…) so that drift on a shared machine hits both; every answer is checked
//!    to be an ExecCredential with the expected token, so no failure is ever timed.
//! 2. **Building a client** from a ClusterProfile and a provider file, in process: Rust's
//!    `cluster_inventory_access::ConfigBuilder::client_for_v1alpha1` against the Go library's
//!    `BuildConfigFromCP` + `kubernetes.NewForConfig` (`roster-interop bench-build`).

mod build;
mod parameters;
mod plugins;

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use roster_api::names::{self, token_secret};
use roster_testenv::{Fleet, identity, upstream};

use crate::figure::Figure;
use parameters::{
    BUILD_ITERATIONS, BUILD_WARMUP, CLIENT_ITERATIONS, CLIENT_WARMUP, CLUSTER, NAMESPACE,
    PLUGIN_IDENTITY, RSA, RUNS, SPEEDUP_TARGET, SUITE, WARMUP_RUNS,
};

/// Runs the suite.
pub async fn run() -> anyhow::Result<Vec<Figure>> {
    let dir = work_dir()?;
    let result = run_in(&dir).await;
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!(
            "credentials: files of the failed run are in {}",
            dir.display()
        );
    }
    result
}

async fn run_in(dir: &std::path::Path) -> anyhow::Result<Vec<Figure>> {
    let rust_plugin = crate::admission::sibling_binary("roster-credential")?;
    let go_plugin = upstream::secretreader_binary()?;
    let interop = upstream::interop_binary()?;

    eprintln!("credentials: starting a hub control plane");
    let fleet = Fleet::start(&dir.join("fleet"), &[]).await?;
    let admin = fleet.hub.client().await?;
    let token = plugin_token(&admin).await?;
    let member_token = synthetic_token();
    let expiration = k8s_openapi::jiff::Timestamp::now()
        .checked_add(k8s_openapi::jiff::SignedDuration::from_hours(24))?
        .round(k8s_openapi::jiff::Unit::Second)?
        .to_string();
    create_secrets(&admin, &member_token, &expiration).await?;

    // One kubeconfig for both plugins: the same identity, the namespace in its context.
    let mut kubeconfig = fleet.hub.token_kubeconfig(&token);
    for context in &mut kubeconfig.contexts {
        if let Some(context) = context.context.as_mut() {
            context.namespace = Some(NAMESPACE.to_owned());
        }
    }
    let kubeconfig_path = dir.join("plugin.kubeconfig");
    std::fs::write(
        &kubeconfig_path,
        roster_testenv::kubeconfig::to_yaml(&kubeconfig)?,
    )?;
    let ca_data = kubeconfig
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref()?.certificate_authority_data.clone())
        .unwrap_or_default();

    let setup = plugins::Setup {
        rust: rust_plugin.clone(),
        go: go_plugin.clone(),
        kubeconfig: kubeconfig_path.clone(),
        exec_info: plugins::exec_info(CLUSTER, "https://member-1.example.com:6443", &ca_data),
        remote_service_account: RSA.to_owned(),
        token: member_token,
        expiration,
    };
    eprintln!("credentials: {RUNS} runs of each plugin, alternating");
    let timings =
        tokio::task::spawn_blocking(move || plugins::measure(&setup, RUNS, WARMUP_RUNS)).await??;

    let mut figures = timings.figures(SPEEDUP_TARGET);
    figures.push(connect_and_get(&kubeconfig).await?);

    eprintln!("credentials: config and client builds in process");
    let profile = build::Inputs::write(
        dir,
        CLUSTER,
        fleet.hub.server(),
        &ca_data,
        &rust_plugin,
        &kubeconfig_path,
    )?;
    let rust = build::rust(
        &profile,
        [
            BUILD_ITERATIONS,
            BUILD_WARMUP,
            CLIENT_ITERATIONS,
            CLIENT_WARMUP,
        ],
        &admin,
    )
    .await?;
    let go = build::go(&interop, &profile, BUILD_ITERATIONS, BUILD_WARMUP).await?;
    figures.extend(build::figures(&rust, &go));
    Ok(figures)
}

/// A new client (so a new TLS connection) and one GET of the token Secret, with the plugins'
/// kubeconfig, from this warm process: the part of a credential that is not process start.
async fn connect_and_get(kubeconfig: &kube::config::Kubeconfig) -> anyhow::Result<Figure> {
    let config = roster_testenv::kubeconfig::to_config(kubeconfig.clone()).await?;
    let name = names::token_secret_name(RSA, CLUSTER);
    let mut samples = Vec::with_capacity(RUNS);
    for i in 0..WARMUP_RUNS + RUNS {
        let started = std::time::Instant::now();
        let client = Client::try_from(config.clone())?;
        Api::<Secret>::namespaced(client, NAMESPACE)
            .get(&name)
            .await?;
        if i >= WARMUP_RUNS {
            samples.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let p50 = crate::figure::percentile(&mut samples, 50.0);
    Ok(Figure::new(
        SUITE,
        "new connection + GET of the Secret, in process, p50",
        p50,
        "ms",
    )
    .note(format!(
        "kube-rs from this warm process, same kubeconfig and Secret as roster-credential, a new \
         client (TLS handshake) each time; {RUNS} runs: the API server's share of a credential, \
         which both plugins pay"
    )))
}

/// `target/bench/credentials-<pid>`.
fn work_dir() -> anyhow::Result<PathBuf> {
    let dir = roster_testenv::binary::workspace_root()
        .join("target/bench")
        .join(format!("{SUITE}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(NAMESPACE.to_owned()),
        ..ObjectMeta::default()
    }
}

/// Creates the namespace and the plugins' identity (a service account that may `get` Secrets
/// in it, nothing else) and returns a token for it.
async fn plugin_token(admin: &Client) -> anyhow::Result<String> {
    let pp = PostParams::default();
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(admin.clone())
        .create(&pp, &namespace)
        .await?;
    let account = identity::service_account(NAMESPACE, PLUGIN_IDENTITY)
        .rules([identity::rule("", &["secrets"], &["get"])])
        .expires_in(3600)
        .create(admin)
        .await?;
    Ok(account.token)
}

/// A token of the size of a real bound service-account token (a JWT of about 1 KB).
fn synthetic_token() -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let body: String = (0..960)
        .map(|i: usize| alphabet[(i * 7 + i / 5) % alphabet.len()] as char)
        .collect();
    format!("eyJhbGciOiJSUzI1NiJ9.{body}")
}

/// The two Secrets: `<cluster>` with `token` for secretreader, and `<rsa>-<cluster>` of
/// Roster's token type, as roster-hub writes it (token, CA, server, namespace, kubeconfig,
/// expiry), for roster-credential.
async fn create_secrets(admin: &Client, token: &str, expiration: &str) -> anyhow::Result<()> {
    let api: Api<Secret> = Api::namespaced(admin.clone(), NAMESPACE);
    let pp = PostParams::default();
    let upstream_secret = Secret {
        metadata: meta(CLUSTER),
        string_data: Some([("token".to_owned(), token.to_owned())].into()),
        ..Secret::default()
    };
    api.create(&pp, &upstream_secret).await?;
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CLUSTER}\n  cluster:\n    server: \
         https://member-1.example.com:6443\n    certificate-authority: {root}/{RSA}/{CLUSTER}/ca.crt\n\
         users:\n- name: {RSA}\n  user:\n    tokenFile: {root}/{RSA}/{CLUSTER}/token\n\
         contexts:\n- name: {CLUSTER}\n  context: {{cluster: {CLUSTER}, user: {RSA}}}\n\
         current-context: {CLUSTER}\n",
        root = names::AUTOMOUNT_ROOT,
    );
    let roster_secret = Secret {
        metadata: meta(&names::token_secret_name(RSA, CLUSTER)),
        type_: Some(token_secret::TYPE.to_owned()),
        string_data: Some(
            [
                (token_secret::TOKEN, token),
                (token_secret::CA, FAKE_CA),
                (token_secret::SERVER, "https://member-1.example.com:6443"),
                (token_secret::NAMESPACE, "default"),
                (token_secret::KUBECONFIG, kubeconfig.as_str()),
                (token_secret::EXPIRATION, expiration),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        ),
        ..Secret::default()
    };
    api.create(&pp, &roster_secret).await?;
    Ok(())
}

/// Stands in for the member's CA bundle in the token Secret (size matters, content does not:
/// nothing parses it here).
const FAKE_CA: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBdzCCAR2gAwIBAgIUBenchBenchBenchBenchBenchBenchBenchwCgYIKoZIzj0EAwIw\n\
FDESMBAGA1UEAwwJbWVtYmVyLWNhMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAw\n\
MFowFDESMBAGA1UEAwwJbWVtYmVyLWNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n\
BenchBenchBenchBenchBenchBenchBenchBenchBenchBenchBenchBenchBenchBenchBe\n\
nchBenchBenchBenchBenchBenchBenchBenchBenchBenchBenchBenchBenchBenchBenc\n\
-----END CERTIFICATE-----\n";
