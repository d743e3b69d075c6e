//! Memory of a node's processes, from `/proc`.

use std::path::Path;

/// Memory of one process of a node.
#[derive(Clone, Debug)]
pub struct ProcessMemory {
    /// The component (`kubelet`, `containerd`, ...).
    pub command: String,
    /// Resident set size, bytes (pages shared with other processes counted in full).
    pub rss: u64,
    /// Proportional set size, bytes (shared pages split between their users).
    pub pss: u64,
}

/// The memory of process `pid`, if it still runs.
pub fn of_process(pid: u32) -> Option<ProcessMemory> {
    Some(ProcessMemory {
        command: command_name(pid)?,
        rss: status_kib(&format!("/proc/{pid}/status"), "VmRSS:")? * 1024,
        pss: status_kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:")? * 1024,
    })
}

fn command_name(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // The multi-call binary's component is its first argument.
    let base = Path::new(args.first()?)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    Some(match (base.as_str(), args.get(1)) {
        ("controlplane", Some(component)) => component.clone(),
        _ => base,
    })
}

/// A `<field> <n> kB` value of a `/proc` file.
fn status_kib(path: &str, field: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
