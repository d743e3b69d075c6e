//! Child processes that never outlive the run that started them.
//!
//! Every child is spawned from one long-lived thread through util-linux `setpriv --pdeathsig
//! KILL`, so the kernel kills it when that thread ends (the control-plane binary also honours
//! `ROSTER_DIE_WITH_PARENT` for the processes it starts itself). The thread lives as long as the
//! process, so a test binary that panics, aborts, is killed or simply exits with shared fleets
//! still in statics takes its control planes, hubs and agents with it; [`Process`]'s `Drop`
//! stops them earlier when the owner goes.

use std::{
    ffi::OsString,
    fs::File,
    io,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{OnceLock, mpsc},
};

use anyhow::Context;

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

fn spawner() -> &'static mpsc::Sender<SpawnRequest> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("roster-testenv-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the spawner thread: {e}"));
        tx
    })
}

/// A command running `program` that the kernel kills when the spawner thread ends
/// (`PR_SET_PDEATHSIG`, set by `setpriv` before it executes `program`; the workspace forbids
/// the unsafe `pre_exec` that would set it directly).
fn dying_with_spawner(program: &Path) -> Command {
    const SETPRIV: &str = "/usr/bin/setpriv";
    if !Path::new(SETPRIV).exists() {
        return Command::new(program);
    }
    let mut command = Command::new(SETPRIV);
    command.args(["--pdeathsig", "KILL", "--"]).arg(program);
    command
}

/// What to run: program, arguments and where its output goes.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Short name for messages, for example `hub/kube-apiserver`.
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// File receiving stdout and stderr (appended, so restarts keep history).
    pub log: PathBuf,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
}

/// A running child process, stopped (SIGKILL) on drop.
#[derive(Debug)]
pub struct Process {
    spec: Spec,
    child: Child,
}

impl Process {
    /// Starts `spec`.
    pub fn spawn(spec: Spec) -> anyhow::Result<Self> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&spec.log)
            .with_context(|| format!("opening log {}", spec.log.display()))?;
        if spec.program.components().count() > 1 && !spec.program.exists() {
            anyhow::bail!(
                "starting {}: {} does not exist",
                spec.name,
                spec.program.display()
            );
        }
        let mut command = dying_with_spawner(&spec.program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("ROSTER_DIE_WITH_PARENT", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let (tx, rx) = mpsc::channel();
        spawner()
            .send((command, tx))
            .map_err(|_| anyhow::anyhow!("spawner thread is gone"))?;
        let child = rx
            .recv()
            .context("spawner thread is gone")?
            .with_context(|| format!("starting {} ({})", spec.name, spec.program.display()))?;
        Ok(Self { spec, child })
    }

    /// What this process runs.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process, from `/proc/<pid>/status` (`VmRSS`).
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()?;
        Some(kib * 1024)
    }

    /// `None` while running, else how it ended.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process and reaps it.
    pub fn stop(&mut self) {
        if self.exit_status().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// The last `lines` lines of the process's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.spec.log, lines)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
