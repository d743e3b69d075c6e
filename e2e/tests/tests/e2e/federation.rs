//! Federated access on the real control planes: the shared members' API servers trust the hub's
//! service-account issuer (the test bed starts them with the configuration `kubectl roster join
//! --federation-config` writes), the agents report it, and a federated RemoteServiceAccount
//! lets a hub service account act on two members with its own audience-bound hub tokens:
//! exactly what was granted works, anything else is a real 403, the members see the prefixed
//! federated user, no token is stored anywhere by Roster, and deleting the RemoteServiceAccount
//! refuses the very next request. A controller reaches both members through the profiles'
//! `roster-federated` provider with the Rust library and the upstream Go library unchanged.

use std::time::{Duration, Instant};

use cluster_inventory::v1alpha1::ClusterProfile;
use k8s_openapi::api::{
    authentication::v1::SelfSubjectReview,
    core::v1::{ConfigMap, Namespace, Secret},
    rbac::v1::ClusterRoleBinding,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
};
use roster_api::{
    MemberCluster, RemoteServiceAccount, conditions::CONDITION_FEDERATION_TRUSTED, federation,
    names,
};
use roster_testenv::{TestEnv, identity, kubeconfig, wait};
use serde_json::json;

use super::{
    interop::{interop_access, success},
    members,
    remote_access::{create_rsa, diagnostics, status_code, suffix, wait_ready},
};

const MEMBERS: [&str; 2] = ["member-1", "member-2"];
const TIMEOUT: Duration = Duration::from_secs(60);
/// The hub service account that acts on the members.
const ACTOR: &str = "ci-runner";

/// Waits until the hub shows that `member` trusts its issuer.
async fn wait_trusted(env: &TestEnv, member: &str) -> anyhow::Result<()> {
    let api: Api<MemberCluster> = Api::all(env.hub.clone());
    wait::until(
        &format!("{member} FederationTrusted True"),
        TIMEOUT,
        || async {
            let m = api.get(member).await?;
            let trusted = m.status.iter().flat_map(|s| &s.conditions).any(|c| {
                c.type_ == CONDITION_FEDERATION_TRUSTED
                    && c.status == "True"
                    && c.reason == roster_api::conditions::federation::HUB_ISSUER_TRUSTED
            });
            Ok(trusted.then_some(()))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(env)))
}

async fn whoami(client: &Client) -> anyhow::Result<(String, Vec<String>)> {
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    let user = review.status.and_then(|s| s.user_info).unwrap_or_default();
    Ok((
        user.username.unwrap_or_default(),
        user.groups.unwrap_or_default(),
    ))
}

#[tokio::test]
async fn a_federated_remote_service_account_reaches_two_members_as_the_hub_identity()
-> anyhow::Result<()> {
    members::joined().await;
    let env = TestEnv::start().await?;
    for member in MEMBERS {
        wait_trusted(&env, member).await?;
    }
    // The hub service account that will act. On the hub it may only request tokens for itself
    // (what `roster-credential --federated` does for a controller).
    let actor = identity::service_account(&env.namespace, ACTOR)
        .rules([identity::named_rule(
            "",
            &["serviceaccounts/token"],
            &["create"],
            &[ACTOR],
        )])
        .expires_in(3600)
        .create(&env.hub)
        .await?;
    let apps = format!("fed-{}", suffix());
    for member in MEMBERS {
        let client = env.fleet.member(member).unwrap().client().await?;
        let mut ns = Namespace::default();
        ns.metadata.name = Some(apps.clone());
        Api::<Namespace>::all(client)
            .create(&PostParams::default(), &ns)
            .await?;
    }
    create_rsa(
        &env,
        "ci",
        json!({
            "clusters": {"names": MEMBERS},
            "clusterRoles": ["view"],
            "roles": [{"namespace": apps, "clusterRole": "edit"}],
            "federation": {"serviceAccountName": ACTOR},
        }),
    )
    .await?;
    let rsa = wait_ready(&env, "ci", 2).await?;
    for cluster in &rsa.status.as_ref().unwrap().clusters {
        assert_eq!(cluster.member_trusts_hub, Some(true), "{cluster:?}");
        assert_eq!(cluster.token_expiry, None, "no token exists: {cluster:?}");
    }

    let user = federation::federated_user(&env.namespace, ACTOR);
    let mut clients = Vec::new();
    for member in MEMBERS {
        let cluster = env.fleet.member(member).unwrap();
        let token = identity::token_for_audience(
            &env.hub,
            &env.namespace,
            ACTOR,
            &federation::audience(member),
        )
        .await?
        .token;
        let client = identity::client(cluster, &token).await?;
        let (name, groups) = whoami(&client).await?;
        assert_eq!(name, user, "{member} sees the prefixed hub identity");
        assert_eq!(
            groups,
            ["system:authenticated"],
            "no groups beyond every authenticated user's"
        );
        // What was granted works: view everywhere, edit in the apps namespace.
        Api::<Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await?;
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some("made-by-ci".into()),
                ..Default::default()
            },
            ..ConfigMap::default()
        };
        Api::<ConfigMap>::namespaced(client.clone(), &apps)
            .create(&PostParams::default(), &cm)
            .await?;
        // Anything else is a real 403 from the member's authorizer.
        let elsewhere = Api::<ConfigMap>::namespaced(client.clone(), "default")
            .create(&PostParams::default(), &cm)
            .await;
        assert_eq!(
            status_code(elsewhere).await,
            403,
            "{member}: edit outside {apps}"
        );
        let secrets = Api::<Secret>::namespaced(client.clone(), "kube-system")
            .list(&ListParams::default())
            .await;
        assert_eq!(
            status_code(secrets).await,
            403,
            "{member}: view reads no Secrets"
        );
        let escalate = Api::<ClusterRoleBinding>::all(client.clone())
            .create(&PostParams::default(), &ClusterRoleBinding::default())
            .await;
        assert_eq!(status_code(escalate).await, 403, "{member}: no RBAC writes");
        clients.push((member, client));
    }

    // A controller on the hub: the Rust library and the upstream Go library build their clients
    // from the profiles' `roster-federated` provider, with `roster-credential --federated`
    // requesting the controller's own token for each member's audience.
    let dir = env.fleet.dir().join(format!("{}-federated", env.namespace));
    std::fs::create_dir_all(&dir)?;
    let actor_kubeconfig = dir.join("ci-runner.kubeconfig");
    std::fs::write(
        &actor_kubeconfig,
        kubeconfig::to_yaml(&env.fleet.hub.token_kubeconfig(&actor.token))?,
    )?;
    let provider_file = dir.join("provider-file.json");
    std::fs::write(
        &provider_file,
        serde_json::to_string(&json!({"providers": [{
            "name": names::FEDERATED_ACCESS_PROVIDER,
            "execConfig": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": roster_testenv::roster::binary_path("roster-credential")?,
                "args": ["--federated"],
                "env": [{"name": "ROSTER_CREDENTIAL_KUBECONFIG", "value": actor_kubeconfig}],
                "provideClusterInfo": true,
                "interactiveMode": "Never",
            },
        }]}))?,
    )?;
    let builder = cluster_inventory_access::ConfigBuilder::new(
        cluster_inventory_access::ProviderFile::from_path(&provider_file)?,
    );
    let profiles = Api::<ClusterProfile>::namespaced(env.hub.clone(), super::support::INVENTORY);
    for member in MEMBERS {
        let profile = profiles.get(member).await?;
        let client = builder.client_for_v1alpha1(&profile)?;
        assert_eq!(whoami(&client).await?.0, user, "Rust library on {member}");
        let found = Api::<ConfigMap>::namespaced(client.clone(), &apps)
            .list(&ListParams::default())
            .await?;
        assert!(found.items.iter().any(|c| c.name_any() == "made-by-ci"));
        let secrets = Api::<Secret>::namespaced(client, "kube-system")
            .list(&ListParams::default())
            .await;
        assert_eq!(status_code(secrets).await, 403, "Rust library on {member}");
        let args: Vec<String> = [
            "--hub-kubeconfig",
            &env.fleet.hub.kubeconfig_path().display().to_string(),
            "--namespace",
            super::support::INVENTORY,
            "--profile",
            member,
            "--provider-file",
            &provider_file.display().to_string(),
            "--list-namespace",
            &apps,
            "--secrets-namespace",
            "kube-system",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        for run in interop_access(&args).await? {
            let report = success(&run);
            assert_eq!(
                report["execClusterConfig"],
                json!({"clusterName": member, "audience": federation::audience(member)}),
                "{report}"
            );
            let configmaps = report["configMaps"].to_string();
            assert!(
                configmaps.contains("made-by-ci"),
                "Go library on {member}: {report}"
            );
            assert_eq!(
                report["secrets"],
                json!({"namespace": "kube-system", "forbidden": true}),
                "{report}"
            );
        }
    }

    // No token is stored by Roster: no Secret for the account anywhere on the hub, only
    // ConfigMaps without secrets; the grants say nothing of tokens.
    let selector = format!(
        "{}={}",
        names::token_secret::LABEL_REMOTE_SERVICE_ACCOUNT,
        "ci"
    );
    let secrets = Api::<Secret>::all(env.hub.clone())
        .list(&ListParams::default().labels(&selector))
        .await?;
    let owned: Vec<String> = secrets
        .items
        .iter()
        .filter(|s| s.labels().get(names::LABEL_CONSUMER_NAMESPACE) == Some(&env.namespace))
        .map(|s| format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any()))
        .collect();
    assert!(
        owned.is_empty(),
        "Secrets written for a federated account: {owned:?}"
    );
    let config_maps = Api::<ConfigMap>::namespaced(env.hub.clone(), &env.namespace)
        .list(&ListParams::default().labels(&selector))
        .await?;
    assert_eq!(config_maps.items.len(), 2, "one ConfigMap per member");
    for cm in &config_maps.items {
        let data = cm.data.clone().unwrap_or_default();
        let text = serde_json::to_string(&data)?;
        assert!(
            data.contains_key("kubeconfig") && data.contains_key("ca.crt"),
            "{text}"
        );
        assert!(!text.contains("eyJ"), "a JWT in {}: {text}", cm.name_any());
    }
    // Nor any other place Roster writes: statuses, Events, logs.
    let rsa_text = serde_json::to_string(
        &Api::<RemoteServiceAccount>::namespaced(env.hub.clone(), &env.namespace)
            .get("ci")
            .await?,
    )?;
    assert!(!rsa_text.contains("eyJ"), "{rsa_text}");
    let events =
        Api::<k8s_openapi::api::core::v1::Event>::namespaced(env.hub.clone(), &env.namespace)
            .list(&ListParams::default())
            .await?;
    assert!(!serde_json::to_string(&events)?.contains("eyJ"));
    let hub_log = super::support::hub_process().await.spec().log.clone();
    for log in members::joined()
        .await
        .logs
        .iter()
        .chain(std::iter::once(&hub_log))
    {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(!text.contains("eyJhbGci"), "a JWT in {}", log.display());
    }

    // Narrowing: without the role in the apps namespace, writing there is refused.
    let (first, client) = &clients[0];
    let narrowed = Instant::now();
    Api::<RemoteServiceAccount>::namespaced(env.hub.clone(), &env.namespace)
        .patch(
            "ci",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"roles": null}})),
        )
        .await?;
    wait::until(
        &format!("{first} refuses writes in {apps}"),
        TIMEOUT,
        || async {
            let cm = ConfigMap {
                metadata: kube::api::ObjectMeta {
                    generate_name: Some("after-narrowing-".into()),
                    ..Default::default()
                },
                ..ConfigMap::default()
            };
            let answer = Api::<ConfigMap>::namespaced(client.clone(), &apps)
                .create(&PostParams::default(), &cm)
                .await;
            Ok((status_code(answer).await == 403).then_some(()))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(&env)))?;
    println!(
        "federated narrowing: role removed from the RemoteServiceAccount → 403 on {first} after {:.2} s",
        narrowed.elapsed().as_secs_f64()
    );

    // Revocation: deleting the account removes the bindings; the next request is refused.
    let deleted = Instant::now();
    Api::<RemoteServiceAccount>::namespaced(env.hub.clone(), &env.namespace)
        .delete("ci", &DeleteParams::default())
        .await?;
    wait::until(
        &format!("{first} refuses the federated user"),
        TIMEOUT,
        || async {
            let answer = Api::<Namespace>::all(client.clone())
                .list(&ListParams::default())
                .await;
            Ok((status_code(answer).await == 403).then_some(()))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(&env)))?;
    println!(
        "federated revocation: RemoteServiceAccount deleted → 403 on {first} after {:.2} s",
        deleted.elapsed().as_secs_f64()
    );
    Ok(())
}
