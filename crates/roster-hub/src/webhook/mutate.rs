//! The automount mutation, pure: given a pod and what to mount, the JSON patch that mounts each
//! `<rsa>-<cluster>` token Secret read-only at `/var/run/secrets/roster.dev/<rsa>/<cluster>` in
//! every container and init container. For a federated RemoteServiceAccount the folder is a
//! projected volume instead: the `<rsa>-<cluster>` ConfigMap (server, CA, kubeconfig) and the
//! pod's own service-account token for the member's audience (`roster:<cluster>`) at `token`,
//! which the kubelet requests and rotates; no Secret is involved.
//!
//! The patch is idempotent: a volume the pod already has is not added again, and a container
//! that already mounts something at the path keeps it (as Kubernetes' own service account
//! admission does), so a reinvocation (`reinvocationPolicy: IfNeeded`) only adds what a later
//! webhook's new containers lack.

use json_patch::{AddOperation, Patch, PatchOperation, jsonptr::PointerBuf};
use k8s_openapi::api::core::v1::{
    ConfigMapProjection, Container, Pod, ProjectedVolumeSource, SecretVolumeSource,
    ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
};
use roster_api::{federation, names};
use serde_json::Value;

use crate::access::desired::mount_dir;

/// The clusters whose credentials one RemoteServiceAccount mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The RemoteServiceAccount's name.
    pub rsa: String,
    /// Its target clusters, in order.
    pub clusters: Vec<String>,
    /// Federated access: the lifetime of the projected tokens, in seconds; `None` mounts the
    /// token Secrets.
    pub federated: Option<i64>,
}

/// Longest volume name Kubernetes accepts (a DNS label).
const MAX_VOLUME_NAME: usize = 63;

/// Name of the pod volume holding `rsa`'s Secret for `cluster`: `roster-<rsa>-<cluster>`
/// (dots turned into dashes, cut to fit) and a hash of both names, so it is a valid DNS label,
/// the same on every call, and different for different pairs even when the readable part
/// is ambiguous (`a-b` + `c` versus `a` + `b-c`) or cut.
pub fn volume_name(rsa: &str, cluster: &str) -> String {
    let hash = format!(
        "{:08x}",
        fnv1a(format!("{rsa}/{cluster}").as_bytes()) as u32
    );
    let prefix = "roster-";
    let room = MAX_VOLUME_NAME - prefix.len() - 1 - hash.len();
    let readable: String = format!("{rsa}-{cluster}")
        .chars()
        .map(|c| if c == '.' { '-' } else { c })
        .take(room)
        .collect();
    format!("{prefix}{}-{hash}", readable.trim_end_matches('-'))
}

/// 64-bit FNV-1a: tiny, stable across releases and platforms (unlike std's hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Why a pod cannot get its mounts.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The pod's own volume takes the name Roster needs.
    #[error(
        "the pod already has a volume named {volume:?} that is not {secret}; Roster needs that \
         name to mount {path} — rename the pod's volume"
    )]
    VolumeNameTaken {
        /// The volume name.
        volume: String,
        /// The Secret Roster mounts under it.
        secret: String,
        /// Where.
        path: String,
    },
    /// A volume or mount could not be encoded.
    #[error("encoding the patch: {0}")]
    Encode(serde_json::Error),
}

/// One volume to mount.
struct Wanted {
    volume: String,
    /// The Secret, or with `audience` the ConfigMap, of that name.
    object: String,
    path: String,
    /// Federated access: the projected token's audience and lifetime.
    token: Option<(String, i64)>,
}

impl Wanted {
    /// What the volume holds, as error messages name it.
    fn describe(&self) -> String {
        match self.token {
            None => format!("Secret {:?}", self.object),
            Some(_) => format!("the projection of ConfigMap {:?}", self.object),
        }
    }

    /// Whether `volume` is this one (as an earlier pass of this webhook added it).
    fn is(&self, volume: &Volume) -> bool {
        match self.token {
            None => secret_of(volume) == Some(self.object.as_str()),
            Some(_) => volume.projected.as_ref().is_some_and(|p| {
                p.sources.iter().flatten().any(|s| {
                    s.config_map.as_ref().map(|c| c.name.as_str()) == Some(self.object.as_str())
                })
            }),
        }
    }
}

/// The JSON patch mounting `mounts` into `pod`; empty when there is nothing to add. Errs when
/// the pod already has a volume of the same name that is not the same Secret.
pub fn patch(pod: &Pod, mounts: &[Mount]) -> Result<Patch, PatchError> {
    let Some(spec) = pod.spec.as_ref() else {
        return Ok(Patch(Vec::new()));
    };
    let wanted: Vec<Wanted> = mounts
        .iter()
        .flat_map(|m| {
            m.clusters.iter().map(|cluster| Wanted {
                volume: volume_name(&m.rsa, cluster),
                object: names::token_secret_name(&m.rsa, cluster),
                path: mount_dir(&m.rsa, cluster),
                token: m
                    .federated
                    .map(|seconds| (federation::audience(cluster), seconds)),
            })
        })
        .collect();

    let existing = spec.volumes.as_deref().unwrap_or_default();
    let mut volumes = Vec::new();
    for w in &wanted {
        match existing.iter().find(|v| v.name == w.volume) {
            None => volumes.push(volume(w)?),
            Some(v) if w.is(v) => {}
            Some(_) => {
                return Err(PatchError::VolumeNameTaken {
                    volume: w.volume.clone(),
                    secret: w.describe(),
                    path: w.path.clone(),
                });
            }
        }
    }

    let mut ops = Vec::new();
    append(
        &mut ops,
        &["spec", "volumes"],
        spec.volumes.is_some(),
        volumes,
    );
    let kinds = [
        (
            "initContainers",
            spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("containers", spec.containers.as_slice()),
    ];
    for (field, containers) in kinds {
        for (i, container) in containers.iter().enumerate() {
            let mounts = wanted
                .iter()
                .filter(|w| !mounts_already(container, w))
                .map(volume_mount)
                .collect::<Result<Vec<_>, _>>()?;
            let index = i.to_string();
            append(
                &mut ops,
                &["spec", field, &index, "volumeMounts"],
                container.volume_mounts.is_some(),
                mounts,
            );
        }
    }
    Ok(Patch(ops))
}

fn secret_of(volume: &Volume) -> Option<&str> {
    volume.secret.as_ref()?.secret_name.as_deref()
}

/// Whether `container` already mounts `w`'s volume, or something else at its path (which the
/// pod's author chose; a second mount there would make the pod invalid).
fn mounts_already(container: &Container, w: &Wanted) -> bool {
    container
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.name == w.volume || m.mount_path.trim_end_matches('/') == w.path)
}

/// The Secret volume. Optional: the Secret appears only once the member's agent has delivered
/// a token, and a pod must not be stuck in ContainerCreating because one of many members is
/// slow or down; the kubelet fills the folder in when the Secret appears.
/// For federated access, the projected volume: the ConfigMap (optional for the same reason)
/// and the pod's own token for the member's audience.
fn volume(w: &Wanted) -> Result<Value, PatchError> {
    let Some((audience, seconds)) = &w.token else {
        return to_value(&Volume {
            name: w.volume.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(w.object.clone()),
                optional: Some(true),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    };
    to_value(&Volume {
        name: w.volume.clone(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(vec![
                VolumeProjection {
                    config_map: Some(ConfigMapProjection {
                        name: w.object.clone(),
                        optional: Some(true),
                        ..ConfigMapProjection::default()
                    }),
                    ..VolumeProjection::default()
                },
                VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        audience: Some(audience.clone()),
                        expiration_seconds: Some(*seconds),
                        path: names::token_secret::TOKEN.to_owned(),
                        ..ServiceAccountTokenProjection::default()
                    }),
                    ..VolumeProjection::default()
                },
            ]),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    })
}

fn volume_mount(w: &Wanted) -> Result<Value, PatchError> {
    to_value(&VolumeMount {
        name: w.volume.clone(),
        mount_path: w.path.clone(),
        read_only: Some(true),
        ..VolumeMount::default()
    })
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, PatchError> {
    serde_json::to_value(value).map_err(PatchError::Encode)
}

/// Adds `values` to the array at `path`: item by item when it exists, else the whole array.
fn append(ops: &mut Vec<PatchOperation>, path: &[&str], exists: bool, values: Vec<Value>) {
    if values.is_empty() {
        return;
    }
    if exists {
        for value in values {
            let mut path = PointerBuf::from_tokens(path.iter().copied());
            path.push_back("-");
            ops.push(PatchOperation::Add(AddOperation { path, value }));
        }
    } else {
        ops.push(PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(path.iter().copied()),
            value: Value::Array(values),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(value: Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn two_by_two() -> Vec<Mount> {
        vec![
            Mount {
                rsa: "deployer".into(),
                clusters: vec!["member-1".into(), "member-2".into()],
                federated: None,
            },
            Mount {
                rsa: "reader".into(),
                clusters: vec!["member-1".into(), "member-2".into()],
                federated: None,
            },
        ]
    }

    fn apply(pod: &Pod, patch: &Patch) -> Pod {
        let mut doc = serde_json::to_value(pod).unwrap();
        json_patch::patch(&mut doc, patch).unwrap();
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn volume_names_are_labels_stable_and_distinct() {
        assert_eq!(
            volume_name("deployer", "member-1"),
            volume_name("deployer", "member-1")
        );
        assert!(volume_name("deployer", "member-1").starts_with("roster-deployer-member-1-"));
        assert_ne!(volume_name("a-b", "c"), volume_name("a", "b-c"));
        let long = volume_name(&"r".repeat(63), &"c".repeat(49));
        let dotted = volume_name("my.rsa", "member-1");
        for name in [long.as_str(), dotted.as_str()] {
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
            assert!(!name.ends_with('-') && !name.contains("--"), "{name}");
        }
        assert_ne!(long, volume_name(&"r".repeat(63), &"c".repeat(48)));
        // Pinned: changing the scheme would make reinvocations add a second copy to pods
        // admitted by an older hub.
        assert_eq!(
            volume_name("deployer", "member-1"),
            format!(
                "roster-deployer-member-1-{:08x}",
                fnv1a(b"deployer/member-1") as u32
            )
        );
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn golden_patch_for_two_containers_an_init_container_and_two_by_two() {
        let pod = pod(json!({
            "metadata": {"generateName": "app-", "namespace": "team-a"},
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [
                    {"name": "app", "image": "app", "volumeMounts": [
                        {"name": "data", "mountPath": "/data"}
                    ]},
                    {"name": "sidecar", "image": "sidecar"}
                ],
                "volumes": [{"name": "data", "emptyDir": {}}]
            }
        }));
        let patch = patch(&pod, &two_by_two()).unwrap();
        let v = |rsa: &str, c: &str| volume_name(rsa, c);
        let volume = |rsa: &str, c: &str| json!({"name": v(rsa, c), "secret": {"secretName": format!("{rsa}-{c}"), "optional": true}});
        let mount = |rsa: &str, c: &str| json!({"name": v(rsa, c), "mountPath": format!("/var/run/secrets/roster.dev/{rsa}/{c}"), "readOnly": true});
        let all_mounts = json!([
            mount("deployer", "member-1"),
            mount("deployer", "member-2"),
            mount("reader", "member-1"),
            mount("reader", "member-2"),
        ]);
        let mut expected = Vec::new();
        for (rsa, c) in [
            ("deployer", "member-1"),
            ("deployer", "member-2"),
            ("reader", "member-1"),
            ("reader", "member-2"),
        ] {
            expected.push(json!({"op": "add", "path": "/spec/volumes/-", "value": volume(rsa, c)}));
        }
        expected.push(json!({"op": "add", "path": "/spec/initContainers/0/volumeMounts", "value": all_mounts}));
        for (rsa, c) in [
            ("deployer", "member-1"),
            ("deployer", "member-2"),
            ("reader", "member-1"),
            ("reader", "member-2"),
        ] {
            expected.push(json!({"op": "add", "path": "/spec/containers/0/volumeMounts/-", "value": mount(rsa, c)}));
        }
        expected.push(
            json!({"op": "add", "path": "/spec/containers/1/volumeMounts", "value": all_mounts}),
        );
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            Value::Array(expected)
        );
    }

    #[test]
    fn the_patched_pod_mounts_everything_everywhere_and_a_second_pass_adds_nothing() {
        let original = pod(json!({
            "spec": {
                "initContainers": [{"name": "init"}],
                "containers": [{"name": "a"}, {"name": "b"}]
            }
        }));
        let patched = apply(&original, &patch(&original, &two_by_two()).unwrap());
        let spec = patched.spec.as_ref().unwrap();
        assert_eq!(spec.volumes.as_ref().unwrap().len(), 4);
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter());
        for c in containers {
            let paths: Vec<_> = c
                .volume_mounts
                .iter()
                .flatten()
                .map(|m| (m.mount_path.as_str(), m.read_only))
                .collect();
            assert_eq!(
                paths,
                [
                    ("/var/run/secrets/roster.dev/deployer/member-1", Some(true)),
                    ("/var/run/secrets/roster.dev/deployer/member-2", Some(true)),
                    ("/var/run/secrets/roster.dev/reader/member-1", Some(true)),
                    ("/var/run/secrets/roster.dev/reader/member-2", Some(true)),
                ],
                "{}",
                c.name
            );
        }
        assert_eq!(patch(&patched, &two_by_two()).unwrap(), Patch(Vec::new()));
    }

    #[test]
    fn a_reinvocation_mounts_only_into_containers_added_since() {
        let original = pod(json!({"spec": {"containers": [{"name": "a"}]}}));
        let mounts = &two_by_two()[..1];
        let mut patched = apply(&original, &patch(&original, mounts).unwrap());
        // Another webhook adds a sidecar; the API server calls this webhook again.
        let spec = patched.spec.as_mut().unwrap();
        spec.containers.push(Container {
            name: "injected".into(),
            ..Container::default()
        });
        let again = patch(&patched, mounts).unwrap();
        let paths: Vec<String> = again.0.iter().map(|op| op.path().to_string()).collect();
        assert_eq!(paths, ["/spec/containers/1/volumeMounts"]);
    }

    #[test]
    fn a_path_the_pod_already_uses_is_left_alone() {
        let original = pod(
            json!({"spec": {"containers": [{"name": "a", "volumeMounts": [
            {"name": "mine", "mountPath": "/var/run/secrets/roster.dev/deployer/member-1/"}
        ]}], "volumes": [{"name": "mine", "emptyDir": {}}]}}),
        );
        let mounts = [Mount {
            rsa: "deployer".into(),
            clusters: vec!["member-1".into()],
            federated: None,
        }];
        let patch = patch(&original, &mounts).unwrap();
        // The volume is added (harmless), the container keeps its own mount.
        let value = serde_json::to_value(&patch).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 1, "{value}");
        assert_eq!(value[0]["path"], "/spec/volumes/-");
    }

    #[test]
    fn a_foreign_volume_with_our_name_is_an_error() {
        let name = volume_name("deployer", "member-1");
        let original = pod(json!({"spec": {"containers": [{"name": "a"}],
            "volumes": [{"name": name, "emptyDir": {}}]}}));
        let mounts = [Mount {
            rsa: "deployer".into(),
            clusters: vec!["member-1".into()],
            federated: None,
        }];
        assert_eq!(
            patch(&original, &mounts).unwrap_err().to_string(),
            format!(
                "the pod already has a volume named \"{name}\" that is not Secret \
                 \"deployer-member-1\"; Roster needs that name to mount \
                 /var/run/secrets/roster.dev/deployer/member-1 — rename the pod's volume"
            )
        );
    }

    #[test]
    fn federated_mounts_project_the_config_map_and_the_pods_own_token() {
        let original = pod(json!({"spec": {"containers": [{"name": "a"}]}}));
        let mounts = [Mount {
            rsa: "ci".into(),
            clusters: vec!["member-1".into()],
            federated: Some(1200),
        }];
        let patched = apply(&original, &patch(&original, &mounts).unwrap());
        let spec = patched.spec.as_ref().unwrap();
        let volume = serde_json::to_value(&spec.volumes.as_ref().unwrap()[0]).unwrap();
        assert_eq!(
            volume,
            json!({"name": volume_name("ci", "member-1"), "projected": {"sources": [
                {"configMap": {"name": "ci-member-1", "optional": true}},
                {"serviceAccountToken": {"audience": "roster:member-1",
                    "expirationSeconds": 1200, "path": "token"}},
            ]}})
        );
        assert!(!volume.to_string().contains("secret"), "no Secret at all");
        assert_eq!(
            spec.containers[0].volume_mounts.as_ref().unwrap()[0].mount_path,
            "/var/run/secrets/roster.dev/ci/member-1"
        );
        assert_eq!(
            patch(&patched, &mounts).unwrap(),
            Patch(Vec::new()),
            "idempotent"
        );
    }

    #[test]
    fn nothing_to_mount_is_an_empty_patch() {
        let original = pod(json!({"spec": {"containers": [{"name": "a"}]}}));
        assert_eq!(patch(&original, &[]).unwrap(), Patch(Vec::new()));
        let no_clusters = [Mount {
            rsa: "idle".into(),
            clusters: vec![],
            federated: None,
        }];
        assert_eq!(patch(&original, &no_clusters).unwrap(), Patch(Vec::new()));
        assert_eq!(
            patch(&Pod::default(), &two_by_two()).unwrap(),
            Patch(Vec::new())
        );
    }
}
