//! ClusterProfile documents shaped like upstream's examples survive a round trip through the
//! typed structs, and unset optional fields are omitted, never sent as null.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cluster_inventory::{names, v1alpha1, v1alpha2};
use serde_json::{Value, json};

#[path = "support/json.rs"]
mod json;
use json::{assert_no_nulls, round_trip};

/// base64 of "-----BEGIN CERTIFICATE-----\n".
const CA_B64: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==";
const CA_PEM: &[u8] = b"-----BEGIN CERTIFICATE-----\n";
const TIME: &str = "2026-01-01T00:00:00Z";

fn access_provider() -> Value {
    json!({
        "name": "roster",
        "cluster": {
            "server": "https://member-1.example.com:6443",
            "certificate-authority-data": CA_B64,
            "tls-server-name": "member-1.internal",
            "insecure-skip-tls-verify": false,
            "proxy-url": "socks5://proxy.example.com:1080",
            "disable-compression": true,
            "extensions": [{
                "name": "client.authentication.k8s.io/exec",
                "extension": {"clusterName": "member-1"}
            }]
        }
    })
}

fn profile(version: &str) -> Value {
    let mut status = json!({
        "conditions": [{
            "type": "ControlPlaneHealthy",
            "status": "True",
            "reason": "Healthy",
            "message": "the API server is ready",
            "lastTransitionTime": TIME,
            "observedGeneration": 3
        }],
        "version": {"kubernetes": "v1.37.2"},
        "properties": [{
            "name": "cluster.clusterset.k8s.io",
            "value": "0b7e7a4e-2d1f-4c4b-9b5e-0f6d2c1a9e10",
            "lastObservedTime": TIME
        }],
        "accessProviders": [access_provider()]
    });
    if version == "v1alpha1" {
        status["credentialProviders"] = json!([access_provider()]);
    }
    json!({
        "apiVersion": format!("multicluster.x-k8s.io/{version}"),
        "kind": "ClusterProfile",
        "metadata": {
            "name": "member-1",
            "namespace": "cluster-inventory",
            "labels": {
                "x-k8s.io/cluster-manager": "roster",
                "multicluster.x-k8s.io/inventory-member-id": "0b7e7a4e-2d1f-4c4b-9b5e-0f6d2c1a9e10"
            }
        },
        "spec": {"displayName": "Member one", "clusterManager": {"name": "roster"}},
        "status": status
    })
}

fn labels(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (&str, &str) {
    let labels = meta.labels.as_ref().expect("labels");
    (
        labels[names::LABEL_CLUSTER_MANAGER].as_str(),
        labels[names::LABEL_INVENTORY_MEMBER_ID].as_str(),
    )
}

#[test]
fn v1alpha2_round_trips_with_typed_fields() {
    let cp: v1alpha2::ClusterProfile = round_trip(&profile("v1alpha2"));
    assert_eq!(
        labels(&cp.metadata),
        ("roster", "0b7e7a4e-2d1f-4c4b-9b5e-0f6d2c1a9e10")
    );
    assert_eq!(cp.spec.display_name.as_deref(), Some("Member one"));
    assert_eq!(cp.spec.cluster_manager.name, "roster");
    let status = cp.status.expect("status");
    let condition = &status.conditions[0];
    assert_eq!(
        (condition.type_.as_str(), condition.status.as_str()),
        (names::CONDITION_CONTROL_PLANE_HEALTHY, "True")
    );
    assert_eq!(condition.observed_generation, Some(3));
    assert_eq!(
        status.version.unwrap().kubernetes.as_deref(),
        Some("v1.37.2")
    );
    let property = &status.properties[0];
    assert_eq!(property.name, names::PROPERTY_CLUSTER_ID);
    assert_eq!(
        property.last_observed_time.as_ref().unwrap().0.to_string(),
        TIME
    );
    let provider = &status.access_providers[0];
    assert_eq!(provider.name, "roster");
    let cluster = &provider.cluster;
    assert_eq!(cluster.server, "https://member-1.example.com:6443");
    assert_eq!(
        cluster.certificate_authority_data.as_ref().unwrap().0,
        CA_PEM
    );
    assert_eq!(
        cluster.tls_server_name.as_deref(),
        Some("member-1.internal")
    );
    assert_eq!(cluster.insecure_skip_tls_verify, Some(false));
    assert_eq!(
        cluster.proxy_url.as_deref(),
        Some("socks5://proxy.example.com:1080")
    );
    assert_eq!(cluster.disable_compression, Some(true));
    assert_eq!(cluster.extensions[0].name, names::EXEC_EXTENSION);
    assert_eq!(
        cluster.extensions[0].extension,
        json!({"clusterName": "member-1"})
    );
}

#[test]
fn v1alpha1_round_trips_with_credential_providers() {
    let mut input = profile("v1alpha1");
    // v1alpha1's Cluster also has client-go's file-path field.
    input["status"]["credentialProviders"][0]["cluster"]["certificate-authority"] =
        json!("/etc/roster/ca.crt");
    let cp: v1alpha1::ClusterProfile = round_trip(&input);
    assert_eq!(labels(&cp.metadata).0, "roster");
    assert_eq!(cp.spec.cluster_manager.name, "roster");
    let status = cp.status.expect("status");
    assert_eq!(status.conditions[0].type_, "ControlPlaneHealthy");
    assert_eq!(
        status.version.unwrap().kubernetes.as_deref(),
        Some("v1.37.2")
    );
    assert!(status.properties[0].last_observed_time.is_some());
    let access = status.access_providers[0].cluster.as_ref().unwrap();
    let credential = status.credential_providers[0].cluster.as_ref().unwrap();
    assert_eq!(access.server, "https://member-1.example.com:6443");
    assert_eq!(
        access.certificate_authority_data.as_ref().unwrap().0,
        CA_PEM
    );
    assert_eq!(access.proxy_url, credential.proxy_url);
    assert_eq!(access.extensions, credential.extensions);
    assert_eq!(
        credential.certificate_authority.as_deref(),
        Some("/etc/roster/ca.crt")
    );
    assert_eq!(access.certificate_authority, None);
}

#[test]
fn v1alpha2_deserializes_from_yaml() {
    let yaml = format!(
        r#"
apiVersion: multicluster.x-k8s.io/v1alpha2
kind: ClusterProfile
metadata:
  name: member-1
  namespace: cluster-inventory
  labels:
    x-k8s.io/cluster-manager: roster
    multicluster.x-k8s.io/inventory-member-id: 0b7e7a4e-2d1f-4c4b-9b5e-0f6d2c1a9e10
spec:
  displayName: Member one
  clusterManager:
    name: roster
status:
  conditions:
  - type: ControlPlaneHealthy
    status: "True"
    reason: Healthy
    message: the API server is ready
    lastTransitionTime: "{TIME}"
    observedGeneration: 3
  version:
    kubernetes: v1.37.2
  properties:
  - name: cluster.clusterset.k8s.io
    value: 0b7e7a4e-2d1f-4c4b-9b5e-0f6d2c1a9e10
    lastObservedTime: "{TIME}"
  accessProviders:
  - name: roster
    cluster:
      server: https://member-1.example.com:6443
      certificate-authority-data: {CA_B64}
      tls-server-name: member-1.internal
      insecure-skip-tls-verify: false
      proxy-url: socks5://proxy.example.com:1080
      disable-compression: true
      extensions:
      - name: client.authentication.k8s.io/exec
        extension:
          clusterName: member-1
"#
    );
    let cp: v1alpha2::ClusterProfile = serde_saphyr::from_str(&yaml).expect("parses");
    assert_eq!(serde_json::to_value(&cp).unwrap(), profile("v1alpha2"));
}

#[test]
fn minimal_profiles_omit_unset_fields() {
    let v2 = v1alpha2::ClusterProfile::new(
        "member-1",
        v1alpha2::ClusterProfileSpec {
            display_name: None,
            cluster_manager: v1alpha2::ClusterManager {
                name: "roster".into(),
            },
        },
    );
    let json = serde_json::to_value(&v2).unwrap();
    assert_no_nulls(&json);
    assert_eq!(json["spec"], json!({"clusterManager": {"name": "roster"}}));
    assert!(json.get("status").is_none(), "{json}");

    let v1 = v1alpha1::ClusterProfile::new("member-1", v1alpha1::ClusterProfileSpec::default());
    let json = serde_json::to_value(&v1).unwrap();
    assert_no_nulls(&json);
    assert_eq!(json["spec"], json!({"clusterManager": {"name": ""}}));
}

#[test]
fn default_statuses_are_empty_objects() {
    let v1 = serde_json::to_value(v1alpha1::ClusterProfileStatus::default()).unwrap();
    let v2 = serde_json::to_value(v1alpha2::ClusterProfileStatus::default()).unwrap();
    assert_eq!(v1, json!({}));
    assert_eq!(v2, json!({}));
}

#[test]
fn minimal_access_provider_sends_only_what_is_set() {
    let provider = v1alpha2::AccessProvider {
        name: "roster".into(),
        cluster: v1alpha2::Cluster {
            server: "https://member-1.example.com:6443".into(),
            ..Default::default()
        },
    };
    let json = serde_json::to_value(&provider).unwrap();
    assert_no_nulls(&json);
    assert_eq!(
        json,
        json!({"name": "roster", "cluster": {"server": "https://member-1.example.com:6443"}})
    );

    let status = v1alpha1::ClusterProfileStatus {
        access_providers: vec![v1alpha1::AccessProvider {
            name: "roster".into(),
            cluster: None,
        }],
        properties: vec![v1alpha1::Property {
            name: "topology.kubernetes.io/region".into(),
            value: "eu-west-1".into(),
            last_observed_time: None,
        }],
        ..Default::default()
    };
    let json = serde_json::to_value(&status).unwrap();
    assert_no_nulls(&json);
    assert_eq!(
        json,
        json!({
            "properties": [{"name": "topology.kubernetes.io/region", "value": "eu-west-1"}],
            "accessProviders": [{"name": "roster"}]
        })
    );
}
