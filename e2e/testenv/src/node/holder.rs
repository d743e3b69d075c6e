//! A node's holder: the first process of the node's own PID, mount and network namespaces.
//!
//! `unshare --fork --pid --mount-proc --net --propagation private` starts it, with
//! `--kill-child`, so when the test run ends, or crashes, the holder is killed and the kernel
//! kills every process of the node with it (containers and shims included). Before it becomes
//! the `pause` program, its script binds the node's private folders over the paths the node
//! components hard-code, and private copies over the global sysctls the kubelet rewrites; all
//! of those mounts live in the node's mount namespace and vanish with it.

use std::{ffi::OsString, path::Path, time::Duration};

use anyhow::Context;

use crate::process::{Process, Spec};

/// Host paths every node gets a private copy of: `(path, folder name under the node's root)`.
pub const PRIVATE_PATHS: [(&str, &str); 4] = [
    ("/run", "run"),
    ("/var/lib", "var-lib"),
    ("/var/log", "var-log"),
    ("/opt", "opt"),
];

/// Global sysctls the kubelet sets at start-up; each node writes to a private copy instead.
pub const PRIVATE_SYSCTLS: [&str; 6] = [
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
];

/// The holder's shell script: private mounts, loopback up, a ready file, then `pause`.
pub fn script(root: &Path, ready: &Path, pause: &Path) -> String {
    let root = root.display();
    let mut lines = vec!["set -eu".to_owned()];
    for (path, dir) in PRIVATE_PATHS {
        lines.push(format!("mount --bind '{root}/{dir}' '{path}'"));
    }
    for sysctl in PRIVATE_SYSCTLS {
        let copy = format!("{root}/sysctl/{}", sysctl.replace('/', "."));
        lines.push(format!(
            "cat '/proc/sys/{sysctl}' > '{copy}' && mount --bind '{copy}' '/proc/sys/{sysctl}'"
        ));
    }
    lines.push("ip link set lo up".to_owned());
    lines.push(format!("echo ready > '{}'", ready.display()));
    lines.push(format!("exec '{}'", pause.display()));
    lines.join("\n")
}

/// A running holder.
#[derive(Debug)]
pub struct Holder {
    process: Process,
    pid: u32,
}

impl Holder {
    /// Creates the node's private folders under `root` and starts the holder.
    pub async fn start(
        name: &str,
        controlplane: &Path,
        pause: &Path,
        root: &Path,
    ) -> anyhow::Result<Self> {
        for (_, dir) in PRIVATE_PATHS {
            std::fs::create_dir_all(root.join(dir))?;
        }
        std::fs::create_dir_all(root.join("sysctl"))?;
        let ready = root.join("holder.ready");
        let _ = std::fs::remove_file(&ready);
        let args = [
            "exec",
            "unshare",
            "--kill-child",
            "--fork",
            "--pid",
            "--mount-proc",
            "--net",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
        ]
        .into_iter()
        .map(OsString::from)
        .chain([script(root, &ready, pause).into()])
        .collect();
        let process = Process::spawn(Spec {
            name: format!("{name}/holder"),
            program: controlplane.to_owned(),
            args,
            log: root.join("holder.log"),
            env: Vec::new(),
        })?;
        let unshare = process.pid();
        let pid = crate::wait::until(
            &format!("{name} holder ready"),
            Duration::from_secs(30),
            || {
                let ready = ready.clone();
                async move {
                    if !ready.exists() {
                        return Ok(None);
                    }
                    Ok(first_child(unshare))
                }
            },
        )
        .await
        .with_context(|| format!("holder log: {}", process.log_tail(20)))?;
        Ok(Self { process, pid })
    }

    /// The holder's process id in the host's PID namespace: what `nsenter -t` takes.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `nsenter` arguments that run `program args` inside the node.
    pub fn enter(&self, program: &Path, args: &[OsString]) -> Vec<OsString> {
        enter_args(self.pid, program, args)
    }

    /// Kills the holder, and with it every process of the node; waits (briefly) until the
    /// holder is gone.
    pub fn stop(&mut self) {
        self.process.stop();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{}", self.pid)).exists()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Process ids of the node's own processes (not its containers'): those in the holder's
    /// PID namespace.
    pub fn node_pids(&self) -> Vec<u32> {
        let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/pid", self.pid)) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok() == Some(ns.clone())
            })
            .collect()
    }
}

/// `nsenter` into the mount, network and PID namespaces of `pid`, running `program args`.
pub fn enter_args(pid: u32, program: &Path, args: &[OsString]) -> Vec<OsString> {
    let mut all: Vec<OsString> = ["nsenter", "-t", &pid.to_string(), "-m", "-n", "-p", "--"]
        .into_iter()
        .map(OsString::from)
        .collect();
    all.push(program.into());
    all.extend(args.iter().cloned());
    all
}

/// The first child of `pid`, from `/proc/<pid>/task/<pid>/children`.
fn first_child(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_binds_private_paths_and_sysctls_before_pausing() {
        let text = script(
            Path::new("/r"),
            Path::new("/r/ready"),
            Path::new("/b/pause"),
        );
        assert!(text.contains("mount --bind '/r/run' '/run'"));
        assert!(text.contains("mount --bind '/r/var-lib' '/var/lib'"));
        assert!(text.contains(
            "cat '/proc/sys/vm/overcommit_memory' > '/r/sysctl/vm.overcommit_memory' && \
             mount --bind '/r/sysctl/vm.overcommit_memory' '/proc/sys/vm/overcommit_memory'"
        ));
        assert!(text.ends_with("echo ready > '/r/ready'\nexec '/b/pause'"));
    }

    #[test]
    fn commands_enter_all_three_namespaces() {
        let args = enter_args(42, Path::new("/b/x"), &["a".into()]);
        let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            ["nsenter", "-t", "42", "-m", "-n", "-p", "--", "/b/x", "a"]
        );
    }
}
