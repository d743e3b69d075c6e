//! `make dev`: a hub and two members as real control planes on this machine.

use std::path::{Path, PathBuf};

use anyhow::Context;
use roster_testenv::{Fleet, crds};

/// The members `make dev` starts.
pub const MEMBERS: [&str; 2] = ["member-1", "member-2"];

/// Starts the fleet under `dir` (`.dev/`), installs the CRDs, writes the admin kubeconfigs
/// and waits for Ctrl-C; everything stops when it returns.
pub async fn run(dir: &Path) -> anyhow::Result<()> {
    let fleet_dir = dir.join("fleet");
    // Each session starts from an empty etcd: dev state is disposable.
    if fleet_dir.exists() {
        std::fs::remove_dir_all(&fleet_dir)
            .with_context(|| format!("removing {}", fleet_dir.display()))?;
    }
    println!(
        "Starting a hub and {} members (kube-apiserver, kube-controller-manager, etcd)...",
        MEMBERS.len()
    );
    let started = std::time::Instant::now();
    let fleet = Fleet::start(&fleet_dir, &MEMBERS).await?;
    let elapsed = started.elapsed();
    let hub = fleet.hub.client().await?;
    crds::install(&hub, &roster_api::crd::all()).await?;

    let mut kubeconfigs = Vec::new();
    for cluster in fleet.clusters() {
        let path = dir.join(format!("{}.kubeconfig", cluster.name()));
        std::fs::copy(cluster.kubeconfig_path(), &path)
            .with_context(|| format!("writing {}", path.display()))?;
        kubeconfigs.push((cluster.name().to_owned(), cluster.server().to_owned(), path));
    }
    let kubectl = kubectl_hint(dir);
    print_banner(&fleet, &kubeconfigs, &kubectl);
    println!(
        "(ready in {:.1} s; {} MiB resident)",
        elapsed.as_secs_f64(),
        fleet.rss_bytes() / (1024 * 1024)
    );

    wait_for_interrupt().await?;
    println!("\nStopping the fleet...");
    drop(fleet);
    Ok(())
}

/// The kubectl to suggest: the one on PATH, else the control-plane binary's built-in kubectl
/// linked as `.bin/kubectl`.
fn kubectl_hint(dir: &Path) -> String {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("kubectl").is_file()))
        .unwrap_or(false);
    if on_path {
        return "kubectl".into();
    }
    let Ok(binary) = roster_testenv::binary::controlplane() else {
        return "kubectl".into();
    };
    let link: PathBuf = binary.with_file_name("kubectl");
    if !link.exists() {
        let _ = std::os::unix::fs::symlink(&binary, &link);
    }
    let relative = dir
        .parent()
        .and_then(|root| link.strip_prefix(root).ok())
        .map(|p| format!("./{}", p.display()));
    relative.unwrap_or_else(|| link.display().to_string())
}

fn print_banner(fleet: &Fleet, kubeconfigs: &[(String, String, PathBuf)], kubectl: &str) {
    println!("\nRoster dev fleet is up ({} clusters):", kubeconfigs.len());
    for (name, server, path) in kubeconfigs {
        println!("  {name:<10} {server:<26} {}", relative(path));
    }
    println!("\nTry:");
    println!("  {kubectl} --kubeconfig .dev/hub.kubeconfig get crds");
    println!("  {kubectl} --kubeconfig .dev/hub.kubeconfig get memberclusters");
    println!("  {kubectl} --kubeconfig .dev/hub.kubeconfig get clusterprofiles -A");
    println!("  {kubectl} --kubeconfig .dev/member-1.kubeconfig get namespaces");
    println!("\nLogs: {}/<cluster>/*.log", relative(fleet.dir()));
    println!("Press Ctrl-C to stop everything.");
}

fn relative(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

async fn wait_for_interrupt() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
