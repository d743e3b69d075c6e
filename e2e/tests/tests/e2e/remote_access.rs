//! RemoteServiceAccounts end to end on the real control planes: the shared `roster-hub`, real
//! agents on both members (see `members`), real TokenRequest tokens, real RBAC decisions on the
//! members and the hub.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use roster_api::{
    MemberCluster, RemoteAccountGrant, RemoteServiceAccount,
    names::{self, token_secret},
};
use roster_testenv::{TestEnv, identity, kubeconfig, secret::text, wait};
use serde_json::json;

use super::{members, support};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Lifetime of the hub tokens the tests mint for their own identities (the API server's
/// default).
const TOKEN_SECONDS: i64 = 3600;

pub(super) fn suffix() -> String {
    format!("{:x}", std::process::id() ^ rand_ish())
}

fn rand_ish() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// What failed waits print: the hub's and the agents' last log lines.
pub(super) fn diagnostics(env: &TestEnv) -> String {
    format!(
        "{}\n{}",
        support::hub_diagnostics(env),
        members::diagnostics()
    )
}

/// Creates the RemoteServiceAccount `name` in the test's namespace, which a RemoteAccessPolicy
/// lets have anything (these tests are not about policies; `policy.rs` is).
pub(super) async fn create_rsa(
    env: &TestEnv,
    name: &str,
    spec: serde_json::Value,
) -> anyhow::Result<()> {
    roster_testenv::policy::allow_everything(&env.hub, &env.namespace).await?;
    let api: Api<RemoteServiceAccount> = Api::namespaced(env.hub.clone(), &env.namespace);
    let rsa: RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1",
        "kind": "RemoteServiceAccount",
        "metadata": {"name": name},
        "spec": spec,
    }))?;
    api.create(&PostParams::default(), &rsa).await?;
    Ok(())
}

/// Waits until `name` is Ready with `clusters` ready clusters.
pub(super) async fn wait_ready(
    env: &TestEnv,
    name: &str,
    clusters: i32,
) -> anyhow::Result<RemoteServiceAccount> {
    let api: Api<RemoteServiceAccount> = Api::namespaced(env.hub.clone(), &env.namespace);
    let result = wait::until(
        &format!("{name} Ready on {clusters} clusters"),
        TIMEOUT,
        || async {
            let rsa = api.get(name).await?;
            let status = rsa.status.clone().unwrap_or_default();
            let ready = status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            Ok((ready && status.ready_clusters == Some(clusters)).then_some(rsa))
        },
    )
    .await;
    match result {
        Ok(rsa) => Ok(rsa),
        Err(e) => {
            let rsa = api.get(name).await?;
            anyhow::bail!("{e}\nstatus: {:?}\n{}", rsa.status, diagnostics(env))
        }
    }
}

pub(super) async fn token_secret(
    env: &TestEnv,
    rsa: &str,
    cluster: &str,
) -> anyhow::Result<Secret> {
    Ok(Api::<Secret>::namespaced(env.hub.clone(), &env.namespace)
        .get(&names::token_secret_name(rsa, cluster))
        .await?)
}

/// A client of the member named in `secret`, with the token it holds: what a consumer does.
pub(super) async fn consumer_client(secret: &Secret) -> anyhow::Result<Client> {
    let config = kubeconfig::token_kubeconfig(
        "member",
        &text(secret, token_secret::SERVER),
        &text(secret, token_secret::CA),
        &text(secret, token_secret::TOKEN),
    );
    Ok(Client::try_from(kubeconfig::to_config(config).await?)?)
}

pub(super) async fn status_code<T>(result: kube::Result<T>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

pub(super) async fn create_member_namespace(member: &Client, name: &str) -> anyhow::Result<()> {
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.to_owned());
    Api::<Namespace>::all(member.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_remote_service_account_gets_exactly_what_was_granted_on_two_members()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    members::joined().await;
    let apps = format!("apps-{}", suffix());
    for member in roster_testenv::MEMBERS {
        let client = env.member(member).await?;
        create_member_namespace(&client, &apps).await?;
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(format!("on-{member}"));
        Api::<ConfigMap>::namespaced(client, &apps)
            .create(&PostParams::default(), &cm)
            .await?;
    }
    create_rsa(
        &env,
        "deployer",
        json!({
            "clusters": {"names": roster_testenv::MEMBERS},
            "roles": [{"namespace": apps, "clusterRole": "view"}],
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]}],
        }),
    )
    .await?;
    let created = std::time::Instant::now();
    let rsa = wait_ready(&env, "deployer", 2).await?;
    eprintln!(
        "measured: RemoteServiceAccount Ready on 2 members {:?} after creation",
        created.elapsed()
    );
    let status = rsa.status.unwrap_or_default();
    assert_eq!(status.clusters.len(), 2);
    for c in &status.clusters {
        assert!(
            c.ready && c.token_expiry.is_some() && c.last_refresh.is_some(),
            "{c:?}"
        );
    }

    let mut tokens = Vec::new();
    for member in roster_testenv::MEMBERS {
        let secret = token_secret(&env, "deployer", member).await?;
        assert_eq!(secret.type_.as_deref(), Some(token_secret::TYPE));
        let cluster = env.fleet.member(member).unwrap();
        assert_eq!(text(&secret, token_secret::SERVER), cluster.server());
        assert_eq!(text(&secret, token_secret::CA), cluster.ca_pem());
        assert_eq!(
            text(&secret, token_secret::NAMESPACE),
            names::DEFAULT_REMOTE_NAMESPACE
        );
        assert!(text(&secret, token_secret::KUBECONFIG).contains("tokenFile"));
        let expiry = text(&secret, token_secret::EXPIRATION);
        assert!(expiry.ends_with('Z'), "{expiry}");
        tokens.push(text(&secret, token_secret::TOKEN));

        // Exactly what was granted: read in `apps` and list namespaces; nothing else.
        let consumer = consumer_client(&secret).await?;
        let cms = Api::<ConfigMap>::namespaced(consumer.clone(), &apps)
            .list(&ListParams::default())
            .await?;
        let names: Vec<_> = cms
            .items
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect();
        assert!(names.contains(&format!("on-{member}")), "{names:?}");
        Api::<Namespace>::all(consumer.clone())
            .list(&ListParams::default())
            .await?;
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("not-allowed".into());
        let create = Api::<ConfigMap>::namespaced(consumer.clone(), &apps)
            .create(&PostParams::default(), &cm)
            .await;
        assert_eq!(
            status_code(create).await,
            403,
            "view must not create on {member}"
        );
        let secrets = Api::<Secret>::namespaced(consumer.clone(), "kube-system")
            .list(&ListParams::default())
            .await;
        assert_eq!(status_code(secrets).await, 403, "no secrets on {member}");
        let user = support::username(&consumer).await?;
        assert_eq!(
            user,
            format!(
                "system:serviceaccount:{}:{}-deployer",
                names::DEFAULT_REMOTE_NAMESPACE,
                env.namespace
            )
        );
    }

    // Another namespace cannot read the tokens: a real RBAC denial on the hub.
    let other = roster_testenv::env::create_namespace(&env.hub).await?;
    let (reader, _) = secret_reader(&env, &other).await?;
    let denied = Api::<Secret>::namespaced(reader.clone(), &env.namespace)
        .get(&names::token_secret_name("deployer", "member-1"))
        .await;
    assert_eq!(status_code(denied).await, 403);
    Api::<Secret>::namespaced(reader, &other)
        .list(&ListParams::default())
        .await?;
    // Nor can another member's agent read this member's delivery Secret.
    let member_2_agent = agent_client(&env, "member-2").await?;
    let grant = names::grant_name(&env.namespace, "deployer");
    let denied = Api::<Secret>::namespaced(member_2_agent, &names::member_namespace("member-1"))
        .get(&grant)
        .await;
    assert_eq!(status_code(denied).await, 403);

    // No token in any ClusterProfile, MemberCluster, RemoteServiceAccount, grant, Event or log.
    let mut published = String::new();
    let all = ListParams::default();
    published += &serde_json::to_string(
        &Api::<cluster_inventory::v1alpha1::ClusterProfile>::all(env.hub.clone())
            .list(&all)
            .await?
            .items,
    )?;
    published += &serde_json::to_string(
        &Api::<MemberCluster>::all(env.hub.clone())
            .list(&all)
            .await?
            .items,
    )?;
    published += &serde_json::to_string(
        &Api::<RemoteServiceAccount>::all(env.hub.clone())
            .list(&all)
            .await?
            .items,
    )?;
    published += &serde_json::to_string(
        &Api::<RemoteAccountGrant>::all(env.hub.clone())
            .list(&all)
            .await?
            .items,
    )?;
    published += &serde_json::to_string(
        &Api::<k8s_openapi::api::core::v1::Event>::all(env.hub.clone())
            .list(&all)
            .await?
            .items,
    )?;
    published +=
        &std::fs::read_to_string(env.fleet.dir().join("roster-hub.log")).unwrap_or_default();
    for log in &members::joined().await.logs {
        published += &std::fs::read_to_string(log).unwrap_or_default();
    }
    for token in &tokens {
        assert!(!token.is_empty());
        assert!(
            !published.contains(token.as_str()),
            "a token leaked into an object or a log"
        );
    }
    Ok(())
}

/// A client for a service account of `namespace` that may read Secrets there (and only there),
/// and its token.
async fn secret_reader(env: &TestEnv, namespace: &str) -> anyhow::Result<(Client, String)> {
    let reader = identity::service_account(namespace, "reader")
        .role_name("read-secrets")
        .rules([identity::rule("", &["secrets"], &["get", "list"])])
        .expires_in(TOKEN_SECONDS)
        .create(&env.hub)
        .await?;
    Ok((reader.client(&env.fleet.hub).await?, reader.token))
}

/// A member agent's own hub identity.
async fn agent_client(env: &TestEnv, member: &str) -> anyhow::Result<Client> {
    let namespace = names::member_namespace(member);
    let agent = names::AGENT_SERVICE_ACCOUNT;
    let token = identity::token(&env.hub, &namespace, agent, TOKEN_SECONDS).await?;
    token.client(&env.fleet.hub).await
}

/// The HTTP status `member` answers a request made with the token in `secret`.
async fn answer(client: &Client) -> u16 {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await;
    status_code(review).await
}

/// Waits until the token in `secret` is refused (401) by its member's API server.
async fn wait_refused(env: &TestEnv, secret: &Secret, what: &str) -> anyhow::Result<()> {
    let client = consumer_client(secret).await?;
    wait::until(what, TIMEOUT, || async {
        Ok((answer(&client).await == 401).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(env)))
}

/// A client of `cluster` built the way a Rust consumer builds one: the ClusterProfile from the
/// inventory, a provider file naming `roster-credential`, `cluster_inventory::access`.
async fn library_client(env: &TestEnv, rsa: &str, cluster: &str) -> anyhow::Result<Client> {
    let (_, token) = secret_reader(env, &env.namespace).await?;
    build_library_client(env, rsa, cluster, &token).await
}

/// Another library client for `cluster`, reusing the reader created by [`library_client`].
async fn library_client_again(env: &TestEnv, rsa: &str, cluster: &str) -> anyhow::Result<Client> {
    let reader = identity::token(&env.hub, &env.namespace, "reader", TOKEN_SECONDS).await?;
    build_library_client(env, rsa, cluster, &reader.token).await
}

async fn build_library_client(
    env: &TestEnv,
    rsa: &str,
    cluster: &str,
    reader_token: &str,
) -> anyhow::Result<Client> {
    use cluster_inventory_access::{ConfigBuilder, ProviderFile};
    let dir = env.fleet.dir().join(format!("{}-{rsa}", env.namespace));
    std::fs::create_dir_all(&dir)?;
    let reader_kubeconfig = dir.join(format!("reader-{}.kubeconfig", suffix()));
    std::fs::write(
        &reader_kubeconfig,
        kubeconfig::to_yaml(&env.fleet.hub.token_kubeconfig(reader_token))?,
    )?;
    let provider_file = ProviderFile::from_json(&serde_json::to_string(&json!({"providers": [{
        "name": "roster",
        "execConfig": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": roster_testenv::roster::binary_path("roster-credential")?,
            "args": ["--remote-service-account", rsa],
            "env": [
                {"name": "POD_NAMESPACE", "value": env.namespace},
                {"name": "ROSTER_CREDENTIAL_KUBECONFIG", "value": reader_kubeconfig},
            ],
            "provideClusterInfo": true,
            "interactiveMode": "Never",
        },
    }]}))?)?;
    let registry = prometheus::Registry::new();
    let builder = ConfigBuilder::new(provider_file).with_metrics(&registry)?;
    let profile = Api::<cluster_inventory::v1alpha1::ClusterProfile>::namespaced(
        env.hub.clone(),
        support::INVENTORY,
    )
    .get(cluster)
    .await?;
    let client = builder.client_for_v1alpha1(&profile)?;
    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather())?;
    assert!(
        text.contains(
            r#"cluster_inventory_access_config_builds_total{provider="roster",result="ok"} 1"#
        ),
        "{text}"
    );
    Ok(client)
}

#[tokio::test]
async fn tokens_rotate_before_expiry_and_die_with_revocation() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    members::joined().await;
    create_rsa(
        &env,
        "rotor",
        json!({
            "clusters": {"names": roster_testenv::MEMBERS},
            "clusterRoles": ["view"],
            "token": {"expirationSeconds": 600},
        }),
    )
    .await?;
    let first = wait_ready(&env, "rotor", 2).await?;
    let before = token_secret(&env, "rotor", "member-1").await?;
    // A consumer's client, built by the access library from member-1's ClusterProfile, with
    // roster-credential as the provider, reading Secrets as a service account of this namespace.
    let library_client = library_client(&env, "rotor", "member-1").await?;
    let expected_user = format!(
        "system:serviceaccount:{}:{}-rotor",
        names::DEFAULT_REMOTE_NAMESPACE,
        env.namespace
    );
    assert_eq!(support::username(&library_client).await?, expected_user);
    let old_token = text(&before, token_secret::TOKEN);
    let old_expiry = text(&before, token_secret::EXPIRATION);

    // The agents refresh at 2% of the 600 s life: a new token arrives within seconds, well
    // before the old one expires, and the status follows.
    let waiting = std::time::Instant::now();
    let after = wait::until("a refreshed token for member-1", TIMEOUT, || async {
        let s = token_secret(&env, "rotor", "member-1").await?;
        Ok((text(&s, token_secret::TOKEN) != old_token).then_some(s))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(&env)))?;
    eprintln!(
        "measured: refreshed token in the Secret {:?} after the first (600 s token, fraction 0.02)",
        waiting.elapsed()
    );
    assert!(text(&after, token_secret::EXPIRATION) >= old_expiry);
    let first_refresh = first.status.as_ref().unwrap().clusters[0]
        .last_refresh
        .clone();
    let api: Api<RemoteServiceAccount> = Api::namespaced(env.hub.clone(), &env.namespace);
    wait::until("the status to show the refresh", TIMEOUT, || async {
        let rsa = api.get("rotor").await?;
        let c = rsa.status.unwrap_or_default().clusters;
        Ok((c.first().and_then(|c| c.last_refresh.clone()) > first_refresh).then_some(()))
    })
    .await?;
    // Both tokens work: rotation is not revocation. The library's client keeps working, and a
    // new one built now gets the new token.
    for secret in [&before, &after] {
        support::username(&consumer_client(secret).await?).await?;
    }
    assert_eq!(support::username(&library_client).await?, expected_user);
    let rebuilt = library_client_again(&env, "rotor", "member-1").await?;
    assert_eq!(support::username(&rebuilt).await?, expected_user);

    // A cluster leaving the selection: its Secret goes and its tokens die on the member.
    let member_2 = token_secret(&env, "rotor", "member-2").await?;
    api.patch(
        "rotor",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"clusters": {"names": ["member-1"]}}})),
    )
    .await?;
    let secrets: Api<Secret> = Api::namespaced(env.hub.clone(), &env.namespace);
    wait::until("the member-2 Secret to go", TIMEOUT, || async {
        Ok(secrets
            .get_opt("rotor-member-2")
            .await?
            .is_none()
            .then_some(()))
    })
    .await?;
    wait_refused(
        &env,
        &member_2,
        "member-2 to refuse the token of a deselected cluster",
    )
    .await?;
    support::username(&consumer_client(&after).await?).await?;

    // Deleting the RemoteServiceAccount revokes: the Secret goes, the member refuses the token.
    api.delete("rotor", &DeleteParams::default()).await?;
    let deleted = std::time::Instant::now();
    wait::until(
        "the RemoteServiceAccount and its Secrets to go",
        TIMEOUT,
        || async {
            let gone = api.get_opt("rotor").await?.is_none()
                && secrets.get_opt("rotor-member-1").await?.is_none();
            Ok(gone.then_some(()))
        },
    )
    .await?;
    wait_refused(
        &env,
        &after,
        "member-1 to refuse the token of a deleted RemoteServiceAccount",
    )
    .await?;
    eprintln!(
        "measured: token refused by the member {:?} after the RemoteServiceAccount was deleted",
        deleted.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn conflicts_and_bad_selections_are_reported_not_served() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    members::joined().await;
    let shared = format!("shared-{}", suffix());
    create_rsa(
        &env,
        "first",
        json!({"clusters": {"names": ["member-1"]}, "serviceAccount": {"name": shared}}),
    )
    .await?;
    wait_ready(&env, "first", 1).await?;
    // Another namespace asking for the same member service account is refused, naming who has it.
    let other = TestEnv::start().await?;
    create_rsa(
        &other,
        "second",
        json!({"clusters": {"names": ["member-1"]}, "serviceAccount": {"name": shared}}),
    )
    .await?;
    let api: Api<RemoteServiceAccount> = Api::namespaced(other.hub.clone(), &other.namespace);
    let message = wait::until("second to report the conflict", TIMEOUT, || async {
        let rsa = api.get("second").await?;
        let c = rsa.status.unwrap_or_default().clusters;
        Ok(c.first()
            .and_then(|c| c.message.clone())
            .filter(|m| m.contains("already belongs")))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(&env)))?;
    support::assert_mentions(&message, &[&format!("{}/first", env.namespace), &shared]);
    assert!(
        Api::<Secret>::namespaced(other.hub.clone(), &other.namespace)
            .get_opt("second-member-1")
            .await?
            .is_none()
    );

    // A selector with an invalid label key, and a cluster that does not exist.
    create_rsa(
        &env,
        "bad-selector",
        json!({"clusters": {"selector": {"matchLabels": {"not a key": "x"}}}}),
    )
    .await?;
    create_rsa(
        &env,
        "nowhere",
        json!({"clusters": {"names": ["no-such-member"]}}),
    )
    .await?;
    let api: Api<RemoteServiceAccount> = Api::namespaced(env.hub.clone(), &env.namespace);
    for (name, reason, text) in [
        ("bad-selector", "InvalidSelector", "\"not a key\""),
        (
            "nowhere",
            "TokensPending",
            "MemberCluster no-such-member does not exist",
        ),
    ] {
        let condition = wait::until(&format!("{name} to be {reason}"), TIMEOUT, || async {
            let rsa = api.get(name).await?;
            Ok(rsa
                .status
                .unwrap_or_default()
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready" && c.reason == reason))
        })
        .await?;
        assert_eq!(condition.status, "False");
        support::assert_mentions(&condition.message, &[text]);
    }

    // A name too long for the Secrets and labels it becomes is refused by the API server.
    let long = "n".repeat(64);
    let refused = create_rsa(&env, &long, json!({"clusters": {"names": ["member-1"]}})).await;
    let message = format!("{:#}", refused.expect_err("a 64-character name is refused"));
    support::assert_mentions(&message, &["at most 63 characters"]);

    // A selector follows MemberCluster labels: every joined member.
    create_rsa(
        &env,
        "everyone",
        json!({"clusters": {"selector": {"matchLabels": {members::LABEL.0: members::LABEL.1}}}}),
    )
    .await?;
    wait_ready(&env, "everyone", 2).await?;
    Ok(())
}
