//! Which inventories publish a member's ClusterProfile, and what each copy carries. Pure.
//!
//! One inventory per namespace: when two name the same namespace, the older one (then the one
//! whose name sorts first) serves it and the other publishes nothing, so a copy is never fought
//! over. An inventory being deleted, or whose selector cannot be evaluated, serves nothing.

use std::sync::Arc;

use cluster_inventory::v1alpha1::AccessProvider;
use kube::ResourceExt;
use roster_api::{Inventory, MemberCluster};

/// The inventories that serve their namespace, from every inventory the hub knows.
pub fn serving(inventories: &[Arc<Inventory>]) -> Vec<&Inventory> {
    let mut live: Vec<&Inventory> = inventories
        .iter()
        .map(AsRef::as_ref)
        .filter(|i| i.metadata.deletion_timestamp.is_none())
        .collect();
    live.sort_by_key(|i| seniority(i));
    let mut taken = std::collections::HashSet::new();
    live.into_iter()
        .filter(|i| taken.insert(i.spec.namespace.as_str()))
        .filter(|i| selector_problem(i).is_none())
        .collect()
}

/// Why `inventory` publishes nothing, if it does not: another inventory serves its namespace,
/// or its selector cannot be evaluated.
pub fn problem(inventory: &Inventory, inventories: &[Arc<Inventory>]) -> Option<String> {
    if let Some(problem) = selector_problem(inventory) {
        return Some(problem);
    }
    let owner = inventories
        .iter()
        .filter(|i| i.metadata.deletion_timestamp.is_none())
        .filter(|i| i.spec.namespace == inventory.spec.namespace)
        .min_by_key(|i| seniority(i))?;
    (owner.name_any() != inventory.name_any()).then(|| {
        format!(
            "namespace {} is served by the older Inventory {}; one inventory per namespace",
            inventory.spec.namespace,
            owner.name_any()
        )
    })
}

fn selector_problem(inventory: &Inventory) -> Option<String> {
    inventory.spec.members.as_ref()?.problem()
}

fn seniority(i: &Inventory) -> (Option<k8s_openapi::jiff::Timestamp>, String) {
    (
        i.metadata.creation_timestamp.as_ref().map(|t| t.0),
        i.name_any(),
    )
}

/// Whether `inventory` selects `member`.
pub fn selects(inventory: &Inventory, member: &MemberCluster) -> bool {
    let Some(selector) = &inventory.spec.members else {
        return true;
    };
    let empty = Default::default();
    selector.matches(member.metadata.labels.as_ref().unwrap_or(&empty))
}

/// The access providers a copy in `inventory` carries.
pub fn providers(inventory: &Inventory, all: &[AccessProvider]) -> Vec<AccessProvider> {
    match &inventory.spec.access_providers {
        None => all.to_vec(),
        Some(names) => all
            .iter()
            .filter(|p| names.contains(&p.name))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
    use roster_api::{InventorySpec, selector::MemberSelector};

    fn inventory(name: &str, namespace: &str, created: i64) -> Arc<Inventory> {
        let mut i = Inventory::new(
            name,
            InventorySpec {
                namespace: namespace.into(),
                ..Default::default()
            },
        );
        i.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
        Arc::new(i)
    }

    fn names(list: &[&Inventory]) -> Vec<String> {
        list.iter().map(|i| i.name_any()).collect()
    }

    #[test]
    fn the_oldest_inventory_of_a_namespace_serves_it() {
        let all = vec![
            inventory("late", "shared", 20),
            inventory("default", "cluster-inventory", 5),
            inventory("early", "shared", 10),
        ];
        assert_eq!(names(&serving(&all)), ["default", "early"]);
        assert_eq!(problem(&all[2], &all), None);
        let p = problem(&all[0], &all).unwrap();
        assert!(p.contains("served by the older Inventory early"), "{p}");
    }

    #[test]
    fn deleting_or_unreadable_inventories_serve_nothing() {
        let mut leaving = (*inventory("leaving", "a", 1)).clone();
        leaving.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        let mut bad = (*inventory("bad", "b", 1)).clone();
        bad.spec.members = Some(MemberSelector {
            match_labels: Some([("bad key".to_owned(), "x".to_owned())].into()),
            ..Default::default()
        });
        let all = vec![Arc::new(leaving), Arc::new(bad.clone())];
        assert!(serving(&all).is_empty());
        assert!(problem(&bad, &all).unwrap().contains("\"bad key\""));
    }

    #[test]
    fn selection_and_providers() {
        let mut kueue = (*inventory("kueue", "kueue-system", 1)).clone();
        kueue.spec.members = Some(MemberSelector {
            match_labels: Some([("kueue".to_owned(), "worker".to_owned())].into()),
            ..Default::default()
        });
        let mut member = MemberCluster::new("m1", Default::default());
        assert!(!selects(&kueue, &member));
        assert!(selects(&inventory("all", "x", 1), &member));
        member.metadata.labels = Some([("kueue".to_owned(), "worker".to_owned())].into());
        assert!(selects(&kueue, &member));

        let all = [
            AccessProvider {
                name: "roster".into(),
                cluster: None,
            },
            AccessProvider {
                name: "other".into(),
                cluster: None,
            },
        ];
        assert_eq!(providers(&kueue, &all).len(), 2);
        kueue.spec.access_providers = Some(vec!["roster".into()]);
        assert_eq!(providers(&kueue, &all)[0].name, "roster");
        assert_eq!(providers(&kueue, &all).len(), 1);
        kueue.spec.access_providers = Some(vec![]);
        assert!(providers(&kueue, &all).is_empty());
    }
}
