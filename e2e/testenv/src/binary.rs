//! Finding the control-plane binary built by `make controlplane`.

use std::path::PathBuf;

/// Environment variable naming the control-plane binary.
pub const ENV: &str = "ROSTER_CONTROLPLANE_BIN";

/// The workspace root, where `.bin/` and `target/` live.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Path of the control-plane binary: `$ROSTER_CONTROLPLANE_BIN`, else `.bin/controlplane`.
pub fn controlplane() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os(ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".bin/controlplane"));
    if !path.is_file() {
        anyhow::bail!(
            "the control-plane binary is not at {}: build it with `make controlplane` \
             (or point {ENV} at it)",
            path.display()
        );
    }
    Ok(path)
}
