//! `roster-credential` against the real hub API server: the test writes the remote token
//! Secrets by hand (as roster-hub would) and runs the built plugin, directly and through a
//! kube client that executes it, with a hub identity allowed only what the plugin needs.
//!
//! The plugin is used as last built (`cargo build -p roster-credential` first when it changed;
//! `make test` builds every binary before the tests).

use std::{
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

use k8s_openapi::{
    api::core::v1::{ConfigMap, Secret},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{ListParams, PostParams},
    config::{AuthInfo, ExecAuthCluster, ExecConfig, ExecInteractiveMode},
};
use roster_api::names::{self, token_secret};
use roster_testenv::{TestEnv, identity, kubeconfig};
use serde_json::{Value, json};

use super::support::{assert_mentions, username};

const TIMEOUT: Duration = Duration::from_secs(60);
const RSA: &str = "deployer";
const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

fn plugin() -> PathBuf {
    roster_testenv::roster::binary_path("roster-credential").expect("roster-credential is built")
}

fn rfc3339(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `KUBERNETES_EXEC_INFO` as a client sends it with `provideClusterInfo: true`.
fn exec_info(api_version: &str, cluster: &str) -> String {
    json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {
            "interactive": false,
            "cluster": {
                "server": "https://member.example.com:6443",
                "config": {"clusterName": cluster},
            },
        },
    })
    .to_string()
}

/// A service account of `ns` allowed `verbs` on core `resource` there, and a fresh token.
async fn service_account(
    hub: &Client,
    ns: &str,
    name: &str,
    resource: &str,
    verbs: &[&str],
) -> anyhow::Result<identity::Token> {
    identity::service_account(ns, name)
        .rules([identity::rule("", &[resource], verbs)])
        .create(hub)
        .await
}

/// Writes a hub kubeconfig authenticating with `token` and returns its path.
fn write_kubeconfig(env: &TestEnv, file: &str, token: &str) -> anyhow::Result<PathBuf> {
    let dir = env
        .fleet
        .dir()
        .join(format!("credential-{}", env.namespace));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(file);
    std::fs::write(
        &path,
        kubeconfig::to_yaml(&env.fleet.hub.token_kubeconfig(token))?,
    )?;
    Ok(path)
}

/// The kubeconfig of an identity that may get secrets in the test's namespace, as a consumer's
/// pod service account would.
async fn reader_kubeconfig(env: &TestEnv) -> anyhow::Result<PathBuf> {
    let reader = service_account(
        &env.hub,
        &env.namespace,
        "token-reader",
        "secrets",
        &["get"],
    );
    write_kubeconfig(env, "reader.kubeconfig", &reader.await?.token)
}

/// Writes the remote token Secret `<rsa>-<cluster>` with `data`, as roster-hub does.
async fn put_token_secret(
    env: &TestEnv,
    rsa: &str,
    cluster: &str,
    data: &[(&str, &str)],
) -> anyhow::Result<()> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(names::token_secret_name(rsa, cluster)),
            labels: Some(
                [(
                    token_secret::LABEL_REMOTE_SERVICE_ACCOUNT.to_owned(),
                    rsa.to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        type_: Some(token_secret::TYPE.into()),
        string_data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..Default::default()
    };
    Api::<Secret>::namespaced(env.hub.clone(), &env.namespace)
        .create(&PostParams::default(), &secret)
        .await?;
    Ok(())
}

/// Runs the plugin with `args`, `KUBERNETES_EXEC_INFO` and `env` only (no inherited
/// environment, so nothing of this machine's kubeconfig or pod leaks in).
pub(super) async fn run_plugin(args: &[&str], exec_info: &str, env: &[(&str, &str)]) -> Output {
    let child = tokio::process::Command::new(plugin())
        .args(args)
        .env_clear()
        .env("KUBERNETES_EXEC_INFO", exec_info)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("roster-credential starts");
    tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .expect("roster-credential finishes")
        .expect("roster-credential's output is read")
}

/// Asserts that the plugin failed the way a client expects (one stderr line, nothing on
/// stdout, non-zero exit, no token) and returns the line.
fn failure(output: &Output, token: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "the plugin succeeded: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "stdout is not empty: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(stderr.starts_with("roster-credential: "), "{stderr}");
    assert!(!stderr.contains(token), "the token is printed: {stderr}");
    stderr
}

fn args<'a>(kubeconfig: &'a Path, ns: &'a str) -> Vec<&'a str> {
    vec![
        "--remote-service-account",
        RSA,
        "--kubeconfig",
        kubeconfig.to_str().expect("UTF-8 path"),
        "--namespace",
        ns,
    ]
}

#[tokio::test]
async fn plugin_prints_the_token_in_the_version_asked_for() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let ns = env.namespace.as_str();
    let reader = reader_kubeconfig(&env).await?;
    let token = "remote-token-for-member-1";
    let expiry = rfc3339(Timestamp::now() + SignedDuration::from_hours(1));
    put_token_secret(
        &env,
        RSA,
        "member-1",
        &[
            (token_secret::TOKEN, token),
            (token_secret::EXPIRATION, &expiry),
            (token_secret::CA, "-----BEGIN CERTIFICATE-----\n"),
            (token_secret::SERVER, "https://member-1.example.com:6443"),
            (token_secret::NAMESPACE, names::DEFAULT_REMOTE_NAMESPACE),
        ],
    )
    .await?;

    // v1 with --namespace; v1beta1 with POD_NAMESPACE, as in a consumer's pod.
    let v1 = run_plugin(&args(&reader, ns), &exec_info(V1, "member-1"), &[]).await;
    let reader_path = reader.to_str().expect("UTF-8 path");
    let v1beta1_args = ["--remote-service-account", RSA, "--kubeconfig", reader_path];
    let v1beta1 = run_plugin(
        &v1beta1_args,
        &exec_info(V1BETA1, "member-1"),
        &[("POD_NAMESPACE", ns)],
    )
    .await;

    for (version, output) in [(V1, v1), (V1BETA1, v1beta1)] {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{version}: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.stderr.is_empty(), "{version} wrote on stderr");
        let credential: Value = serde_json::from_str(&stdout)?;
        assert_eq!(
            credential,
            json!({
                "apiVersion": version,
                "kind": "ExecCredential",
                "status": {"token": token, "expirationTimestamp": expiry},
            }),
            "{version}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn plugin_explains_missing_undelivered_and_expired_tokens() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let ns = env.namespace.as_str();
    let reader = reader_kubeconfig(&env).await?;
    let token = "an-expired-remote-token";
    put_token_secret(
        &env,
        RSA,
        "member-1",
        &[
            (token_secret::TOKEN, token),
            (token_secret::EXPIRATION, "2020-01-01T00:00:00Z"),
        ],
    )
    .await?;
    // roster-hub creates the Secret before the agent delivers the token.
    put_token_secret(&env, RSA, "member-2", &[(token_secret::CA, "pem")]).await?;
    let hint = format!("`kubectl get rsa {RSA} -n {ns}`");

    let expired = run_plugin(&args(&reader, ns), &exec_info(V1, "member-1"), &[]).await;
    assert_mentions(
        &failure(&expired, token),
        &[
            &format!("Secret {ns}/{RSA}-member-1"),
            "expired at 2020-01-01T00:00:00Z",
            "may not be refreshing",
            &hint,
        ],
    );

    let undelivered = run_plugin(&args(&reader, ns), &exec_info(V1, "member-2"), &[]).await;
    assert_mentions(
        &failure(&undelivered, token),
        &[
            &format!("Secret {ns}/{RSA}-member-2"),
            "for cluster \"member-2\" has not been delivered yet",
        ],
    );

    let missing = run_plugin(&args(&reader, ns), &exec_info(V1, "member-9"), &[]).await;
    assert_mentions(
        &failure(&missing, token),
        &[
            &format!("Secret {ns}/{RSA}-member-9 not found"),
            &format!("RemoteServiceAccount \"{RSA}\""),
            "cluster \"member-9\"",
            &hint,
        ],
    );
    Ok(())
}

#[tokio::test]
async fn plugin_reports_rbac_denial_and_bad_credentials() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let ns = env.namespace.as_str();
    let token = "a-token-others-may-not-read";
    let expiry = rfc3339(Timestamp::now() + SignedDuration::from_hours(1));
    put_token_secret(
        &env,
        RSA,
        "member-1",
        &[
            (token_secret::TOKEN, token),
            (token_secret::EXPIRATION, &expiry),
        ],
    )
    .await?;

    // A service account of another namespace, even one allowed to read its own secrets.
    let other = roster_testenv::env::create_namespace(&env.hub).await?;
    let outsider = service_account(&env.hub, &other, "outsider", "secrets", &["get"]).await?;
    let outsider = write_kubeconfig(&env, "outsider.kubeconfig", &outsider.token)?;
    let denied = run_plugin(&args(&outsider, ns), &exec_info(V1, "member-1"), &[]).await;
    assert_mentions(
        &failure(&denied, token),
        &[
            &format!(
                "roster-credential: access denied: User \"system:serviceaccount:{other}:outsider\" \
                 is not allowed to get secrets in namespace \"{ns}\""
            ),
            &format!("Secret {ns}/{RSA}-member-1"),
        ],
    );

    let forged = write_kubeconfig(&env, "forged.kubeconfig", "not-a-token-of-this-hub")?;
    let rejected = run_plugin(&args(&forged, ns), &exec_info(V1, "member-1"), &[]).await;
    assert_mentions(
        &failure(&rejected, token),
        &[
            &format!("the hub API server at {}", env.fleet.hub.server()),
            "(401 Unauthorized)",
        ],
    );
    Ok(())
}

/// A kube client runs the plugin as its exec credential provider, exactly as a consumer built
/// from a ClusterProfile would; the hub stands in for the member cluster.
#[tokio::test]
async fn a_kube_client_authenticates_through_the_plugin() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let ns = env.namespace.as_str();
    let reader = reader_kubeconfig(&env).await?;

    // The "remote" identity: may list config maps in this namespace, nothing else.
    let remote_account = "remote-deployer";
    let remote = service_account(&env.hub, ns, remote_account, "configmaps", &["list"]).await?;
    let (remote_token, remote_expiry) = (remote.token, remote.expires);
    let cluster = "hub-as-member";
    put_token_secret(
        &env,
        RSA,
        cluster,
        &[
            (token_secret::TOKEN, &remote_token),
            (token_secret::EXPIRATION, &rfc3339(remote_expiry)),
        ],
    )
    .await?;
    let marker = ConfigMap {
        metadata: ObjectMeta {
            name: Some("reached-through-the-plugin".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(env.hub.clone(), ns)
        .create(&PostParams::default(), &marker)
        .await?;

    let mut config = env.fleet.hub.config().await?;
    config.auth_info = AuthInfo {
        exec: Some(ExecConfig {
            api_version: Some(V1.into()),
            command: Some(plugin().display().to_string()),
            args: Some(args(&reader, ns).into_iter().map(String::from).collect()),
            interactive_mode: Some(ExecInteractiveMode::Never),
            provide_cluster_info: true,
            cluster: Some(ExecAuthCluster {
                server: Some(env.fleet.hub.server().into()),
                certificate_authority_data: Some(env.fleet.hub.ca_pem().as_bytes().to_vec()),
                config: Some(json!({"clusterName": cluster})),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let client = Client::try_from(config)?;

    assert_eq!(
        username(&client).await?,
        format!("system:serviceaccount:{ns}:{remote_account}")
    );
    let listed = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await?;
    assert!(
        listed
            .items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("reached-through-the-plugin")),
        "the list as {remote_account} misses the config map"
    );
    match Api::<Secret>::namespaced(client, ns)
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert_mentions(&status.message, &[remote_account]);
        }
        other => panic!("listing secrets as {remote_account} should be forbidden: {other:?}"),
    }
    Ok(())
}
