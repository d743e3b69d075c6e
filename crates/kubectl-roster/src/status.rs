//! `kubectl roster status`: the fleet at a glance.

use anyhow::Context;
use k8s_openapi::{api::coordination::v1::Lease, jiff::Timestamp};
use kube::{Api, Client, api::ListParams};
use roster_api::{MemberCluster, names};

use crate::{
    cli::{HubOptions, StatusArgs, StatusOutput},
    hub, table,
};

/// Lists the MemberClusters and prints them as asked.
pub async fn run(hub: &HubOptions, args: StatusArgs) -> anyhow::Result<()> {
    let client = hub::client(hub::config(hub).await?)?;
    let members = Api::<MemberCluster>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("listing MemberClusters on the hub")?;
    match args.output {
        StatusOutput::Json => println!("{}", serde_json::to_string_pretty(&members)?),
        StatusOutput::Yaml => print!("{}", serde_saphyr::to_string(&members)?),
        StatusOutput::Table if members.items.is_empty() => eprintln!("No member clusters."),
        StatusOutput::Table => {
            let heartbeats = futures::future::join_all(
                members
                    .items
                    .iter()
                    .map(|m| last_heartbeat(&client, m.metadata.name.as_deref())),
            )
            .await;
            let now = Timestamp::now();
            let rows: Vec<table::Row> = members
                .items
                .iter()
                .zip(heartbeats)
                .map(|(member, heartbeat)| table::row(member, heartbeat, now))
                .collect();
            print!("{}", table::render(&rows));
        }
    }
    Ok(())
}

/// When the member's agent last renewed its lease; none when unknown or unreadable, since a
/// missing heartbeat is what the table shows rather than an error.
async fn last_heartbeat(client: &Client, member: Option<&str>) -> Option<Timestamp> {
    let namespace = names::member_namespace(member?);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let lease = leases.get_opt(names::AGENT_LEASE).await.ok()??;
    lease.spec?.renew_time.map(|t| t.0)
}
