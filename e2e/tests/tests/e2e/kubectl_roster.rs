//! `kubectl roster` as a user runs it, against the real hub: the test plays roster-hub's part
//! (per-member namespace, bootstrap identity, `Joined` condition) so only the plugin is tested.

use std::{path::PathBuf, process::Output, time::Duration};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{Namespace, ServiceAccount},
};
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use roster_api::{MemberCluster, names};
use roster_testenv::{TestEnv, wait};

use super::support::{hub_process, username};
use serde_json::Value;
use tokio::process::{Child, Command};

const TIMEOUT: Duration = Duration::from_secs(60);

/// The built `kubectl-roster` (see `roster_testenv::roster::binary_path`).
fn binary() -> PathBuf {
    roster_testenv::roster::binary_path("kubectl-roster").expect("kubectl-roster is built")
}

/// Starts `kubectl-roster --kubeconfig <hub admin> ARGS`.
fn spawn(env: &TestEnv, args: &[&str]) -> Child {
    Command::new(binary())
        .arg("--kubeconfig")
        .arg(env.fleet.hub.kubeconfig_path())
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Runs `kubectl-roster` to completion.
async fn run(env: &TestEnv, args: &[&str]) -> Output {
    finish(spawn(env, args)).await
}

async fn finish(child: Child) -> Output {
    tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .expect("kubectl-roster finishes")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "kubectl-roster failed: {}\nstderr: {}",
        output.status,
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Fails unless it failed; returns its stderr.
fn assert_failure(output: &Output) -> String {
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success(),
        "kubectl-roster should have failed\nstdout: {}\nstderr: {stderr}",
        text(&output.stdout)
    );
    stderr
}

/// Waits for `join` to create the MemberCluster.
async fn wait_for_member(env: &TestEnv, name: &str) -> anyhow::Result<MemberCluster> {
    let members: Api<MemberCluster> = Api::all(env.hub.clone());
    wait::until(&format!("MemberCluster {name}"), TIMEOUT, || {
        let members = members.clone();
        async move { Ok(members.get_opt(name).await?) }
    })
    .await
}

/// A client authenticating with the kubeconfig `join` wrote.
async fn client_of(kubeconfig: Kubeconfig) -> anyhow::Result<Client> {
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

async fn mint_agent_token(client: &Client, member: &str, account: &str) -> kube::Result<()> {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(600),
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), &names::member_namespace(member))
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn join_issues_a_working_bootstrap_credential_then_status_and_unjoin() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let name = format!("{}-join", env.namespace);
    let join = spawn(
        &env,
        &[
            "join",
            &name,
            "--display-name",
            "Joined by the test",
            "--label",
            "env=e2e",
            "--property",
            "topology.kubernetes.io/region=eu-test-1",
            "--output",
            "kubeconfig",
        ],
    );
    let output = finish(join).await;
    let created = wait_for_member(&env, &name).await?;
    let stdout = assert_success(&output);

    // The MemberCluster carries the flags, written by the plugin's field manager.
    let labels = created.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("env").map(String::as_str), Some("e2e"));
    assert_eq!(
        created.spec.display_name.as_deref(),
        Some("Joined by the test")
    );
    assert_eq!(
        created.spec.properties[0].name,
        "topology.kubernetes.io/region"
    );
    assert_eq!(created.spec.properties[0].value, "eu-test-1");
    let managers: Vec<_> = created.metadata.managed_fields.iter().flatten().collect();
    assert!(
        managers
            .iter()
            .any(|m| m.manager.as_deref() == Some("kubectl-roster")
                && m.operation.as_deref() == Some("Apply")),
        "{managers:?}"
    );

    // The kubeconfig reaches the hub as the bootstrap identity, which can mint the agent's
    // token and nothing else.
    let kubeconfig = Kubeconfig::from_yaml(&stdout)?;
    let cluster = kubeconfig.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.server.as_deref(), Some(env.fleet.hub.server()));
    let bootstrap = client_of(kubeconfig).await?;
    assert_eq!(
        username(&bootstrap).await?,
        format!("system:serviceaccount:roster-member-{name}:roster-bootstrap")
    );
    mint_agent_token(&bootstrap, &name, names::AGENT_SERVICE_ACCOUNT).await?;
    let denied = mint_agent_token(&bootstrap, &name, names::BOOTSTRAP_SERVICE_ACCOUNT).await;
    assert!(
        matches!(denied, Err(kube::Error::Api(ref s)) if s.code == 403),
        "{denied:?}"
    );
    assert!(!text(&output.stderr).contains(&token_of(&stdout)));

    // Again, as a manifest in a file: the member is kept, a fresh credential is issued.
    let dir = std::env::temp_dir().join(format!("roster-{name}"));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("agent.yaml");
    let output = run(&env, &["join", &name, "--file", file.to_str().unwrap()]).await;
    let stdout = assert_success(&output);
    assert!(
        stdout.is_empty(),
        "stdout carries nothing with --file: {stdout}"
    );
    let stderr = text(&output.stderr);
    assert!(stderr.contains("exists"), "{stderr}");
    assert!(
        stderr.contains("kubectl --context <member> apply -f"),
        "{stderr}"
    );
    let docs: Vec<Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(&file)?)?;
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Secret",
            "Deployment"
        ]
    );
    let embedded = docs[4]["stringData"]["kubeconfig"].as_str().unwrap();
    let bootstrap = client_of(Kubeconfig::from_yaml(embedded)?).await?;
    assert!(username(&bootstrap).await?.ends_with(":roster-bootstrap"));
    std::fs::remove_dir_all(&dir)?;

    // status shows the member, not yet heartbeating.
    let stdout = assert_success(&run(&env, &["status"]).await);
    assert!(stdout.starts_with("NAME "), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no line for {name}: {stdout}"));
    let cells: Vec<&str> = line
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells[1], "False (AwaitingAgent)", "{line}");
    assert_eq!(
        cells[4], "cluster-inventory",
        "in the default inventory: {line}"
    );
    assert_eq!(cells[6], "-", "no heartbeat yet: {line}");

    // unjoin removes the MemberCluster and waits until the hub's objects are collected.
    let stdout = assert_success(&run(&env, &["unjoin", &name]).await);
    assert!(
        stdout.contains(&format!("MemberCluster {name} deleted")),
        "{stdout}"
    );
    let members: Api<MemberCluster> = Api::all(env.hub.clone());
    assert!(members.get_opt(&name).await?.is_none());
    let namespaces: Api<Namespace> = Api::all(env.hub.clone());
    assert!(
        namespaces
            .get_opt(&names::member_namespace(&name))
            .await?
            .is_none()
    );
    let stderr = assert_failure(&run(&env, &["unjoin", &name]).await);
    assert!(stderr.contains("is not on this hub"), "{stderr}");
    Ok(())
}

/// The bearer token in a kubeconfig, to check it was not echoed anywhere else.
fn token_of(kubeconfig: &str) -> String {
    roster_testenv::kubeconfig::bearer_token(kubeconfig).unwrap()
}

#[tokio::test]
async fn join_reports_the_hubs_refusal_of_a_name() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let name = format!("{}.has.dot", env.namespace);
    let problem = names::member_namespace_problem(&name).unwrap();
    let stderr = assert_failure(&run(&env, &["join", &name]).await);
    let error = format!("error: the hub cannot join member {name}: {problem}");
    assert!(stderr.contains(&error), "{stderr}");
    Api::<MemberCluster>::all(env.hub.clone())
        .delete(&name, &DeleteParams::default())
        .await?;
    Ok(())
}

#[tokio::test]
async fn join_refuses_bad_flags_before_touching_the_hub_and_times_out_clearly() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    let members: Api<MemberCluster> = Api::all(env.hub.clone());

    let name = format!("{}-badflag", env.namespace);
    let stderr = assert_failure(&run(&env, &["join", &name, "--label", "x"]).await);
    assert!(stderr.contains("KEY=VALUE"), "{stderr}");
    let stderr = assert_failure(
        &run(
            &env,
            &["join", &name, "--property", "p=1", "--property", "p=2"],
        )
        .await,
    );
    assert!(stderr.contains("more than once"), "{stderr}");
    assert!(
        members.get_opt(&name).await?.is_none(),
        "nothing is created"
    );

    // A cluster with Roster's CRDs but no roster-hub (member-1 plays it): join gives up after
    // --timeout with a hint.
    let lonely = env.fleet.member("member-1").expect("member-1");
    let lonely_client = lonely.client().await?;
    roster_testenv::crds::install(&lonely_client, &roster_api::crd::all()).await?;
    let name = format!("{}-nohub", env.namespace);
    let output = Command::new(binary())
        .arg(format!(
            "--kubeconfig={}",
            lonely.kubeconfig_path().display()
        ))
        .args(["join", &name, "--timeout", "1"])
        .output()
        .await?;
    let stderr = assert_failure(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("did not prepare member") && stderr.contains("roster-hub is running"),
        "{stderr}"
    );
    Api::<MemberCluster>::all(lonely_client)
        .delete(&name, &DeleteParams::default())
        .await?;
    Ok(())
}

#[tokio::test]
async fn join_prints_the_api_servers_refusal_once_on_one_line() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let stderr = assert_failure(&run(&env, &["join", "bad_name"]).await);
    let line = stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{stderr}");
    assert!(
        line.starts_with(r#"error: creating MemberCluster bad_name: MemberCluster.roster.dev "bad_name" is invalid"#),
        "{stderr}"
    );
    assert!(line.ends_with("(Invalid, 422)"), "{stderr}");
    assert_eq!(line.matches("is invalid").count(), 1, "{stderr}");
    assert!(
        !line.contains("Status {") && !line.contains("ApiError"),
        "{stderr}"
    );
    Ok(())
}
