//! A fleet of node clusters on one fabric.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;

use super::{
    cgroup,
    cluster::{Binaries, NodeCluster},
    fabric::Fabric,
    plan,
};
use crate::image::roster;

/// Environment variable naming the folder of containerd, ctr, the shim and pause.
pub const NODE_BIN_ENV: &str = "ROSTER_NODE_BIN_DIR";
/// Binaries of the node folder a node needs.
const NODE_BINARIES: [&str; 4] = ["containerd", "ctr", "containerd-shim-runc-v2", "pause"];

/// The node binaries, built by `make node`.
pub fn binaries() -> anyhow::Result<Binaries> {
    let controlplane = crate::binary::controlplane()?;
    let node_dir = std::env::var_os(NODE_BIN_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::binary::workspace_root().join(".bin/node"));
    for name in NODE_BINARIES {
        if !node_dir.join(name).is_file() {
            anyhow::bail!(
                "{name} is not in {}: build the node binaries with `make node`",
                node_dir.display()
            );
        }
    }
    Ok(Binaries {
        controlplane,
        node_dir,
    })
}

/// Running node clusters. Dropping it stops them all.
#[derive(Debug)]
pub struct NodeFleet {
    /// The clusters, in the order asked for.
    pub clusters: Vec<NodeCluster>,
    // Dropped last: the nodes' links go with their namespaces first.
    fabric: Fabric,
}

impl NodeFleet {
    /// Starts a fabric and one node cluster per name, in parallel, each with the pause image
    /// and `images` imported; returns once every node is Ready.
    pub async fn start(dir: &Path, names: &[&str], images: &[PathBuf]) -> anyhow::Result<Self> {
        let started = Instant::now();
        cgroup::sweep()?;
        let binaries = binaries()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let pause = dir.join("pause.tar");
        roster::write(&roster::pause_image(&binaries.node("pause"))?, &pause)?;
        let mut all_images = vec![pause];
        all_images.extend_from_slice(images);
        let fabric = Fabric::start(&binaries.controlplane, &binaries.node("pause"), dir).await?;
        let starts = names.iter().enumerate().map(|(index, name)| {
            let (fabric, binaries, all_images) = (&fabric, &binaries, &all_images);
            async move {
                let plan = plan::node(index)?;
                NodeCluster::start(name, plan, fabric, binaries, &dir.join(name), all_images).await
            }
        });
        let clusters = futures::future::try_join_all(starts).await?;
        tracing::info!(elapsed = ?started.elapsed(), clusters = clusters.len(), "node fleet ready");
        Ok(Self { clusters, fabric })
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&NodeCluster> {
        self.clusters.iter().find(|c| c.name() == name)
    }

    /// Stops every cluster, then the fabric; fails if something was left behind.
    pub fn stop(self) -> anyhow::Result<()> {
        let Self { clusters, fabric } = self;
        let mut errors = Vec::new();
        for cluster in clusters {
            if let Err(e) = cluster.stop() {
                errors.push(e.to_string());
            }
        }
        drop(fabric);
        if errors.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("stopping the node fleet: {}", errors.join("; "))
        }
    }
}
