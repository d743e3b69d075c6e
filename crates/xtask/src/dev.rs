//! `make dev`: a hub and two members as real control planes with real nodes, Roster installed
//! the way users install it — images loaded into the nodes, `kubectl apply -k deploy/hub` on
//! the hub, `kubectl roster join` manifests applied on the members.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use anyhow::Context;
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Pod};
use kube::{Api, api::ListParams};
use roster_api::{MemberCluster, names};
use roster_testenv::{
    binary, command,
    image::roster as images,
    node::{NodeFleet, forward::Forwarder, pods},
    roster, wait,
};

use crate::dev_local::{MEMBERS, kubectl_hint, relative};
use crate::fleet_settings::{GRANTABLE_CLUSTER_ROLES, SAMPLE_POLICY};

/// The hub's node cluster.
const HUB: &str = "hub";

/// The namespace of roster-hub on the hub and of the agents on the members.
const SYSTEM_NAMESPACE: &str = "roster-system";
/// roster-hub's pods.
const HUB_SELECTOR: &str = "app.kubernetes.io/name=roster-hub";
/// The replicas of deploy/hub's Deployment.
const HUB_REPLICAS: usize = 2;
/// roster-hub's leader-election Lease in [`SYSTEM_NAMESPACE`].
const HUB_LEASE: &str = "roster-hub";
/// roster-hub's admin port in its pods, and its default address on this machine.
const HUB_ADMIN_PORT: u16 = 8080;
/// The agent's admin port in its pod.
const AGENT_ADMIN_PORT: u16 = 8081;
/// How long pods may take to turn Ready, and members Joined, on a busy 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the admin forwarder looks for the leader.
const LEADER_POLL: Duration = Duration::from_secs(2);

/// What `make dev` keeps running until it is interrupted. Dropping it stops everything: the
/// leader watch, the admin forwarder, then the node clusters and their fabric.
struct Dev {
    leader_watch: AbortOnDrop,
    admin: Result<Forwarder, String>,
    fleet: NodeFleet,
}

/// A background task that ends when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts everything under `dir` (`.dev/`), prints what to try and, unless `check_and_exit`,
/// waits for Ctrl-C or SIGTERM; everything stops when it returns.
pub async fn run(dir: &Path, check_and_exit: bool) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered first: an interrupt during start-up stops what has started, too.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let started = Instant::now();
    let stopped = "\nInterrupted during start-up; stopped everything.";
    // Dropping the start-up future stops whatever it had started.
    let dev = tokio::select! {
        dev = start(dir, started) => dev?,
        _ = interrupt.recv() => {
            println!("{stopped}");
            return Ok(());
        }
        _ = terminate.recv() => {
            println!("{stopped}");
            return Ok(());
        }
    };
    if !check_and_exit {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
    println!("\nStopping the node clusters...");
    let stopping = Instant::now();
    let Dev {
        leader_watch,
        admin,
        fleet,
    } = dev;
    drop((leader_watch, admin));
    tokio::task::spawn_blocking(move || fleet.stop()).await??;
    println!(
        "Stopped in {:.1} s; nothing left running.",
        stopping.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn start(dir: &Path, started: Instant) -> anyhow::Result<Dev> {
    let nodes_dir = dir.join("nodes");
    // Each session starts from empty clusters: dev state is disposable.
    for old in [&nodes_dir, &dir.join("images"), &dir.join("join")] {
        if old.exists() {
            std::fs::remove_dir_all(old).with_context(|| format!("removing {}", old.display()))?;
        }
    }
    let clusters: Vec<&str> = std::iter::once(HUB).chain(MEMBERS).collect();
    println!(
        "Starting {} node clusters ({}): control plane, containerd, kubelet, kube-proxy each...",
        clusters.len(),
        clusters.join(", ")
    );
    // The image archives are assembled while the clusters start.
    let image_dir = dir.join("images");
    let assembling = tokio::task::spawn_blocking(move || assemble_images(&image_dir));
    let fleet = NodeFleet::start(&nodes_dir, &clusters, &[]).await?;
    let archives = assembling.await??;
    let nodes_ready = started.elapsed();
    println!(
        "Nodes Ready in {:.1} s. Importing images...",
        nodes_ready.as_secs_f64()
    );
    let hub = fleet.cluster(HUB).context("no hub")?;
    for cluster in &fleet.clusters {
        let wanted: &[&str] = if cluster.name() == HUB {
            &["roster-hub", "roster-credential"]
        } else {
            &["roster-agent"]
        };
        for name in wanted {
            cluster.import(&archives.join(format!("{name}.tar")))?;
        }
    }

    let mut kubeconfigs = Vec::new();
    for cluster in &fleet.clusters {
        let path = dir.join(format!("{}.kubeconfig", cluster.name()));
        std::fs::copy(cluster.kubeconfig_path(), &path)
            .with_context(|| format!("writing {}", path.display()))?;
        kubeconfigs.push((cluster.name().to_owned(), cluster.server().to_owned(), path));
    }
    let hub_kubeconfig = dir.join("hub.kubeconfig");

    println!("kubectl apply -k deploy/hub");
    let applied = Instant::now();
    let deploy_hub = binary::workspace_root().join("deploy/hub");
    let apply = ["apply", "-k", &deploy_hub.display().to_string()];
    command::kubectl(&hub_kubeconfig, &apply)?.run()?;
    pods::wait_ready(
        hub,
        SYSTEM_NAMESPACE,
        HUB_SELECTOR,
        HUB_REPLICAS,
        READY_TIMEOUT,
    )
    .await?;
    let hub_ready = applied.elapsed();
    let policy = binary::workspace_root().join(SAMPLE_POLICY);
    println!("kubectl apply -f {SAMPLE_POLICY}");
    command::kubectl(
        &hub_kubeconfig,
        &["apply", "-f", &policy.display().to_string()],
    )?
    .run()?;
    println!(
        "roster-hub: {HUB_REPLICAS} pods Ready {:.1} s after kubectl apply.",
        hub_ready.as_secs_f64()
    );
    let leader_target: Arc<RwLock<Option<SocketAddr>>> = Arc::default();
    let leader_watch = tokio::spawn(follow_leader(hub.client().await?, leader_target.clone()));
    let admin = hub
        .forward(
            SocketAddr::from(([127, 0, 0, 1], HUB_ADMIN_PORT)),
            leader_target,
        )
        .map_err(|e| format!("{e:#}"));
    let dev = Dev {
        leader_watch: AbortOnDrop(leader_watch),
        admin,
        fleet,
    };

    let joining = Instant::now();
    let hub = dev.fleet.cluster(HUB).context("no hub")?;
    let join_dir = dir.join("join");
    std::fs::create_dir_all(&join_dir)?;
    let agent_image = images::reference("roster-agent", env!("CARGO_PKG_VERSION"));
    for member in dev.fleet.clusters.iter().filter(|c| c.name() != HUB) {
        let name = member.name();
        let manifest = join_dir.join(format!("{name}.yaml"));
        println!(
            "kubectl roster join {name} --agent-image {agent_image} --hub-server {} \
             --agent-api-server-url {} --grantable-cluster-roles {GRANTABLE_CLUSTER_ROLES}",
            hub.fleet_server(),
            member.fleet_server()
        );
        join(
            &hub_kubeconfig,
            name,
            &agent_image,
            &hub.fleet_server(),
            &member.fleet_server(),
            &manifest,
        )
        .await?;
        let member_kubeconfig = dir.join(format!("{name}.kubeconfig"));
        println!(
            "kubectl --kubeconfig {} apply -f {}",
            relative(&member_kubeconfig),
            relative(&manifest)
        );
        let apply = ["apply", "-f", &manifest.display().to_string()];
        command::kubectl(&member_kubeconfig, &apply)?.run()?;
    }
    let members: Api<MemberCluster> = Api::all(hub.client().await?);
    for member in dev.fleet.clusters.iter().filter(|c| c.name() != HUB) {
        wait_joined_and_healthy(&members, member.name()).await?;
    }
    let joined = joining.elapsed();
    let total = started.elapsed();
    let kubectl_cmd = kubectl_hint(dir);
    let agents = agent_pods(&dev.fleet).await;
    print_banner(&dev, &nodes_dir, &kubeconfigs, &kubectl_cmd, &agents);
    println!(
        "\nStarted in {:.1} s: nodes Ready {:.1} s, roster-hub Ready {:.1} s after apply, \
         both members Joined and healthy {:.1} s after the first join.",
        total.as_secs_f64(),
        nodes_ready.as_secs_f64(),
        hub_ready.as_secs_f64(),
        joined.as_secs_f64()
    );
    println!("Press Ctrl-C to stop everything.");
    Ok(dev)
}

/// Assembles the OCI archives of Roster's images from the binaries `make dev` built
/// (`target/debug`), tagged with the workspace version — the names and tag `deploy/hub` and
/// `kubectl roster join` use, so no overlay is needed.
fn assemble_images(out: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    for name in images::BINARIES {
        let binary = roster::binary_path(name)?;
        let image = images::image(name, &binary, env!("CARGO_PKG_VERSION"))?;
        images::write(&image, &out.join(format!("{name}.tar")))?;
    }
    Ok(out.to_owned())
}

/// `kubectl roster join` (the plugin binary) writing the member's install manifest.
async fn join(
    hub_kubeconfig: &Path,
    name: &str,
    agent_image: &str,
    hub_server: &str,
    api_server_url: &str,
    manifest: &Path,
) -> anyhow::Result<()> {
    let args = [
        "join",
        name,
        "--agent-image",
        agent_image,
        "--hub-server",
        hub_server,
        "--agent-api-server-url",
        api_server_url,
        "--grantable-cluster-roles",
        GRANTABLE_CLUSTER_ROLES,
        "--file",
    ];
    command::kubectl_roster(hub_kubeconfig, &args)?
        .arg(manifest)
        .run_async()
        .await?;
    Ok(())
}

/// Waits until MemberCluster `name` is `Joined` and `ControlPlaneHealthy`.
async fn wait_joined_and_healthy(members: &Api<MemberCluster>, name: &str) -> anyhow::Result<()> {
    let what = format!("{name} Joined and ControlPlaneHealthy");
    wait::until(&what, READY_TIMEOUT, || {
        let (members, name) = (members.clone(), name.to_owned());
        async move {
            let Ok(Some(member)) = members.get_opt(&name).await else {
                return Ok(None);
            };
            Ok(member.joined_and_healthy().then_some(()))
        }
    })
    .await
}

/// Keeps `target` at the leader pod's admin address: the Lease's holder is the pod's name.
async fn follow_leader(client: kube::Client, target: Arc<RwLock<Option<SocketAddr>>>) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client, SYSTEM_NAMESPACE);
    loop {
        let holder = leases
            .get_opt(HUB_LEASE)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity)
            .filter(|h| !h.is_empty());
        let mut address = None;
        if let Some(holder) = holder
            && let Ok(Some(pod)) = pods.get_opt(&holder).await
            && let Some(ip) = pod.status.and_then(|s| s.pod_ip)
            && let Ok(ip) = ip.parse::<std::net::IpAddr>()
        {
            address = Some(SocketAddr::new(ip, HUB_ADMIN_PORT));
        }
        *target.write().unwrap_or_else(|e| e.into_inner()) = address;
        tokio::time::sleep(LEADER_POLL).await;
    }
}

/// Each member's agent pod name, for the metrics hint.
async fn agent_pods(fleet: &NodeFleet) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for member in fleet.clusters.iter().filter(|c| c.name() != HUB) {
        let Ok(client) = member.client().await else {
            continue;
        };
        let pods: Api<Pod> = Api::namespaced(client, names::AGENT_NAMESPACE);
        let params = ListParams::default().labels("app.kubernetes.io/name=roster-agent");
        if let Some(name) = pods
            .list(&params)
            .await
            .ok()
            .and_then(|l| l.items.into_iter().find_map(|p| p.metadata.name))
        {
            found.push((member.name().to_owned(), name));
        }
    }
    found
}

fn print_banner(
    dev: &Dev,
    nodes_dir: &Path,
    kubeconfigs: &[(String, String, PathBuf)],
    kubectl: &str,
    agents: &[(String, String)],
) {
    println!(
        "\nRoster dev fleet is up: {} clusters with a real node each, Roster installed as pods:",
        kubeconfigs.len()
    );
    for (name, server, path) in kubeconfigs {
        println!("  {name:<10} {server:<26} {}", relative(path));
    }
    let hub = "--kubeconfig .dev/hub.kubeconfig";
    println!("\nTry:");
    println!("  {kubectl} {hub} get memberclusters,clusterprofiles -A");
    println!("  {kubectl} {hub} -n {SYSTEM_NAMESPACE} get pods,lease -o wide");
    println!("  {kubectl} {hub} -n {SYSTEM_NAMESPACE} logs deploy/roster-hub");
    println!(
        "  {kubectl} --kubeconfig .dev/member-1.kubeconfig -n {} get pods,secrets",
        names::AGENT_NAMESPACE
    );
    println!("  PATH=$PWD/.bin:$PATH kubectl roster {hub} status");
    println!("\nMetrics (and /healthz, /readyz):");
    match &dev.admin {
        Ok(forwarder) => println!(
            "  {:<22} http://{}/metrics   (forwarded to the leader pod's admin port)",
            "roster-hub",
            forwarder.local_addr()
        ),
        Err(e) => println!(
            "  roster-hub: no loopback forwarder to the leader's admin port ({e}); through the \
             API server instead (any replica; the leader's has the member series):\n  \
             {kubectl} {hub} get --raw /api/v1/namespaces/{SYSTEM_NAMESPACE}/services/roster-hub:metrics/proxy/metrics"
        ),
    }
    for (member, pod) in agents {
        println!(
            "  roster-agent {member}: {kubectl} --kubeconfig .dev/{member}.kubeconfig get --raw \
             /api/v1/namespaces/{}/pods/{pod}:{AGENT_ADMIN_PORT}/proxy/metrics",
            names::AGENT_NAMESPACE
        );
    }
    println!(
        "\nManifests applied: deploy/hub, .dev/join/<member>.yaml. Node logs: {}/<cluster>/*.log",
        relative(nodes_dir)
    );
}
