//! What `/proc` says about processes and the machine: CPU time, resident memory, load.

use std::path::Path;

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 when it cannot say,
/// which is what Linux uses on every common architecture).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// `utime` and `stime` of a `/proc/<pid>/stat` line, in ticks. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat_times(stat: &str) -> Option<(u64, u64)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime, stime))
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in ticks.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    parse_stat_times(stat).map(|(u, s)| u + s)
}

/// A `kB` line (`VmRSS:`, `VmHWM:`) of `/proc/<pid>/status`, in bytes.
pub fn parse_status_bytes(status: &str, key: &str) -> Option<u64> {
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Busy and total ticks of the machine, from the `cpu` line of `/proc/stat`.
pub fn parse_machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
    Some((busy, busy + get(3) + get(4)))
}

/// CPU ticks used so far by process `pid`.
pub fn process_ticks(pid: u32) -> Option<u64> {
    parse_stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// User and system CPU ticks used so far by process `pid`.
pub fn process_times(pid: u32) -> Option<(u64, u64)> {
    parse_stat_times(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Resident memory (`VmRSS`) and its peak (`VmHWM`) of process `pid`, in bytes.
pub fn process_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        parse_status_bytes(&status, "VmRSS")?,
        parse_status_bytes(&status, "VmHWM")?,
    ))
}

/// Busy and total CPU ticks of the machine so far.
pub fn machine_ticks() -> Option<(u64, u64)> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The process whose command line (NUL-separated, as in `/proc/<pid>/cmdline`) satisfies
/// `wanted`.
pub fn find_process(wanted: impl Fn(&[&str]) -> bool) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let raw =
                std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&raw);
            let args: Vec<&str> = text.split('\0').filter(|a| !a.is_empty()).collect();
            wanted(&args).then_some(pid)
        })
}

/// CPU ticks of a set of processes, sampled together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuSample {
    /// Ticks per named process (0 when it could not be read).
    pub processes: Vec<(String, u64)>,
    /// Busy and total ticks of the machine.
    pub machine: (u64, u64),
}

impl CpuSample {
    /// Samples `processes` (name, pid) and the machine now.
    pub fn take(processes: &[(String, u32)]) -> Self {
        Self {
            processes: processes
                .iter()
                .map(|(name, pid)| (name.clone(), process_ticks(*pid).unwrap_or(0)))
                .collect(),
            machine: machine_ticks().unwrap_or((0, 0)),
        }
    }

    /// Cores each process (and the machine) kept busy on average between `earlier` and
    /// `self`, `seconds` apart: `(name, cores)`, the machine last as `machine`.
    pub fn cores_since(&self, earlier: &CpuSample, seconds: f64, ticks: f64) -> Vec<(String, f64)> {
        let rate = |d: u64| d as f64 / ticks / seconds.max(f64::MIN_POSITIVE);
        let mut out: Vec<(String, f64)> = self
            .processes
            .iter()
            .zip(&earlier.processes)
            .map(|((name, now), (_, then))| (name.clone(), rate(now.saturating_sub(*then))))
            .collect();
        let busy = self.machine.0.saturating_sub(earlier.machine.0);
        let total = self.machine.1.saturating_sub(earlier.machine.1);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let machine = if total == 0 {
            0.0
        } else {
            busy as f64 / total as f64 * cpus
        };
        out.push(("machine".to_owned(), machine));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_count_fields_after_the_command_name() {
        let line = "4242 (roster (hub) x) S 1 4242 4242 0 -1 4194304 1200 0 0 0 350 75 0 0 20 0 \
                    12 0 98765 123456789 2048 18446744073709551615";
        assert_eq!(parse_stat_ticks(line), Some(425));
        assert_eq!(parse_stat_times(line), Some((350, 75)));
        assert_eq!(parse_stat_ticks("garbage"), None);
        assert_eq!(parse_stat_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn status_memory_lines_in_bytes() {
        let status = "Name:\troster-hub\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\nThreads:\t3\n";
        assert_eq!(parse_status_bytes(status, "VmRSS"), Some(20480 * 1024));
        assert_eq!(parse_status_bytes(status, "VmHWM"), Some(40960 * 1024));
        assert_eq!(parse_status_bytes(status, "VmSwap"), None);
        assert_eq!(parse_status_bytes(status, "Threads"), None, "not a kB line");
    }

    #[test]
    fn machine_ticks_split_busy_from_idle() {
        let stat = "cpu  100 5 50 800 20 3 2 1 7 0\ncpu0 50 2 25 400 10 1 1 0 0 0\n";
        assert_eq!(parse_machine_ticks(stat), Some((161, 981)));
        assert_eq!(parse_machine_ticks("intr 1 2"), None);
    }

    #[test]
    fn cores_from_two_samples() {
        let earlier = CpuSample {
            processes: vec![("hub".into(), 100), ("apiserver".into(), 1000)],
            machine: (1000, 4000),
        };
        let later = CpuSample {
            processes: vec![("hub".into(), 130), ("apiserver".into(), 1600)],
            machine: (2000, 6000),
        };
        let cores = later.cores_since(&earlier, 10.0, 100.0);
        assert_eq!(cores[0], ("hub".to_owned(), 0.03));
        assert_eq!(cores[1], ("apiserver".to_owned(), 0.6));
        assert_eq!(cores[2].0, "machine");
        assert!(cores[2].1 > 0.0);
    }
}
