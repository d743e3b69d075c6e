//! The CEL rules of the MemberCluster and RemoteServiceAccount CRDs, evaluated locally with
//! kube's CEL validator: valid objects pass, invalid ones fail with the rule's message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kube::core::cel::Validator;
use serde_json::{Value, json};

/// The openAPIV3Schema of the CRD named `name`, as Roster installs it.
fn schema(name: &str) -> Value {
    let crd = roster_api::crd::all()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no CRD {name}"));
    let [version] = crd.spec.versions.as_slice() else {
        panic!("{name} should serve one version");
    };
    serde_json::to_value(version.schema.as_ref().unwrap().open_api_v3_schema.as_ref()).unwrap()
}

/// Messages of the CEL rules `object` breaks (`old` given: an update).
fn violations(crd: &str, object: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate(&schema(crd), object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

const MC: &str = "memberclusters.roster.dev";
const RSA: &str = "remoteserviceaccounts.roster.dev";

fn member(spec: Value) -> Value {
    json!({
        "apiVersion": "roster.dev/v1alpha1",
        "kind": "MemberCluster",
        "metadata": {"name": "member-1"},
        "spec": spec
    })
}

fn rsa(spec: Value) -> Value {
    json!({
        "apiVersion": "roster.dev/v1alpha1",
        "kind": "RemoteServiceAccount",
        "metadata": {"name": "deployer", "namespace": "team-a"},
        "spec": spec
    })
}

fn assert_valid(crd: &str, object: &Value, old: Option<&Value>) {
    assert_eq!(
        violations(crd, object, old),
        Vec::<String>::new(),
        "{object}"
    );
}

fn assert_rejected(crd: &str, object: &Value, old: Option<&Value>, message: &str) {
    assert_eq!(
        violations(crd, object, old),
        vec![message.to_owned()],
        "{object}"
    );
}

const GRACE: &str = "graceSeconds must be at least twice periodSeconds, so one late heartbeat does not make the member Unknown";
const HTTPS: &str = "server must be an https:// URL with a host";
const CLUSTER_ID: &str =
    "cluster.clusterset.k8s.io is the cluster id the agent reports; it cannot be set statically";
const ONE_OF: &str = "exactly one of clusters.names or clusters.selector must be set";
const LABELS: &str = "selector.matchLabels values must be valid label values";
const EXPRESSIONS: &str = "selector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist, and values are required exactly for In and NotIn";
const SA_IMMUTABLE: &str =
    "spec.serviceAccount is immutable: create a new RemoteServiceAccount instead";

#[test]
fn member_cluster_examples_pass() {
    assert_valid(MC, &member(json!({})), None);
    let full = member(json!({
        "displayName": "Member one",
        "properties": [{"name": "topology.kubernetes.io/region", "value": "eu-west-1"}],
        "apiServer": {"server": "https://member-1.example.com:6443", "caData": "LS0tCg=="},
        "heartbeat": {"periodSeconds": 10, "graceSeconds": 20}
    }));
    assert_valid(MC, &full, None);
}

#[test]
fn heartbeat_grace_must_be_twice_the_period() {
    let object = member(json!({"heartbeat": {"periodSeconds": 10, "graceSeconds": 19}}));
    assert_rejected(MC, &object, None, GRACE);
    // Defaults apply before the rule: period 30 against the default grace of 40.
    let object = member(json!({"heartbeat": {"periodSeconds": 30}}));
    assert_rejected(MC, &object, None, GRACE);
    assert_valid(
        MC,
        &member(json!({"heartbeat": {"periodSeconds": 20}})),
        None,
    );
}

#[test]
fn api_server_must_be_https_with_a_host() {
    for bad in [
        "http://member-1.example.com:6443",
        "member-1.example.com:6443",
        "/api",
    ] {
        let object = member(json!({"apiServer": {"server": bad}}));
        assert_rejected(MC, &object, None, HTTPS);
    }
    // The same type, and so the same rule, in the status the agent writes.
    let mut object = member(json!({}));
    object["status"] = json!({"apiServer": {"server": "http://10.0.0.1:6443"}});
    assert_rejected(MC, &object, None, HTTPS);
}

#[test]
fn cluster_id_property_cannot_be_static() {
    let object = member(json!({"properties": [
        {"name": "topology.kubernetes.io/zone", "value": "a"},
        {"name": "cluster.clusterset.k8s.io", "value": "abc"}
    ]}));
    assert_rejected(MC, &object, None, CLUSTER_ID);
}

#[test]
fn remote_service_account_examples_pass() {
    let by_names = rsa(json!({
        "clusters": {"names": ["member-1", "member-2"]},
        "serviceAccount": {"namespace": "roster-remote", "name": "team-a-deployer"},
        "clusterRoles": ["view", "aggregate-to-view.example.com"],
        "roles": [{"namespace": "apps", "clusterRole": "edit"}],
        "rules": [],
        "token": {"expirationSeconds": 3600, "audiences": []}
    }));
    assert_valid(RSA, &by_names, None);
    let by_selector = rsa(json!({"clusters": {"selector": {
        "matchLabels": {"env": "prod", "example.com/tier": ""},
        "matchExpressions": [
            {"key": "region", "operator": "In", "values": ["eu-west-1"]},
            {"key": "canary", "operator": "DoesNotExist"}
        ]
    }}}));
    assert_valid(RSA, &by_selector, None);
}

#[test]
fn cluster_roles_accept_built_in_role_names_and_reject_path_separators() {
    let object = rsa(json!({
        "clusters": {"names": ["member-1"]},
        "clusterRoles": ["system:auth-delegator", "system:aggregate-to-view"],
        "roles": [{"namespace": "apps", "clusterRole": "system:controller:job-controller"}]
    }));
    assert_valid(RSA, &object, None);
    let bad = rsa(json!({"clusters": {"names": ["member-1"]}, "clusterRoles": ["a/b"]}));
    assert_rejected(
        RSA,
        &bad,
        None,
        "each cluster role must be a valid ClusterRole name (not . or .., no / or %)",
    );
    let bad = rsa(
        json!({"clusters": {"names": ["member-1"]}, "roles": [{"namespace": "apps", "clusterRole": ".."}]}),
    );
    assert_rejected(
        RSA,
        &bad,
        None,
        "clusterRole must be a valid ClusterRole name (not . or .., no / or %)",
    );
}

#[test]
fn exactly_one_of_names_or_selector() {
    let both = rsa(json!({"clusters": {"names": ["member-1"], "selector": {}}}));
    assert_rejected(RSA, &both, None, ONE_OF);
    assert_rejected(RSA, &rsa(json!({"clusters": {}})), None, ONE_OF);
}

#[test]
fn match_labels_values_must_be_label_values() {
    for bad in ["not valid!", "-prod", &"v".repeat(64)] {
        let object = rsa(json!({"clusters": {"selector": {"matchLabels": {"env": bad}}}}));
        assert_rejected(RSA, &object, None, LABELS);
    }
}

#[test]
fn match_expressions_need_a_known_operator_and_matching_values() {
    for bad in [
        json!({"key": "env", "operator": "Equals", "values": ["prod"]}),
        json!({"key": "env", "operator": "In"}),
        json!({"key": "env", "operator": "NotIn", "values": []}),
        json!({"key": "env", "operator": "Exists", "values": ["prod"]}),
    ] {
        let object = rsa(json!({"clusters": {"selector": {"matchExpressions": [bad]}}}));
        assert_rejected(RSA, &object, None, EXPRESSIONS);
    }
}

#[test]
fn names_roles_and_namespaces_must_be_kubernetes_names() {
    let cases = [
        (
            json!({"clusters": {"names": ["Member_1"]}}),
            "each cluster name must be a valid MemberCluster name (DNS subdomain)",
        ),
        (
            json!({"clusters": {"names": ["m"]}, "clusterRoles": ["view/all"]}),
            "each cluster role must be a valid ClusterRole name (not . or .., no / or %)",
        ),
        (
            json!({"clusters": {"names": ["m"]}, "serviceAccount": {"namespace": "a.b"}}),
            "namespace must be a valid namespace name (DNS label)",
        ),
        (
            json!({"clusters": {"names": ["m"]}, "serviceAccount": {"name": "Deployer"}}),
            "name must be a valid service account name (DNS subdomain)",
        ),
        (
            json!({"clusters": {"names": ["m"]}, "roles": [{"namespace": "Apps", "clusterRole": "edit"}]}),
            "namespace must be a valid namespace name (DNS label)",
        ),
    ];
    for (spec, message) in cases {
        assert_rejected(RSA, &rsa(spec), None, message);
    }
}

#[test]
fn service_account_is_immutable_once_set() {
    let with = |name: &str| {
        rsa(json!({
            "clusters": {"names": ["member-1"]},
            "serviceAccount": {"namespace": "roster-remote", "name": name}
        }))
    };
    let unset = rsa(json!({"clusters": {"names": ["member-1"]}}));
    let old = with("team-a-deployer");
    let mut other_clusters = old.clone();
    other_clusters["spec"]["clusters"] = json!({"names": ["member-2"]});
    assert_valid(RSA, &other_clusters, Some(&old));
    assert_valid(RSA, &old, Some(&unset));
    assert_rejected(RSA, &with("other"), Some(&old), SA_IMMUTABLE);
    assert_rejected(RSA, &unset, Some(&old), SA_IMMUTABLE);
}
