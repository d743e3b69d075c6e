//! `make dev-local`: a hub and two members as real control planes without nodes, with
//! roster-hub and the agents as local processes — the fast-iteration loop (`make dev` installs
//! Roster on real nodes instead, see [`crate::dev`]).

use std::path::{Path, PathBuf};

use std::time::Duration;

use anyhow::Context;
use cluster_inventory::v1alpha1::ClusterProfile;
use kube::Api;
use roster_testenv::{Fleet, command, crds, process::Process, roster, wait};

/// How long the members may take to turn Healthy once their agents run.
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(60);

/// The members `make dev` starts.
pub const MEMBERS: [&str; 2] = ["member-1", "member-2"];

/// roster-hub's admin server at its default address, which `make dev` keeps.
const HUB_ADMIN: &str = "127.0.0.1:8080";

/// The admin address of the agent of the `index`th member: 8081 (the agent's own default
/// port) and up, so the agents do not clash on one machine.
fn agent_admin(index: usize) -> String {
    format!("127.0.0.1:{}", 8081 + index)
}

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
    install_sample_policy(&hub).await?;

    let mut kubeconfigs = Vec::new();
    for cluster in fleet.clusters() {
        let path = dir.join(format!("{}.kubeconfig", cluster.name()));
        std::fs::copy(cluster.kubeconfig_path(), &path)
            .with_context(|| format!("writing {}", path.display()))?;
        kubeconfigs.push((cluster.name().to_owned(), cluster.server().to_owned(), path));
    }
    println!(
        "Control planes ready in {:.1} s ({} MiB resident). Starting roster-hub and joining the members...",
        elapsed.as_secs_f64(),
        fleet.rss_bytes() / (1024 * 1024)
    );
    let joining = std::time::Instant::now();
    let roster = start_roster(dir, &fleet).await?;
    let kubectl = kubectl_hint(dir);
    print_banner(&fleet, &kubeconfigs, &kubectl);
    println!(
        "Both members joined and Healthy {:.1} s after roster-hub started.",
        joining.elapsed().as_secs_f64()
    );

    wait_for_interrupt().await?;
    println!("\nStopping the fleet...");
    drop(roster);
    drop(fleet);
    Ok(())
}

/// Runs roster-hub, joins every member with `kubectl roster join` and runs its agent, then
/// waits until every ClusterProfile says the member is healthy.
async fn start_roster(dir: &Path, fleet: &Fleet) -> anyhow::Result<Vec<Process>> {
    let logs = dir.join("logs");
    let hub_kubeconfig = dir.join("hub.kubeconfig");
    let hub_kubeconfig = hub_kubeconfig.display().to_string();
    let mut processes = vec![roster::spawn(
        "roster-hub",
        &[
            format!("--kubeconfig={hub_kubeconfig}"),
            // The hub creates and keeps the automount webhook configuration
            // (roster_api::webhook), pointing the API server at its default webhook address.
            format!("--webhook-url={}", webhook_url()),
        ],
        &[],
        &logs.join("roster-hub.log"),
    )?];
    for (index, member) in fleet.members.iter().enumerate() {
        let name = member.name();
        let bootstrap = dir.join(format!("{name}-bootstrap.kubeconfig"));
        let join = ["join", name, "--output", "kubeconfig", "--file"];
        command::kubectl_roster(Path::new(&hub_kubeconfig), &join)?
            .arg(&bootstrap)
            .run_async()
            .await?;
        processes.push(roster::spawn(
            "roster-agent",
            &[
                format!("--member-name={name}"),
                format!("--bootstrap-kubeconfig={}", bootstrap.display()),
                format!(
                    "--member-kubeconfig={}",
                    dir.join(format!("{name}.kubeconfig")).display()
                ),
                format!("--state-dir={}", dir.join("agents").join(name).display()),
                format!("--admin-address={}", agent_admin(index)),
                format!(
                    "--grantable-cluster-roles={}",
                    crate::fleet_settings::GRANTABLE_CLUSTER_ROLES
                ),
            ],
            &[],
            &logs.join(format!("roster-agent-{name}.log")),
        )?);
    }
    let profiles: Api<ClusterProfile> = Api::namespaced(
        fleet.hub.client().await?,
        roster_api::names::DEFAULT_INVENTORY_NAMESPACE,
    );
    for member in &fleet.members {
        let name = member.name().to_owned();
        wait::until(
            &format!("{name} healthy (see {}/)", relative(&logs)),
            HEALTHY_TIMEOUT,
            || {
                let (profiles, name) = (profiles.clone(), name.clone());
                async move {
                    let healthy = profiles
                        .get_opt(&name)
                        .await?
                        .and_then(|p| p.status)
                        .is_some_and(|s| {
                            s.conditions
                                .iter()
                                .any(|c| c.type_ == "ControlPlaneHealthy" && c.status == "True")
                        });
                    Ok(healthy.then_some(()))
                }
            },
        )
        .await?;
    }
    Ok(processes)
}

/// Links `.bin/kubectl` (the control-plane binary's built-in kubectl) and `.bin/kubectl-roster`
/// (the plugin), and returns the kubectl to suggest: the one on PATH, else `.bin/kubectl`.
pub fn kubectl_hint(dir: &Path) -> String {
    let Ok(binary) = roster_testenv::binary::controlplane() else {
        return "kubectl".into();
    };
    let link: PathBuf = binary.with_file_name("kubectl");
    if !link.exists() {
        let _ = std::os::unix::fs::symlink(&binary, &link);
    }
    if let Ok(plugin) = roster::binary_path("kubectl-roster") {
        let plugin_link = binary.with_file_name("kubectl-roster");
        let _ = std::fs::remove_file(&plugin_link);
        let _ = std::os::unix::fs::symlink(plugin, plugin_link);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("kubectl").is_file()))
        .unwrap_or(false);
    if on_path {
        return "kubectl".into();
    }
    dir.parent()
        .and_then(|root| link.strip_prefix(root).ok())
        .map(|p| format!("./{}", p.display()))
        .unwrap_or_else(|| link.display().to_string())
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
    println!("  PATH=$PWD/.bin:$PATH kubectl roster --kubeconfig .dev/hub.kubeconfig status");
    println!(
        "  {kubectl} --kubeconfig .dev/hub.kubeconfig get mutatingwebhookconfiguration {}   # automount: pods annotated {}",
        roster_api::webhook::CONFIGURATION,
        roster_api::names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS
    );
    println!("\nMetrics (and /healthz, /readyz):");
    println!("  {:<22} http://{HUB_ADMIN}/metrics", "roster-hub");
    for (index, member) in fleet.members.iter().enumerate() {
        let agent = format!("roster-agent {}", member.name());
        println!("  {agent:<22} http://{}/metrics", agent_admin(index));
    }
    println!(
        "\nLogs: {}/<cluster>/*.log and .dev/logs/",
        relative(fleet.dir())
    );
    println!("Press Ctrl-C to stop everything.");
}

pub fn relative(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

/// Where the API server reaches the local roster-hub's webhook: its default `--webhook-address`
/// (127.0.0.1:9443).
fn webhook_url() -> String {
    format!("https://127.0.0.1:9443{}", roster_api::webhook::PATH)
}

pub async fn wait_for_interrupt() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// Applies [`crate::fleet_settings::SAMPLE_POLICY`], so the README's RemoteServiceAccount examples work.
async fn install_sample_policy(hub: &kube::Client) -> anyhow::Result<()> {
    let path = roster_testenv::binary::workspace_root().join(crate::fleet_settings::SAMPLE_POLICY);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let policy: roster_api::RemoteAccessPolicy =
        serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let name = policy.metadata.name.clone().unwrap_or_default();
    kube::Api::<roster_api::RemoteAccessPolicy>::all(hub.clone())
        .patch(
            &name,
            &kube::api::PatchParams::apply(roster_api::names::CLI_FIELD_MANAGER).force(),
            &kube::api::Patch::Apply(&policy),
        )
        .await
        .with_context(|| format!("applying {}", path.display()))?;
    Ok(())
}
