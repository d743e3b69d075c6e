//! The fleet under test: a hub control plane, the release `roster-hub`, the simulated agents
//! and the watch that times what the hub concludes; grown size by size.

mod grow;
mod measure;
mod members;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use kube::Client;
use roster_agent::heartbeat::Cadence;

use super::simulate;
use members::{LABEL, member_name};
use roster_testenv::{Fleet, crds, ports::free_address, process::Process, roster};
use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    figures::{self, Baseline, Stage},
    observer::Observer,
    options::Options,
    procfs::{self, CpuSample},
    scrape::{self, Scrape},
};

/// How often waits look again.
const POLL: Duration = Duration::from_millis(250);

/// Everything running for the suite. Dropping it stops it all.
pub struct Bench {
    opts: Options,
    dir: PathBuf,
    hub: Process,
    admin: SocketAddr,
    client: Client,
    simulator: Arc<simulate::Simulator>,
    observer: Observer,
    starter: JoinHandle<()>,
    watched: Vec<(String, u32)>,
    ticks: f64,
    created: usize,
    started: Instant,
    /// The hub before any member.
    pub baseline: Baseline,
    // Last: the control planes go after everything that talks to them.
    fleet: Fleet,
}

impl std::fmt::Debug for Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bench")
            .field("dir", &self.dir)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl Bench {
    /// Starts the hub control plane and `roster-hub`, and measures the idle hub.
    pub async fn start(opts: &Options) -> anyhow::Result<Self> {
        let dir = roster_testenv::binary::workspace_root().join("target/bench/fleet");
        let _ = std::fs::remove_dir_all(&dir);
        let fleet = Fleet::start(&dir, &[]).await?;
        let client = fleet.hub.client().await?;
        crds::install(&client, &roster_api::crd::all()).await?;
        let admin = free_address()?;
        let mut args = roster::hub_args(&fleet, admin);
        args.push("--leader-elect=false".to_owned());
        let env: Vec<(&str, &str)> = std::iter::once(("RUST_LOG", "warn"))
            .chain(opts.hub_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect();
        // Beside this binary: `make bench` runs it from target/release.
        let hub = roster::spawn("roster-hub", &args, &env, &dir.join("roster-hub.log"))?;
        let cadence = Cadence {
            period: Duration::from_secs(opts.period),
            grace_seconds: i32::try_from(opts.grace)?,
        };
        let simulator = Arc::new(simulate::Simulator::new(
            Client::try_from(fleet.hub.config().await?)?,
            simulate::Settings {
                cadence,
                report_interval: Duration::from_secs(30),
                concurrency: opts.concurrency,
                ca_pem: Some(ca_bundle(fleet.hub.ca_pem())),
            },
        ));
        let (prepared, mut to_start) = mpsc::unbounded_channel();
        let observer = Observer::start(client.clone(), &format!("{LABEL}=fleet"), prepared);
        let starter = tokio::spawn({
            let simulator = simulator.clone();
            async move {
                while let Some(name) = to_start.recv().await {
                    simulator.start(&name);
                }
            }
        });
        let mut watched = vec![("roster-hub".to_owned(), hub.pid())];
        let pids = fleet.hub.pids();
        for (name, pid) in ["kube-apiserver", "kube-controller-manager"]
            .iter()
            .zip(pids)
        {
            watched.push(((*name).to_owned(), pid));
        }
        let etcd_dir = format!("--data-dir={}", dir.join("etcd").display());
        if let Some(pid) =
            procfs::find_process(|a| a.contains(&"etcd") && a.contains(&etcd_dir.as_str()))
        {
            watched.push(("etcd".to_owned(), pid));
        }
        watched.push(("simulator".to_owned(), std::process::id()));
        let mut bench = Self {
            opts: opts.clone(),
            dir,
            hub,
            admin,
            client,
            simulator,
            observer,
            starter,
            watched,
            ticks: procfs::clock_ticks(),
            created: 0,
            started: Instant::now(),
            baseline: Baseline::default(),
            fleet,
        };
        bench
            .wait("roster-hub ready", Duration::from_secs(90), |b| {
                let admin = b.admin;
                async move {
                    Ok(matches!(
                        scrape::get(admin, "/readyz").await?,
                        Some((200, _))
                    ))
                }
            })
            .await?;
        bench.say("roster-hub ready; measuring it idle");
        bench.baseline = bench.idle().await?;
        Ok(bench)
    }

    fn say(&self, what: &str) {
        eprintln!("fleet [{:>4} s]: {what}", self.started.elapsed().as_secs());
    }

    /// The hub's log file.
    pub fn hub_log(&self) -> PathBuf {
        self.dir.join("roster-hub.log")
    }

    async fn idle(&mut self) -> anyhow::Result<Baseline> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let seconds = 15.0;
        let before = CpuSample::take(&self.watched[..1]);
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        let after = CpuSample::take(&self.watched[..1]);
        let cores = after.cores_since(&before, seconds, self.ticks);
        let (rss_bytes, _) = procfs::process_memory(self.hub.pid()).unwrap_or((0, 0));
        let env: String = self
            .opts
            .hub_env
            .iter()
            .map(|(k, v)| format!(" with {k}={v}"))
            .collect();
        Ok(Baseline {
            binary: self
                .hub
                .spec()
                .args
                .get(1)
                .map_or_else(String::new, |p| p.to_string_lossy().into_owned())
                + &env,
            rss_bytes,
            cpu_per_minute: cores.first().map_or(0.0, |(_, c)| c * 60.0),
            seconds,
        })
    }

    /// Fails with the log's tail when `roster-hub` has exited.
    fn check_hub(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.hub.exit_status() {
            anyhow::bail!(
                "roster-hub exited ({status}); last log lines:\n{}",
                self.hub.log_tail(20)
            );
        }
        Ok(())
    }

    /// Polls `done` until it holds (true) or `timeout` passes (false).
    async fn poll<F, Fut>(&mut self, timeout: Duration, mut done: F) -> anyhow::Result<bool>
    where
        F: FnMut(&Self) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_hub()?;
            if done(self).await? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait<F, Fut>(&mut self, what: &str, timeout: Duration, done: F) -> anyhow::Result<()>
    where
        F: FnMut(&Self) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        if !self.poll(timeout, done).await? {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        Ok(())
    }

    /// Grows the fleet to `members`, measures its steady state, a join at steady state and
    /// heartbeat loss.
    pub async fn stage(&mut self, members: usize) -> anyhow::Result<Stage> {
        let mut stage = Stage {
            members,
            period: self.opts.period,
            grace: self.opts.grace,
            added: members.saturating_sub(self.created),
            batch: self.opts.join_batch,
            ca_bytes: ca_bundle(self.fleet.hub.ca_pem()).len(),
            ..Stage::default()
        };
        let first_new = self.created;
        self.say(&format!("growing to {members} members"));
        let hub_before = Scrape::take(self.admin).await?.counters();
        let watch_before = self.observer.counts();
        let sim_before = self.simulator.totals();
        let api_before = Scrape::apiserver(&self.client).await;
        let (grow_seconds, stopped) = self.grow(members).await?;
        stage.grow_seconds = grow_seconds;
        stage.grow_hub = Scrape::take(self.admin)
            .await?
            .counters()
            .since(&hub_before);
        let watched = self.observer.counts().since(&watch_before);
        (stage.grow_updates, stage.grow_rewrites) = (watched.updates, watched.rewrites);
        stage.grow_renewal_failures = (
            self.simulator.totals().since(&sim_before).renewal_failures,
            self.simulator.last_error(),
        );
        if let (Ok(before), Ok(after)) = (api_before, Scrape::apiserver(&self.client).await) {
            stage.grow_429 = after.too_many_requests() - before.too_many_requests();
            stage.grow_events = after.events_created() - before.events_created();
        }
        (stage.grow_prepare, stage.grow_join) = self.timings(first_new, self.created);
        stage.grow_created = self.created - first_new;
        if let Some(why) = stopped {
            stage.stopped = Some(figures::with_storm(why, &stage));
            return Ok(stage);
        }
        self.say(&format!(
            "{members} members joined and healthy in {grow_seconds:.0} s; settling"
        ));
        stage.settle = self.settle().await?;
        self.say(&format!("steady window of {} s", self.opts.window));
        let mut window = self.window().await?;
        window.objects = self.object_sizes(&member_name(0)).await;
        stage.stopped = figures::not_carried(&window, members, self.opts.period)
            .map(|why| format!("N={members}: {why}"));
        stage.window = Some(window);
        self.say(&format!(
            "joining {} members one at a time",
            self.opts.join_sample
        ));
        stage.sample = self.opts.join_sample;
        (stage.sample_prepare, stage.sample_join) =
            self.join_one_by_one(self.opts.join_sample).await?;
        self.say("heartbeat loss test");
        let unknown = self.heartbeat_loss(members).await?;
        if !unknown.recovered && stage.stopped.is_none() {
            stage.stopped = Some(format!(
                "N={members}: members whose heartbeats resumed did not all become healthy again"
            ));
        }
        stage.unknown = Some(unknown);
        Ok(stage)
    }

    /// Stops the simulated agents, then everything else.
    pub async fn shutdown(self) {
        self.simulator.stop_all().await;
        self.starter.abort();
        drop(self.observer);
        drop(self.hub);
        drop(self.fleet);
        // The log and the control planes' logs stay; etcd's data is large and of no use.
        let _ = std::fs::remove_dir_all(self.dir.join("etcd"));
    }
}

/// The CA bundle every simulated member reports: the hub's CA (ECDSA, about 580 bytes of PEM)
/// twice, about the size of the RSA-2048 CA that kubeadm, EKS and GKE clusters have (1.1 KB);
/// the hub keeps several copies of it per member.
fn ca_bundle(ca_pem: &str) -> Vec<u8> {
    ca_pem.repeat(2).into_bytes()
}
