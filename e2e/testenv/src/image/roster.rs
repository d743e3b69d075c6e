//! Roster's images, assembled from built binaries the way `deploy/Dockerfile` builds them:
//! the binary at `/usr/local/bin/<name>`, user 65532, the Dockerfile's labels, no shell, and
//! the shared libraries the binary loads (the Dockerfile's distroless `cc` base carries glibc).

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;

use super::{
    ldd,
    oci::{self, File, Image},
};

/// The images of Roster's binaries.
pub const BINARIES: [&str; 3] = ["roster-hub", "roster-agent", "roster-credential"];
/// Their registry, as in the Makefile and the deploy manifests.
pub const REGISTRY: &str = "ghcr.io/roster-dev";
/// The user every Roster image runs as (distroless `nonroot`).
pub const USER: &str = "65532:65532";
/// The pause (sandbox) image's name, as containerd's configuration pins it.
pub const PAUSE_IMAGE: &str = crate::node::config::PAUSE_IMAGE;
/// The environment distroless sets.
const ENV: [&str; 2] = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
];
/// Host file with the CA bundle copied into the images, when present.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The labels `deploy/Dockerfile` puts on its runtime images.
pub fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "org.opencontainers.image.source".to_owned(),
            "https://github.com/roster-dev/roster".to_owned(),
        ),
        (
            "org.opencontainers.image.licenses".to_owned(),
            "Apache-2.0".to_owned(),
        ),
    ])
}

/// Where the Dockerfile puts binary `name`.
pub fn binary_path(name: &str) -> String {
    format!("/usr/local/bin/{name}")
}

/// The image reference of `name` at `tag`.
pub fn reference(name: &str, tag: &str) -> String {
    format!("{REGISTRY}/{name}:{tag}")
}

/// The image of Roster binary `name`, from the file `binary`, tagged `tag`.
pub fn image(name: &str, binary: &Path, tag: &str) -> anyhow::Result<Image> {
    let path = binary_path(name);
    let mut files = vec![read(binary, &path, 0o755)?];
    for lib in ldd::libraries(binary)? {
        files.push(read(Path::new(&lib), &lib, 0o755)?);
    }
    files.push(File {
        path: "/etc/passwd".into(),
        mode: 0o644,
        data: b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n".to_vec(),
    });
    files.push(File {
        path: "/etc/group".into(),
        mode: 0o644,
        data: b"root:x:0:\nnonroot:x:65532:\n".to_vec(),
    });
    if Path::new(CA_BUNDLE).is_file() {
        files.push(read(Path::new(CA_BUNDLE), CA_BUNDLE, 0o644)?);
    }
    Ok(Image {
        name: reference(name, tag),
        entrypoint: vec![path],
        user: USER.into(),
        labels: labels(),
        env: ENV.iter().map(|e| (*e).to_owned()).collect(),
        files,
    })
}

/// The pause image, from the static `pause` binary.
pub fn pause_image(binary: &Path) -> anyhow::Result<Image> {
    Ok(Image {
        name: PAUSE_IMAGE.into(),
        entrypoint: vec!["/pause".into()],
        user: "65535:65535".into(),
        files: vec![read(binary, "/pause", 0o755)?],
        ..Image::default()
    })
}

/// Writes the archive of `image` to `out`.
pub fn write(image: &Image, out: &Path) -> anyhow::Result<()> {
    let built = oci::build(image)?;
    std::fs::write(out, built.archive).with_context(|| format!("writing {}", out.display()))
}

fn read(from: &Path, to: &str, mode: u32) -> anyhow::Result<File> {
    Ok(File {
        path: to.to_owned(),
        mode,
        data: std::fs::read(from).with_context(|| format!("reading {}", from.display()))?,
    })
}

#[cfg(test)]
mod tests;
