//! A fleet of node clusters on one fabric.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;

use super::{
    cgroup,
    cluster::{Binaries, NodeCluster, Setup},
    fabric::Fabric,
    plan,
};
use crate::{
    fleet::HUB,
    image::roster,
    trust::{self, TrustOptions},
};

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
    /// and `images` imported; returns once every node is Ready. When one is named
    /// [`crate::fleet::HUB`], every other cluster's API server trusts its service-account issuer
    /// (see [`crate::trust`]) and it publishes its issuer discovery.
    pub async fn start(dir: &Path, names: &[&str], images: &[PathBuf]) -> anyhow::Result<Self> {
        Self::start_with(dir, names, images, TrustOptions::default()).await
    }

    /// [`NodeFleet::start`], with the clusters `trust` names started without trusting the hub.
    pub async fn start_with(
        dir: &Path,
        names: &[&str],
        images: &[PathBuf],
        trust: TrustOptions<'_>,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        cgroup::sweep()?;
        let binaries = binaries()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let pause = dir.join("pause.tar");
        roster::write(&roster::pause_image(&binaries.node("pause"))?, &pause)?;
        let mut all_images = vec![pause];
        all_images.extend_from_slice(images);
        let fabric = Fabric::start(&binaries.controlplane, &binaries.node("pause"), dir).await?;
        // Every PKI first: members trust the hub's CA from their first start.
        let mut planned = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let plan = plan::node(index)?;
            let pki = NodeCluster::pki(name, &plan)?;
            planned.push((*name, plan, pki));
        }
        // Members reach the hub's discovery as the agents reach the hub: its node IP.
        let hub_issuer = planned
            .iter()
            .find(|(name, ..)| *name == HUB)
            .map(|(_, plan, pki)| trust::hub_issuer(HUB, &plan::apiserver_url(plan), &pki.ca_pem));
        let publish = names.iter().any(|n| *n != HUB && trust.trusts(n)) && hub_issuer.is_some();
        let starts = planned.into_iter().map(|(name, plan, pki)| {
            let (fabric, binaries, all_images) = (&fabric, &binaries, &all_images);
            let trusted = hub_issuer
                .as_ref()
                .filter(|_| name != HUB && trust.trusts(name));
            async move {
                // The members do not wait for the hub: their authenticators fetch its
                // discovery in the background once it is published.
                let setup = Setup {
                    dir: dir.join(name),
                    images: all_images,
                    pki,
                    trust: trusted,
                    publish_discovery: name == HUB && publish,
                };
                NodeCluster::start(name, plan, fabric, binaries, setup).await
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
