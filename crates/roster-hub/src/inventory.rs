//! The inventory controller: keeps each Inventory's status true (whether it publishes, and for
//! how many members), and creates the default inventory at start. The profiles themselves are
//! the member controller's (see `member::inventories`): one reconcile per member writes every
//! copy of its profile.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PostParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        reflector::{ObjectRef, Store},
    },
};
use roster_api::{
    Inventory, InventorySpec, InventoryStatus, MemberCluster,
    conditions::{CONDITION_READY, inventory as reasons},
    names,
};
use tracing::info;

use crate::{
    apply,
    clock::{Clock, whole_seconds},
    conditions::{self, Desired},
    error::Error,
    member::inventories,
    metrics::Metrics,
    shared_cache::SharedCache,
    watch,
};

/// The name of the inventory controller in metrics.
pub const INVENTORY_CONTROLLER: &str = "inventory";

/// What an inventory reconcile reads.
pub struct Context {
    client: Client,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    members: Store<MemberCluster>,
    inventories: Store<Inventory>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("inventory::Context").finish_non_exhaustive()
    }
}

impl crate::controller::Shared for Context {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// The status `inventory` should have, given every inventory and member. Pure.
pub fn status(
    inventory: &Inventory,
    all: &[Arc<Inventory>],
    members: &[Arc<MemberCluster>],
    previous: &[Condition],
    now: k8s_openapi::jiff::Timestamp,
) -> InventoryStatus {
    let problem = inventories::problem(inventory, all);
    let count = match problem {
        Some(_) => 0,
        None => members
            .iter()
            .filter(|m| m.metadata.deletion_timestamp.is_none())
            .filter(|m| names::member_namespace_problem(&m.name_any()).is_none())
            .filter(|m| inventories::selects(inventory, m))
            .count(),
    };
    let ready = match &problem {
        Some(problem) => Desired::new(
            CONDITION_READY,
            "False",
            reasons::NOT_PUBLISHING,
            problem.clone(),
        ),
        None => Desired::new(
            CONDITION_READY,
            "True",
            reasons::PUBLISHING,
            format!(
                "publishing the ClusterProfiles of {count} members in namespace {}",
                inventory.spec.namespace
            ),
        ),
    };
    let generation = inventory.metadata.generation;
    InventoryStatus {
        conditions: conditions::build_all(&[ready], previous, &whole_seconds(now), generation),
        members: Some(i32::try_from(count).unwrap_or(i32::MAX)),
        observed_generation: generation,
    }
}

async fn reconcile(inventory: Arc<Inventory>, ctx: Arc<Context>) -> Result<Action, Error> {
    let previous = inventory
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let wanted = status(
        &inventory,
        &ctx.inventories.state(),
        &ctx.members.state(),
        previous,
        ctx.clock.now(),
    );
    if inventory.status.as_ref() != Some(&wanted) {
        let patch = serde_json::json!({
            "apiVersion": Inventory::api_version(&()),
            "kind": Inventory::kind(&()),
            "status": wanted,
        });
        Api::<Inventory>::all(ctx.client.clone())
            .patch_status(
                &inventory.name_any(),
                &apply::params(),
                &Patch::Apply(patch),
            )
            .await
            .map_err(|e| Error::writing("Inventory status", inventory.name_any(), e))?;
    }
    Ok(Action::await_change())
}

/// Creates the inventory `name` publishing every member in `namespace`, unless one of that
/// name exists (an administrator's changes to it are kept).
pub async fn ensure_default(client: &Client, name: &str, namespace: &str) -> Result<(), Error> {
    let inventory = Inventory::new(
        name,
        InventorySpec {
            namespace: namespace.to_owned(),
            ..Default::default()
        },
    );
    match Api::<Inventory>::all(client.clone())
        .create(&PostParams::default(), &inventory)
        .await
    {
        Ok(_) => {
            info!(inventory = name, %namespace, "created the default inventory");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
        Err(e) => Err(Error::writing("Inventory", name, e)),
    }
}

/// Runs the inventory controller until shutdown.
pub async fn run(
    client: Client,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    members: SharedCache<MemberCluster>,
) {
    let (inventories, inventory_events) =
        watch::cached(Api::<Inventory>::all(client.clone()), watch::config());
    let ctx = Arc::new(Context {
        client,
        clock,
        metrics,
        members: members.store(),
        inventories: inventories.clone(),
    });
    let all = inventories.clone();
    let controller = Controller::for_stream(inventory_events.applied_objects(), inventories)
        // A member's labels change how many members an inventory selects.
        .watches_stream(members.touched(), move |_: MemberCluster| {
            all.state()
                .iter()
                .map(|i| ObjectRef::from_obj(i.as_ref()))
                .collect::<Vec<_>>()
        });
    crate::controller::run(controller, INVENTORY_CONTROLLER, reconcile, ctx).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use roster_api::selector::MemberSelector;

    fn member(name: &str, labels: &[(&str, &str)]) -> Arc<MemberCluster> {
        let mut m = MemberCluster::new(name, Default::default());
        m.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        Arc::new(m)
    }

    #[test]
    fn counts_the_selected_members_or_says_why_it_publishes_nothing() {
        let mut kueue = Inventory::new(
            "kueue",
            InventorySpec {
                namespace: "kueue-system".into(),
                members: Some(MemberSelector {
                    match_labels: Some([("kueue".to_owned(), "worker".to_owned())].into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        kueue.metadata.generation = Some(2);
        let members = [
            member("a", &[("kueue", "worker")]),
            member("b", &[]),
            member(&"x".repeat(60), &[("kueue", "worker")]),
        ];
        let now = Timestamp::from_second(100).unwrap();
        let all = vec![Arc::new(kueue.clone())];
        let s = status(&kueue, &all, &members, &[], now);
        assert_eq!(s.members, Some(1));
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.conditions[0].reason, reasons::PUBLISHING);

        let mut older = Inventory::new(
            "older",
            InventorySpec {
                namespace: "kueue-system".into(),
                ..Default::default()
            },
        );
        older.metadata.creation_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH),
        );
        kueue.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
        let all = vec![Arc::new(kueue.clone()), Arc::new(older)];
        let s = status(&kueue, &all, &members, &[], now);
        assert_eq!(s.members, Some(0));
        assert_eq!(s.conditions[0].status, "False");
        assert!(s.conditions[0].message.contains("older Inventory older"));
    }
}
