//! Federated trust on the real control planes (issue 17): every member API server of the test
//! bed starts with the authentication configuration `kubectl roster join --federation-config`
//! writes, trusting the hub's service-account issuer, and the hub publishes its issuer
//! discovery through `deploy/components/issuer-discovery`. A hub service-account token bound
//! to one member's audience is that member's `roster-hub:` user; anything else is a 401.

use std::{path::Path, process::Output, time::Duration};

use k8s_openapi::{
    api::{
        authentication::v1::{SelfSubjectReview, UserInfo},
        core::v1::ServiceAccount,
    },
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use roster_api::{MemberCluster, MemberReport, federation, member_report::REPORT_NAME, names};
use roster_testenv::{
    Cluster, Fleet, TestEnv, identity, jwt,
    ports::free_address,
    roster,
    trust::{self, TrustOptions},
    wait,
};
use serde_json::{Value, json};

use super::support::{hub_process, join_kubeconfig};

const TIMEOUT: Duration = Duration::from_secs(90);
/// A member's JWT authenticator fetches the hub's discovery in the background every 10 s until
/// it succeeds: the first test to run may wait that long.
const TRUST_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates service account `name` in `namespace` on the hub.
async fn hub_service_account(env: &TestEnv, name: &str) -> anyhow::Result<()> {
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    Api::<ServiceAccount>::namespaced(env.hub.clone(), &env.namespace)
        .create(&PostParams::default(), &account)
        .await?;
    Ok(())
}

/// A token of service account `namespace/name` on `client`'s cluster for `audience`.
async fn token_for(
    client: &Client,
    namespace: &str,
    name: &str,
    audience: &str,
) -> anyhow::Result<String> {
    Ok(
        identity::token_for_audience(client, namespace, name, audience)
            .await?
            .token,
    )
}

/// What `cluster` authenticates `token` as (SelfSubjectReview), or the API error.
async fn review(cluster: &Cluster, token: &str) -> anyhow::Result<Result<UserInfo, kube::Error>> {
    let client = identity::client(cluster, token).await?;
    let answer = Api::<SelfSubjectReview>::all(client)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await;
    Ok(answer.map(|r| r.status.and_then(|s| s.user_info).unwrap_or_default()))
}

/// Fails unless `cluster` refuses `token` with 401.
async fn assert_unauthorized(cluster: &Cluster, token: &str, what: &str) -> anyhow::Result<()> {
    match review(cluster, token).await? {
        Err(kube::Error::Api(status)) if status.code == 401 => Ok(()),
        other => panic!(
            "{what}: expected 401 from {}, got {other:?}",
            cluster.name()
        ),
    }
}

/// Waits until `member` accepts hub tokens for its audience (its authenticator fetched the
/// hub's discovery); returns what it made of `token`.
async fn wait_trusted(member: &Cluster, token: &str) -> anyhow::Result<UserInfo> {
    let what = format!("{} accepting hub tokens", member.name());
    wait::until(&what, TRUST_TIMEOUT, || async {
        match review(member, token).await? {
            Ok(user) => Ok(Some(user)),
            Err(kube::Error::Api(status)) if status.code == 401 => Ok(None),
            Err(other) => Err(other.into()),
        }
    })
    .await
}

fn member<'a>(env: &'a TestEnv, name: &str) -> &'a Cluster {
    env.fleet
        .member(name)
        .expect("a member of the shared fleet")
}

#[tokio::test]
async fn a_member_authenticates_a_hub_token_for_its_audience_as_the_prefixed_user()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_service_account(&env, "caller").await?;
    let token = token_for(
        &env.hub,
        &env.namespace,
        "caller",
        &federation::audience("member-1"),
    )
    .await?;
    let user = wait_trusted(member(&env, "member-1"), &token).await?;
    assert_eq!(
        user.username.as_deref(),
        Some(federation::federated_user(&env.namespace, "caller").as_str())
    );
    assert_eq!(
        user.username.as_deref(),
        Some(format!("roster-hub:system:serviceaccount:{}:caller", env.namespace).as_str())
    );
    // No group from the token: only the one the API server adds for every authenticated user.
    assert_eq!(
        user.groups.unwrap_or_default(),
        ["system:authenticated"],
        "no groups beyond system:authenticated"
    );
    Ok(())
}

#[tokio::test]
async fn a_member_refuses_other_audiences_other_issuers_and_subjects_outside_service_accounts()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let (m1, m2) = (member(&env, "member-1"), member(&env, "member-2"));
    hub_service_account(&env, "caller").await?;
    let ns = env.namespace.as_str();
    // Controls: both members trust the hub, so each 401 below is the rule, not a member still
    // starting.
    let for_m1 = token_for(&env.hub, ns, "caller", &federation::audience("member-1")).await?;
    let for_m2 = token_for(&env.hub, ns, "caller", &federation::audience("member-2")).await?;
    wait_trusted(m1, &for_m1).await?;
    wait_trusted(m2, &for_m2).await?;

    // A hub token for member-2 is no good on member-1 (a member cannot replay it elsewhere).
    assert_unauthorized(m1, &for_m2, "hub token for roster:member-2").await?;

    // A token of member-2's own issuer, even for member-1's audience.
    let member_2 = m2.client().await?;
    let own = token_for(
        &member_2,
        "default",
        "default",
        &federation::audience("member-1"),
    )
    .await?;
    assert_eq!(
        jwt::decode(&own, 1)?["iss"],
        trust::issuer("member-2"),
        "a token of member-2's issuer"
    );
    assert_unauthorized(m1, &own, "member-2's token for roster:member-1").await?;

    // Tokens signed with the hub's real key, iss and aud right: only the sub decides.
    let header = jwt::decode(&for_m1, 0)?;
    let now = Timestamp::now().as_second();
    let forged = |sub: &str| {
        let claims = json!({
            "iss": trust::issuer(roster_testenv::HUB),
            "aud": [federation::audience("member-1")],
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        });
        jwt::sign_es256(env.fleet.hub.service_account_key_pem(), &header, &claims)
    };
    let proper = forged(&format!("system:serviceaccount:{ns}:forged"))?;
    let accepted = review(m1, &proper)
        .await?
        .expect("a service-account sub is accepted");
    assert_eq!(
        accepted.username.as_deref(),
        Some(federation::federated_user(ns, "forged").as_str()),
        "the forged token is well-formed: the hub's key and claims are accepted"
    );
    for sub in [
        "admin",
        "system:masters",
        "system:serviceaccounts",
        "roster-hub:admin",
    ] {
        assert_unauthorized(
            m1,
            &forged(sub)?,
            &format!("sub {sub:?} with the hub's key"),
        )
        .await?;
    }
    Ok(())
}

/// `GET path` on `cluster` without credentials: the status and the body.
async fn anonymous_get(cluster: &Cluster, path: &str) -> anyhow::Result<Result<String, u16>> {
    let mut config = cluster.config().await?;
    config.auth_info = kube::config::AuthInfo::default();
    let client = Client::try_from(config)?;
    let request = http::Request::get(path).body(Vec::new())?;
    match client.request_text(request).await {
        Ok(body) => Ok(Ok(body)),
        Err(kube::Error::Api(status)) => Ok(Err(status.code)),
        Err(other) => Err(other.into()),
    }
}

#[tokio::test]
async fn the_hub_serves_its_issuer_discovery_and_keys_to_members_without_credentials()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let hub = &env.fleet.hub;
    let discovery = anonymous_get(hub, "/.well-known/openid-configuration")
        .await?
        .expect("the discovery document is public");
    let discovery: Value = serde_json::from_str(&discovery)?;
    assert_eq!(discovery["issuer"], trust::issuer(roster_testenv::HUB));
    // Derived from the hub's external address (no --service-account-jwks-uri): the URL members
    // reach and the serving certificate covers.
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap_or_default();
    assert_eq!(jwks_uri, format!("{}/openid/v1/jwks", hub.server()));
    let keys = anonymous_get(hub, "/openid/v1/jwks")
        .await?
        .expect("the keys are public");
    let keys: Value = serde_json::from_str(&keys)?;
    assert!(
        !keys["keys"].as_array().unwrap_or(&Vec::new()).is_empty(),
        "{keys}"
    );
    // Nothing else is opened.
    for path in ["/api", "/apis", "/apis/roster.dev/v1alpha1/memberclusters"] {
        assert_eq!(anonymous_get(hub, path).await?.err(), Some(403), "{path}");
    }

    // The test bed applies the component's file; a user's overlay of the component renders
    // the same object.
    let overlay = roster_testenv::binary::workspace_root()
        .join("target")
        .join(format!("issuer-discovery-overlay-{}", env.namespace));
    std::fs::create_dir_all(&overlay)?;
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n\
         - ../../deploy/hub\ncomponents:\n- ../../deploy/components/issuer-discovery\n",
    )?;
    let rendered = roster_testenv::deploy::kustomize(&overlay).await;
    std::fs::remove_dir_all(&overlay)?;
    let binding = serde_json::to_value(trust::issuer_discovery_binding()?)?;
    let name = binding["metadata"]["name"].clone();
    let found: Vec<Value> = rendered?
        .into_iter()
        .filter(|o| o["kind"] == "ClusterRoleBinding" && o["metadata"]["name"] == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the component adds the binding to deploy/hub"
    );
    assert_eq!(found[0]["subjects"], binding["subjects"]);
    assert_eq!(found[0]["roleRef"], binding["roleRef"]);
    Ok(())
}

/// Runs `kubectl-roster --kubeconfig <hub admin> ARGS` to the end.
async fn kubectl_roster(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<Output> {
    let output = tokio::process::Command::new(roster::binary_path("kubectl-roster")?)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    Ok(tokio::time::timeout(TIMEOUT, output).await??)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn join_writes_the_configuration_the_test_beds_members_run() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let dir = env.fleet.dir().join(&env.namespace);
    std::fs::create_dir_all(&dir)?;
    let hub_kubeconfig = env.fleet.hub.kubeconfig_path();
    let name = format!("{}-fed", env.namespace);
    let file = dir.join("authentication-config.yaml");
    let manifest = dir.join("agent.yaml");
    let joined = kubectl_roster(
        &hub_kubeconfig,
        &[
            "join",
            &name,
            "--federation-config",
            &file.display().to_string(),
            "--file",
            &manifest.display().to_string(),
        ],
    )
    .await?;
    let stderr = text(&joined.stderr);
    assert!(joined.status.success(), "join failed: {stderr}");

    // What join wrote is what member-1's API server runs, but for its own audience.
    let written: Value = serde_saphyr::from_str(&std::fs::read_to_string(&file)?)?;
    assert_eq!(
        written["jwt"][0]["issuer"]["audiences"],
        json!([federation::audience(&name)])
    );
    let running = member(&env, "member-1")
        .authentication_config_path()
        .expect("member-1 runs with an authentication configuration");
    let running: Value = serde_saphyr::from_str(&std::fs::read_to_string(running)?)?;
    let mut for_member_1 = written.clone();
    for_member_1["jwt"][0]["issuer"]["audiences"] = json!([federation::audience("member-1")]);
    assert_eq!(for_member_1, running);
    assert!(
        std::fs::read_to_string(&file)?.starts_with("# kube-apiserver --authentication-config"),
        "the file says what it is"
    );
    for part in [
        "--authentication-config=",
        "reloads",
        "--oidc-*",
        &federation::audience(&name),
    ] {
        assert!(stderr.contains(part), "{part:?} missing from:\n{stderr}");
    }
    assert!(
        !stderr.contains("warning:"),
        "the hub publishes its discovery: {stderr}"
    );

    let members: Api<MemberCluster> = Api::all(env.hub.clone());
    // A public issuer (a managed hub's): the issuer URL alone, which the member fetches itself.
    let public = format!("{}-pub", env.namespace);
    let public_file = dir.join("public-issuer.yaml");
    let joined = kubectl_roster(
        &hub_kubeconfig,
        &[
            "join",
            &public,
            "--federation-config",
            &public_file.display().to_string(),
            "--federation-public-issuer",
            "--file",
            &dir.join("public-agent.yaml").display().to_string(),
        ],
    )
    .await?;
    assert!(joined.status.success(), "{}", text(&joined.stderr));
    let written_public: Value = serde_saphyr::from_str(&std::fs::read_to_string(&public_file)?)?;
    assert_eq!(
        written_public["jwt"][0]["issuer"],
        json!({
            "url": written["jwt"][0]["issuer"]["url"],
            "audiences": [federation::audience(&public)],
        })
    );
    assert_eq!(
        written_public["jwt"][0]["claimMappings"],
        written["jwt"][0]["claimMappings"]
    );
    kubectl_roster(&hub_kubeconfig, &["unjoin", &public]).await?;
    let alone = kubectl_roster(
        &hub_kubeconfig,
        &["join", &public, "--federation-public-issuer"],
    )
    .await?;
    let stderr = text(&alone.stderr);
    assert!(!alone.status.success(), "needs --federation-config");
    assert!(stderr.contains("--federation-config"), "{stderr}");
    assert!(
        members
            .get_opt(&public)
            .await?
            .is_none_or(|m| m.metadata.deletion_timestamp.is_some()),
        "no MemberCluster from the refused join"
    );

    // An unwritable file, or a hub whose discovery the caller cannot read: a clear error and no
    // MemberCluster.
    let refused = format!("{}-nofile", env.namespace);
    let missing_dir = dir.join("missing").join("auth.yaml");
    let failed = kubectl_roster(
        &hub_kubeconfig,
        &[
            "join",
            &refused,
            "--federation-config",
            &missing_dir.display().to_string(),
        ],
    )
    .await?;
    let stderr = text(&failed.stderr);
    assert!(!failed.status.success(), "join should fail: {stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert!(
        members.get_opt(&refused).await?.is_none(),
        "no MemberCluster"
    );

    let stranger = dir.join("stranger.kubeconfig");
    std::fs::write(
        &stranger,
        roster_testenv::kubeconfig::to_yaml(&env.fleet.hub.user_kubeconfig("stranger", None)?)?,
    )?;
    let failed = kubectl_roster(
        &stranger,
        &[
            "join",
            &refused,
            "--federation-config",
            &file.display().to_string(),
        ],
    )
    .await?;
    let stderr = text(&failed.stderr);
    assert!(!failed.status.success(), "join should fail: {stderr}");
    for part in ["/.well-known/openid-configuration", "nothing was changed"] {
        assert!(stderr.contains(part), "{part:?} missing from:\n{stderr}");
    }

    kubectl_roster(&hub_kubeconfig, &["unjoin", &name]).await?;
    Ok(())
}

/// The federation verdict in member `name`'s MemberReport once `accept` likes it.
async fn federation_verdict(
    hub: &Client,
    name: &str,
    accept: impl Fn(&roster_api::member_report::FederationTrust) -> bool,
) -> anyhow::Result<roster_api::member_report::FederationTrust> {
    let reports: Api<MemberReport> = Api::namespaced(hub.clone(), &names::member_namespace(name));
    wait::until(&format!("{name}'s federation verdict"), TIMEOUT, || async {
        let report = reports.get_opt(REPORT_NAME).await?;
        Ok(report
            .and_then(|r| r.spec.federation)
            .filter(|verdict| accept(verdict)))
    })
    .await
}

#[tokio::test]
async fn agents_report_whether_their_member_trusts_the_hub() -> anyhow::Result<()> {
    const TRUSTING: &str = "fed-trusting";
    const PLAIN: &str = "fed-plain";
    let dir = std::env::temp_dir().join(format!("roster-trust-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let fleet = Fleet::start_with(
        &dir,
        &[TRUSTING, PLAIN],
        TrustOptions {
            untrusting: &[PLAIN],
        },
    )
    .await?;
    assert!(
        fleet
            .member(PLAIN)
            .and_then(Cluster::authentication_config_path)
            .is_none()
    );
    let (hub, _roster_hub) =
        super::support::roster_on_hub(&fleet, &dir, &["--leader-elect=false".into()]).await?;
    let mut agents = Vec::new();
    for cluster in &fleet.members {
        let name = cluster.name();
        let bootstrap = dir.join(format!("{name}-bootstrap.kubeconfig"));
        join_kubeconfig(&fleet, name, &bootstrap).await?;
        agents.push(roster::spawn_agent(
            cluster,
            &bootstrap,
            &dir.join(format!("{name}-state")),
            free_address()?,
            &["--report-interval=2".into()],
            &dir.join(format!("{name}-agent.log")),
        )?);
    }

    let trusted = federation_verdict(&hub, TRUSTING, |v| v.trusted).await?;
    assert!(
        trusted.message.contains(&federation::audience(TRUSTING)),
        "{}",
        trusted.message
    );
    let refused = federation_verdict(&hub, PLAIN, |_| true).await?;
    assert!(
        !refused.trusted,
        "{PLAIN} has no configuration: {}",
        refused.message
    );
    assert!(refused.message.contains("401"), "{}", refused.message);
    assert!(
        refused.message.contains("--federation-config"),
        "{}",
        refused.message
    );
    drop(agents);
    drop(fleet);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
