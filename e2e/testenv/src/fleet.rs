//! A fleet of test clusters: one etcd, a hub and members.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;

use roster_api::federation::HubIssuer;

use crate::{
    cluster::{Cluster, LaunchOptions},
    ports::free_port,
    process::{Process, Spec},
    trust::{self, TrustOptions},
};

/// Name of the hub cluster.
pub const HUB: &str = "hub";

/// A running hub and members. Dropping it stops every process it started.
#[derive(Debug)]
pub struct Fleet {
    dir: PathBuf,
    /// The hub cluster.
    pub hub: Cluster,
    /// The member clusters, in the order asked for.
    pub members: Vec<Cluster>,
    // Dropped last: the API servers go before their storage.
    etcd: Process,
}

impl Fleet {
    /// Starts etcd, then a hub and `members` in parallel, and waits until all are ready.
    /// Every member's API server trusts the hub's service-account issuer (see
    /// [`crate::trust`]). Everything lives under `dir`.
    pub async fn start(dir: &Path, members: &[&str]) -> anyhow::Result<Self> {
        Self::start_with(dir, members, TrustOptions::default()).await
    }

    /// [`Fleet::start`], with the members `trust` names started without trusting the hub.
    pub async fn start_with(
        dir: &Path,
        members: &[&str],
        trust: TrustOptions<'_>,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let binary = crate::binary::controlplane()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let etcd = start_etcd(&binary, dir)?;
        let etcd_url = etcd_url(&etcd)?;
        let launch = |name: &str, trust: Option<&HubIssuer>| {
            Cluster::launch(
                name,
                LaunchOptions {
                    binary: &binary,
                    dir: dir.join(name),
                    etcd_url: &etcd_url,
                    trust,
                },
            )
        };
        let hub = launch(HUB, None)?;
        // Members reach the hub as the agents and `kubectl roster join` do: its URL and CA.
        let hub_issuer = trust::hub_issuer(HUB, hub.server(), hub.ca_pem());
        let members = members
            .iter()
            .map(|m| launch(m, trust.trusts(m).then_some(&hub_issuer)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let fleet = Self {
            dir: dir.to_owned(),
            hub,
            members,
            etcd,
        };
        // The members do not wait for the hub: their authenticators fetch its discovery in
        // the background once it is published.
        let publish = fleet.members.iter().any(|m| trust.trusts(m.name()));
        let hub_ready = async {
            fleet.hub.wait_ready().await?;
            if publish {
                let client = fleet.hub.client().await?;
                trust::publish_issuer_discovery(&client).await?;
            }
            anyhow::Ok(())
        };
        let members_ready =
            futures::future::try_join_all(fleet.members.iter().map(Cluster::wait_ready));
        futures::future::try_join(hub_ready, members_ready).await?;
        tracing::info!(elapsed = ?started.elapsed(), clusters = 1 + fleet.members.len(), "fleet ready");
        Ok(fleet)
    }

    /// Resident memory of every process of the fleet (etcd included), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        self.etcd.rss_bytes().unwrap_or(0) + self.clusters().map(Cluster::rss_bytes).sum::<u64>()
    }

    /// The folder holding every cluster's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The member named `name`.
    pub fn member(&self, name: &str) -> Option<&Cluster> {
        self.members.iter().find(|m| m.name() == name)
    }

    /// Every cluster, hub first.
    pub fn clusters(&self) -> impl Iterator<Item = &Cluster> {
        std::iter::once(&self.hub).chain(&self.members)
    }
}

fn start_etcd(binary: &Path, dir: &Path) -> anyhow::Result<Process> {
    let client = free_port()?;
    let peer = free_port()?;
    let args = [
        "etcd".to_owned(),
        "--name=roster-test".to_owned(),
        format!("--data-dir={}", dir.join("etcd").display()),
        format!("--listen-client-urls=http://127.0.0.1:{client}"),
        format!("--advertise-client-urls=http://127.0.0.1:{client}"),
        format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-cluster=roster-test=http://127.0.0.1:{peer}"),
        // Test data is thrown away: trade durability for speed.
        "--unsafe-no-fsync=true".to_owned(),
        "--log-level=warn".to_owned(),
    ];
    Process::spawn(Spec {
        name: "etcd".into(),
        program: binary.to_owned(),
        args: args.iter().map(Into::into).collect(),
        log: dir.join("etcd.log"),
        env: Vec::new(),
    })
}

fn etcd_url(etcd: &Process) -> anyhow::Result<String> {
    etcd.spec()
        .args
        .iter()
        .filter_map(|a| a.to_str())
        .find_map(|a| a.strip_prefix("--advertise-client-urls="))
        .map(str::to_owned)
        .context("etcd spec without client URL")
}
