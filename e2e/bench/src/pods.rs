//! The `pods` suite: Roster installed as users install it, on real nodes, measured by the
//! pods' own cgroups. A hub node cluster runs `kubectl apply -k deploy/hub` (two roster-hub
//! pods, one leader), a member node cluster runs the agent pod from `kubectl roster join`'s
//! manifest, and then `--pods-members` minus one simulated members (the fleet suite's
//! simulator: the agent's own Lease and report code, many members in this process) join the
//! same hub. At steady state, over a window, it reads each pod's `cpuacct.usage` and working
//! set (`memory.usage_in_bytes` − `total_inactive_file`, as the kubelet counts it):
//!
//! - roster-hub: memory of both replicas, memory per member over the one-member baseline, CPU
//!   seconds per minute and per heartbeat (the leader does the work; both are summed);
//! - roster-agent: memory and CPU of the one real agent pod, which serves one member whatever
//!   the fleet's size.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context;
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Pod};
use kube::{
    Api, Client,
    api::{ListParams, PostParams},
};
use roster_agent::heartbeat::Cadence;
use roster_api::{
    MemberCluster, MemberClusterSpec, conditions::CONDITION_JOINED, member_cluster::Heartbeat,
    names,
};
use roster_testenv::{
    binary, command,
    image::roster as images,
    node::{NodeCluster, NodeFleet, pods},
    roster, wait,
};

use crate::{figure::Figure, fleet::simulate};

const SUITE: &str = "pods";
const HUB: &str = "hub";
const MEMBER: &str = "member-1";
const HUB_SELECTOR: &str = "app.kubernetes.io/name=roster-hub";
const AGENT_SELECTOR: &str = "app.kubernetes.io/name=roster-agent";
/// Label of the simulated MemberClusters.
const LABEL: (&str, &str) = ("bench.roster.dev/suite", "pods");
const TIMEOUT: Duration = Duration::from_secs(300);

/// Options of the pods suite.
#[derive(clap::Args, Debug, Clone)]
pub struct PodsOptions {
    /// Members of the hub: one real (the agent pod) and the rest simulated.
    #[arg(long = "pods-members", default_value_t = 1000)]
    pub pods_members: usize,
    /// Heartbeat period of the simulated members, seconds (grace: four periods).
    #[arg(long = "pods-period", default_value_t = 10)]
    pub pods_period: u64,
    /// Length of each measuring window, seconds.
    #[arg(long = "pods-window", default_value_t = 60)]
    pub pods_window: u64,
}

/// CPU seconds and working set of a set of pods at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    cpu_seconds: f64,
    memory_bytes: u64,
}

/// Runs the suite.
pub async fn run(opts: &PodsOptions) -> anyhow::Result<Vec<Figure>> {
    anyhow::ensure!(opts.pods_members >= 1, "--pods-members must be at least 1");
    let dir = binary::workspace_root().join("target/bench/pods");
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let fleet = NodeFleet::start(&dir, &[HUB, MEMBER], &[]).await?;
    eprintln!("pods: node clusters ready in {:?}", started.elapsed());
    let result = measure(&fleet, &dir, opts).await;
    if let Err(e) = fleet.stop() {
        eprintln!("pods: stopping the node clusters: {e:#}");
    }
    result
}

async fn measure(fleet: &NodeFleet, dir: &Path, opts: &PodsOptions) -> anyhow::Result<Vec<Figure>> {
    let hub = fleet.cluster(HUB).context("no hub")?;
    let member = fleet.cluster(MEMBER).context("no member")?;
    install(hub, member, dir).await?;
    let client = hub.client().await?;
    let window = Duration::from_secs(opts.pods_window);

    // One member (the real agent): the baseline.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (hub_base, agent_base) = window_of(hub, member, window).await?;

    // The rest simulated, joining the same hub.
    let simulated = opts.pods_members - 1;
    let simulator = simulate::Simulator::new(
        hub.client().await?,
        simulate::Settings {
            cadence: Cadence {
                period: Duration::from_secs(opts.pods_period),
                grace_seconds: i32::try_from(opts.pods_period * 4)?,
            },
            report_interval: Duration::from_secs(30),
            concurrency: 64,
            ca_pem: Some(hub.ca_pem().as_bytes().to_vec()),
        },
    );
    let grown = Instant::now();
    grow(&client, &simulator, simulated, opts).await?;
    eprintln!(
        "pods: {simulated} simulated members joined in {:?}",
        grown.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(opts.pods_period * 3)).await;
    let before = simulator.totals();
    let (hub_n, agent_n) = window_of(hub, member, window).await?;
    let renewals = simulator.totals().since(&before).renewals;
    simulator.stop_all().await;

    let n = opts.pods_members;
    let minutes = window.as_secs_f64() / 60.0;
    let hub_cpu = hub_n.cpu_seconds;
    let per_member_kib = (hub_n.memory_bytes as f64 - hub_base.memory_bytes as f64)
        / (simulated.max(1) as f64)
        / 1024.0;
    let note = format!(
        "cgroups of the 2 roster-hub pods (deploy/hub on a real node), {n} members ({simulated} \
         simulated at a {} s period), {} s window; baseline with the one real member: {:.1} MiB, \
         {:.2} CPU s/min",
        opts.pods_period,
        opts.pods_window,
        mib(hub_base.memory_bytes),
        hub_base.cpu_seconds / minutes
    );
    Ok(vec![
        Figure::new(
            SUITE,
            format!("roster-hub pods' working set (N={n})"),
            mib(hub_n.memory_bytes),
            "MiB",
        )
        .note(note.clone()),
        Figure::new(
            SUITE,
            format!("roster-hub pods' memory per member (N={n})"),
            per_member_kib,
            "KiB",
        )
        .target("< 20 KiB", per_member_kib < 20.0),
        Figure::new(
            SUITE,
            format!("roster-hub pods' CPU (N={n})"),
            hub_cpu / minutes,
            "s/min",
        ),
        Figure::new(
            SUITE,
            format!("roster-hub pods' CPU per heartbeat (N={n})"),
            if renewals == 0 {
                f64::NAN
            } else {
                hub_cpu / renewals as f64 * 1e6
            },
            "µs",
        )
        .note(format!("{renewals} lease renewals in the window")),
        Figure::new(
            SUITE,
            format!("roster-agent pod's working set (N={n})"),
            mib(agent_n.memory_bytes),
            "MiB",
        )
        .note(format!(
            "the one real agent (its own member only); {:.1} MiB with no other member",
            mib(agent_base.memory_bytes)
        )),
        Figure::new(
            SUITE,
            format!("roster-agent pod's CPU (N={n})"),
            agent_n.cpu_seconds / minutes * 1000.0,
            "ms/min",
        ),
    ])
}

/// `kubectl apply -k deploy/hub` on the hub and the join manifest on the member, with images
/// assembled from the release binaries and imported; waits until the member is Joined.
async fn install(hub: &NodeCluster, member: &NodeCluster, dir: &Path) -> anyhow::Result<()> {
    let images_dir = dir.join("images");
    std::fs::create_dir_all(&images_dir)?;
    let mut agent_image = String::new();
    for (cluster, name) in [(hub, "roster-hub"), (member, "roster-agent")] {
        let image = images::image(name, &roster::binary_path(name)?, env!("CARGO_PKG_VERSION"))?;
        let archive = images_dir.join(format!("{name}.tar"));
        images::write(&image, &archive)?;
        cluster.import(&archive)?;
        if name == "roster-agent" {
            agent_image = image.name;
        }
    }
    let base = binary::workspace_root().join("deploy/hub");
    kubectl(hub, &["apply", "-k", &base.display().to_string()])?;
    pods::wait_ready(hub, "roster-system", HUB_SELECTOR, 2, TIMEOUT).await?;
    let manifest = dir.join("member-agent.yaml");
    command::kubectl_roster(
        &hub.kubeconfig_path(),
        &[
            "join",
            MEMBER,
            "--agent-image",
            &agent_image,
            "--hub-server",
            &hub.fleet_server(),
            "--api-server-url",
            &member.fleet_server(),
            "--file",
            &manifest.display().to_string(),
        ],
    )?
    .run()?;
    kubectl(member, &["apply", "-f", &manifest.display().to_string()])?;
    let members: Api<MemberCluster> = Api::all(hub.client().await?);
    wait::until(&format!("{MEMBER} Joined"), TIMEOUT, || {
        let members = members.clone();
        async move {
            let m = members.get_opt(MEMBER).await.ok().flatten();
            Ok(m.filter(|m| m.condition_true(CONDITION_JOINED)).map(|_| ()))
        }
    })
    .await
}

/// Creates `count` simulated MemberClusters and starts each one's agent once the hub has
/// prepared its namespace (its Lease exists); waits until all are Joined.
async fn grow(
    client: &Client,
    simulator: &simulate::Simulator,
    count: usize,
    opts: &PodsOptions,
) -> anyhow::Result<()> {
    let api: Api<MemberCluster> = Api::all(client.clone());
    let leases: Api<Lease> = Api::all(client.clone());
    let name = |i: usize| format!("pod-sim-{i:05}");
    for chunk in (0..count).collect::<Vec<_>>().chunks(50) {
        let creates = chunk.iter().map(|&i| {
            let mut mc = MemberCluster::new(
                &name(i),
                MemberClusterSpec {
                    heartbeat: Some(Heartbeat {
                        period_seconds: i32::try_from(opts.pods_period).unwrap_or(10),
                        grace_seconds: i32::try_from(opts.pods_period * 4).unwrap_or(40),
                    }),
                    ..MemberClusterSpec::default()
                },
            );
            mc.metadata.labels = Some([(LABEL.0.to_owned(), LABEL.1.to_owned())].into());
            let api = api.clone();
            async move { api.create(&PostParams::default(), &mc).await }
        });
        for created in futures::future::join_all(creates).await {
            created?;
        }
        start_prepared(&leases, simulator).await?;
    }
    wait::until(
        &format!("{count} simulated members Joined"),
        TIMEOUT,
        || {
            let (api, leases) = (api.clone(), leases.clone());
            async move {
                start_prepared(&leases, simulator).await?;
                let list = api
                    .list(&ListParams::default().labels(&format!("{}={}", LABEL.0, LABEL.1)))
                    .await?;
                let done = list
                    .items
                    .iter()
                    .filter(|m| m.condition_true(CONDITION_JOINED))
                    .count();
                Ok((done >= count).then_some(()))
            }
        },
    )
    .await
}

/// Starts the simulated agent of every member whose Lease the hub has created.
async fn start_prepared(
    leases: &Api<Lease>,
    simulator: &simulate::Simulator,
) -> anyhow::Result<()> {
    let managed = format!("{}={}", names::LABEL_MANAGED_BY, names::MANAGED_BY);
    for lease in leases
        .list(&ListParams::default().labels(&managed))
        .await?
        .items
    {
        let member = lease
            .metadata
            .namespace
            .as_deref()
            .and_then(names::member_of_namespace);
        if let Some(member) = member.filter(|m| m.starts_with("pod-sim-")) {
            simulator.start(member);
        }
    }
    Ok(())
}

/// The roster-hub pods' and the agent pod's CPU over `window` and working set at its end.
async fn window_of(
    hub: &NodeCluster,
    member: &NodeCluster,
    window: Duration,
) -> anyhow::Result<(Sample, Sample)> {
    let (hub_start, agent_start) = (
        sample(hub, HUB_SELECTOR).await?,
        sample(member, AGENT_SELECTOR).await?,
    );
    tokio::time::sleep(window).await;
    let (hub_end, agent_end) = (
        sample(hub, HUB_SELECTOR).await?,
        sample(member, AGENT_SELECTOR).await?,
    );
    let delta = |a: Sample, b: Sample| Sample {
        cpu_seconds: b.cpu_seconds - a.cpu_seconds,
        memory_bytes: b.memory_bytes,
    };
    Ok((delta(hub_start, hub_end), delta(agent_start, agent_end)))
}

/// The summed cgroup figures of the pods matching `selector` in roster-system.
async fn sample(cluster: &NodeCluster, selector: &str) -> anyhow::Result<Sample> {
    let pods: Api<Pod> = Api::namespaced(cluster.client().await?, names::AGENT_NAMESPACE);
    let list = pods.list(&ListParams::default().labels(selector)).await?;
    let mut out = Sample::default();
    for pod in &list.items {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        out.cpu_seconds += cluster
            .pod_cpu_seconds(uid)
            .with_context(|| format!("no cpuacct cgroup for pod {uid}"))?;
        out.memory_bytes += cluster
            .pod_working_set_bytes(uid)
            .with_context(|| format!("no memory cgroup for pod {uid}"))?;
    }
    anyhow::ensure!(!list.items.is_empty(), "no pod matches {selector}");
    Ok(out)
}

fn kubectl(cluster: &NodeCluster, args: &[&str]) -> anyhow::Result<String> {
    command::kubectl(&cluster.kubeconfig_path(), args)?.run()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}
