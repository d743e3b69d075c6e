//! Generation logic behind `cargo xtask`, a library so tests can run it.

pub mod deploy;
pub mod dev;
pub mod dev_local;
pub mod fleet_settings;
pub mod images;
pub mod modules;

use std::path::Path;

use anyhow::Context;

/// Header of every generated file.
const HEADER: &str = "# Generated from the Rust types by `make crds`; do not edit.\n";

/// Each CRD as (file name, YAML text), then `kustomization.yaml` listing them, which makes
/// `crds/` a kustomize base that `deploy/hub` includes (kustomize loads other bases from
/// anywhere, but single files only from inside a kustomization's own folder).
pub fn crd_files() -> anyhow::Result<Vec<(String, String)>> {
    let mut files = roster_api::crd::all()
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().context("CRD without a name")?;
            let yaml = serde_saphyr::to_string(&crd).context("serializing CRD")?;
            Ok((format!("{name}.yaml"), format!("{HEADER}{yaml}")))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let resources: String = files.iter().map(|(n, _)| format!("- {n}\n")).collect();
    files.push((
        KUSTOMIZATION.to_owned(),
        format!(
            "{HEADER}apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
             resources:\n{resources}"
        ),
    ));
    Ok(files)
}

/// File name of a kustomization.
pub const KUSTOMIZATION: &str = "kustomization.yaml";

/// Names of files in `dir` that are missing, differ from `files`, or are not generated.
pub fn drift(dir: &Path, files: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let mut drift = changed(dir, files);
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") && !files.iter().any(|(n, _)| *n == name) {
            drift.push(format!("{name} (not generated)"));
        }
    }
    Ok(drift)
}

/// Names of `files` that are missing from `dir` or differ there (other files may sit beside).
pub fn changed(dir: &Path, files: &[(String, String)]) -> Vec<String> {
    let mut changed = Vec::new();
    for (name, yaml) in files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(existing) if existing == *yaml => {}
            Ok(_) => changed.push(format!("{name} (differs)")),
            Err(_) => changed.push(format!("{name} (missing)")),
        }
    }
    changed
}
