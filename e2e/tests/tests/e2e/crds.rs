//! Roster's CRDs on a real API server: valid, upstream-shaped objects are accepted and
//! invalid ones are rejected with a readable message.

use cluster_inventory::v1alpha2;
use kube::{
    Api, Resource,
    api::{ApiResource, DynamicObject, Patch, PatchParams},
    core::GroupVersionKind,
};
use roster_api::{MemberCluster, RemoteServiceAccount};
use roster_testenv::TestEnv;
use serde_json::{Value, json};

use super::support::{accepted, assert_mentions, rejected};

fn profiles(env: &TestEnv, version: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(cluster_inventory::GROUP, version, "ClusterProfile");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "clusterprofiles");
    Api::namespaced_with(env.hub.clone(), &env.namespace, &ar)
}

fn profile(version: &str, name: &str, manager: &str) -> Value {
    json!({
        "apiVersion": format!("multicluster.x-k8s.io/{version}"),
        "kind": "ClusterProfile",
        "metadata": {"name": name, "labels": {"x-k8s.io/cluster-manager": manager}},
        "spec": {"displayName": "A cluster", "clusterManager": {"name": manager}},
    })
}

fn access_provider(server: &str, proxy: Option<&str>) -> Value {
    let mut cluster = json!({
        "server": server,
        "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"clusterName": "c1"}}],
    });
    if let Some(proxy) = proxy {
        cluster["proxy-url"] = json!(proxy);
    }
    json!({"name": "roster", "cluster": cluster})
}

async fn status_rejected(api: &Api<DynamicObject>, name: &str, status: Value) -> String {
    match api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
    {
        Ok(_) => panic!("{name}: an invalid status was accepted"),
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "{s:?}");
            s.message
        }
        Err(e) => panic!("{name}: unexpected error {e:?}"),
    }
}

#[tokio::test]
async fn cluster_profile_accepts_upstream_shaped_objects_in_both_versions() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let v2 = profiles(&env, "v1alpha2");
    let v1 = profiles(&env, "v1alpha1");
    accepted(&v2, profile("v1alpha2", "cp-v2", "roster")).await;
    v2.patch_status(
        "cp-v2",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "version": {"kubernetes": "v1.37.2"},
            "properties": [{"name": "cluster.clusterset.k8s.io", "value": "abc", "lastObservedTime": "2026-01-01T00:00:00Z"}],
            "accessProviders": [access_provider("https://127.0.0.1:6443", Some("socks5://127.0.0.1:1080"))],
            "conditions": [{"type": "ControlPlaneHealthy", "status": "True", "reason": "Healthy", "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        }})),
    )
    .await?;
    // Read back as the typed v1alpha2 object: the extension survives as an opaque object.
    let typed: Api<v1alpha2::ClusterProfile> = Api::namespaced(env.hub.clone(), &env.namespace);
    let cp = typed.get("cp-v2").await?;
    let status = cp.status.expect("status");
    assert_eq!(
        status.access_providers[0].cluster.extensions[0].extension,
        json!({"clusterName": "c1"})
    );
    assert_eq!(
        status.version.and_then(|v| v.kubernetes).as_deref(),
        Some("v1.37.2")
    );

    // v1alpha1 (the storage version) keeps the deprecated credentialProviders.
    accepted(&v1, profile("v1alpha1", "cp-v1", "roster")).await;
    v1.patch_status(
        "cp-v1",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "accessProviders": [access_provider("https://127.0.0.1:6443", None)],
            "credentialProviders": [access_provider("https://127.0.0.1:6443", None)],
        }})),
    )
    .await?;
    let cp = v1.get("cp-v1").await?;
    assert!(
        cp.data["status"]["credentialProviders"].is_array(),
        "{:?}",
        cp.data
    );
    Ok(())
}

#[tokio::test]
async fn cluster_profile_rejects_invalid_objects_with_upstream_messages() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let v2 = profiles(&env, "v1alpha2");

    let msg = rejected(
        &v2,
        profile("v1alpha2", "bad-manager", "not a label value!"),
    )
    .await;
    assert_mentions(
        &msg,
        &[
            "spec.clusterManager.name",
            "must be a valid Kubernetes label value",
        ],
    );

    let mut no_manager = profile("v1alpha2", "no-manager", "roster");
    no_manager["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("clusterManager");
    let msg = rejected(&v2, no_manager).await;
    assert_mentions(&msg, &["spec.clusterManager", "Required value"]);

    accepted(&v2, profile("v1alpha2", "cp", "roster")).await;
    let msg = status_rejected(
        &v2,
        "cp",
        json!({"accessProviders": [access_provider("not a url", None)]}),
    )
    .await;
    assert_mentions(&msg, &["server must be a valid absolute URL with a host"]);
    let msg = status_rejected(
        &v2,
        "cp",
        json!({"accessProviders": [access_provider("https://a.example", Some("ftp://proxy.example"))]}),
    )
    .await;
    assert_mentions(
        &msg,
        &["proxy-url must be a valid URL with scheme http, https, or socks5 and a host"],
    );
    let long = "x".repeat(1025);
    let msg = status_rejected(
        &v2,
        "cp",
        json!({"properties": [{"name": "p", "value": long}]}),
    )
    .await;
    assert_mentions(&msg, &["status.properties[0].value", "1024"]);
    let providers: Vec<Value> = (0..65)
        .map(|i| json!({"name": format!("p{i}"), "cluster": {"server": "https://a.example"}}))
        .collect();
    let msg = status_rejected(&v2, "cp", json!({"accessProviders": providers})).await;
    assert_mentions(&msg, &["status.accessProviders", "64"]);
    let msg = status_rejected(
        &v2,
        "cp",
        json!({"properties": [{"name": "p", "value": "1"}, {"name": "p", "value": "2"}]}),
    )
    .await;
    assert_mentions(&msg, &["Duplicate value"]);

    // The cluster manager cannot be changed once set.
    let err = v2
        .patch(
            "cp",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"clusterManager": {"name": "other"}}})),
        )
        .await
        .expect_err("clusterManager is immutable");
    assert_mentions(&err.to_string(), &["ClusterManager is immutable"]);
    Ok(())
}

fn member_clusters(env: &TestEnv) -> Api<DynamicObject> {
    Api::all_with(env.hub.clone(), &ApiResource::erase::<MemberCluster>(&()))
}

fn member(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": MemberCluster::api_version(&()),
        "kind": "MemberCluster",
        "metadata": {"name": name},
        "spec": spec,
    })
}

#[tokio::test]
async fn member_cluster_validation() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let api = member_clusters(&env);
    // Names are unique per test: MemberCluster is cluster-scoped.
    let n = |s: &str| format!("{}-{s}", env.namespace);

    let created = accepted(
        &api,
        member(
            &n("ok"),
            json!({
                "displayName": "Member one",
                "properties": [{"name": "topology.kubernetes.io/region", "value": "eu-west-1"}],
                "apiServer": {"server": "https://member-1.example.com:6443", "caData": "LS0tLS0K"},
                "heartbeat": {"periodSeconds": 10, "graceSeconds": 40},
            }),
        ),
    )
    .await;
    assert_eq!(created.data["spec"]["heartbeat"]["graceSeconds"], 40);

    // Defaults fill what is left out.
    let defaulted = accepted(&api, member(&n("defaults"), json!({"heartbeat": {}}))).await;
    assert_eq!(
        defaulted.data["spec"]["heartbeat"],
        json!({"periodSeconds": 10, "graceSeconds": 40})
    );

    let cases = [
        (
            "flappy",
            json!({"heartbeat": {"periodSeconds": 30, "graceSeconds": 40}}),
            "graceSeconds must be at least twice periodSeconds",
        ),
        (
            "plain-http",
            json!({"apiServer": {"server": "http://member.example.com"}}),
            "server must be an https:// URL with a host",
        ),
        (
            "id-override",
            json!({"properties": [{"name": "cluster.clusterset.k8s.io", "value": "x"}]}),
            "cluster.clusterset.k8s.io is the cluster id the agent reports",
        ),
        (
            "empty-value",
            json!({"properties": [{"name": "a", "value": ""}]}),
            "spec.properties[0].value",
        ),
        (
            "zero-period",
            json!({"heartbeat": {"periodSeconds": 0}}),
            "spec.heartbeat.periodSeconds",
        ),
    ];
    for (name, spec, expected) in cases {
        let msg = rejected(&api, member(&n(name), spec)).await;
        assert_mentions(&msg, &[expected]);
    }
    Ok(())
}

fn rsa(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": RemoteServiceAccount::api_version(&()),
        "kind": "RemoteServiceAccount",
        "metadata": {"name": name},
        "spec": spec,
    })
}

#[tokio::test]
async fn remote_service_account_validation() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    // What the schema refuses, not what a policy would.
    roster_testenv::policy::allow_everything(&env.hub, &env.namespace).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(
        env.hub.clone(),
        &env.namespace,
        &ApiResource::erase::<RemoteServiceAccount>(&()),
    );

    let created = accepted(
        &api,
        rsa(
            "deployer",
            json!({
                "clusters": {"names": ["member-1", "member-2"]},
                "serviceAccount": {"namespace": "roster-remote", "name": "team-a-deployer"},
                "clusterRoles": ["view"],
                "roles": [{"namespace": "apps", "clusterRole": "edit"}],
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
                "token": {"audiences": []},
            }),
        ),
    )
    .await;
    assert_eq!(
        created.data["spec"]["token"]["expirationSeconds"], 3600,
        "default lifetime"
    );
    accepted(
        &api,
        rsa(
            "by-selector",
            json!({"clusters": {"selector": {"matchLabels": {"env": "prod"}}}}),
        ),
    )
    .await;

    let cases = [
        (
            "both",
            json!({"clusters": {"names": ["a"], "selector": {}}}),
            "exactly one of clusters.names or clusters.selector must be set",
        ),
        (
            "neither",
            json!({"clusters": {}}),
            "exactly one of clusters.names or clusters.selector must be set",
        ),
        (
            "short-token",
            json!({"clusters": {"names": ["a"]}, "token": {"expirationSeconds": 300}}),
            "spec.token.expirationSeconds",
        ),
        (
            "bad-label",
            json!({"clusters": {"selector": {"matchLabels": {"env": "not valid!"}}}}),
            "selector.matchLabels values must be valid label values",
        ),
        (
            "bad-operator",
            json!({"clusters": {"selector": {"matchExpressions": [{"key": "env", "operator": "Maybe"}]}}}),
            "operator must be In, NotIn, Exists or DoesNotExist",
        ),
        (
            "bad-namespace",
            json!({"clusters": {"names": ["a"]}, "serviceAccount": {"namespace": "Not_A_Namespace"}}),
            "namespace must be a valid namespace name",
        ),
        (
            "bad-cluster-name",
            json!({"clusters": {"names": ["UPPER"]}}),
            "each cluster name must be a valid MemberCluster name",
        ),
        (
            "federated-with-member-account",
            json!({"clusters": {"names": ["a"]}, "federation": {},
                   "serviceAccount": {"name": "x"}}),
            "set spec.federation or spec.serviceAccount, not both",
        ),
        (
            "federated-with-audiences",
            json!({"clusters": {"names": ["a"]}, "federation": {},
                   "token": {"audiences": ["vault"]}}),
            "spec.token.audiences cannot be set with spec.federation",
        ),
        (
            "federated-bad-account",
            json!({"clusters": {"names": ["a"]},
                   "federation": {"serviceAccountName": "Not An Account"}}),
            "serviceAccountName must be a valid service account name",
        ),
    ];
    for (name, spec, expected) in cases {
        let msg = rejected(&api, rsa(name, spec)).await;
        assert_mentions(&msg, &[expected]);
    }

    // The member-side identity cannot be changed under the tokens already issued for it.
    let err = api
        .patch(
            "deployer",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"serviceAccount": {"name": "someone-else"}}})),
        )
        .await
        .expect_err("serviceAccount is immutable");
    assert_mentions(&err.to_string(), &["spec.serviceAccount is immutable"]);

    // Whose identity acts on the members cannot change either, in either direction.
    accepted(
        &api,
        rsa(
            "federated",
            json!({"clusters": {"names": ["member-1"]}, "federation": {"serviceAccountName": "ci"},
                   "token": {"expirationSeconds": 1200}}),
        ),
    )
    .await;
    for (name, patch) in [
        (
            "federated",
            json!({"spec": {"federation": {"serviceAccountName": "other"}}}),
        ),
        ("federated", json!({"spec": {"federation": null}})),
        ("by-selector", json!({"spec": {"federation": {}}})),
    ] {
        let err = api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect_err("federation is immutable");
        assert_mentions(&err.to_string(), &["spec.federation is immutable"]);
    }
    Ok(())
}
