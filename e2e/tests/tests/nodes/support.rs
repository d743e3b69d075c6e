//! Shared helpers of the real-node tests.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, api::ListParams};
use roster_testenv::{
    binary, command,
    image::roster as images,
    node::{NodeCluster, NodeFleet},
};

/// The hub's node cluster.
pub const HUB: &str = "hub";
/// The member's node cluster.
pub const MEMBER: &str = "member-1";

/// The folder of this run's node clusters: `target/testenv/nodes-<pid>`, emptied first.
pub fn run_dir() -> anyhow::Result<PathBuf> {
    let base = binary::workspace_root().join("target/testenv");
    std::fs::create_dir_all(&base)?;
    // Folders of finished runs (their process is gone) are removed.
    for entry in std::fs::read_dir(&base)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("nodes-")
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(base.join(format!("nodes-{}", std::process::id())))
}

/// Writes the OCI archive of Roster's image `name`, from the binary the tests run, into `dir`.
pub fn roster_image(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let binary = roster_testenv::roster::binary_path(name)?;
    let out = dir.join(format!("{name}.tar"));
    images::write(
        &images::image(name, &binary, env!("CARGO_PKG_VERSION"))?,
        &out,
    )?;
    Ok(out)
}

/// Starts the hub and member node clusters, and imports roster-hub's image into the hub;
/// prints start-up figures.
pub async fn start_fleet(dir: &Path) -> anyhow::Result<NodeFleet> {
    let started = Instant::now();
    let fleet = NodeFleet::start(dir, &[HUB, MEMBER], &[]).await?;
    eprintln!("node fleet ready in {:?}", started.elapsed());
    let imported = Instant::now();
    let hub_image = roster_image(&dir.join("images"), "roster-hub")?;
    let hub = fleet.cluster(HUB).context("no hub")?;
    hub.import(&hub_image)?;
    eprintln!(
        "roster-hub image ({} MiB) assembled and imported in {:?}",
        std::fs::metadata(&hub_image)?.len() >> 20,
        imported.elapsed()
    );
    for cluster in &fleet.clusters {
        eprintln!(
            "{}: API server ready after {:?}, node Ready after {:?}",
            cluster.name(),
            cluster.timings().apiserver_ready,
            cluster.timings().node_ready
        );
    }
    Ok(fleet)
}

/// Runs the controlplane binary's kubectl against `cluster`; fails with its stderr.
pub fn kubectl(cluster: &NodeCluster, args: &[&str]) -> anyhow::Result<String> {
    command::kubectl(&cluster.kubeconfig_path(), args)?.run()
}

/// Prints the memory of each cluster's node processes and pods.
pub fn print_memory(fleet: &NodeFleet) {
    for cluster in &fleet.clusters {
        let mut processes = cluster.process_memory();
        processes.sort_by(|a, b| a.command.cmp(&b.command));
        let rss: u64 = processes.iter().map(|p| p.rss).sum();
        let pss: u64 = processes.iter().map(|p| p.pss).sum();
        let list: Vec<String> = processes
            .iter()
            .map(|p| format!("{} {}/{}", p.command, p.rss >> 20, p.pss >> 20))
            .collect();
        eprintln!(
            "{}: node processes {} MiB RSS, {} MiB PSS (RSS/PSS MiB: {}); pods {} MiB (cgroup)",
            cluster.name(),
            rss >> 20,
            pss >> 20,
            list.join(", "),
            cluster.pods_memory_bytes().unwrap_or(0) >> 20
        );
    }
}

/// Runs `kubectl roster` (the debug binary) against `hub`'s admin kubeconfig; fails with its
/// stderr.
pub fn kubectl_roster(hub: &NodeCluster, args: &[&str]) -> anyhow::Result<String> {
    command::kubectl_roster(&hub.kubeconfig_path(), args)?.run()
}

/// Writes the archive of Roster's image `name` tagged `tag` into `dir` and imports it into
/// `cluster`; returns the image reference and the archive's size in bytes.
pub fn import_roster_image(
    cluster: &NodeCluster,
    dir: &Path,
    name: &str,
    tag: &str,
) -> anyhow::Result<(String, u64)> {
    std::fs::create_dir_all(dir)?;
    let binary = roster_testenv::roster::binary_path(name)?;
    let image = images::image(name, &binary, tag)?;
    let out = dir.join(format!("{name}-{tag}.tar"));
    images::write(&image, &out)?;
    cluster.import(&out)?;
    let size = std::fs::metadata(&out)?.len();
    Ok((image.name, size))
}

/// The memory of the pods matching `selector` in `namespace`, as their cgroups report it:
/// `name MiB` per pod.
pub async fn pods_memory(
    cluster: &NodeCluster,
    namespace: &str,
    selector: &str,
) -> anyhow::Result<Vec<String>> {
    let pods: Api<Pod> = Api::namespaced(cluster.client().await?, namespace);
    let list = pods.list(&ListParams::default().labels(selector)).await?;
    Ok(list
        .items
        .iter()
        .filter_map(|p| {
            let uid = p.metadata.uid.as_deref()?;
            let bytes = cluster.pod_memory_bytes(uid)?;
            Some(format!(
                "{} {:.1} MiB",
                p.metadata.name.as_deref().unwrap_or_default(),
                bytes as f64 / f64::from(1 << 20)
            ))
        })
        .collect())
}
