//! One node cluster: a control plane and one real node (containerd, kubelet, kube-proxy) in
//! the namespaces of its holder, reached from the host through a loopback forwarder.

use std::{
    ffi::OsString,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::Context;
use k8s_openapi::api::core::v1::{ConfigMap, Node, ServiceAccount};
use kube::{Api, config::Kubeconfig};
use roster_api::federation::HubIssuer;

pub use super::memory::ProcessMemory;
use super::{
    cgroup, components,
    fabric::Fabric,
    files::{self, Files},
    forward::{Forwarder, Target},
    holder::Holder,
    memory,
    plan::{self, NodePlan},
};
use crate::{
    kubeconfig,
    pki::Pki,
    process::{Process, Spec},
    wait,
};

/// How long a step of start-up may take on a busy 2-core machine.
const STEP_TIMEOUT: Duration = Duration::from_secs(180);
/// `PATH` of the node's components: the node binaries first, then the system's.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The binaries a node runs.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The multi-call control-plane binary (etcd, API server, kubelet, kube-proxy, ...).
    pub controlplane: PathBuf,
    /// The folder with containerd, ctr, containerd-shim-runc-v2 and pause.
    pub node_dir: PathBuf,
}

impl Binaries {
    /// A binary of the node folder.
    pub fn node(&self, name: &str) -> PathBuf {
        self.node_dir.join(name)
    }
}

/// Start-up times of a node cluster.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// From launch to the API server's `/readyz`.
    pub apiserver_ready: Duration,
    /// From launch to the Node being `Ready`.
    pub node_ready: Duration,
}

/// What a node cluster starts with, besides its name, place and binaries.
#[derive(Debug)]
pub struct Setup<'a> {
    /// The folder of its files and logs.
    pub dir: PathBuf,
    /// OCI archives imported before the kubelet starts.
    pub images: &'a [PathBuf],
    /// Its PKI ([`NodeCluster::pki`]), made before any cluster starts so members can trust
    /// the hub's CA.
    pub pki: Pki,
    /// The hub whose service-account tokens its API server accepts (a member), if any.
    pub trust: Option<&'a HubIssuer>,
    /// Whether it is a hub that members trust: it publishes its issuer discovery as soon as
    /// its API server is ready, so members' authenticators find it at their next try.
    pub publish_discovery: bool,
}

/// A running node cluster. Use [`NodeCluster::stop`]; dropping it stops it too.
#[derive(Debug)]
pub struct NodeCluster {
    name: String,
    node_name: String,
    plan: NodePlan,
    files: Files,
    pki: Pki,
    admin: Kubeconfig,
    server: String,
    cgroup: String,
    binaries: Binaries,
    timings: Timings,
    forwarder: Option<Forwarder>,
    processes: Vec<Process>,
    holder: Option<Holder>,
}

impl NodeCluster {
    /// The PKI of node cluster `name` at `plan`: its serving certificate also holds the node
    /// IP (other clusters' pods and API servers) and the `kubernetes` Service's IP.
    pub fn pki(name: &str, plan: &NodePlan) -> anyhow::Result<Pki> {
        Pki::generate_for(
            name,
            &[
                IpAddr::V4(plan.node_ip),
                IpAddr::V4(plan::KUBERNETES_SERVICE_IP),
            ],
        )
    }

    /// Starts a node cluster named `name` at position `plan` of `fabric` as `setup` says;
    /// returns once the node is Ready.
    pub async fn start(
        name: &str,
        plan: NodePlan,
        fabric: &Fabric,
        binaries: &Binaries,
        setup: Setup<'_>,
    ) -> anyhow::Result<Self> {
        let Setup {
            dir,
            images,
            pki,
            trust,
            publish_discovery,
        } = setup;
        let started = Instant::now();
        let files = Files::new(&dir);
        std::fs::create_dir_all(files.dir())?;
        let node_name = name.to_owned();
        let cgroup = cgroup::name(std::process::id(), name);
        let inputs = files::Inputs {
            pki: &pki,
            cgroup: &cgroup,
            trust,
        };
        files::write_all(&files, name, &node_name, &plan, inputs)?;
        cgroup::create(&cgroup)?;
        cgroup::guard(&cgroup)?;
        let mut cluster = Self {
            name: name.to_owned(),
            node_name,
            plan,
            files,
            pki,
            admin: Kubeconfig::default(),
            server: String::new(),
            cgroup,
            binaries: binaries.clone(),
            timings: Timings::default(),
            forwarder: None,
            processes: Vec::new(),
            holder: None,
        };
        let holder = Holder::start(
            name,
            &binaries.controlplane,
            &binaries.node("pause"),
            &cluster.files.root(),
        )
        .await?;
        fabric.attach(&cluster.plan, holder.pid())?;
        let target = SocketAddr::from(([127, 0, 0, 1], plan::APISERVER_PORT));
        let forwarder = Forwarder::start(name, holder.pid(), target)?;
        cluster.holder = Some(holder);
        cluster.server = format!("https://{}", forwarder.local_addr());
        cluster.forwarder = Some(forwarder);
        cluster.admin = cluster.admin_kubeconfig_for(&cluster.server)?;
        std::fs::write(
            cluster.kubeconfig_path(),
            kubeconfig::to_yaml(&cluster.admin)?,
        )?;

        cluster.run("etcd", components::etcd(&cluster.files))?;
        let apiserver = components::apiserver(&cluster.files, name, &cluster.plan, trust.is_some());
        cluster.run("kube-apiserver", apiserver)?;
        cluster.wait_apiserver().await?;
        cluster.timings.apiserver_ready = started.elapsed();
        if publish_discovery {
            crate::trust::publish_issuer_discovery(&cluster.client().await?).await?;
        }
        cluster.run(
            "kube-controller-manager",
            components::controller_manager(&cluster.files),
        )?;
        cluster.run("kube-scheduler", components::scheduler(&cluster.files))?;
        let containerd = components::containerd(&cluster.files, &binaries.node("containerd"));
        cluster.run("containerd", containerd)?;
        cluster.wait_containerd().await?;
        for image in images {
            cluster.import(image)?;
        }
        let kubelet = components::kubelet(&cluster.files, &cluster.node_name, &cluster.plan);
        cluster.run("kubelet", kubelet)?;
        cluster.wait_node(false).await?;
        // kube-proxy exits if it starts before its Node exists.
        cluster.run("kube-proxy", components::kube_proxy(&cluster.files))?;
        cluster.wait_node(true).await?;
        cluster.wait_controller_manager().await?;
        cluster.timings.node_ready = started.elapsed();
        tracing::info!(cluster = name, timings = ?cluster.timings, "node cluster ready");
        Ok(cluster)
    }

    /// Starts component `what` inside the node: `controlplane exec nsenter ... -- controlplane
    /// <args>`, so it dies with the test run.
    fn run(&mut self, what: &str, args: Vec<OsString>) -> anyhow::Result<()> {
        let holder = self.holder.as_ref().context("the node's holder is gone")?;
        let mut all: Vec<OsString> = vec!["exec".into()];
        all.extend(holder.enter(&self.binaries.controlplane, &args));
        let path = format!("{}:{SYSTEM_PATH}", self.binaries.node_dir.display());
        let process = Process::spawn(Spec {
            name: format!("{}/{what}", self.name),
            program: self.binaries.controlplane.clone(),
            args: all,
            log: self.files.file(&format!("{what}.log")),
            env: vec![("PATH".into(), path.into())],
        })?;
        self.processes.push(process);
        Ok(())
    }

    /// Imports an OCI archive into the node's containerd (namespace `k8s.io`, where the CRI
    /// looks).
    pub fn import(&self, archive: &Path) -> anyhow::Result<()> {
        let out = Command::new(self.binaries.node("ctr"))
            .arg("--address")
            .arg(self.files.containerd_socket())
            .args(["--namespace", "k8s.io", "images", "import"])
            .arg(archive)
            .output()
            .context("running ctr")?;
        if !out.status.success() {
            anyhow::bail!(
                "{}: ctr images import {}: {}",
                self.name,
                archive.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn check_processes(&mut self) -> anyhow::Result<()> {
        for process in &mut self.processes {
            if let Some(status) = process.exit_status() {
                anyhow::bail!(
                    "{} exited ({status}); last log lines:\n{}",
                    process.spec().name,
                    process.log_tail(30)
                );
            }
        }
        Ok(())
    }

    async fn wait_apiserver(&mut self) -> anyhow::Result<()> {
        let client = self.client().await?;
        let what = format!("{} API server ready", self.name);
        wait::until(&what, STEP_TIMEOUT, || {
            let client = client.clone();
            let alive = self.check_processes();
            async move {
                alive?;
                let req = http::Request::get("/readyz").body(Vec::new())?;
                let body = client.request_text(req).await.ok();
                Ok(body.filter(|b| b.trim() == "ok").map(|_| ()))
            }
        })
        .await
    }

    async fn wait_containerd(&mut self) -> anyhow::Result<()> {
        let socket = self.files.containerd_socket();
        let what = format!("{} containerd socket", self.name);
        wait::until(&what, STEP_TIMEOUT, || {
            let alive = self.check_processes();
            let exists = socket.exists();
            async move { alive.map(|()| exists.then_some(())) }
        })
        .await
    }

    async fn wait_node(&mut self, ready: bool) -> anyhow::Result<()> {
        let nodes: Api<Node> = Api::all(self.client().await?);
        let node_name = self.node_name.clone();
        let what = format!(
            "node {node_name} {}",
            if ready { "Ready" } else { "registered" }
        );
        wait::until(&what, STEP_TIMEOUT, || {
            let (nodes, node_name) = (nodes.clone(), node_name.clone());
            let alive = self.check_processes();
            async move {
                alive?;
                let Some(node) = nodes.get_opt(&node_name).await.ok().flatten() else {
                    return Ok(None);
                };
                Ok((!ready || is_ready(&node)).then_some(()))
            }
        })
        .await
    }

    async fn wait_controller_manager(&mut self) -> anyhow::Result<()> {
        let client = self.client().await?;
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let what = format!("{} controller manager working", self.name);
        wait::until(&what, STEP_TIMEOUT, || {
            let (sas, cms) = (sas.clone(), cms.clone());
            let alive = self.check_processes();
            async move {
                alive?;
                let sa = sas.get_opt("default").await.ok().flatten();
                let cm = cms.get_opt("kube-root-ca.crt").await.ok().flatten();
                Ok(sa.and(cm).map(|_| ()))
            }
        })
        .await
    }

    fn admin_kubeconfig_for(&self, server: &str) -> anyhow::Result<Kubeconfig> {
        let cert = self
            .pki
            .client_cert("roster-admin", Some("system:masters"))?;
        Ok(kubeconfig::client_cert_kubeconfig(
            &self.name,
            server,
            &self.pki.ca_pem,
            &cert,
        ))
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's name.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The API server URL on the host, `https://127.0.0.1:<port>` (the forwarder).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The API server URL for other clusters' pods and nodes, `https://<node IP>:6443`.
    pub fn fleet_server(&self) -> String {
        plan::apiserver_url(&self.plan)
    }

    /// The node's place on the fabric.
    pub fn plan(&self) -> &NodePlan {
        &self.plan
    }

    /// The CA certificate (PEM) of the cluster.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// The folder of the cluster's files and logs.
    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    /// Path of the admin kubeconfig (server on the host's loopback).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.files.file("admin.kubeconfig")
    }

    /// An admin kubeconfig for `https://<node IP>:6443`, for use inside the fleet.
    pub fn fleet_admin_kubeconfig(&self) -> anyhow::Result<Kubeconfig> {
        self.admin_kubeconfig_for(&self.fleet_server())
    }

    /// A new admin client (through the forwarder).
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let config = kubeconfig::to_config(self.admin.clone()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Forwards `local` on the host's loopback to `target` inside the node's network
    /// namespace (a pod IP, a ClusterIP), for as long as the returned forwarder lives.
    pub fn forward(&self, local: SocketAddr, target: Target) -> anyhow::Result<Forwarder> {
        let holder = self.holder.as_ref().context("the node's holder is gone")?;
        Forwarder::start_at(&self.name, local, holder.pid(), target)
    }

    /// Start-up times.
    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// Memory of each of the node's own processes (not its containers').
    pub fn process_memory(&self) -> Vec<ProcessMemory> {
        let Some(holder) = &self.holder else {
            return Vec::new();
        };
        holder
            .node_pids()
            .into_iter()
            .filter_map(memory::of_process)
            .collect()
    }

    /// Memory the node's pods use, as their cgroup reports it.
    pub fn pods_memory_bytes(&self) -> Option<u64> {
        let path = format!(
            "/sys/fs/cgroup/memory/{}/memory.usage_in_bytes",
            self.cgroup
        );
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Memory one pod uses (`memory.usage_in_bytes` of its cgroup `pod<uid>` under the node's
    /// cgroup root, whatever its QoS class), if it runs.
    pub fn pod_memory_bytes(&self, uid: &str) -> Option<u64> {
        let dir = self.pod_cgroup("memory", uid)?;
        read_u64(&dir.join("memory.usage_in_bytes"))
    }

    /// One pod's working set as the kubelet counts it: `memory.usage_in_bytes` minus
    /// `total_inactive_file` of `memory.stat`.
    pub fn pod_working_set_bytes(&self, uid: &str) -> Option<u64> {
        let dir = self.pod_cgroup("memory", uid)?;
        let usage = read_u64(&dir.join("memory.usage_in_bytes"))?;
        let stat = std::fs::read_to_string(dir.join("memory.stat")).ok()?;
        let inactive = stat
            .lines()
            .find_map(|l| l.strip_prefix("total_inactive_file "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        Some(usage.saturating_sub(inactive))
    }

    /// CPU time one pod has used since it started (`cpuacct.usage` of its cgroup), seconds.
    pub fn pod_cpu_seconds(&self, uid: &str) -> Option<f64> {
        let dir = self.pod_cgroup("cpuacct", uid)?;
        read_u64(&dir.join("cpuacct.usage")).map(|ns| ns as f64 / 1e9)
    }

    /// The folder of the cgroup `pod<uid>` under the node's cgroup root in the v1 hierarchy
    /// `controller`, whatever its QoS class.
    fn pod_cgroup(&self, controller: &str, uid: &str) -> Option<PathBuf> {
        let want = format!("pod{uid}");
        let root = PathBuf::from(format!("/sys/fs/cgroup/{controller}/{}", self.cgroup));
        let mut folders = vec![(root, 0)];
        while let Some((folder, depth)) = folders.pop() {
            for entry in std::fs::read_dir(&folder).ok()?.flatten() {
                let path = entry.path();
                if !path.is_dir() {
                    continue;
                }
                if entry.file_name().to_string_lossy().replace('_', "-") == want {
                    return Some(path);
                }
                if depth < 3 {
                    folders.push((path, depth + 1));
                }
            }
        }
        None
    }

    /// Stops every process of the node and removes its cgroups.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_now();
        cgroup::remove(&self.cgroup, Duration::from_secs(30))
    }

    /// Kills the components, then the holder (and with it, the node's every process).
    fn stop_now(&mut self) {
        self.forwarder = None;
        while let Some(mut process) = self.processes.pop() {
            process.stop();
        }
        if let Some(mut holder) = self.holder.take() {
            holder.stop();
        }
    }
}

impl Drop for NodeCluster {
    fn drop(&mut self) {
        if self.holder.is_some() {
            self.stop_now();
            if let Err(e) = cgroup::remove(&self.cgroup, Duration::from_secs(30)) {
                tracing::warn!(error = %e, "node cluster cgroups left behind");
            }
        }
    }
}

/// Whether `node` reports the `Ready` condition True.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
