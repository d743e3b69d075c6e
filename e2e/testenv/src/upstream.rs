//! The upstream `sigs.k8s.io/cluster-inventory-api` module, fetched through the Go module proxy,
//! for interoperability checks against its CRD and libraries.

use std::{path::PathBuf, process::Command};

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// The upstream module.
pub const MODULE: &str = "sigs.k8s.io/cluster-inventory-api";

/// The pinned upstream release whose CRD the tests compare with. v0.2.0 (which adds `v1alpha2`)
/// is not served by the Go module proxy this project can reach; v0.1.0 to v0.1.3 carry the same
/// `v1alpha1` schema (`config/` and `apis/` are identical in v0.1.0 and v0.1.3).
pub const VERSION: &str = "v0.1.0";

/// One build of the Go interop harness (`e2e/interop`) against one upstream release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibraryBuild {
    /// The upstream release linked in (`roster-interop` reports it as `libraryVersion`).
    pub version: &'static str,
    /// The go.mod file of `e2e/interop` that pins it (its go.sum is beside it, `.sum`).
    modfile: &'static str,
    /// The binary in `.bin/`.
    binary: &'static str,
}

/// Every upstream release the harness is built against by `make interop`: the first release
/// Roster was checked with, and the newest the Go module proxy serves.
pub const LIBRARY_BUILDS: [LibraryBuild; 2] = [
    LibraryBuild {
        version: "v0.1.0",
        modfile: "go.mod",
        binary: "roster-interop",
    },
    LibraryBuild {
        version: "v0.1.3",
        modfile: "go.v013.mod",
        binary: "roster-interop-v0.1.3",
    },
];

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

/// Serializes `make interop` runs of one test process.
static INTEROP_BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Path of `roster-interop` (`e2e/interop`: a Go program that reaches a member cluster from a
/// ClusterProfile through the upstream Go access library), built with `make interop` first when
/// it is missing or older than its sources.
pub fn interop_binary() -> anyhow::Result<PathBuf> {
    interop_binary_for(LIBRARY_BUILDS[0])
}

/// Path of the harness built against `build`'s upstream release (see [`interop_binary`]).
pub fn interop_binary_for(build: LibraryBuild) -> anyhow::Result<PathBuf> {
    interop_output(build.binary, build.modfile, true)
}

/// Path of the upstream `secretreader` exec plugin, built from the pinned upstream module by
/// `make interop` (first, when it is missing or older than `e2e/interop/go.mod`/`go.sum`).
pub fn secretreader_binary() -> anyhow::Result<PathBuf> {
    interop_output("secretreader", LIBRARY_BUILDS[0].modfile, false)
}

/// `.bin/<name>`, (re)built by `make interop` when missing or older than `modfile`, its go.sum
/// and (`with_go_files`) the harness's `.go` files.
fn interop_output(name: &str, modfile: &str, with_go_files: bool) -> anyhow::Result<PathBuf> {
    let root = crate::binary::workspace_root();
    let path = root.join(".bin").join(name);
    let _guard = INTEROP_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if is_stale(&path, &interop_sources(&root, modfile, with_go_files))? {
        let output = Command::new(std::env::var("MAKE").unwrap_or_else(|_| "make".into()))
            .current_dir(&root)
            .args(["--no-print-directory", "interop"])
            // A `make test` parent's jobserver is not ours to use.
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env("GOTOOLCHAIN", "local")
            .output()
            .context("running `make interop` (are make and Go installed?)")?;
        if !output.status.success() || !path.is_file() {
            anyhow::bail!(
                "`make interop` did not build {}: {}{}",
                path.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(path)
}

/// The inputs `make interop` builds a binary from (as in the Makefile).
fn interop_sources(root: &std::path::Path, modfile: &str, with_go_files: bool) -> Vec<PathBuf> {
    let dir = root.join("e2e/interop");
    let sum = modfile.strip_suffix(".mod").unwrap_or(modfile).to_owned() + ".sum";
    let mut sources = vec![dir.join(modfile), dir.join(sum)];
    if with_go_files && let Ok(entries) = std::fs::read_dir(&dir) {
        sources.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "go")),
        );
    }
    sources
}

/// Whether `output` is missing or older than any of `sources`.
pub(crate) fn is_stale(output: &std::path::Path, sources: &[PathBuf]) -> anyhow::Result<bool> {
    let Ok(built) = std::fs::metadata(output).and_then(|m| m.modified()) else {
        return Ok(true);
    };
    for source in sources {
        let modified = std::fs::metadata(source)
            .and_then(|m| m.modified())
            .with_context(|| format!("reading {}", source.display()))?;
        if modified > built {
            return Ok(true);
        }
    }
    Ok(false)
}
