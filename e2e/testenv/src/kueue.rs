//! Kueue, unchanged, as a consumer of Roster's profiles: its manager binary (`make kueue`, built
//! from the Go module proxy at the version `e2e/kueue/go.mod` pins) and its CRDs, read from the
//! same module in the Go module cache (never copied into this repository).

use std::{path::PathBuf, process::Command};

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::json;

/// The Kueue module.
pub const MODULE: &str = "sigs.k8s.io/kueue";

/// The CRDs Kueue's manager converts through its webhook (its cert rotator injects a CA bundle
/// into each and waits until it could: see [`crds`]).
pub const CONVERTED: [&str; 5] = [
    "localqueues.kueue.x-k8s.io",
    "clusterqueues.kueue.x-k8s.io",
    "workloads.kueue.x-k8s.io",
    "cohorts.kueue.x-k8s.io",
    "multikueueclusters.kueue.x-k8s.io",
];

/// Serializes `make kueue` runs of one test process.
static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn module_root() -> PathBuf {
    crate::binary::workspace_root().join("e2e/kueue")
}

/// Path of `.bin/kueue`, built by `make kueue` first when missing or older than
/// `e2e/kueue/go.mod`/`go.sum`.
pub fn binary() -> anyhow::Result<PathBuf> {
    let root = crate::binary::workspace_root();
    let path = root.join(".bin/kueue");
    let dir = module_root();
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if crate::upstream::is_stale(&path, &[dir.join("go.mod"), dir.join("go.sum")])? {
        let output = Command::new(std::env::var("MAKE").unwrap_or_else(|_| "make".into()))
            .current_dir(&root)
            .args(["--no-print-directory", "kueue"])
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env("GOTOOLCHAIN", "local")
            .output()
            .context("running `make kueue` (are make and Go installed?)")?;
        if !output.status.success() || !path.is_file() {
            anyhow::bail!(
                "`make kueue` did not build {}: {}{}",
                path.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(path)
}

/// The Kueue module's source folder and version, as `e2e/kueue/go.mod` pins them (downloaded
/// once; the Go module cache keeps it).
pub fn module() -> anyhow::Result<(PathBuf, String)> {
    let output = Command::new(std::env::var("GO").unwrap_or_else(|_| "go".into()))
        .current_dir(module_root())
        .args(["mod", "download", "-json", MODULE])
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .context("running `go mod download` (is Go installed?)")?;
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "go mod download {MODULE} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    if let Some(err) = info.get("Error").and_then(|e| e.as_str()) {
        anyhow::bail!("go mod download {MODULE}: {err}");
    }
    let dir = info
        .get("Dir")
        .and_then(|d| d.as_str())
        .context("go mod download gave no Dir")?;
    let version = info
        .get("Version")
        .and_then(|d| d.as_str())
        .context("go mod download gave no Version")?;
    Ok((PathBuf::from(dir), version.to_owned()))
}

/// Kueue's CRDs as its module publishes them (`config/components/crd/bases`). With
/// `conversion_url`, the CRDs of [`CONVERTED`] name that conversion webhook, as Kueue's own
/// kustomization does with its Service (Kueue's cert rotator waits until it injected its CA into
/// each); without, they are the bare bases a MultiKueue worker needs.
pub fn crds(conversion_url: Option<&str>) -> anyhow::Result<Vec<CustomResourceDefinition>> {
    let (dir, _) = module()?;
    let bases = dir.join("config/components/crd/bases");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&bases)
        .with_context(|| format!("reading {}", bases.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let mut crds = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut crd: CustomResourceDefinition =
            serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        if let Some(url) = conversion_url
            && CONVERTED.contains(&name.as_str())
        {
            crd.spec.conversion = Some(serde_json::from_value(json!({
                "strategy": "Webhook",
                "webhook": {"clientConfig": {"url": url}, "conversionReviewVersions": ["v1"]},
            }))?);
        }
        crds.push(crd);
    }
    Ok(crds)
}
