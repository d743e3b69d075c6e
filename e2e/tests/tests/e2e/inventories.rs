//! Inventories on the shared fleet, with the shared `roster-hub` running as deploy/hub's service
//! account: profiles projected into a second namespace follow the member's labels, carry the
//! same member id as every other copy, and go with their inventory, leaving everything else in
//! the namespace alone.

use std::time::{Duration, Instant};

use cluster_inventory::{names::LABEL_INVENTORY_MEMBER_ID, v1alpha1::ClusterProfile};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use roster_api::{Inventory, MemberCluster};
use roster_testenv::wait;
use serde_json::json;

use super::{members, support::INVENTORY};

const TIMEOUT: Duration = Duration::from_secs(30);
const NAMESPACE: &str = "e2e-kueue-system";
const LABEL: &str = "e2e.roster.dev/kueue";

/// Applies the Inventory `object`.
async fn apply(hub: &Client, object: serde_json::Value) -> anyhow::Result<()> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Api::<Inventory>::all(hub.clone())
        .patch(
            &name,
            &PatchParams::apply("e2e-inventories").force(),
            &Patch::Apply(&object),
        )
        .await?;
    Ok(())
}

async fn label(hub: &Client, member: &str, value: Option<&str>) -> anyhow::Result<()> {
    Api::<MemberCluster>::all(hub.clone())
        .patch(
            member,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {LABEL: value}}})),
        )
        .await?;
    Ok(())
}

/// Waits until the profile `namespace/member` exists (`true`) or not; says how long it took.
async fn wait_profile(
    hub: &Client,
    namespace: &str,
    member: &str,
    present: bool,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let api = Api::<ClusterProfile>::namespaced(hub.clone(), namespace);
    wait::until(
        &format!("ClusterProfile {namespace}/{member} present={present}"),
        TIMEOUT,
        || async {
            let p = api.get_opt(member).await?;
            Ok((p.is_some() == present).then_some(()))
        },
    )
    .await?;
    Ok(started.elapsed())
}

#[tokio::test]
async fn a_second_inventory_follows_labels_and_goes_with_its_inventory() -> anyhow::Result<()> {
    members::joined().await;
    let fleet = roster_testenv::shared_fleet().await;
    let hub = fleet.hub.client().await?;
    let member = fleet.members[0].name().to_owned();

    // What a platform admin does for an inventory in a namespace of their choosing: the
    // namespace, the hub's right to write profiles there, the Inventory.
    roster_testenv::inventory::open_namespace(&hub, NAMESPACE).await?;
    // Someone else's profile in the namespace: never touched.
    let foreign = ClusterProfile::new("foreign", Default::default());
    Api::<ClusterProfile>::namespaced(hub.clone(), NAMESPACE)
        .create(&PostParams::default(), &foreign)
        .await
        .or_else(|e| match e {
            kube::Error::Api(s) if s.is_already_exists() => Ok(foreign.clone()),
            e => Err(e),
        })?;
    apply(
        &hub,
        json!({
            "apiVersion": "roster.dev/v1alpha1", "kind": "Inventory",
            "metadata": {"name": "e2e-kueue"},
            "spec": {"namespace": NAMESPACE, "members": {"matchLabels": {LABEL: "worker"}},
                     "accessProviders": ["roster"]},
        }),
    )
    .await?;

    // Selected: a copy appears, the same member id as the default inventory's.
    label(&hub, &member, Some("worker")).await?;
    let appeared = wait_profile(&hub, NAMESPACE, &member, true).await?;
    eprintln!("measured: labelled -> profile in {NAMESPACE} after {appeared:?}");
    let id_of = |p: ClusterProfile| {
        p.metadata
            .labels
            .unwrap_or_default()
            .get(LABEL_INVENTORY_MEMBER_ID)
            .cloned()
    };
    let copy = wait::until("the copy carries the member id", TIMEOUT, || async {
        let p = Api::<ClusterProfile>::namespaced(hub.clone(), NAMESPACE)
            .get(&member)
            .await?;
        Ok(id_of(p.clone()).is_some().then_some(p))
    })
    .await?;
    let original = Api::<ClusterProfile>::namespaced(hub.clone(), INVENTORY)
        .get(&member)
        .await?;
    assert_eq!(id_of(copy.clone()), id_of(original.clone()));
    assert_eq!(
        copy.status.as_ref().map(|s| s.access_providers.len()),
        Some(1)
    );
    let inventories = wait::until("the member names both inventories", TIMEOUT, || async {
        let m = Api::<MemberCluster>::all(hub.clone()).get(&member).await?;
        let names = m.status.map(|s| s.inventories).unwrap_or_default();
        Ok((names.len() == 2).then_some(names))
    })
    .await?;
    assert_eq!(inventories, ["cluster-inventory", "e2e-kueue"]);
    let ready = wait::until("the inventory counts one member", TIMEOUT, || async {
        let i = Api::<Inventory>::all(hub.clone()).get("e2e-kueue").await?;
        Ok(i.status.filter(|s| s.members == Some(1)))
    })
    .await?;
    assert_eq!(ready.conditions[0].status, "True");

    // A second inventory on the same namespace publishes nothing and says why.
    apply(
        &hub,
        json!({
            "apiVersion": "roster.dev/v1alpha1", "kind": "Inventory",
            "metadata": {"name": "e2e-kueue-again"}, "spec": {"namespace": NAMESPACE},
        }),
    )
    .await?;
    let refused = wait::until("the second inventory says why", TIMEOUT, || async {
        let i = Api::<Inventory>::all(hub.clone())
            .get("e2e-kueue-again")
            .await?;
        Ok(i.status.and_then(|s| s.conditions.into_iter().next()))
    })
    .await?;
    assert_eq!(refused.status, "False");
    assert!(
        refused
            .message
            .contains("served by the older Inventory e2e-kueue"),
        "{refused:?}"
    );
    Api::<Inventory>::all(hub.clone())
        .delete("e2e-kueue-again", &DeleteParams::default())
        .await?;

    // Deselected: the copy goes, the default one stays.
    label(&hub, &member, None).await?;
    let gone = wait_profile(&hub, NAMESPACE, &member, false).await?;
    eprintln!("measured: unlabelled -> profile gone from {NAMESPACE} after {gone:?}");
    assert!(
        Api::<ClusterProfile>::namespaced(hub.clone(), INVENTORY)
            .get_opt(&member)
            .await?
            .is_some()
    );

    // Selected again, then the inventory deleted: only its profiles go.
    label(&hub, &member, Some("worker")).await?;
    wait_profile(&hub, NAMESPACE, &member, true).await?;
    Api::<Inventory>::all(hub.clone())
        .delete("e2e-kueue", &DeleteParams::default())
        .await?;
    let gone = wait_profile(&hub, NAMESPACE, &member, false).await?;
    eprintln!("measured: inventory deleted -> profile gone after {gone:?}");
    let left = Api::<ClusterProfile>::namespaced(hub.clone(), NAMESPACE)
        .get_opt("foreign")
        .await?;
    assert!(left.is_some(), "someone else's profile was removed");
    assert!(
        Api::<ClusterProfile>::namespaced(hub.clone(), INVENTORY)
            .get_opt(&member)
            .await?
            .is_some()
    );
    label(&hub, &member, None).await?;
    Ok(())
}
