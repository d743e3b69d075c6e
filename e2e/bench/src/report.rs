//! The table `make bench` prints and the JSON it writes.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::figure::Figure;

/// Everything one `make bench` run measured, with the machine it ran on.
#[derive(Debug, Serialize)]
pub struct Results {
    /// When the run finished (RFC 3339).
    pub finished: String,
    /// CPU model and count, memory: what the figures are relative to.
    pub machine: Machine,
    /// The figures, suite by suite.
    pub figures: Vec<Figure>,
}

/// The machine the figures were measured on.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Processors available.
    pub cpus: usize,
    /// MemTotal from /proc/meminfo, in MiB.
    pub memory_mib: u64,
}

impl Machine {
    /// This machine.
    pub fn here() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: u64 = meminfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        Self {
            cpu,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            memory_mib: memory_kib / 1024,
        }
    }
}

/// The figures as a plain-text table.
pub fn table(figures: &[Figure]) -> String {
    let mut rows = vec![[
        "suite".to_owned(),
        "figure".to_owned(),
        "value".to_owned(),
        "target".to_owned(),
        "".to_owned(),
    ]];
    for f in figures {
        rows.push([
            f.suite.clone(),
            f.name.clone(),
            format!("{} {}", format_value(f.value), f.unit),
            f.target.clone().unwrap_or_default(),
            match f.meets_target {
                Some(true) => "met".into(),
                Some(false) => "MISSED".into(),
                None => String::new(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let notes: Vec<String> = figures
        .iter()
        .filter_map(|f| Some(format!("- {}: {}", f.name, f.note.as_ref()?)))
        .collect();
    if !notes.is_empty() {
        out.push_str("\nNotes:\n");
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Writes `results` as pretty JSON to `path`, creating its folder.
pub fn write_json(results: &Results, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(results)?)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lines_up_and_flags_missed_targets() {
        let figures = vec![
            Figure::new("fleet", "memory per member", 12.5, "KiB").target("< 20 KiB", true),
            Figure::new("admission", "p99", 7.25, "ms")
                .target("< 5 ms", false)
                .note("debug build"),
        ];
        let text = table(&figures);
        assert!(
            text.contains("memory per member  12.50 KiB  < 20 KiB  met"),
            "{text}"
        );
        assert!(text.contains("MISSED"), "{text}");
        assert!(text.contains("- p99: debug build"), "{text}");
    }
}
