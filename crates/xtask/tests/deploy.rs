//! The committed `deploy/agent/` matches the manifest `kubectl roster join` writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn agent_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("deploy/agent")
}

#[test]
fn committed_agent_base_matches_the_join_manifest() {
    let files = xtask::deploy::agent_files().unwrap();
    let drift = xtask::drift(&agent_dir(), &files).unwrap();
    assert!(
        drift.is_empty(),
        "deploy/agent/ is out of date with crates/kubectl-roster/src/manifest.rs: {}\n\
         run `make crds` and commit the result",
        drift.join(", ")
    );
}

#[test]
fn the_agent_rbac_is_the_join_manifests() {
    // The ClusterRole of the base is, rule for rule, the one `kubectl roster join` writes.
    let join = kubectl_roster::manifest::AgentInstall {
        member: "m",
        image: "i",
        bootstrap_kubeconfig: "",
        api_server_url: None,
        grantable_cluster_roles: roster_api::ceiling::DEFAULT_GRANTABLE_CLUSTER_ROLES,
        allow_rules: false,
    }
    .render()
    .unwrap();
    let join: Vec<serde_json::Value> = serde_saphyr::from_multiple(&join).unwrap();
    let files = xtask::deploy::agent_files().unwrap();
    let base: Vec<serde_json::Value> = serde_saphyr::from_multiple(&files[0].1).unwrap();
    let rules = |docs: &[serde_json::Value]| {
        docs.iter()
            .find(|d| d["kind"] == "ClusterRole")
            .map(|d| d["rules"].clone())
            .unwrap()
    };
    assert_eq!(rules(&base), rules(&join));
}
