//! The fleet as a table, the way `kubectl get` prints one.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::Condition,
    jiff::{SignedDuration, Timestamp},
};
use roster_api::{
    MemberCluster,
    conditions::{CONDITION_CONTROL_PLANE_HEALTHY, CONDITION_JOINED},
};

use crate::member::condition;

/// Column titles.
const HEADER: [&str; 8] = [
    "NAME",
    "JOINED",
    "HEALTHY",
    "VERSION",
    "INVENTORIES",
    "CLUSTER ID",
    "LAST HEARTBEAT",
    "AGE",
];

/// Spaces between columns.
const GAP: usize = 3;

/// What is shown when a value is unknown.
const NONE: &str = "-";

/// One member's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row(pub [String; 8]);

/// The line of `member`, whose agent last renewed its lease at `heartbeat`, seen at `now`.
pub fn row(member: &MemberCluster, heartbeat: Option<Timestamp>, now: Timestamp) -> Row {
    let status = member.status.as_ref();
    let text = |value: Option<&String>| value.map_or_else(|| NONE.to_owned(), Clone::clone);
    let since = |then: Option<Timestamp>| {
        then.map_or_else(
            || NONE.to_owned(),
            |t| short_duration(now.duration_since(t)),
        )
    };
    Row([
        member.metadata.name.clone().unwrap_or_default(),
        summary(condition(member, CONDITION_JOINED)),
        summary(condition(member, CONDITION_CONTROL_PLANE_HEALTHY)),
        text(status.and_then(|s| s.kubernetes_version.as_ref())),
        text(
            status
                .map(|s| s.inventories.join(","))
                .filter(|i| !i.is_empty())
                .as_ref(),
        ),
        text(status.and_then(|s| s.cluster_id.as_ref())),
        since(heartbeat),
        since(member.metadata.creation_timestamp.as_ref().map(|t| t.0)),
    ])
}

/// A condition as `True`, or `Status (Reason)` when it is not True; `-` when absent.
fn summary(condition: Option<&Condition>) -> String {
    match condition {
        None => NONE.to_owned(),
        Some(c) if c.status == "True" || c.reason.is_empty() => c.status.clone(),
        Some(c) => format!("{} ({})", c.status, c.reason),
    }
}

/// A duration the way `kubectl` shows ages: `5s`, `3m`, `2h`, `4d`, `1y`.
pub fn short_duration(elapsed: SignedDuration) -> String {
    let seconds = elapsed.as_secs();
    match seconds {
        ..-1 => "<invalid>".to_owned(),
        -1..60 => format!("{}s", seconds.max(0)),
        60..3_600 => format!("{}m", seconds / 60),
        3_600..86_400 => format!("{}h", seconds / 3_600),
        86_400..31_536_000 => format!("{}d", seconds / 86_400),
        _ => format!("{}y", seconds / 31_536_000),
    }
}

/// The header and rows, columns left-aligned and separated by at least three spaces.
pub fn render(rows: &[Row]) -> String {
    let header = Row(HEADER.map(str::to_owned));
    let lines: Vec<&Row> = std::iter::once(&header).chain(rows).collect();
    let mut widths = [0; HEADER.len()];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(&line.0) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in lines {
        let mut text = String::new();
        for (cell, width) in line.0.iter().zip(widths) {
            text.push_str(&format!("{cell:<0$}", width + GAP));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::tests::{cond, member};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use roster_api::conditions::{health, joined};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("valid timestamp")
    }

    #[test]
    fn durations_read_like_kubectl() {
        for (seconds, shown) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3_599, "59m"),
            (7_200, "2h"),
            (4 * 86_400 + 5, "4d"),
            (800 * 86_400, "2y"),
        ] {
            assert_eq!(short_duration(SignedDuration::from_secs(seconds)), shown);
        }
    }

    #[test]
    fn a_healthy_member_and_a_silent_one() {
        let now = at(1_000_000);
        let mut healthy = member(
            "member-1",
            vec![
                cond(CONDITION_JOINED, "True", joined::AGENT_CONNECTED, ""),
                cond(
                    CONDITION_CONTROL_PLANE_HEALTHY,
                    "True",
                    health::API_SERVER_READY,
                    "",
                ),
            ],
        );
        healthy.metadata.creation_timestamp = Some(Time(at(1_000_000 - 3 * 3_600)));
        if let Some(status) = healthy.status.as_mut() {
            status.kubernetes_version = Some("v1.37.2".into());
            status.cluster_id = Some("5f1c".into());
            status.inventories = vec!["cluster-inventory".into(), "kueue".into()];
        }
        let silent = member(
            "member-2",
            vec![cond(
                CONDITION_CONTROL_PLANE_HEALTHY,
                "Unknown",
                health::HEARTBEAT_MISSED,
                "",
            )],
        );
        let rows = [
            row(&healthy, Some(at(1_000_000 - 4)), now),
            row(&silent, None, now),
        ];
        assert_eq!(
            rows[0].0,
            [
                "member-1",
                "True",
                "True",
                "v1.37.2",
                "cluster-inventory,kueue",
                "5f1c",
                "4s",
                "3h"
            ]
            .map(str::to_owned)
        );
        assert_eq!(
            rows[1].0,
            [
                "member-2",
                "-",
                "Unknown (HeartbeatMissed)",
                "-",
                "-",
                "-",
                "-",
                "-"
            ]
            .map(str::to_owned)
        );
        let table = render(&rows);
        let expected = "\
NAME       JOINED   HEALTHY                     VERSION   INVENTORIES               CLUSTER ID   LAST HEARTBEAT   AGE
member-1   True     True                        v1.37.2   cluster-inventory,kueue   5f1c         4s               3h
member-2   -        Unknown (HeartbeatMissed)   -         -                         -            -                -
";
        assert_eq!(table, expected);
    }
}
