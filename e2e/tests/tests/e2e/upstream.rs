//! Interchangeability with the upstream ClusterProfile CRD.

use cluster_inventory::v1alpha1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api,
    api::{ObjectMeta, Patch, PatchParams, PostParams},
};
use roster_testenv::{TestEnv, crds, upstream};
use serde_json::Value;

/// The schema of `version` as JSON, without descriptions (prose differs, structure must not).
fn structure(crd: &CustomResourceDefinition, version: &str) -> Value {
    let schema = crd
        .spec
        .versions
        .iter()
        .find(|v| v.name == version)
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap_or_else(|| panic!("no {version} schema"));
    let mut value = serde_json::to_value(schema).expect("schema serializes");
    strip_descriptions(&mut value);
    value
}

fn strip_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("description");
            map.values_mut().for_each(strip_descriptions);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

#[test]
fn v1alpha1_schema_matches_upstream() {
    let upstream = upstream::cluster_profile_crd().expect("upstream CRD");
    let ours = cluster_inventory::crd::cluster_profiles();
    assert_eq!(ours.spec.group, upstream.spec.group);
    assert_eq!(ours.spec.names.kind, upstream.spec.names.kind);
    assert_eq!(ours.spec.names.plural, upstream.spec.names.plural);
    assert_eq!(ours.spec.names.singular, upstream.spec.names.singular);
    assert_eq!(ours.spec.scope, upstream.spec.scope);
    let mut differences = Vec::new();
    diff(
        "",
        &structure(&ours, "v1alpha1"),
        &structure(&upstream, "v1alpha1"),
        &mut differences,
    );
    assert!(
        differences.is_empty(),
        "v1alpha1 schema differs from upstream:\n{}",
        differences.join("\n")
    );
}

/// Collects the paths where `ours` and `theirs` differ.
fn diff(path: &str, ours: &Value, theirs: &Value, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let child = format!("{path}/{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff(&child, x, y, out),
                    (Some(x), None) => out.push(format!("{child}: only ours has {x}")),
                    (None, Some(y)) => out.push(format!("{child}: only upstream has {y}")),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a != b => out.push(format!("{path}: ours {a} != upstream {b}")),
        _ => {}
    }
}

/// A hub that already has the upstream CRD: Roster's typed v1alpha1 objects are accepted as
/// they are, status included.
#[tokio::test]
async fn roster_objects_work_on_the_upstream_crd() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    // member-2 never gets Roster's CRDs: install upstream's there.
    let cluster = env.fleet.member("member-2").expect("member-2");
    let client = cluster.client().await?;
    crds::install(&client, &[upstream::cluster_profile_crd()?]).await?;
    let ns = roster_testenv::env::create_namespace(&client).await?;

    let api: Api<v1alpha1::ClusterProfile> = Api::namespaced(client, &ns);
    let profile = v1alpha1::ClusterProfile {
        metadata: ObjectMeta {
            name: Some("member-1".into()),
            ..Default::default()
        },
        spec: v1alpha1::ClusterProfileSpec {
            display_name: Some("Member one".into()),
            cluster_manager: v1alpha1::ClusterManager {
                name: "roster".into(),
            },
        },
        status: None,
    };
    api.create(&PostParams::default(), &profile).await?;
    let status = v1alpha1::ClusterProfileStatus {
        access_providers: vec![v1alpha1::AccessProvider {
            name: "roster".into(),
            cluster: Some(v1alpha1::Cluster {
                server: "https://127.0.0.1:6443".into(),
                extensions: vec![v1alpha1::NamedExtension {
                    name: cluster_inventory::names::EXEC_EXTENSION.into(),
                    extension: serde_json::json!({"clusterName": "member-1"}),
                }],
                ..Default::default()
            }),
        }],
        ..Default::default()
    };
    let patch = serde_json::json!({
        "apiVersion": "multicluster.x-k8s.io/v1alpha1",
        "kind": "ClusterProfile",
        "status": status,
    });
    api.patch_status(
        "member-1",
        &PatchParams::apply("roster-e2e"),
        &Patch::Apply(patch),
    )
    .await?;
    let read = api.get("member-1").await?;
    assert_eq!(read.status.unwrap_or_default(), status);
    Ok(())
}
