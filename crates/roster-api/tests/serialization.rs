//! MemberCluster and RemoteServiceAccount documents survive a round trip through the typed
//! structs, the YAML examples of the product brief parse, and unset optional fields are
//! omitted, never sent as null.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use roster_api::{
    MemberCluster, MemberClusterSpec, RemoteServiceAccount, RemoteServiceAccountSpec,
    member_cluster::Heartbeat,
    remote_service_account::{ClusterSelection, MemberSelector, TokenSettings},
};
use serde_json::{Value, json};

#[path = "../../cluster-inventory/tests/support/json.rs"]
mod json;
use json::{assert_no_nulls, round_trip};

/// base64 of "-----BEGIN CERTIFICATE-----\n".
const CA_B64: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==";
const CA_PEM: &[u8] = b"-----BEGIN CERTIFICATE-----\n";
const TIME: &str = "2026-01-01T00:00:00Z";

/// The examples of the product brief ("Roster's own API"), verbatim.
const BRIEF_EXAMPLES: &str = r#"apiVersion: roster.dev/v1alpha1
kind: MemberCluster
metadata:
  name: member-1
  labels: {env: prod}
spec:
  displayName: Member one
  properties:                      # static, copied into the ClusterProfile
  - {name: topology.kubernetes.io/region, value: eu-west-1}
  apiServer:                       # optional: overrides what the agent reports
    server: https://member-1.example.com:6443
    caData: <base64 PEM>
  heartbeat: {periodSeconds: 10, graceSeconds: 40}
---
apiVersion: roster.dev/v1alpha1
kind: RemoteServiceAccount
metadata: {name: deployer, namespace: team-a}
spec:
  clusters:                        # exactly one of names / selector (over MemberCluster labels)
    names: [member-1, member-2]
  serviceAccount:                  # created on each member; defaults roster-remote / <namespace>-<name>
    namespace: roster-remote
    name: team-a-deployer
  clusterRoles: [view]             # bound cluster-wide on each member
  roles:                           # bound inside one namespace on each member
  - {namespace: apps, clusterRole: edit}
  rules: []                        # extra PolicyRules, granted through a ClusterRole Roster owns
  token:
    expirationSeconds: 3600        # minimum 600
    audiences: []                  # default: the member API server's own audiences
"#;

/// The brief's two documents, with its `<base64 PEM>` placeholder filled in.
fn brief_documents() -> (String, String) {
    let text = BRIEF_EXAMPLES.replace("<base64 PEM>", CA_B64);
    let (member, rsa) = text.split_once("\n---\n").expect("two documents");
    (member.to_owned(), rsa.to_owned())
}

fn member_cluster_json() -> Value {
    json!({
        "apiVersion": "roster.dev/v1alpha1",
        "kind": "MemberCluster",
        "metadata": {"name": "member-1", "labels": {"env": "prod"}},
        "spec": {
            "displayName": "Member one",
            "properties": [{"name": "topology.kubernetes.io/region", "value": "eu-west-1"}],
            "apiServer": {"server": "https://member-1.example.com:6443", "caData": CA_B64},
            "heartbeat": {"periodSeconds": 10, "graceSeconds": 40}
        },
        "status": {
            "conditions": [{
                "type": "ControlPlaneHealthy", "status": "True", "reason": "Healthy",
                "message": "the API server is ready", "lastTransitionTime": TIME
            }],
            "clusterId": "0b7e7a4e-2d1f-4c4b-9b5e-0f6d2c1a9e10",
            "kubernetesVersion": "v1.37.2",
            "apiServer": {"server": "https://10.0.0.1:6443", "caData": CA_B64},
            "nodes": {"total": 3, "ready": 2},
            "properties": [{"name": "topology.kubernetes.io/zone", "value": "eu-west-1a", "lastObservedTime": TIME}],
            "agentVersion": "0.1.0",
            "observedGeneration": 2
        }
    })
}

fn remote_service_account_json() -> Value {
    json!({
        "apiVersion": "roster.dev/v1alpha1",
        "kind": "RemoteServiceAccount",
        "metadata": {"name": "deployer", "namespace": "team-a"},
        "spec": {
            "clusters": {"selector": {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]
            }},
            "serviceAccount": {"namespace": "roster-remote", "name": "team-a-deployer"},
            "clusterRoles": ["view"],
            "roles": [{"namespace": "apps", "clusterRole": "edit"}],
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}],
            "token": {"expirationSeconds": 1800, "audiences": ["https://kubernetes.default.svc"]}
        },
        "status": {
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "TokensReady",
                "message": "1 of 1 clusters ready", "lastTransitionTime": TIME
            }],
            "clusters": [{
                "name": "member-1", "ready": true, "tokenExpiry": TIME,
                "lastRefresh": TIME, "message": "token refreshed"
            }],
            "readyClusters": 1,
            "observedGeneration": 1
        }
    })
}

#[test]
fn member_cluster_round_trips_with_typed_fields() {
    let mc: MemberCluster = round_trip(&member_cluster_json());
    assert_eq!(mc.spec.display_name.as_deref(), Some("Member one"));
    assert_eq!(mc.spec.properties[0].value, "eu-west-1");
    let api_server = mc.spec.api_server.unwrap();
    assert_eq!(api_server.ca_data.unwrap().0, CA_PEM);
    assert_eq!(mc.spec.heartbeat, Some(Heartbeat::default()));
    let status = mc.status.unwrap();
    assert_eq!(status.conditions[0].type_, "ControlPlaneHealthy");
    assert_eq!(status.kubernetes_version.as_deref(), Some("v1.37.2"));
    assert_eq!(status.nodes.map(|n| (n.total, n.ready)), Some((3, 2)));
    assert_eq!(status.observed_generation, Some(2));
}

#[test]
fn remote_service_account_round_trips_with_typed_fields() {
    let rsa: RemoteServiceAccount = round_trip(&remote_service_account_json());
    let selector = rsa.spec.clusters.selector.as_ref().unwrap();
    assert_eq!(rsa.spec.clusters.names, None);
    assert_eq!(selector.match_labels.as_ref().unwrap()["env"], "prod");
    assert_eq!(
        selector.match_expressions.as_ref().unwrap()[0].operator,
        "In"
    );
    assert_eq!(
        rsa.remote_service_account(),
        ("roster-remote".to_owned(), "team-a-deployer".to_owned())
    );
    assert_eq!(rsa.spec.rules[0].verbs, ["get", "list"]);
    assert_eq!(rsa.spec.token.as_ref().unwrap().expiration_seconds, 1800);
    let status = rsa.status.unwrap();
    assert!(status.clusters[0].ready);
    assert_eq!(
        status.clusters[0]
            .token_expiry
            .as_ref()
            .unwrap()
            .0
            .to_string(),
        TIME
    );
    assert_eq!(status.ready_clusters, Some(1));
}

#[test]
fn brief_member_cluster_example_parses() {
    let (yaml, _) = brief_documents();
    let mc: MemberCluster = serde_saphyr::from_str(&yaml).expect("parses");
    assert_eq!(mc.metadata.labels.as_ref().unwrap()["env"], "prod");
    assert_eq!(mc.spec.properties[0].name, "topology.kubernetes.io/region");
    assert_eq!(
        mc.spec
            .api_server
            .as_ref()
            .unwrap()
            .ca_data
            .as_ref()
            .unwrap()
            .0,
        CA_PEM
    );
    let mut expected = member_cluster_json();
    expected.as_object_mut().unwrap().remove("status");
    assert_eq!(serde_json::to_value(&mc).unwrap(), expected);
}

#[test]
fn brief_remote_service_account_example_parses() {
    let (_, yaml) = brief_documents();
    let rsa: RemoteServiceAccount = serde_saphyr::from_str(&yaml).expect("parses");
    let names = rsa.spec.clusters.names.as_deref().unwrap();
    assert_eq!(names, ["member-1", "member-2"]);
    assert_eq!(rsa.spec.cluster_roles, ["view"]);
    assert_eq!(rsa.spec.roles[0].cluster_role, "edit");
    assert_eq!(rsa.spec.token, Some(TokenSettings::default()));
    // The empty `rules: []` and `audiences: []` are omitted when written back.
    let written = serde_json::to_value(&rsa).unwrap();
    assert_eq!(
        written["spec"],
        json!({
            "clusters": {"names": ["member-1", "member-2"]},
            "serviceAccount": {"namespace": "roster-remote", "name": "team-a-deployer"},
            "clusterRoles": ["view"],
            "roles": [{"namespace": "apps", "clusterRole": "edit"}],
            "token": {"expirationSeconds": 3600}
        })
    );
}

#[test]
fn omitted_heartbeat_and_token_fields_take_their_defaults() {
    let heartbeat: Heartbeat = serde_json::from_value(json!({})).unwrap();
    assert_eq!(
        (heartbeat.period_seconds, heartbeat.grace_seconds),
        (10, 40)
    );
    let token: TokenSettings = serde_json::from_value(json!({})).unwrap();
    assert_eq!(token.expiration_seconds, 3600);
}

#[test]
fn minimal_objects_omit_unset_fields() {
    let mc = MemberCluster::new("member-1", MemberClusterSpec::default());
    let json = serde_json::to_value(&mc).unwrap();
    assert_no_nulls(&json);
    assert_eq!(json["spec"], json!({}));
    assert!(json.get("status").is_none(), "{json}");

    let spec = RemoteServiceAccountSpec {
        clusters: ClusterSelection {
            names: None,
            selector: Some(MemberSelector::default()),
        },
        ..Default::default()
    };
    let rsa = RemoteServiceAccount::new("deployer", spec);
    let json = serde_json::to_value(&rsa).unwrap();
    assert_no_nulls(&json);
    assert_eq!(json["spec"], json!({"clusters": {"selector": {}}}));
}

#[test]
fn default_statuses_are_empty_objects() {
    let mc = serde_json::to_value(roster_api::MemberClusterStatus::default()).unwrap();
    let rsa = serde_json::to_value(roster_api::RemoteServiceAccountStatus::default()).unwrap();
    assert_eq!((mc, rsa), (json!({}), json!({})));
}

#[test]
fn service_account_defaults_from_namespace_and_name() {
    let mut rsa = RemoteServiceAccount::new("deployer", RemoteServiceAccountSpec::default());
    rsa.metadata.namespace = Some("team-a".into());
    assert_eq!(
        rsa.remote_service_account(),
        ("roster-remote".to_owned(), "team-a-deployer".to_owned())
    );
}
