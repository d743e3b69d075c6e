//! The member reconcile's decision. From a MemberCluster and what the hub observed of it (the
//! agent's report, its last heartbeat, the time), [`decide`] works out everything the hub wants
//! written: the hub-side objects, the MemberCluster status with the Events of its transitions,
//! and the ClusterProfile in each inventory that selects the member (and which copies to
//! remove). It reads and writes nothing; `reconcile` observes, decides, then
//! hands the plan to `writes`, which writes only what differs.

use std::sync::Arc;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Condition, jiff::Timestamp};
use kube::{ResourceExt, runtime::events::Event};
use roster_api::{
    Inventory, MemberCluster, MemberClusterStatus,
    conditions::{CONDITION_CONTROL_PLANE_HEALTHY, CONDITION_JOINED},
    member_report::MemberReportSpec,
    names,
};

use super::{
    desired_profile::{self, DesiredProfile},
    health, heartbeats, inventories,
    objects::{self, MemberObjects},
    observed_profiles, status,
};
use crate::{clock::whole_seconds, conditions, events};

/// What the hub observed of a member, besides its MemberCluster.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The agent's latest report.
    pub report: Option<&'a MemberReportSpec>,
    /// When the hub last saw the agent heartbeat.
    pub last_heartbeat: Option<Timestamp>,
    /// Every Inventory.
    pub inventories: &'a [Arc<Inventory>],
    /// The profiles named after the member, by namespace.
    pub copies: &'a [(String, observed_profiles::Observed)],
    /// Now.
    pub now: Timestamp,
}

/// Everything the hub wants written for a member.
pub struct Plan {
    /// The namespace, identities, RBAC and Lease; none when the member's name cannot be a
    /// namespace.
    pub objects: Option<MemberObjects>,
    /// The MemberCluster status.
    pub status: MemberClusterStatus,
    /// The Events of the status's condition transitions, published when the status is written.
    pub events: Vec<Event>,
    /// The ClusterProfile in each inventory namespace that selects the member; none when the
    /// member's name cannot be a namespace.
    pub profiles: Vec<(String, DesiredProfile)>,
    /// The namespaces holding a profile of this member that no inventory wants any more.
    pub remove_profiles: Vec<String>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("objects", &self.objects)
            .field("status", &self.status)
            .field("events", &self.events.len())
            .field("profiles", &self.profiles)
            .field("remove_profiles", &self.remove_profiles)
            .finish()
    }
}

impl Plan {
    /// The reason of the condition `type_` in the planned status, for logs.
    pub fn reason(&self, type_: &str) -> &str {
        self.status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map_or("", |c| c.reason.as_str())
    }
}

/// Everything to write for `member`, given what the hub `observed`.
pub fn decide(member: &MemberCluster, observed: &Observed<'_>) -> Plan {
    let name = member.metadata.name.as_deref().unwrap_or_default();
    let problem = names::member_namespace_problem(name);
    let report = observed.report.filter(|_| problem.is_none());
    let inputs = health::Inputs {
        name_problem: problem.as_deref(),
        last_heartbeat: observed.last_heartbeat,
        report,
        grace: heartbeats::grace_of(member),
        now: observed.now,
    };
    let mut wanted = vec![
        health::joined(&inputs),
        health::control_plane_healthy(&inputs),
    ];
    if report.is_some() {
        let (_, too_long) = desired_profile::properties(member, report);
        wanted.push(status::properties_published(&too_long));
        wanted.push(status::federation_trusted(
            report.and_then(|r| r.federation.as_ref()),
        ));
    }
    let previous = member
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let built = conditions::build_all(
        &wanted,
        previous,
        &whole_seconds(observed.now),
        member.metadata.generation,
    );
    let events = events::transitions(previous, &built);
    let publishing: Vec<&Inventory> = match problem {
        Some(_) => Vec::new(),
        None => inventories::serving(observed.inventories)
            .into_iter()
            .filter(|i| inventories::selects(i, member))
            .collect(),
    };
    let profiles: Vec<(String, DesiredProfile)> = match publishing.first() {
        None => Vec::new(),
        Some(_) => {
            let whole = desired_profile::desired(member, report, mirrored(&built));
            publishing
                .iter()
                .map(|i| {
                    let mut copy = whole.clone();
                    copy.status.access_providers =
                        inventories::providers(i, &whole.status.access_providers);
                    (i.spec.namespace.clone(), copy)
                })
                .collect()
        }
    };
    let uid = member.metadata.uid.as_deref();
    let remove_profiles = observed
        .copies
        .iter()
        .filter(|(ns, o)| o.owned_by(uid) && !profiles.iter().any(|(wanted, _)| wanted == ns))
        .map(|(ns, _)| ns.clone())
        .collect();
    let mut names: Vec<String> = publishing.iter().map(|i| i.name_any()).collect();
    names.sort();
    let grace_seconds = member
        .spec
        .heartbeat
        .as_ref()
        .map_or(names::DEFAULT_HEARTBEAT_GRACE_SECONDS, |h| h.grace_seconds);
    Plan {
        objects: problem
            .is_none()
            .then(|| objects::desired(member, grace_seconds)),
        status: status::desired(member, report, built, names),
        events,
        profiles,
        remove_profiles,
    }
}

/// The member's conditions the profile mirrors, with the member's transition times.
fn mirrored(conditions: &[Condition]) -> Vec<Condition> {
    conditions
        .iter()
        .filter(|c| c.type_ == CONDITION_JOINED || c.type_ == CONDITION_CONTROL_PLANE_HEALTHY)
        .map(|c| Condition {
            observed_generation: None,
            ..c.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_api::{
        InventorySpec, MemberClusterSpec, conditions::CONDITION_PROPERTIES_PUBLISHED,
        selector::MemberSelector,
    };

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn inventory(name: &str, namespace: &str, members: Option<MemberSelector>) -> Arc<Inventory> {
        Arc::new(Inventory::new(
            name,
            InventorySpec {
                namespace: namespace.into(),
                members,
                ..Default::default()
            },
        ))
    }

    /// The default inventory only.
    static DEFAULT: std::sync::LazyLock<Vec<Arc<Inventory>>> = std::sync::LazyLock::new(|| {
        vec![inventory("cluster-inventory", "cluster-inventory", None)]
    });

    fn default_inventories() -> &'static [Arc<Inventory>] {
        &DEFAULT
    }

    fn report() -> MemberReportSpec {
        MemberReportSpec {
            cluster_id: "0b6f2c1e-5d2a-4a8e-9a7c-1f2e3d4c5b6a".into(),
            kubernetes_version: "v1.37.2".into(),
            ..Default::default()
        }
    }

    /// An agent that reported `r` and heartbeat a second ago.
    fn heartbeating(r: &MemberReportSpec) -> Observed<'_> {
        Observed {
            report: Some(r),
            last_heartbeat: Some(t(99)),
            inventories: default_inventories(),
            copies: &[],
            now: t(100),
        }
    }

    #[test]
    fn a_member_awaiting_its_agent_gets_objects_a_status_and_a_profile() {
        let m = MemberCluster::new("member-1", MemberClusterSpec::default());
        let plan = decide(
            &m,
            &Observed {
                report: None,
                last_heartbeat: None,
                inventories: default_inventories(),
                copies: &[],
                now: t(100),
            },
        );
        assert!(plan.objects.is_some());
        assert_eq!(plan.reason(CONDITION_JOINED), "AwaitingAgent");
        let [(namespace, profile)] = plan.profiles.as_slice() else {
            panic!("{plan:?}")
        };
        assert_eq!(namespace, "cluster-inventory");
        assert_eq!(profile.status.conditions.len(), 2);
        assert!(
            profile
                .status
                .conditions
                .iter()
                .all(|c| c.observed_generation.is_none())
        );
        assert!(profile.status.access_providers.is_empty());
        // Both conditions are new: one Event each.
        assert_eq!(plan.events.len(), 2);
    }

    #[test]
    fn a_heartbeating_member_is_healthy_and_its_properties_are_judged() {
        let m = MemberCluster::new("member-1", MemberClusterSpec::default());
        let r = report();
        let plan = decide(&m, &heartbeating(&r));
        assert_eq!(plan.reason(CONDITION_JOINED), "AgentConnected");
        assert_eq!(
            plan.status.cluster_id.as_deref(),
            Some(r.cluster_id.as_str())
        );
        assert!(!plan.reason(CONDITION_PROPERTIES_PUBLISHED).is_empty());
        let (_, profile) = &plan.profiles[0];
        assert_eq!(
            profile.meta.labels[cluster_inventory::names::LABEL_INVENTORY_MEMBER_ID],
            r.cluster_id
        );
    }

    #[test]
    fn a_name_that_cannot_be_a_namespace_gets_only_a_status() {
        let m = MemberCluster::new(&"x".repeat(60), MemberClusterSpec::default());
        let r = report();
        let plan = decide(&m, &heartbeating(&r));
        assert!(plan.objects.is_none());
        assert!(plan.profiles.is_empty());
        assert_eq!(plan.reason(CONDITION_JOINED), "InvalidName");
        assert!(plan.status.cluster_id.is_none(), "no report is read for it");
    }

    #[test]
    fn unchanged_conditions_make_no_events() {
        let mut m = MemberCluster::new("member-1", MemberClusterSpec::default());
        let observed = Observed {
            report: None,
            last_heartbeat: None,
            inventories: default_inventories(),
            copies: &[],
            now: t(100),
        };
        m.status = Some(decide(&m, &observed).status);
        let again = decide(
            &m,
            &Observed {
                now: t(200),
                ..observed
            },
        );
        assert!(again.events.is_empty());
        assert_eq!(Some(&again.status), m.status.as_ref());
    }

    #[test]
    fn each_selecting_inventory_gets_a_copy_and_a_deselected_one_is_removed() {
        let kueue = MemberSelector {
            match_labels: Some([("kueue".to_owned(), "worker".to_owned())].into()),
            ..Default::default()
        };
        let mut all = default_inventories().to_vec();
        let mut only_roster = (*inventory("kueue", "kueue-system", Some(kueue))).clone();
        only_roster.spec.access_providers = Some(vec![]);
        all.push(Arc::new(only_roster));
        let mut m = MemberCluster::new("member-1", MemberClusterSpec::default());
        m.metadata.uid = Some("uid-1".into());
        let r = MemberReportSpec {
            api_server: roster_api::member_report::ReportedApiServer {
                server: "https://10.0.0.1:6443".into(),
                ca_data: None,
            },
            ..report()
        };
        let owned = observed_profiles::Observed {
            resource_version: None,
            owners: vec!["uid-1".into()],
            content: (0, 0),
        };
        let foreign = observed_profiles::Observed {
            owners: vec!["someone-else".into()],
            ..owned.clone()
        };
        let copies = [
            ("kueue-system".to_owned(), owned.clone()),
            ("elsewhere".to_owned(), foreign),
        ];
        let observed = Observed {
            inventories: &all,
            copies: &copies,
            ..heartbeating(&r)
        };
        let plan = decide(&m, &observed);
        let namespaces: Vec<&str> = plan.profiles.iter().map(|(ns, _)| ns.as_str()).collect();
        assert_eq!(namespaces, ["cluster-inventory"]);
        assert_eq!(plan.remove_profiles, ["kueue-system"], "not someone else's");
        assert_eq!(plan.status.inventories, ["cluster-inventory"]);

        m.metadata.labels = Some([("kueue".to_owned(), "worker".to_owned())].into());
        let plan = decide(&m, &observed);
        let namespaces: Vec<&str> = plan.profiles.iter().map(|(ns, _)| ns.as_str()).collect();
        assert_eq!(namespaces, ["cluster-inventory", "kueue-system"]);
        assert!(plan.remove_profiles.is_empty());
        assert_eq!(plan.status.inventories, ["cluster-inventory", "kueue"]);
        let (_, everything) = &plan.profiles[0];
        let (_, none) = &plan.profiles[1];
        assert_eq!(everything.status.access_providers.len(), 1);
        assert!(
            none.status.access_providers.is_empty(),
            "accessProviders: []"
        );
        assert_eq!(
            everything.meta, none.meta,
            "the same labels (member id among them) in every copy"
        );
    }
}
