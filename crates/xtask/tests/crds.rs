//! The committed CRD YAML under `crds/` matches the Rust types, and the drift check notices a
//! changed, a missing and an extra file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn crds_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("crds")
}

fn write_all(dir: &Path, files: &[(String, String)]) {
    for (name, yaml) in files {
        std::fs::write(dir.join(name), yaml).unwrap();
    }
}

#[test]
fn committed_crds_match_the_rust_types() {
    let files = xtask::crd_files().unwrap();
    let drift = xtask::drift(&crds_dir(), &files).unwrap();
    assert!(
        drift.is_empty(),
        "crds/ is out of date with the Rust types: {}\nrun `make crds` and commit the result",
        drift.join(", ")
    );
}

#[test]
fn generates_one_file_per_crd_with_a_header() {
    let files = xtask::crd_files().unwrap();
    let names: Vec<_> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "clusterprofiles.multicluster.x-k8s.io.yaml",
            "memberclusters.roster.dev.yaml",
            "remoteserviceaccounts.roster.dev.yaml",
            "memberreports.roster.dev.yaml",
            "remoteaccountgrants.roster.dev.yaml",
            "inventories.roster.dev.yaml",
            "remoteaccesspolicies.roster.dev.yaml",
            "kustomization.yaml",
        ]
    );
    for (name, yaml) in &files {
        assert!(yaml.starts_with("# Generated"), "{name} has no header");
        if name != "kustomization.yaml" {
            assert!(
                yaml.contains("kind: CustomResourceDefinition"),
                "{name}: {yaml}"
            );
        }
    }
}

#[test]
fn the_kustomization_lists_every_crd() {
    let files = xtask::crd_files().unwrap();
    let (_, kustomization) = files.last().unwrap();
    assert!(
        kustomization.contains("kind: Kustomization"),
        "{kustomization}"
    );
    for (name, _) in &files[..files.len() - 1] {
        assert!(
            kustomization.contains(&format!("\n- {name}\n")),
            "{name} missing from {kustomization}"
        );
    }
}

#[test]
fn freshly_written_files_show_no_drift() {
    let dir = tempfile::tempdir().unwrap();
    let files = xtask::crd_files().unwrap();
    write_all(dir.path(), &files);
    // Files that are not YAML are not the generator's business.
    std::fs::write(dir.path().join("README.md"), "notes").unwrap();
    assert_eq!(
        xtask::drift(dir.path(), &files).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn drift_reports_changed_missing_and_extra_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = xtask::crd_files().unwrap();
    write_all(dir.path(), &files);
    let (changed, _) = &files[0];
    let (missing, _) = &files[1];
    std::fs::write(dir.path().join(changed), "# edited by hand\n").unwrap();
    std::fs::remove_file(dir.path().join(missing)).unwrap();
    std::fs::write(dir.path().join("stale.example.com.yaml"), "kind: Old\n").unwrap();

    let mut drift = xtask::drift(dir.path(), &files).unwrap();
    drift.sort();
    let mut expected = vec![
        format!("{changed} (differs)"),
        format!("{missing} (missing)"),
        "stale.example.com.yaml (not generated)".to_owned(),
    ];
    expected.sort();
    assert_eq!(drift, expected);
}

#[test]
fn drift_fails_on_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let files = xtask::crd_files().unwrap();
    let err = xtask::drift(&dir.path().join("nowhere"), &files).unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err:#}");
}
