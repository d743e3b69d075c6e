//! Leader failover of the two roster-hub pods: the leader pod deleted, the other replica takes
//! the Lease, and profiles keep following their members.

use std::time::{Duration, Instant};

use cluster_inventory::v1alpha1::ClusterProfile;
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Pod};
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams},
};
use roster_api::{MemberCluster, names};
use roster_testenv::{node::NodeCluster, wait};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(180);

/// The current holder of the leader Lease.
async fn holder(leases: &Api<Lease>) -> Option<String> {
    let lease = leases.get_opt("roster-hub").await.ok().flatten()?;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

/// Journey: delete the leader pod → another pod holds the Lease, and a MemberCluster's new
/// display name reaches its ClusterProfile.
pub async fn the_other_replica_takes_over(hub: &NodeCluster, member: &str) -> anyhow::Result<()> {
    let client = hub.client().await?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "roster-system");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "roster-system");
    let leader = wait::until("a roster-hub leader", TIMEOUT, || {
        let leases = leases.clone();
        async move { Ok(holder(&leases).await) }
    })
    .await?;

    let deleted = Instant::now();
    pods.delete(&leader, &DeleteParams::default()).await?;
    let next = wait::until("another roster-hub pod leading", TIMEOUT, || {
        let (leases, leader) = (leases.clone(), leader.clone());
        async move { Ok(holder(&leases).await.filter(|h| *h != leader)) }
    })
    .await?;
    let took_over = deleted.elapsed();
    assert!(
        pods.get_opt(&next).await?.is_some(),
        "the new leader {next} is a roster-hub pod"
    );

    // Profiles keep following their members under the new leader.
    let display = format!("{member} after failover");
    let members: Api<MemberCluster> = Api::all(client.clone());
    members
        .patch(
            member,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"displayName": display}})),
        )
        .await?;
    let profiles: Api<ClusterProfile> = Api::namespaced(client, names::DEFAULT_INVENTORY_NAMESPACE);
    wait::until(
        "the new display name in the ClusterProfile",
        TIMEOUT,
        || {
            let (profiles, display) = (profiles.clone(), display.clone());
            async move {
                let profile = profiles.get_opt(member).await.ok().flatten();
                Ok(profile
                    .filter(|p| p.spec.display_name.as_deref() == Some(display.as_str()))
                    .map(|_| ()))
            }
        },
    )
    .await?;
    eprintln!(
        "leader pod {leader} deleted: {next} took the Lease in {took_over:?}; a display-name change reached the ClusterProfile {:?} after the delete",
        deleted.elapsed()
    );
    Ok(())
}
