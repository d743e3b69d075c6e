//! The files of one node cluster: where they live, and writing them (PKI, kubeconfigs,
//! component configurations).

use std::path::{Path, PathBuf};

use anyhow::Context;
use roster_api::federation::HubIssuer;

use super::{
    config,
    plan::{self, NodePlan},
};
use crate::{kubeconfig, pki::Pki};

/// The files of one node cluster, all under its folder.
#[derive(Clone, Debug)]
pub struct Files {
    dir: PathBuf,
}

impl Files {
    /// The files under `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    /// The cluster's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file in the cluster's folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The kubeconfig of component `who` (used inside the node).
    pub fn kubeconfig(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.kubeconfig"))
    }

    /// The folder the node's holder binds over the host paths (see `holder::PRIVATE_PATHS`).
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// The CNI configuration folder.
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.dir.join("cni")
    }

    /// containerd's socket, as seen from the host (through the node's private `/run`).
    pub fn containerd_socket(&self) -> PathBuf {
        self.root().join("run/containerd/containerd.sock")
    }
}

/// What a node cluster's files are made of, besides its name and place.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The cluster's PKI.
    pub pki: &'a Pki,
    /// Its kubelet's cgroup root.
    pub cgroup: &'a str,
    /// The hub whose service-account tokens a member's API server accepts, if any.
    pub trust: Option<&'a HubIssuer>,
}

/// Writes the PKI, kubeconfigs and configuration files of a node cluster.
pub fn write_all(
    files: &Files,
    cluster: &str,
    node: &str,
    plan: &NodePlan,
    inputs: Inputs<'_>,
) -> anyhow::Result<()> {
    let Inputs { pki, cgroup, trust } = inputs;
    let write = |name: &str, content: &str| -> anyhow::Result<()> {
        let path = files.file(name);
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))
    };
    if let Some(hub) = trust {
        write(
            crate::trust::AUTHENTICATION_CONFIG,
            &crate::trust::member_config(cluster, hub)?,
        )?;
    }
    write("ca.crt", &pki.ca_pem)?;
    write("apiserver.crt", &pki.serving.cert_pem)?;
    write("apiserver.key", &pki.serving.key_pem)?;
    write("sa.key", &pki.service_account_key_pem)?;
    write("sa.pub", &pki.service_account_public_pem)?;
    let kubelet_client =
        pki.client_cert("kube-apiserver-kubelet-client", Some("system:masters"))?;
    write("apiserver-kubelet-client.crt", &kubelet_client.cert_pem)?;
    write("apiserver-kubelet-client.key", &kubelet_client.key_pem)?;
    // Components inside the node reach the API server on the node's loopback.
    let inside = format!("https://127.0.0.1:{}", plan::APISERVER_PORT);
    let identities = [
        (
            "controller-manager",
            "system:kube-controller-manager".to_owned(),
            None,
        ),
        ("scheduler", "system:kube-scheduler".to_owned(), None),
        (
            "kubelet",
            format!("system:node:{node}"),
            Some("system:nodes"),
        ),
        ("kube-proxy", "system:kube-proxy".to_owned(), None),
    ];
    for (who, user, group) in identities {
        let cert = pki.client_cert(&user, group)?;
        let config = kubeconfig::client_cert_kubeconfig(cluster, &inside, &pki.ca_pem, &cert);
        write(&format!("{who}.kubeconfig"), &kubeconfig::to_yaml(&config)?)?;
    }
    std::fs::create_dir_all(files.cni_conf_dir())?;
    std::fs::write(
        files.cni_conf_dir().join("10-roster.conflist"),
        config::cni(plan),
    )?;
    write(
        "containerd.toml",
        &config::containerd(&files.cni_conf_dir()),
    )?;
    write(
        "kubelet.json",
        &config::kubelet(&config::KubeletInputs {
            plan,
            cgroup_root: &format!("/{cgroup}"),
            client_ca_file: &files.file("ca.crt"),
        }),
    )?;
    write(
        "kube-proxy.json",
        &config::kube_proxy(plan, node, &files.kubeconfig("kube-proxy")),
    )
}
