//! The `fleet` suite: a real hub API server and the release `roster-hub`, with N simulated
//! members ([`simulate`]: the agent's own heartbeat and report code, many
//! members in this process, no member API server). One fleet grows through the sizes asked
//! for (`--members`, default 100, 1000, 5000); at each size it measures
//!
//! - join: each member's agent starts once the hub has prepared it (as `kubectl roster join`
//!   waits), and join-to-`Joined` runs from its first heartbeat + report to the watch seeing
//!   `Joined=True`; timed for members joining one at a time into the settled fleet
//!   (`--fleet-join-sample`), and for the members added while growing (at most
//!   `--fleet-join-batch` awaiting the hub at once);
//! - steady state, once the hub's writes have stopped: `roster-hub` memory per member (RSS
//!   minus the RSS with no members), CPU seconds per minute and per heartbeat (hub CPU over the
//!   window / lease renewals in it), ClusterProfile and MemberCluster status writes;
//! - heartbeat loss: a sample stops heartbeating; from each one's last accepted renewal to
//!   `ControlPlaneHealthy=Unknown`, against the grace.
//!
//! It stops growing when the machine does not carry a size (heartbeats fall behind, renewals
//! fail, members go Unknown, or the hub cannot prepare members in time) and says why.

mod figures;
mod observer;
mod options;
mod procfs;
mod scrape;
pub mod simulate;
mod stage;

use std::collections::BTreeMap;

use crate::figure::Figure;
pub use options::Options;

/// Runs the suite.
pub async fn run(opts: &Options) -> anyhow::Result<Vec<Figure>> {
    anyhow::ensure!(
        opts.grace >= 2 * opts.period && opts.period >= 1,
        "--fleet-grace must be at least twice --fleet-period (the MemberCluster schema says so)"
    );
    let mut sizes = opts.members.clone();
    sizes.sort_unstable();
    sizes.dedup();
    sizes.retain(|n| *n > 0);
    anyhow::ensure!(!sizes.is_empty(), "--members names no fleet size");
    eprintln!("fleet: starting a hub control plane and roster-hub");
    let mut bench = stage::Bench::start(opts).await?;
    let mut out = figures::baseline(&bench.baseline);
    let mut largest = 0;
    let mut stopped = None;
    for &n in &sizes {
        match bench.stage(n).await {
            Ok(s) => {
                out.extend(figures::stage(&s, &bench.baseline));
                if let Some(why) = s.stopped {
                    stopped = Some(why);
                    break;
                }
                largest = n;
            }
            Err(e) => {
                stopped = Some(format!("N={n}: {e:#}"));
                break;
            }
        }
    }
    out.push(figures::carried(largest, &sizes, stopped.as_deref()));
    let log = std::fs::read_to_string(bench.hub_log()).unwrap_or_default();
    let warnings = log_summary(&log);
    if !warnings.is_empty() {
        let text = warnings
            .iter()
            .map(|(message, count)| format!("{count}× {message}"))
            .collect::<Vec<_>>()
            .join("; ");
        if let Some(last) = out.last_mut() {
            let note = last.note.take().unwrap_or_default();
            last.note = Some(format!("{note}. roster-hub warnings over the run: {text}"));
        }
    }
    bench.shutdown().await;
    Ok(out)
}

/// Warnings and errors of a `roster-hub` log (plain format, colours or not), counted by
/// message (spans and fields left out), most frequent first, at most five.
pub fn log_summary(log: &str) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in log.lines() {
        let line = strip_ansi(line);
        let Some((level, rest)) = ["WARN", "ERROR"]
            .into_iter()
            .find_map(|l| Some((l, line.split_once(&format!(" {l} "))?.1)))
        else {
            continue;
        };
        // `[<spans>: ]<target>: <message> <key=value>...`; span fields may hold ": ".
        let parts: Vec<&str> = rest.trim_start().split(": ").collect();
        let Some(at) = (0..parts.len().saturating_sub(1))
            .find(|&i| is_target(parts[i]) && !is_target(parts[i + 1]))
        else {
            continue;
        };
        let words: Vec<&str> = parts[at + 1]
            .split(' ')
            .take_while(|w| !is_field(w))
            .collect();
        *counts
            .entry(format!("{level} {}", words.join(" ")))
            .or_default() += 1;
    }
    let mut sorted: Vec<(String, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(5);
    sorted
}

/// `line` without terminal colour sequences (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn is_target(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_field(word: &str) -> bool {
    word.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_warnings_are_counted_by_message() {
        let log = "\
2025-01-01T00:00:00.000Z  WARN reconcile{member=sim-00001}: roster_hub::member: reconcile failed member=sim-00001 category=\"kube\" error=boom
2025-01-01T00:00:01.000Z  WARN reconcile{member=sim-00002}: roster_hub::member: reconcile failed member=sim-00002 category=\"kube\" error=x: y
2025-01-01T00:00:02.000Z ERROR roster_hub: something broke badly
2025-01-01T00:00:03.000Z  INFO roster_hub: started
\u{1b}[2m2025-01-01T00:00:04Z\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m \u{1b}[2mkube_client::client\u{1b}[0m\u{1b}[2m:\u{1b}[0m eof in poll: Custom { kind: x }
2025-01-01T00:00:05.000Z  WARN reconciling object{object.reason=related object updated: MemberCluster/x}: roster_hub::access: reconcile failed error=a
2025-01-01T00:00:06.000Z  WARN reconcile: roster_hub::member: ClusterProfile write budget exhausted; deferring wait=1s
not a log line
";
        assert_eq!(
            log_summary(log),
            vec![
                ("WARN reconcile failed".to_owned(), 3),
                ("ERROR something broke badly".to_owned(), 1),
                (
                    "WARN ClusterProfile write budget exhausted; deferring".to_owned(),
                    1
                ),
                ("WARN eof in poll".to_owned(), 1),
            ]
        );
    }
}
