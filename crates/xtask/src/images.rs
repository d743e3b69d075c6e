//! `xtask images`: Roster's images as OCI archives, assembled from built binaries without a
//! registry or a container engine (see `roster_testenv::image`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use roster_testenv::image::roster;

/// Writes `<name>.tar` for each Roster binary in `bin_dir` (tagged `tag`) and `pause.tar` from
/// `pause` into `out`; returns the archives written.
pub fn write_all(
    bin_dir: &Path,
    pause: &Path,
    tag: &str,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    for name in roster::BINARIES {
        let binary = bin_dir.join(name);
        let archive = out.join(format!("{name}.tar"));
        roster::write(&roster::image(name, &binary, tag)?, &archive)?;
        written.push(archive);
    }
    let archive = out.join("pause.tar");
    roster::write(&roster::pause_image(pause)?, &archive)?;
    written.push(archive);
    Ok(written)
}
