//! Drift of a member's hub-side objects: whether what the API server holds still says what the
//! hub applied. Someone deleting the agent's RoleBinding or editing its Role must not lose the
//! member; the hub watches those objects and re-prepares the member whose object drifted.
//!
//! The decision is pure ([`differs`], [`Drift::observe`]): the desired object (as the hub applies
//! it) against the observed one, as JSON. Only what the hub sets counts: fields the API server or
//! others add (defaults, status, foreign labels, annotations, owner references, finalizers) are
//! not drift, while a missing or changed label, rule, subject or role reference is. Lists are
//! compared whole (RBAC rules and subjects are atomic lists: an extra rule is drift), except
//! owner references and finalizers, where the hub's entries must be present among others'.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{Namespace, ServiceAccount},
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use kube::{
    Resource, ResourceExt,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use roster_api::{MemberCluster, names};
use serde_json::Value;

use super::objects::{self, MemberObjects};

/// Lists in which the hub's entries sit among others' (keyed lists, not atomic ones).
const SHARED_LISTS: [&str; 2] = ["ownerReferences", "finalizers"];

/// Whether `observed` no longer holds everything `desired` says.
pub fn differs(desired: &Value, observed: &Value) -> bool {
    differs_at(None, desired, observed)
}

fn differs_at(key: Option<&str>, desired: &Value, observed: &Value) -> bool {
    match (desired, observed) {
        (Value::Object(want), Value::Object(have)) => want.iter().any(|(k, w)| match have.get(k) {
            Some(h) => differs_at(Some(k), w, h),
            None => !w.is_null(),
        }),
        (Value::Array(want), Value::Array(have))
            if key.is_some_and(|k| SHARED_LISTS.contains(&k)) =>
        {
            want.iter()
                .any(|w| !have.iter().any(|h| !differs_at(None, w, h)))
        }
        (Value::Array(want), Value::Array(have)) => {
            want.len() != have.len() || want.iter().zip(have).any(|(w, h)| differs_at(None, w, h))
        }
        (want, have) => want != have,
    }
}

/// The kinds of a member's hub-side objects that the hub watches for drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The member's namespace.
    Namespace,
    /// The agent's and the bootstrap identities.
    ServiceAccount,
    /// Their rights in the member namespace.
    Role,
    /// Their bindings.
    RoleBinding,
    /// Read access to the member's MemberCluster.
    ClusterRole,
    /// Its binding.
    ClusterRoleBinding,
    /// The agent's heartbeat Lease.
    Lease,
}

/// A type of object the hub creates for members.
pub trait Owned: Resource<DynamicType = ()> + serde::Serialize {
    /// Its kind.
    const KIND: Kind;
}

macro_rules! owned {
    ($($t:ty => $k:ident),* $(,)?) => {
        $(impl Owned for $t {
            const KIND: Kind = Kind::$k;
        })*
    };
}

owned! {
    Namespace => Namespace,
    ServiceAccount => ServiceAccount,
    Role => Role,
    RoleBinding => RoleBinding,
    ClusterRole => ClusterRole,
    ClusterRoleBinding => ClusterRoleBinding,
    Lease => Lease,
}

impl Kind {
    /// The label (`kind`) this kind has in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Role => "Role",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRole => "ClusterRole",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
            Kind::Lease => "Lease",
        }
    }
}

/// One of a member's hub-side objects: its kind and name (namespaced ones all live in the
/// member's namespace).
pub type Key = (Kind, String);

impl MemberObjects {
    /// Every object with its key, as the JSON the hub applies.
    pub fn by_key(&self) -> Vec<(Key, Value)> {
        fn entry<K: Owned>(o: &K) -> Option<(Key, Value)> {
            Some(((K::KIND, o.name_any()), serde_json::to_value(o).ok()?))
        }
        let mut all: Vec<Option<(Key, Value)>> = vec![entry(&self.namespace)];
        all.extend(self.service_accounts.iter().map(entry));
        all.extend(self.roles.iter().map(entry));
        all.extend(self.role_bindings.iter().map(entry));
        all.extend([
            entry(&self.cluster_role),
            entry(&self.cluster_role_binding),
            entry(&self.lease),
        ]);
        all.into_iter().flatten().collect()
    }
}

/// The member an object of Roster's belongs to, by its label.
pub fn member_of<K: Resource>(object: &K) -> Option<&str> {
    object
        .meta()
        .labels
        .as_ref()?
        .get(names::LABEL_MEMBER)
        .map(String::as_str)
}

/// Whether the hub prepares objects for `member`: not for a name that cannot be a namespace,
/// nor for a member being deleted.
pub fn wants_objects(member: &MemberCluster) -> bool {
    member
        .metadata
        .name
        .as_deref()
        .is_some_and(|n| names::member_namespace_problem(n).is_none())
        && member.metadata.deletion_timestamp.is_none()
}

fn grace_seconds(member: &MemberCluster) -> i32 {
    member.spec.heartbeat.as_ref().map_or_else(
        || roster_api::member_cluster::Heartbeat::default().grace_seconds,
        |h| h.grace_seconds,
    )
}

/// The objects the hub wants for `member`, if it [wants any](wants_objects).
pub fn desired(member: &MemberCluster) -> Option<MemberObjects> {
    wants_objects(member).then(|| objects::desired(member, grace_seconds(member)))
}

/// The member whose agent Lease an event of the Lease watch shows deleted or changed in what
/// the hub alone sets (labels, owner). A renewal costs a lookup and a few comparisons.
pub fn lease_drifted(
    event: &Result<watcher::Event<Lease>, watcher::Error>,
    members: &Store<MemberCluster>,
) -> Option<String> {
    let (lease, deleted) = match event {
        Ok(watcher::Event::Apply(l) | watcher::Event::InitApply(l)) => (l, false),
        Ok(watcher::Event::Delete(l)) => (l, true),
        _ => return None,
    };
    if lease.metadata.name.as_deref() != Some(names::AGENT_LEASE) {
        return None;
    }
    let name = member_of(lease)?;
    let member = members.get(&ObjectRef::new(name))?;
    if !wants_objects(&member) {
        return None;
    }
    let want = objects::lease(&member, 0);
    // Not the duration: the agent applies it too, from the same MemberCluster, on every
    // renewal, and the two may briefly disagree after the member's grace changed.
    let holds = !deleted
        && lease.metadata.namespace == want.metadata.namespace
        && want
            .metadata
            .labels
            .iter()
            .flatten()
            .all(|(k, v)| lease.labels().get(k) == Some(v))
        && want
            .metadata
            .owner_references
            .iter()
            .flatten()
            .all(|o| lease.owner_references().iter().any(|h| h.uid == o.uid));
    (!holds).then(|| name.to_owned())
}

/// What one watch of hub-side objects saw, turned into the members to re-prepare.
///
/// Between `Init` and `InitDone` (a relist) it records which objects exist, so that objects
/// deleted while the watch was down are noticed at `InitDone`, which a relist does not report
/// as deletions.
#[derive(Debug)]
pub struct Drift {
    kind: Kind,
    relist: Option<HashMap<String, BTreeSet<String>>>,
}

impl Drift {
    /// A tracker for objects of `kind`.
    pub fn new(kind: Kind) -> Self {
        Self { kind, relist: None }
    }

    /// A relist begins.
    pub fn init(&mut self) {
        self.relist = Some(HashMap::new());
    }

    /// `object` (of this tracker's kind) exists as shown; the member to re-prepare if it
    /// drifted. `lookup` finds a member's MemberCluster.
    pub fn observe(
        &mut self,
        object: &Value,
        member: &str,
        name: &str,
        lookup: impl Fn(&str) -> Option<MemberCluster>,
    ) -> Option<String> {
        if let Some(seen) = &mut self.relist {
            seen.entry(member.to_owned())
                .or_default()
                .insert(name.to_owned());
        }
        let wanted = desired(&lookup(member)?)?;
        let key = (self.kind, name.to_owned());
        let (_, want) = wanted.by_key().into_iter().find(|(k, _)| *k == key)?;
        differs(&want, object).then(|| member.to_owned())
    }

    /// An object of `member` is gone: the member to re-prepare, if it still wants objects.
    pub fn deleted(
        &self,
        member: &str,
        lookup: impl Fn(&str) -> Option<MemberCluster>,
    ) -> Option<String> {
        desired(&lookup(member)?).map(|_| member.to_owned())
    }

    /// The relist is complete: the members among `members` missing an object of this kind.
    pub fn init_done(&mut self, members: &[MemberCluster]) -> Vec<String> {
        let Some(seen) = self.relist.take() else {
            return Vec::new();
        };
        let empty = BTreeSet::new();
        members
            .iter()
            .filter_map(|m| {
                let name = m.metadata.name.as_deref()?;
                let have = seen.get(name).unwrap_or(&empty);
                let missing = desired(m)?
                    .by_key()
                    .into_iter()
                    .any(|((kind, object), _)| kind == self.kind && !have.contains(&object));
                missing.then(|| name.to_owned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn additions_by_others_are_not_drift() {
        let want = json!({"metadata": {"name": "r", "labels": {"a": "1"},
            "ownerReferences": [{"uid": "u1", "kind": "MemberCluster"}]},
            "rules": [{"verbs": ["get"], "resources": ["leases"]}]});
        let have = json!({"metadata": {"name": "r", "labels": {"a": "1", "team": "x"},
            "annotations": {"note": "hi"}, "resourceVersion": "7",
            "ownerReferences": [{"uid": "u0"}, {"uid": "u1", "kind": "MemberCluster", "controller": true}],
            "finalizers": ["x"]},
            "rules": [{"verbs": ["get"], "resources": ["leases"], "apiGroups": [""]}]});
        assert!(!differs(&want, &have));
    }

    #[test]
    fn removals_and_changes_of_what_the_hub_sets_are_drift() {
        let want = json!({"metadata": {"labels": {"a": "1"}, "ownerReferences": [{"uid": "u1"}]},
            "rules": [{"verbs": ["get"]}], "subjects": [{"name": "agent"}]});
        let base = || want.clone();
        let mut cases = Vec::new();
        let mut c = base();
        c["metadata"]["labels"] = json!({});
        cases.push(("label removed", c));
        let mut c = base();
        c["metadata"]["labels"]["a"] = json!("2");
        cases.push(("label changed", c));
        let mut c = base();
        c["metadata"]["ownerReferences"] = json!([{"uid": "u2"}]);
        cases.push(("owner replaced", c));
        let mut c = base();
        c["rules"] = json!([{"verbs": ["get"]}, {"verbs": ["*"]}]);
        cases.push(("rule added", c));
        let mut c = base();
        c["rules"] = json!([{"verbs": ["list"]}]);
        cases.push(("rule changed", c));
        let mut c = base();
        c["subjects"] = json!([{"name": "intruder"}]);
        cases.push(("subject replaced", c));
        let mut c = base();
        c.as_object_mut().unwrap().remove("rules");
        cases.push(("rules gone", c));
        for (what, observed) in cases {
            assert!(differs(&want, &observed), "{what}");
        }
        assert!(!differs(&want, &base()));
    }

    #[test]
    fn null_wanted_fields_need_not_exist() {
        assert!(!differs(&json!({"a": null, "b": 1}), &json!({"b": 1})));
    }

    fn member(name: &str) -> MemberCluster {
        let mut m = MemberCluster::new(name, Default::default());
        m.metadata.uid = Some(format!("uid-{name}"));
        m
    }

    fn lookup(name: &str) -> Option<MemberCluster> {
        (name != "gone").then(|| member(name))
    }

    fn observed_role(member: &str, name: &str) -> Value {
        let wanted = desired(&self::member(member)).unwrap();
        let role = wanted
            .roles
            .iter()
            .find(|r| r.name_any() == name)
            .unwrap()
            .clone();
        serde_json::to_value(role).unwrap()
    }

    #[test]
    fn an_object_as_applied_is_left_alone_and_a_tampered_one_repaired() {
        let mut drift = Drift::new(Kind::Role);
        let role = observed_role("m1", names::AGENT_ROLE);
        assert_eq!(drift.observe(&role, "m1", names::AGENT_ROLE, lookup), None);
        let mut tampered = role.clone();
        tampered["rules"]
            .as_array_mut()
            .unwrap()
            .push(json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}));
        assert_eq!(
            drift.observe(&tampered, "m1", names::AGENT_ROLE, lookup),
            Some("m1".into())
        );
        // Objects of members that are gone, or not the hub's, are none of its business.
        assert_eq!(
            drift.observe(&tampered, "gone", names::AGENT_ROLE, lookup),
            None
        );
        assert_eq!(
            drift.observe(&tampered, "m1", "someone-elses", lookup),
            None
        );
        assert_eq!(drift.deleted("m1", lookup), Some("m1".into()));
        assert_eq!(drift.deleted("gone", lookup), None);
    }

    #[test]
    fn a_relist_reports_the_members_missing_an_object() {
        let mut drift = Drift::new(Kind::Role);
        assert!(
            drift.init_done(&[member("m1")]).is_empty(),
            "no relist began"
        );
        drift.init();
        for role in [names::AGENT_ROLE, names::BOOTSTRAP_ROLE] {
            drift.observe(&observed_role("m1", role), "m1", role, lookup);
        }
        drift.observe(
            &observed_role("m2", names::AGENT_ROLE),
            "m2",
            names::AGENT_ROLE,
            lookup,
        );
        let mut bad = member("Bad_Name");
        bad.metadata.name = Some("Bad_Name".into());
        let missing = drift.init_done(&[member("m1"), member("m2"), member("m3"), bad]);
        assert_eq!(missing, ["m2", "m3"]);
    }

    #[test]
    fn a_lease_is_repaired_when_deleted_or_disowned_not_when_renewed() {
        let (store, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(member("m1")));
        let lease = desired(&member("m1")).unwrap().lease;
        let event = |l: &Lease, deleted: bool| {
            Ok(if deleted {
                watcher::Event::Delete(l.clone())
            } else {
                watcher::Event::Apply(l.clone())
            })
        };
        let mut renewed = lease.clone();
        let spec = renewed.spec.get_or_insert_default();
        spec.holder_identity = Some("m1".into());
        spec.lease_duration_seconds = Some(99);
        assert_eq!(lease_drifted(&event(&renewed, false), &store), None);
        let mut disowned = renewed.clone();
        disowned.metadata.owner_references = None;
        assert_eq!(
            lease_drifted(&event(&disowned, false), &store),
            Some("m1".into())
        );
        assert_eq!(
            lease_drifted(&event(&renewed, true), &store),
            Some("m1".into())
        );
        let mut elsewhere = renewed.clone();
        elsewhere.metadata.name = Some("other".into());
        assert_eq!(lease_drifted(&event(&elsewhere, true), &store), None);
        let mut stranger = renewed;
        stranger
            .labels_mut()
            .insert(names::LABEL_MEMBER.into(), "gone".into());
        assert_eq!(lease_drifted(&event(&stranger, true), &store), None);
    }

    #[test]
    fn every_object_has_a_kind_and_a_distinct_key() {
        let all = desired(&member("m1")).unwrap().by_key();
        assert_eq!(all.len(), 10);
        let keys: BTreeSet<_> = all.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys.len(), 10);
    }
}
