//! The cgroup a node's pods live under, created in every cgroup v1 hierarchy of the machine.
//!
//! Only folders are made and removed below the hierarchies' roots: nothing is mounted,
//! remounted or written above them. A run that crashes or is killed cannot remove them itself:
//! a small guard process ([`guard`]) outlives it by a few seconds to do so, and the name
//! carries the test process's id, so a later run removes whatever is still left ([`sweep`]).

use std::{
    io,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;

/// Where the cgroup v1 hierarchies are mounted.
const CGROUP_FS: &str = "/sys/fs/cgroup";
/// The v1 hierarchies the kubelet insists on finding the cgroup root in.
const HIERARCHIES: [&str; 9] = [
    "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd",
];
/// Hierarchies where runc may also create the root (the hybrid layout's v2 tree).
const EXTRA: [&str; 1] = ["unified"];
/// Prefix of every cgroup root the launcher creates.
const PREFIX: &str = "roster-node-";

/// The cgroup root's name for `cluster` in this test process: `roster-node-<pid>-<cluster>`.
pub fn name(pid: u32, cluster: &str) -> String {
    format!("{PREFIX}{pid}-{cluster}")
}

/// The test process that created the cgroup root `name`, if it is one of ours.
pub fn owner(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Creates `name` in every hierarchy; cpuset's gets the root's CPUs and memory nodes, without
/// which no task can join it.
pub fn create(name: &str) -> anyhow::Result<()> {
    for hierarchy in HIERARCHIES {
        let dir = Path::new(CGROUP_FS).join(hierarchy).join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        if hierarchy == "cpuset" {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let value =
                    std::fs::read_to_string(Path::new(CGROUP_FS).join("cpuset").join(file))?;
                std::fs::write(dir.join(file), value.trim())
                    .with_context(|| format!("writing {}/{file}", dir.display()))?;
            }
        }
    }
    Ok(())
}

/// Removes `name` and everything below it from every hierarchy, waiting up to `timeout` for the
/// processes in it to finish dying (a blocking wait: it also runs from `Drop`).
pub fn remove(name: &str, timeout: Duration) -> anyhow::Result<()> {
    let roots: Vec<PathBuf> = HIERARCHIES
        .iter()
        .chain(&EXTRA)
        .map(|h| Path::new(CGROUP_FS).join(h).join(name))
        .collect();
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<String> = roots
            .iter()
            .filter_map(|root| {
                remove_tree(root)
                    .err()
                    .map(|e| format!("{}: {e}", root.display()))
            })
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "cgroup {name} not removed after {timeout:?}: {}",
                left.join("; ")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The guard's script: wait for `owner` to end, then remove the cgroup root `name` (processes in
/// it may take a moment to die), giving up after 30 s.
pub fn guard_script(owner: u32, name: &str) -> String {
    format!(
        "while kill -0 {owner} 2>/dev/null; do sleep 1; done\n\
         for i in $(seq 30); do\n\
         \x20 find {CGROUP_FS}/*/{name} -depth -type d -exec rmdir {{}} + 2>/dev/null\n\
         \x20 ls -d {CGROUP_FS}/*/{name} >/dev/null 2>&1 || exit 0\n\
         \x20 sleep 1\n\
         done"
    )
}

/// Starts the guard of the cgroup root `name`: a shell that is not tied to this process's life
/// (no parent-death signal), waits for it to end and removes the root. It ends within seconds
/// of the test run, whether the run stopped the node itself or crashed.
pub fn guard(name: &str) -> anyhow::Result<()> {
    std::process::Command::new("sh")
        .args(["-c", &guard_script(std::process::id(), name)])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting the cgroup guard")?;
    Ok(())
}

/// Removes the cgroup roots of test processes that are gone (a crashed or killed run).
pub fn sweep() -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(Path::new(CGROUP_FS).join("memory")) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = owner(&name)
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            tracing::info!(cgroup = %name, "removing a cgroup root left by a finished run");
            remove(&name, Duration::from_secs(10))?;
        }
    }
    Ok(())
}

/// Removes a cgroup folder bottom-up (cgroup folders hold only control files, removed with them).
fn remove_tree(dir: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owning_process() {
        let n = name(4242, "member-1");
        assert_eq!(n, "roster-node-4242-member-1");
        assert_eq!(owner(&n), Some(4242));
        assert_eq!(owner("kubepods"), None);
        assert_eq!(owner("roster-node-x-hub"), None);
    }

    #[test]
    fn the_guard_waits_for_its_owner_then_removes_bottom_up() {
        let script = guard_script(7, "roster-node-7-hub");
        assert!(script.starts_with("while kill -0 7 2>/dev/null; do sleep 1; done\n"));
        assert!(
            script.contains(
                "find /sys/fs/cgroup/*/roster-node-7-hub -depth -type d -exec rmdir {} +"
            )
        );
    }
}
