//! The generated ClusterProfile CRD: its shape matches upstream v0.2.0, and its CEL rules,
//! evaluated locally with kube's CEL validator, accept valid objects and reject invalid ones
//! with upstream's messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cluster_inventory::crd::cluster_profiles;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionVersion;
use kube::core::cel::Validator;
use serde_json::{Value, json};

fn version(name: &str) -> CustomResourceDefinitionVersion {
    cluster_profiles()
        .spec
        .versions
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no version {name}"))
}

fn schema(name: &str) -> Value {
    let props = version(name).schema.unwrap().open_api_v3_schema.unwrap();
    serde_json::to_value(props).unwrap()
}

/// Messages of the CEL rules `object` breaks (`old` given: an update).
fn violations(version: &str, object: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate(&schema(version), object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

fn assert_rejected(version: &str, object: &Value, old: Option<&Value>, message: &str) {
    assert_eq!(
        violations(version, object, old),
        vec![message.to_owned()],
        "{object}"
    );
}

fn profile(version: &str, manager: &str, server: &str, proxy: Option<&str>) -> Value {
    let mut cluster = json!({
        "server": server,
        "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"clusterName": "member-1"}}]
    });
    if let Some(proxy) = proxy {
        cluster["proxy-url"] = json!(proxy);
    }
    json!({
        "apiVersion": format!("multicluster.x-k8s.io/{version}"),
        "kind": "ClusterProfile",
        "metadata": {"name": "member-1", "namespace": "cluster-inventory"},
        "spec": {"displayName": "Member one", "clusterManager": {"name": manager}},
        "status": {"accessProviders": [{"name": "roster", "cluster": cluster}]}
    })
}

const HTTPS: &str = "https://member-1.example.com:6443";
const LABEL_VALUE: &str = "must be a valid Kubernetes label value";
const SERVER_URL: &str = "server must be a valid absolute URL with a host";
const PROXY_URL: &str =
    "proxy-url must be a valid URL with scheme http, https, or socks5 and a host";
const IMMUTABLE: &str = "ClusterManager is immutable";

#[test]
fn valid_profiles_pass_in_both_versions() {
    for proxy in [
        None,
        Some(""),
        Some("http://proxy:3128"),
        Some("https://proxy.example.com"),
        Some("socks5://127.0.0.1:1080"),
    ] {
        for v in ["v1alpha1", "v1alpha2"] {
            let object = profile(v, "roster", HTTPS, proxy);
            assert_eq!(
                violations(v, &object, None),
                Vec::<String>::new(),
                "{object}"
            );
        }
    }
    // An IP address and the longest label value (63 characters) are fine too.
    let object = profile("v1alpha2", &"m".repeat(63), "https://10.0.0.1:6443", None);
    assert_eq!(violations("v1alpha2", &object, None), Vec::<String>::new());
}

#[test]
fn v1alpha2_manager_name_must_be_a_label_value() {
    for bad in ["Roster Inc.", "-roster", "roster/hub", &"m".repeat(64)] {
        let object = profile("v1alpha2", bad, HTTPS, None);
        assert_rejected("v1alpha2", &object, None, LABEL_VALUE);
    }
}

#[test]
fn v1alpha2_server_must_be_an_absolute_url_with_a_host() {
    // An absolute path such as "/api/v1" is only rejected by the real API server: kube-cel
    // parses it as http://localhost/api/v1, so `url(self).getHost()` is "localhost" locally
    // while Kubernetes returns "" (rule `isURL(self) && url(self).getHost() != ''`).
    for bad in ["not a url", "member-1.example.com:6443", "https://"] {
        let object = profile("v1alpha2", "roster", bad, None);
        assert_rejected("v1alpha2", &object, None, SERVER_URL);
    }
}

#[test]
fn v1alpha2_proxy_url_needs_http_https_or_socks5_and_a_host() {
    for bad in ["ftp://proxy.example.com", "socks4://proxy:1080", "/proxy"] {
        let object = profile("v1alpha2", "roster", HTTPS, Some(bad));
        assert_rejected("v1alpha2", &object, None, PROXY_URL);
    }
}

#[test]
fn cluster_manager_is_immutable_in_both_versions() {
    for v in ["v1alpha1", "v1alpha2"] {
        let old = profile(v, "roster", HTTPS, None);
        let same = profile(v, "roster", "https://moved.example.com", None);
        assert_eq!(violations(v, &same, Some(&old)), Vec::<String>::new());
        let changed = profile(v, "ocm", HTTPS, None);
        assert_rejected(v, &changed, Some(&old), IMMUTABLE);
        // Without an old object (a create) the transition rule does not apply.
        assert_eq!(violations(v, &changed, None), Vec::<String>::new());
    }
}

// ---- Schema facts: interchangeable with upstream v0.2.0's CRD. ----

fn at<'a>(schema: &'a Value, pointer: &str) -> &'a Value {
    schema
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the schema"))
}

fn list_map_keys(schema: &Value, field: &str) -> Value {
    let list = at(schema, &format!("/properties/status/properties/{field}"));
    assert_eq!(list["x-kubernetes-list-type"], "map", "{field}");
    list["x-kubernetes-list-map-keys"].clone()
}

#[test]
fn crd_names_scope_and_versions() {
    let crd = cluster_profiles();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("clusterprofiles.multicluster.x-k8s.io")
    );
    assert_eq!(crd.spec.group, "multicluster.x-k8s.io");
    assert_eq!(crd.spec.names.kind, "ClusterProfile");
    assert_eq!(crd.spec.names.plural, "clusterprofiles");
    assert_eq!(crd.spec.scope, "Namespaced");
    let categories = crd.spec.names.categories.unwrap_or_default();
    assert!(
        categories.contains(&"multicluster".to_owned()),
        "{categories:?}"
    );
    let versions: Vec<_> = crd
        .spec
        .versions
        .iter()
        .map(|v| (v.name.as_str(), v.served, v.storage))
        .collect();
    assert_eq!(
        versions,
        [("v1alpha1", true, true), ("v1alpha2", true, false)]
    );
    for v in &crd.spec.versions {
        let status = v.subresources.as_ref().and_then(|s| s.status.as_ref());
        assert!(status.is_some(), "{} has no status subresource", v.name);
    }
}

#[test]
fn v1alpha2_printer_columns_match_upstream() {
    let columns: Vec<_> = version("v1alpha2")
        .additional_printer_columns
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name, c.type_, c.json_path))
        .collect();
    let expected = [
        ("Display Name", "string", ".spec.displayName"),
        ("Manager", "string", ".spec.clusterManager.name"),
        ("Version", "string", ".status.version.kubernetes"),
        (
            "Healthy",
            "string",
            r#".status.conditions[?(@.type=="ControlPlaneHealthy")].status"#,
        ),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    .map(|(n, t, p)| (n.to_owned(), t.to_owned(), p.to_owned()));
    assert_eq!(columns, expected);
}

#[test]
fn list_map_keys_and_provider_lists() {
    for v in ["v1alpha1", "v1alpha2"] {
        let schema = schema(v);
        assert_eq!(list_map_keys(&schema, "conditions"), json!(["type"]), "{v}");
        assert_eq!(list_map_keys(&schema, "properties"), json!(["name"]), "{v}");
        assert_eq!(
            list_map_keys(&schema, "accessProviders"),
            json!(["name"]),
            "{v}"
        );
    }
    let v1 = schema("v1alpha1");
    assert_eq!(list_map_keys(&v1, "credentialProviders"), json!(["name"]));
    let v2 = schema("v1alpha2");
    assert!(
        v2.pointer("/properties/status/properties/credentialProviders")
            .is_none(),
        "credentialProviders is v1alpha1 only"
    );
    assert_eq!(
        at(
            &v2,
            "/properties/status/properties/accessProviders/maxItems"
        ),
        64
    );
}

#[test]
fn property_length_limits() {
    for v in ["v1alpha1", "v1alpha2"] {
        let schema = schema(v);
        let property = at(
            &schema,
            "/properties/status/properties/properties/items/properties",
        );
        assert_eq!(property["name"]["maxLength"], 253, "{v}");
        assert_eq!(property["value"]["maxLength"], 1024, "{v}");
        assert_eq!(property["value"]["minLength"], 1, "{v}");
    }
}

#[test]
fn schema_never_says_nullable() {
    fn find(value: &Value, path: &str, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "nullable" {
                        found.push(path.to_owned());
                    }
                    find(v, &format!("{path}/{k}"), found);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| find(v, path, found)),
            _ => {}
        }
    }
    let crd = serde_json::to_value(cluster_profiles()).unwrap();
    let mut found = Vec::new();
    find(&crd, "", &mut found);
    assert!(found.is_empty(), "nullable at {found:?}");
}
