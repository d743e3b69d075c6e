//! `kubectl roster audit`: every remote identity in the fleet, from what the hub knows (grants
//! and the status their agents report, RemoteServiceAccounts, RemoteAccessPolicies,
//! namespaces, MemberClusters) — hub access only. Rows beyond the current policy, beyond a
//! member's ceiling (the agent refused), without a RemoteServiceAccount behind them, or with a
//! token not refreshed in time are marked `!`, and the command then exits non-zero.

pub mod identities;

use std::collections::BTreeMap;

use anyhow::Context;
use k8s_openapi::{api::core::v1::Namespace, jiff::Timestamp};
use kube::{Api, Client, api::ListParams};
use roster_api::{
    MemberCluster, MemberReport, RemoteAccessPolicy, RemoteAccountGrant, RemoteServiceAccount,
    names,
};
use serde::Serialize;

use serde::de::DeserializeOwned;

use crate::{
    cli::{AuditArgs, StatusOutput},
    hub,
};
use identities::{Hub, Identity};

/// Lists what the hub knows, prints every identity as asked, and fails when any is marked.
pub async fn run(hub_opts: &crate::cli::HubOptions, args: AuditArgs) -> anyhow::Result<()> {
    let client = hub::client(hub::config(hub_opts).await?)?;
    let namespaces: Vec<Namespace> = list(&client, "Namespaces").await?;
    let hub = Hub {
        grants: list::<RemoteAccountGrant>(&client, "RemoteAccountGrants").await?,
        rsas: list::<RemoteServiceAccount>(&client, "RemoteServiceAccounts").await?,
        policies: list::<RemoteAccessPolicy>(&client, "RemoteAccessPolicies").await?,
        namespaces: namespaces
            .into_iter()
            .filter_map(|n| Some((n.metadata.name?, n.metadata.labels.unwrap_or_default())))
            .collect::<BTreeMap<_, _>>(),
        members: list::<MemberCluster>(&client, "MemberClusters").await?,
        ceilings: list::<MemberReport>(&client, "MemberReports")
            .await?
            .into_iter()
            .filter_map(|r| {
                let member = names::member_of_namespace(r.metadata.namespace.as_deref()?)?;
                Some((member.to_owned(), r.spec.grant_ceiling?))
            })
            .collect(),
    };
    let rows = identities::identities(&hub, Timestamp::now());
    let agents = identities::agents(&hub);
    let report = Report {
        identities: rows.clone(),
        agents: agents.clone(),
    };
    match args.output {
        StatusOutput::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        StatusOutput::Yaml => print!("{}", serde_saphyr::to_string(&report)?),
        StatusOutput::Table => {
            if rows.is_empty() {
                println!("No remote identities.");
            } else {
                print!("{}", render(&rows, Timestamp::now()));
            }
            print!("\n{}", render_agents(&agents));
        }
    }
    let marked = rows.iter().filter(|r| r.marked()).count();
    anyhow::ensure!(
        marked == 0,
        "{marked} of {} remote identities are marked (!): beyond policy or a member's ceiling, \
         without a RemoteServiceAccount, or with a token not refreshed in time",
        rows.len()
    );
    Ok(())
}

async fn list<K>(client: &Client, what: &str) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    Ok(Api::<K>::all(client.clone())
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing {what} on the hub"))?
        .items)
}

/// What `-o json|yaml` prints.
#[derive(Debug, Serialize)]
struct Report {
    identities: Vec<Identity>,
    agents: Vec<identities::Agent>,
}

/// Each agent's rights on its member: which ClusterRoles it may bind, whether it may write
/// rules (and so holds `escalate`).
pub fn render_agents(agents: &[identities::Agent]) -> String {
    let rows: Vec<[String; 3]> = agents
        .iter()
        .map(|a| {
            let (bind, rules) = match &a.ceiling {
                Some(c) if c.allow_rules => (
                    format!("{} (its RBAC: any)", c.cluster_roles.join(",")),
                    "yes",
                ),
                Some(c) => (c.cluster_roles.join(","), "no"),
                None => ("unknown (not reported)".to_owned(), "?"),
            };
            [a.member.clone(), bind, rules.to_owned()]
        })
        .collect();
    let header = ["AGENT ON", "MAY BIND", "RULES/ESCALATE"].map(str::to_owned);
    let lines: Vec<&[String; 3]> = std::iter::once(&header).chain(&rows).collect();
    let mut widths = [0; 3];
    for line in &lines {
        for (w, c) in widths.iter_mut().zip(line.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    lines
        .iter()
        .map(|line| {
            let text: String = line
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<0$}", w + 3))
                .collect();
            format!("{}\n", text.trim_end())
        })
        .collect()
}

const HEADER: [&str; 8] = [
    "",
    "NAMESPACE/ACCOUNT",
    "MEMBER",
    "SERVICE ACCOUNT",
    "MAY DO",
    "ALLOWED BY",
    "EXPIRES",
    "REFRESHED",
];

/// The table, then one line per finding of each marked row.
pub fn render(rows: &[Identity], now: Timestamp) -> String {
    let age = |t: Option<Timestamp>, future: bool| {
        t.map(|t| {
            let d = if future {
                t.duration_since(now)
            } else {
                now.duration_since(t)
            };
            let text = crate::table::short_duration(d);
            if future {
                format!("in {text}")
            } else {
                format!("{text} ago")
            }
        })
        .unwrap_or_else(|| "-".into())
    };
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let mut may = Vec::new();
            if !r.cluster_roles.is_empty() {
                may.push(r.cluster_roles.join(","));
            }
            may.extend(r.roles.iter().map(|x| x.replace(": ", ":")));
            if !r.rules.is_empty() {
                may.push(format!("{} rules", r.rules.len()));
            }
            [
                if r.marked() { "!" } else { "" }.to_owned(),
                format!("{}/{}", r.namespace, r.remote_service_account),
                r.member.clone(),
                r.federated_user
                    .as_ref()
                    .map_or_else(|| r.service_account.clone(), |u| format!("user {u}")),
                if may.is_empty() {
                    "-".into()
                } else {
                    may.join(" ")
                },
                if r.allowed_by.is_empty() {
                    "-".into()
                } else {
                    r.allowed_by.join(",")
                },
                age(r.token_expiry, true),
                age(r.last_refresh, false),
            ]
        })
        .collect();
    let header = HEADER.map(str::to_owned);
    let lines: Vec<&[String; 8]> = std::iter::once(&header).chain(&cells).collect();
    let mut widths = [0; 8];
    for line in &lines {
        for (w, c) in widths.iter_mut().zip(line.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for line in lines {
        let text: String = line
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<0$}", w + 2))
            .collect();
        out.push_str(text.trim_end());
        out.push('\n');
    }
    for r in rows.iter().filter(|r| r.marked()) {
        for finding in &r.findings {
            out.push_str(&format!(
                "! {}/{} on {}: {finding}\n",
                r.namespace, r.remote_service_account, r.member
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_rows_carry_a_bang_and_their_findings_follow() {
        let row = Identity {
            namespace: "team-a".into(),
            remote_service_account: "rogue".into(),
            member: "member-1".into(),
            service_account: "roster-remote/team-a-rogue".into(),
            federated_user: None,
            cluster_roles: vec!["edit".into()],
            roles: vec!["apps: view".into()],
            rules: vec!["rule verbs [get]".into()],
            allowed_by: Vec::new(),
            token_expiry: Some(Timestamp::from_second(3_600).unwrap()),
            last_refresh: Some(Timestamp::from_second(0).unwrap()),
            findings: vec!["beyond policy: x".into()],
        };
        let text = render(&[row], Timestamp::from_second(60).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("   NAMESPACE/ACCOUNT"), "{text}");
        assert!(lines[1].starts_with("!  team-a/rogue"), "{text}");
        assert!(lines[1].contains("edit apps:view 1 rules"), "{text}");
        assert!(
            lines[1].contains("in 59m") && lines[1].ends_with("1m ago"),
            "{text}"
        );
        assert_eq!(lines[2], "! team-a/rogue on member-1: beyond policy: x");
    }
}
