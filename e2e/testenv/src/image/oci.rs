//! OCI image archives (an image layout in a tar), ready for `ctr images import`: one
//! uncompressed layer, a config, a manifest, and an index naming the image for containerd.

use std::collections::{BTreeMap, BTreeSet};

use ring::digest::{SHA256, digest};
use serde_json::{Value, json};

use super::tar::{self, Entry};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// A file placed in the image.
#[derive(Clone, Debug)]
pub struct File {
    /// Absolute path inside the image.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Content.
    pub data: Vec<u8>,
}

/// What an image holds and how it runs.
#[derive(Clone, Debug, Default)]
pub struct Image {
    /// Full reference, `registry/repository:tag`.
    pub name: String,
    /// `ENTRYPOINT`, exec form.
    pub entrypoint: Vec<String>,
    /// `USER`, `uid:gid`; empty for root.
    pub user: String,
    /// `LABEL`s.
    pub labels: BTreeMap<String, String>,
    /// `ENV`, `NAME=value`.
    pub env: Vec<String>,
    /// The files of its one layer.
    pub files: Vec<File>,
}

/// A built image: its config (for checks) and the archive.
#[derive(Debug)]
pub struct Built {
    /// The image config JSON.
    pub config: Value,
    /// The tar entries of the layer.
    pub layer: Vec<Entry>,
    /// The OCI layout archive.
    pub archive: Vec<u8>,
}

/// The config's `config` part: how a container of the image runs.
pub fn runtime_config(image: &Image) -> Value {
    json!({
        "User": image.user,
        "Entrypoint": image.entrypoint,
        "Env": image.env,
        "Labels": image.labels,
        "WorkingDir": "/",
    })
}

/// The layer's entries: every parent folder once, then the files, in path order.
pub fn layer_entries(files: &[File]) -> Vec<Entry> {
    let mut dirs = BTreeSet::new();
    for file in files {
        let mut path = file.path.trim_start_matches('/');
        while let Some((parent, _)) = path.rsplit_once('/') {
            dirs.insert(parent.to_owned());
            path = parent;
        }
    }
    let mut entries: Vec<Entry> = dirs
        .into_iter()
        .map(|path| Entry::Dir { path, mode: 0o755 })
        .collect();
    let mut files = files.to_vec();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    entries.extend(files.into_iter().map(|f| Entry::File {
        path: f.path.trim_start_matches('/').to_owned(),
        mode: f.mode,
        data: f.data,
    }));
    entries
}

/// Builds the image's archive.
pub fn build(image: &Image) -> anyhow::Result<Built> {
    let layer = layer_entries(&image.files);
    let layer_bytes = tar::archive(&layer)?;
    let layer_digest = sha256(&layer_bytes);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": runtime_config(image),
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "roster-testenv image assembly"}],
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor(CONFIG, &config_bytes),
        "layers": [descriptor(LAYER, &layer_bytes)],
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let tag = image.name.rsplit_once(':').map_or("latest", |(_, t)| t);
    let mut manifest_ref = descriptor(MANIFEST, &manifest_bytes);
    manifest_ref["platform"] = json!({"architecture": "amd64", "os": "linux"});
    manifest_ref["annotations"] = json!({
        "io.containerd.image.name": image.name,
        "org.opencontainers.image.ref.name": tag,
    });
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [manifest_ref]});
    let blob = |bytes: &[u8]| Entry::File {
        path: format!("blobs/sha256/{}", hex(bytes)),
        mode: 0o644,
        data: bytes.to_vec(),
    };
    let archive = tar::archive(&[
        Entry::File {
            path: "oci-layout".into(),
            mode: 0o644,
            data: br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        },
        Entry::File {
            path: "index.json".into(),
            mode: 0o644,
            data: serde_json::to_vec(&index)?,
        },
        Entry::Dir {
            path: "blobs".into(),
            mode: 0o755,
        },
        Entry::Dir {
            path: "blobs/sha256".into(),
            mode: 0o755,
        },
        blob(&layer_bytes),
        blob(&config_bytes),
        blob(&manifest_bytes),
    ])?;
    Ok(Built {
        config,
        layer,
        archive,
    })
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256(bytes), "size": bytes.len()})
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(bytes))
}

fn hex(bytes: &[u8]) -> String {
    digest(&SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_once() {
        let file = |path: &str| File {
            path: path.into(),
            mode: 0o755,
            data: Vec::new(),
        };
        let entries = layer_entries(&[file("/usr/local/bin/a"), file("/usr/lib/b")]);
        let paths: Vec<_> = entries
            .iter()
            .map(|e| match e {
                Entry::Dir { path, .. } | Entry::File { path, .. } => path.as_str(),
            })
            .collect();
        assert_eq!(
            paths,
            [
                "usr",
                "usr/lib",
                "usr/local",
                "usr/local/bin",
                "usr/lib/b",
                "usr/local/bin/a"
            ]
        );
    }

    #[test]
    fn the_config_names_its_layer_and_the_index_names_the_image() -> anyhow::Result<()> {
        let built = build(&Image {
            name: "roster.test/x:v1".into(),
            entrypoint: vec!["/x".into()],
            user: "65532:65532".into(),
            files: vec![File {
                path: "/x".into(),
                mode: 0o755,
                data: b"bin".to_vec(),
            }],
            ..Image::default()
        })?;
        assert_eq!(built.config["config"]["Entrypoint"][0], "/x");
        assert_eq!(built.config["config"]["User"], "65532:65532");
        let diff_id = built.config["rootfs"]["diff_ids"][0].as_str().unwrap_or("");
        assert!(diff_id.starts_with("sha256:") && diff_id.len() == 71);
        let text = String::from_utf8_lossy(&built.archive);
        assert!(text.contains(r#""io.containerd.image.name":"roster.test/x:v1""#));
        assert!(text.contains(r#""architecture":"amd64""#));
        Ok(())
    }
}
