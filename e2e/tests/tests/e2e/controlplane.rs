//! The test bed itself behaves like a real cluster: RBAC, TokenRequest, namespace deletion
//! and garbage collection all work.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::{
    Api,
    api::{DeleteParams, ObjectMeta, PostParams},
};
use roster_testenv::{TestEnv, identity, wait};

const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn token_request_token_is_accepted_and_rbac_denies_what_was_not_granted() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    let reader = identity::service_account(&env.namespace, "reader")
        .create(&env.hub)
        .await?;
    assert!(!reader.token.is_empty(), "TokenRequest returned no token");

    let as_sa = reader.client(&env.fleet.hub).await?;
    // Authenticated: the API server resolves the token to the service account.
    let version = as_sa.apiserver_version().await?;
    assert_eq!(version.major, "1");

    // Authorized for nothing: RBAC denies listing config maps in its own namespace.
    let err = Api::<ConfigMap>::namespaced(as_sa, &env.namespace)
        .list(&Default::default())
        .await
        .expect_err("a service account without bindings must be forbidden");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status
                    .message
                    .contains(&format!("system:serviceaccount:{}:reader", env.namespace)),
                "denial names the service account: {}",
                status.message
            );
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn namespace_deletion_completes() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let ns = roster_testenv::env::create_namespace(&env.hub).await?;
    let mut doomed = ServiceAccount::default();
    doomed.metadata.name = Some("doomed".into());
    Api::<ServiceAccount>::namespaced(env.hub.clone(), &ns)
        .create(&PostParams::default(), &doomed)
        .await?;
    let namespaces: Api<Namespace> = Api::all(env.hub.clone());
    namespaces.delete(&ns, &DeleteParams::default()).await?;
    wait::until("namespace deleted", TIMEOUT, || {
        let namespaces = namespaces.clone();
        let ns = ns.clone();
        async move { Ok(namespaces.get_opt(&ns).await?.is_none().then_some(())) }
    })
    .await
}

#[tokio::test]
async fn owned_objects_are_garbage_collected() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let cms: Api<ConfigMap> = Api::namespaced(env.hub.clone(), &env.namespace);
    let owner = cms
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("owner".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
    let owner_ref = k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "owner".into(),
        uid: owner.metadata.uid.clone().unwrap_or_default(),
        ..Default::default()
    };
    cms.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: ObjectMeta {
                name: Some("owned".into()),
                owner_references: Some(vec![owner_ref]),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await?;
    cms.delete("owner", &DeleteParams::default()).await?;
    wait::until("owned config map collected", TIMEOUT, || {
        let cms = cms.clone();
        async move { Ok(cms.get_opt("owned").await?.is_none().then_some(())) }
    })
    .await
}

#[tokio::test]
async fn every_cluster_has_its_own_identity() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let mut servers = Vec::new();
    for cluster in env.fleet.clusters() {
        let client = cluster.client().await?;
        let ns: Namespace = Api::all(client).get("kube-system").await?;
        servers.push((
            cluster.server().to_owned(),
            ns.metadata.uid.unwrap_or_default(),
        ));
    }
    servers.sort();
    servers.dedup_by(|a, b| a.1 == b.1);
    assert_eq!(
        servers.len(),
        3,
        "hub and two members have distinct kube-system namespaces"
    );
    Ok(())
}
