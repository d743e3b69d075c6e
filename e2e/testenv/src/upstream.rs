//! The upstream `sigs.k8s.io/cluster-inventory-api` module, fetched through the Go module proxy,
//! for interoperability checks against its CRD and libraries.

use std::{path::PathBuf, process::Command};

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// The upstream module.
pub const MODULE: &str = "sigs.k8s.io/cluster-inventory-api";

/// The pinned upstream release. v0.2.0 (which adds `v1alpha2`) is not served by the Go module
/// proxy this project can reach; v0.1.0 carries the same `v1alpha1` schema and `pkg/access`.
pub const VERSION: &str = "v0.1.0";

/// Downloads (once; the Go module cache keeps it) and returns the module's source folder.
pub fn module_dir() -> anyhow::Result<PathBuf> {
    let output = Command::new(std::env::var("GO").unwrap_or_else(|_| "go".into()))
        .args(["mod", "download", "-json", &format!("{MODULE}@{VERSION}")])
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .output()
        .context("running `go mod download` (is Go installed?)")?;
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "go mod download {MODULE}@{VERSION} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    if let Some(err) = info.get("Error").and_then(|e| e.as_str()) {
        anyhow::bail!("go mod download {MODULE}@{VERSION}: {err}");
    }
    let dir = info
        .get("Dir")
        .and_then(|d| d.as_str())
        .context("go mod download gave no Dir")?;
    Ok(PathBuf::from(dir))
}

/// The upstream ClusterProfile CRD as published in the module.
pub fn cluster_profile_crd() -> anyhow::Result<CustomResourceDefinition> {
    let path = module_dir()?.join("config/crd/bases/multicluster.x-k8s.io_clusterprofiles.yaml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}
