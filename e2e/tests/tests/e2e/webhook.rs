//! The pod automount webhook on the real API server: the shared `roster-hub` serves it on a
//! loopback port with self-generated certificates that rotate every 10 s and a CA replaced
//! 100 s after start (see `support::hub_process`), and creates and keeps the production
//! MutatingWebhookConfiguration (`roster_api::webhook`, pointed at that port): annotated pods
//! outside kube-system and roster-system go to the hub, no other pod does. Pods never run (no
//! kubelet): creating them through the API server is what is tested. Putting the configuration
//! back after a deletion or an edit is `webhook_repair`'s, on a private hub.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    admissionregistration::v1::MutatingWebhookConfiguration,
    core::v1::{Pod, Secret, ServiceAccount},
};
use kube::{Api, Client, api::PostParams};
use roster_api::{
    RemoteServiceAccount,
    names::{self, token_secret},
};
use roster_testenv::{TestEnv, wait};
use serde_json::{Value, json};

use super::{members, support};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The webhook configuration roster-hub keeps: its default `--webhook-configuration`, which is
/// also the one name its RBAC (deploy/hub) lets it create and patch.
const CONFIGURATION: &str = roster_api::webhook::CONFIGURATION;

/// Waits, once per test binary, until the hub has created the webhook configuration with its
/// caBundle and the API server admits through it.
async fn configured() {
    static CONFIGURED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CONFIGURED
        .get_or_init(|| async { configure().await.expect("the webhook configuration") })
        .await;
}

async fn configure() -> anyhow::Result<()> {
    support::hub_process().await;
    let env = TestEnv::start().await?;
    let bundle = wait::until("roster-hub to fill the caBundle", TIMEOUT, || async {
        Ok(ca_bundle(&env.hub).await?.filter(|b| !b.is_empty()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", support::hub_diagnostics(&env)))?;
    assert!(
        bundle.starts_with("-----BEGIN CERTIFICATE-----"),
        "{bundle}"
    );

    // The API server picks the configuration up through its own watch: retry until a pod is
    // admitted through it (and mutated, proving the call was made).
    default_account(&env).await?;
    create_rsa(&env, "probe", json!({"clusters": {"names": ["member-1"]}})).await?;
    let pods: Api<Pod> = Api::namespaced(env.hub.clone(), &env.namespace);
    let pod = serde_json::from_value(pod_json(Some("probe")))?;
    let last = std::sync::Mutex::new(String::new());
    wait::until("the API server to call the webhook", TIMEOUT, || async {
        match pods.create(&PostParams::default(), &pod).await {
            Ok(created) if !roster_volumes(&created).is_empty() => Ok(Some(())),
            Ok(_) => Ok(None),
            Err(e) => {
                *last.lock().unwrap() = e.to_string();
                Ok(None)
            }
        }
    })
    .await
    .map_err(|e| {
        let last = last.lock().unwrap();
        anyhow::anyhow!(
            "{e}; last error: {last}\n{}",
            support::hub_diagnostics(&env)
        )
    })?;
    Ok(())
}

/// The caBundle of every webhook of the configuration, if they agree.
pub async fn ca_bundle(hub: &Client) -> anyhow::Result<Option<String>> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(hub.clone());
    let Some(configuration) = api.get_opt(CONFIGURATION).await? else {
        return Ok(None);
    };
    let bundles: Vec<String> = configuration
        .webhooks
        .iter()
        .flatten()
        .map(|w| {
            let bytes = w.client_config.ca_bundle.as_ref().map(|b| b.0.clone());
            String::from_utf8(bytes.unwrap_or_default()).unwrap_or_default()
        })
        .collect();
    Ok(match bundles.as_slice() {
        [first, rest @ ..] if rest.iter().all(|b| b == first) => Some(first.clone()),
        _ => None,
    })
}

/// Waits for the test namespace's `default` service account (the ServiceAccount admission
/// plugin refuses pods until it exists).
pub async fn default_account(env: &TestEnv) -> anyhow::Result<()> {
    let accounts: Api<ServiceAccount> = Api::namespaced(env.hub.clone(), &env.namespace);
    wait::until("the default service account", TIMEOUT, || async {
        Ok(accounts.get_opt("default").await?.map(|_| ()))
    })
    .await
}

async fn automount_env() -> anyhow::Result<TestEnv> {
    configured().await;
    let env = TestEnv::start().await?;
    default_account(&env).await?;
    Ok(env)
}

async fn create_rsa(env: &TestEnv, name: &str, spec: Value) -> anyhow::Result<()> {
    roster_testenv::policy::allow_everything(&env.hub, &env.namespace).await?;
    let rsa: RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1",
        "kind": "RemoteServiceAccount",
        "metadata": {"name": name},
        "spec": spec,
    }))?;
    Api::<RemoteServiceAccount>::namespaced(env.hub.clone(), &env.namespace)
        .create(&PostParams::default(), &rsa)
        .await?;
    Ok(())
}

/// A pod with an init container and two containers, annotated with `rsas` when given.
pub fn pod_json(rsas: Option<&str>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "app-"},
        "spec": {
            "automountServiceAccountToken": false,
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [
                {"name": "app", "image": "busybox"},
                {"name": "sidecar", "image": "busybox"}
            ],
        },
    });
    if let Some(rsas) = rsas {
        pod["metadata"]["annotations"] = json!({names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS: rsas});
    }
    pod
}

async fn create_pod(env: &TestEnv, rsas: Option<&str>) -> kube::Result<Pod> {
    let pod: Pod = serde_json::from_value(pod_json(rsas)).map_err(kube::Error::SerdeError)?;
    Api::<Pod>::namespaced(env.hub.clone(), &env.namespace)
        .create(&PostParams::default(), &pod)
        .await
}

/// The Secrets of the pod's Roster volumes, each with whether it is optional.
pub fn roster_volumes(pod: &Pod) -> Vec<(String, bool)> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter(|v| v.name.starts_with("roster-"))
        .filter_map(|v| {
            let secret = v.secret.as_ref()?;
            Some((secret.secret_name.clone()?, secret.optional == Some(true)))
        })
        .collect()
}

/// Per container (init containers first), its read-only mount paths under the automount root.
pub fn roster_mounts(pod: &Pod) -> Vec<(String, Vec<String>)> {
    let spec = pod.spec.clone().unwrap_or_default();
    spec.init_containers
        .unwrap_or_default()
        .into_iter()
        .chain(spec.containers)
        .map(|c| {
            let paths = c
                .volume_mounts
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m.mount_path.starts_with(names::AUTOMOUNT_ROOT))
                .filter(|m| m.read_only == Some(true))
                .map(|m| m.mount_path)
                .collect();
            (c.name, paths)
        })
        .collect()
}

pub fn expected_mounts(pairs: &[(&str, &str)]) -> Vec<(String, Vec<String>)> {
    let paths: Vec<String> = pairs
        .iter()
        .map(|(rsa, cluster)| format!("{}/{rsa}/{cluster}", names::AUTOMOUNT_ROOT))
        .collect();
    ["init", "app", "sidecar"]
        .iter()
        .map(|c| ((*c).to_owned(), paths.clone()))
        .collect()
}

/// The API server's message for a refused pod; fails the test if it was admitted.
async fn refused(env: &TestEnv, rsas: &str) -> String {
    match create_pod(env, Some(rsas)).await {
        Ok(pod) => panic!("{rsas:?}: admitted {:?}", pod.metadata.name),
        Err(kube::Error::Api(status)) => status.message,
        Err(e) => panic!("{rsas:?}: unexpected error {e}"),
    }
}

/// Waits until `<rsa>-<cluster>` holds a token.
async fn token_secret(env: &TestEnv, rsa: &str, cluster: &str) -> anyhow::Result<Secret> {
    let secrets: Api<Secret> = Api::namespaced(env.hub.clone(), &env.namespace);
    let name = names::token_secret_name(rsa, cluster);
    wait::until(&format!("Secret {name} with a token"), TIMEOUT, || async {
        Ok(secrets.get_opt(&name).await?.filter(|s| {
            s.data
                .as_ref()
                .is_some_and(|d| d.contains_key(token_secret::TOKEN))
        }))
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}\n{}\n{}",
            support::hub_diagnostics(env),
            members::diagnostics()
        )
    })
}

/// Lays the Secret's keys out the way the kubelet mounts the volume, under `root` instead of
/// the automount root (there is no kubelet here), with the kubeconfig's paths moved the same
/// way; returns the kubeconfig's path.
fn mount_like_the_kubelet(
    secret: &Secret,
    root: &Path,
    rsa: &str,
    cluster: &str,
) -> std::path::PathBuf {
    let dir = root.join(rsa).join(cluster);
    std::fs::create_dir_all(&dir).unwrap();
    for (key, value) in secret.data.iter().flatten() {
        std::fs::write(dir.join(key), &value.0).unwrap();
    }
    let kubeconfig = dir.join(token_secret::KUBECONFIG);
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        text.contains(&format!("{}/{rsa}/{cluster}/", names::AUTOMOUNT_ROOT)),
        "the kubeconfig reads the mounted files: {text}"
    );
    let moved = text.replace(names::AUTOMOUNT_ROOT, &root.display().to_string());
    std::fs::write(&kubeconfig, moved).unwrap();
    kubeconfig
}

#[tokio::test]
async fn annotated_pods_get_their_credentials_mounted_everywhere() -> anyhow::Result<()> {
    let env = automount_env().await?;
    members::joined().await;
    create_rsa(
        &env,
        "deployer",
        json!({"clusters": {"names": roster_testenv::MEMBERS}}),
    )
    .await?;
    create_rsa(
        &env,
        "reader",
        json!({"clusters": {"selector": {"matchLabels": {members::LABEL.0: members::LABEL.1}}}}),
    )
    .await?;

    // Two accounts by two clusters, in the init container and both containers, read-only,
    // from optional Secret volumes.
    let pod = create_pod(&env, Some(" deployer ,reader,deployer")).await?;
    let pairs = [
        ("deployer", "member-1"),
        ("deployer", "member-2"),
        ("reader", "member-1"),
        ("reader", "member-2"),
    ];
    assert_eq!(roster_mounts(&pod), expected_mounts(&pairs));
    let volumes: Vec<(String, bool)> = pairs
        .iter()
        .map(|(rsa, cluster)| (names::token_secret_name(rsa, cluster), true))
        .collect();
    assert_eq!(roster_volumes(&pod), volumes);

    // A pod without the annotation is left as it was.
    let plain = create_pod(&env, None).await?;
    assert!(roster_volumes(&plain).is_empty(), "{:?}", plain.spec);
    assert!(
        roster_mounts(&plain)
            .iter()
            .all(|(_, paths)| paths.is_empty())
    );

    // Bad input is refused with a message the user can act on, and creates nothing.
    let message = refused(&env, "deployer,missing").await;
    support::assert_mentions(
        &message,
        &[&format!(
            "remote service account \"missing\" not found in namespace \"{}\" (annotation \
             roster.dev/remote-service-accounts)",
            env.namespace
        )],
    );
    let message = refused(&env, "Deployer").await;
    support::assert_mentions(
        &message,
        &[
            "invalid annotation roster.dev/remote-service-accounts",
            "\"Deployer\" is not a valid RemoteServiceAccount name",
        ],
    );
    let message = refused(&env, "deployer,,reader").await;
    support::assert_mentions(&message, &["has an empty entry"]);

    // The kubeconfig in the volume works as is with kubectl against the member, as the
    // remote service account.
    let root = env.fleet.dir().join(format!("automount-{}", env.namespace));
    for member in roster_testenv::MEMBERS {
        let secret = token_secret(&env, "deployer", member).await?;
        let kubeconfig = mount_like_the_kubelet(&secret, &root, "deployer", member);
        let user = support::kubectl(
            &kubeconfig,
            &[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
        )
        .await?;
        assert_eq!(
            user,
            format!(
                "system:serviceaccount:{}:{}-deployer",
                names::DEFAULT_REMOTE_NAMESPACE,
                env.namespace
            )
        );
        let version = support::kubectl(&kubeconfig, &["get", "--raw", "/version"]).await?;
        assert!(version.contains("gitVersion"), "{version}");
    }
    Ok(())
}

/// The leaf certificate the webhook presents to a new connection that trusts only `bundle`
/// (so a certificate the caBundle does not vouch for fails here).
async fn served_certificate(bundle: &str) -> anyhow::Result<Vec<u8>> {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(bundle.as_bytes()) {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", support::webhook_port())).await?;
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| anyhow::anyhow!("no certificate presented"))?
        .to_vec();
    tokio::io::AsyncWriteExt::shutdown(&mut stream).await?;
    Ok(leaf)
}

/// The first certificate of a caBundle: the CA that signs (see the hub's `selfsigned.rs`).
fn signing_ca(bundle: &str) -> String {
    const END: &str = "-----END CERTIFICATE-----";
    bundle
        .find(END)
        .map(|i| bundle[..i + END.len()].to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn certificates_rotate_while_the_api_server_keeps_admitting() -> anyhow::Result<()> {
    let env = automount_env().await?;
    // Named clusters are mounted whether or not their tokens exist yet: no agent needed.
    create_rsa(
        &env,
        "rotor",
        json!({"clusters": {"names": roster_testenv::MEMBERS}}),
    )
    .await?;
    let expected = expected_mounts(&[("rotor", "member-1"), ("rotor", "member-2")]);

    // Keep creating pods until the webhook has presented two new serving certificates and a
    // new CA has taken over (the caBundle lists the signing CA first), so serving and CA
    // rotations both happened mid-stream. Every certificate presented must be trusted by the
    // caBundle of that moment, and every pod admitted with its mounts.
    let started = Instant::now();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut bundles: Vec<String> = Vec::new();
    let mut created = 0;
    // A new CA signs ten serving lives after the previous one was made, plus a grace period.
    let limit = Duration::from_secs(support::WEBHOOK_CERT_VALIDITY * 12 + 60);
    let mut first_ca = None;
    let mut new_ca_served = false;
    while seen.len() < 3 || !new_ca_served {
        anyhow::ensure!(
            started.elapsed() < limit,
            "saw {} serving certificates and {} caBundles (new CA served: {new_ca_served}) in \
             {:?}\n{}",
            seen.len(),
            bundles.len(),
            started.elapsed(),
            support::hub_diagnostics(&env)
        );
        let bundle = ca_bundle(&env.hub)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no caBundle"))?;
        if bundles.last() != Some(&bundle) {
            bundles.push(bundle.clone());
        }
        let signing = signing_ca(&bundle);
        let first = first_ca.get_or_insert_with(|| signing.clone());
        let leaf = served_certificate(&bundle).await.map_err(|e| {
            anyhow::anyhow!(
                "the webhook's certificate is not trusted by the caBundle: {e}\n{}",
                support::hub_diagnostics(&env)
            )
        })?;
        if seen.last() != Some(&leaf) {
            seen.push(leaf);
            new_ca_served |= signing != *first;
        }
        for _ in 0..4 {
            let pod = create_pod(&env, Some("rotor")).await.map_err(|e| {
                anyhow::anyhow!(
                    "pod {created} refused during rotation: {e}\n{}",
                    support::hub_diagnostics(&env)
                )
            })?;
            assert_eq!(roster_mounts(&pod), expected, "pod {created}");
            created += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!(
        "webhook: {created} pods admitted across {} serving certificates and {} caBundles in {:.0?}",
        seen.len(),
        bundles.len(),
        started.elapsed()
    );
    Ok(())
}
