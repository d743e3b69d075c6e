//! Which grant a change to a member object concerns, and whether that change undid what the
//! grant asks for. The agent watches the objects it creates on its member (service accounts,
//! bindings, ClusterRoles, the namespaces it made); every watch event goes through [`concerns`]
//! and [`drift`], so only the grant whose object was deleted or edited is provisioned again —
//! and the agent's own writes, which leave the objects as wanted, wake nothing. A watch that
//! lists anew after an outage shows no event for what was deleted meanwhile: [`missing`] finds
//! the grants whose objects the new listing lacks.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::{
    api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleBinding, RoleRef, Subject},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use roster_api::{RemoteAccountGrant, names};

use super::desired::{MemberObjects, desired};

/// A member object as a watch event showed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// A service account (its metadata is all that matters).
    ServiceAccount(ObjectMeta),
    /// A cluster-wide binding.
    ClusterRoleBinding(ClusterRoleBinding),
    /// A binding inside a namespace.
    RoleBinding(RoleBinding),
    /// The ClusterRole holding a grant's rules.
    ClusterRole(ClusterRole),
    /// A namespace the agent created for service accounts.
    Namespace(ObjectMeta),
}

/// The kinds of member objects the agent watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Service accounts.
    ServiceAccount,
    /// Cluster-wide bindings.
    ClusterRoleBinding,
    /// Bindings inside a namespace.
    RoleBinding,
    /// ClusterRoles of `rules`.
    ClusterRole,
    /// Namespaces the agent created.
    Namespace,
}

impl Kind {
    /// The Kubernetes kind, for log lines and the repair metric.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ServiceAccount => "ServiceAccount",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRole => "ClusterRole",
            Kind::Namespace => "Namespace",
        }
    }
}

/// Namespace and name of an object.
pub type Key = (Option<String>, String);

fn key(meta: &ObjectMeta) -> Key {
    (
        meta.namespace.clone(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Created or modified (or listed when a watch starts).
    Applied,
    /// Deleted, or no longer carrying the labels the watch selects.
    Deleted,
}

/// Why a grant must be provisioned again. Bounded, for a metric label and a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// An object the grant needs is gone.
    Deleted,
    /// A binding's subjects were changed.
    Subjects,
    /// A binding points at another role (only possible by re-creating it).
    RoleRef,
    /// The ClusterRole's rules (or aggregation) were changed.
    Rules,
    /// Roster's labels or annotation were removed or changed.
    Metadata,
    /// An object labelled with the grant that the grant no longer asks for.
    Unwanted,
}

impl Drift {
    /// A short name, for the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Drift::Deleted => "deleted",
            Drift::Subjects => "subjects",
            Drift::RoleRef => "role_ref",
            Drift::Rules => "rules",
            Drift::Metadata => "metadata",
            Drift::Unwanted => "unwanted",
        }
    }
}

impl Observed {
    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Observed::ServiceAccount(m) | Observed::Namespace(m) => m,
            Observed::ClusterRoleBinding(b) => &b.metadata,
            Observed::RoleBinding(b) => &b.metadata,
            Observed::ClusterRole(r) => &r.metadata,
        }
    }

    /// A binding's metadata, role and subjects; `None` for other kinds.
    fn binding(&self) -> Option<(&ObjectMeta, &RoleRef, Option<&[Subject]>)> {
        match self {
            Observed::ClusterRoleBinding(b) => {
                Some((&b.metadata, &b.role_ref, b.subjects.as_deref()))
            }
            Observed::RoleBinding(b) => Some((&b.metadata, &b.role_ref, b.subjects.as_deref())),
            _ => None,
        }
    }

    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Observed::ServiceAccount(_) => Kind::ServiceAccount,
            Observed::ClusterRoleBinding(_) => Kind::ClusterRoleBinding,
            Observed::RoleBinding(_) => Kind::RoleBinding,
            Observed::ClusterRole(_) => Kind::ClusterRole,
            Observed::Namespace(_) => Kind::Namespace,
        }
    }

    /// The object's namespace and name.
    pub fn key(&self) -> Key {
        key(self.meta())
    }

    /// `kind namespace/name` (or `kind name`), for log lines.
    pub fn describe(&self) -> String {
        let meta = self.meta();
        let name = meta.name.as_deref().unwrap_or_default();
        match meta.namespace.as_deref() {
            Some(ns) => format!("{} {ns}/{name}", self.kind().as_str()),
            None => format!("{} {name}", self.kind().as_str()),
        }
    }

    /// Whether `wanted` holds an object of the same kind, namespace and name.
    fn is_among(&self, wanted: &MemberObjects) -> bool {
        self.counterpart(wanted).is_some()
    }

    /// The wanted object of the same kind, namespace and name.
    fn counterpart<'a>(&self, wanted: &'a MemberObjects) -> Option<Wanted<'a>> {
        let same =
            |m: &ObjectMeta| m.name == self.meta().name && m.namespace == self.meta().namespace;
        match self {
            Observed::ServiceAccount(_) => wanted
                .service_account
                .as_ref()
                .filter(|sa| same(&sa.metadata))
                .map(|sa| Wanted::Meta(&sa.metadata)),
            Observed::ClusterRoleBinding(_) => wanted
                .cluster_role_bindings
                .iter()
                .find(|b| same(&b.metadata))
                .map(|b| Wanted::Binding(&b.metadata, &b.role_ref, b.subjects.as_deref())),
            Observed::RoleBinding(_) => wanted
                .role_bindings
                .iter()
                .find(|b| same(&b.metadata))
                .map(|b| Wanted::Binding(&b.metadata, &b.role_ref, b.subjects.as_deref())),
            Observed::ClusterRole(_) => wanted
                .cluster_role
                .as_ref()
                .filter(|r| same(&r.metadata))
                .map(Wanted::Role),
            Observed::Namespace(m) => wanted
                .service_account
                .as_ref()
                .filter(|sa| m.name.is_some() && m.name == sa.metadata.namespace)
                .map(|_| Wanted::Namespace),
        }
    }
}

/// The wanted counterpart of an observed object, borrowed from [`MemberObjects`].
enum Wanted<'a> {
    Meta(&'a ObjectMeta),
    Binding(&'a ObjectMeta, &'a RoleRef, Option<&'a [Subject]>),
    Role(&'a ClusterRole),
    Namespace,
}

/// The grants of `grants` that a change to `observed` concerns, each with the member objects it
/// wants: the one named by the object's grant-UID label; when the label is gone (someone removed
/// it), those that want an object of that kind, namespace and name; for a namespace, every grant
/// whose service account lives in it. The wanted objects are worked out only for candidates.
pub fn concerns<G>(observed: &Observed, grants: &[G]) -> Vec<(G, MemberObjects)>
where
    G: AsRef<RemoteAccountGrant> + Clone,
{
    let labelled = match observed {
        Observed::Namespace(_) => None,
        _ => observed
            .meta()
            .labels
            .as_ref()
            .and_then(|l| l.get(names::LABEL_GRANT_UID)),
    };
    grants
        .iter()
        .filter(|g| labelled.is_none_or(|uid| g.as_ref().metadata.uid.as_ref() == Some(uid)))
        .map(|g| (g.clone(), desired(g.as_ref())))
        .filter(|(_, wanted)| labelled.is_some() || observed.is_among(wanted))
        .collect()
}

/// Whether `change` to `observed` undid what a grant wanting `wanted` asks for.
pub fn drift(wanted: &MemberObjects, observed: &Observed, change: Change) -> Option<Drift> {
    let Some(counterpart) = observed.counterpart(wanted) else {
        // Not asked for: a binding the grant dropped (the agent prunes it; its deletion is
        // the prune itself) or one someone labelled as ours.
        let labelled = observed
            .meta()
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(names::LABEL_GRANT_UID));
        return (change == Change::Applied
            && labelled
            && !matches!(observed, Observed::Namespace(_)))
        .then_some(Drift::Unwanted);
    };
    if change == Change::Deleted {
        return Some(Drift::Deleted);
    }
    match (counterpart, observed) {
        (Wanted::Namespace, _) => None,
        (Wanted::Meta(want), Observed::ServiceAccount(have)) => {
            (!metadata_kept(want, have)).then_some(Drift::Metadata)
        }
        (Wanted::Binding(meta, role_ref, subjects), _) => {
            let (have_meta, have_ref, have_subjects) = observed.binding()?;
            binding_drift(meta, role_ref, subjects, have_meta, have_ref, have_subjects)
        }
        (Wanted::Role(want), Observed::ClusterRole(have)) => {
            if have.aggregation_rule.is_some()
                || normal_rules(want.rules.as_deref()) != normal_rules(have.rules.as_deref())
            {
                Some(Drift::Rules)
            } else {
                (!metadata_kept(&want.metadata, &have.metadata)).then_some(Drift::Metadata)
            }
        }
        // `counterpart` pairs kinds; nothing else can meet.
        _ => None,
    }
}

/// After a watch of `kind` listed anew (deletions while it was down show no event): whether
/// `wanted` holds an object of that kind that the listing, `present`, lacks. Namespaces are left
/// to the service accounts' listing: one made by someone else carries no label and is not listed.
pub fn missing(wanted: &MemberObjects, kind: Kind, present: &HashSet<Key>) -> bool {
    let absent = |meta: &ObjectMeta| !present.contains(&key(meta));
    match kind {
        Kind::ServiceAccount => wanted.service_account.iter().any(|sa| absent(&sa.metadata)),
        Kind::ClusterRoleBinding => wanted
            .cluster_role_bindings
            .iter()
            .any(|b| absent(&b.metadata)),
        Kind::RoleBinding => wanted.role_bindings.iter().any(|b| absent(&b.metadata)),
        Kind::ClusterRole => wanted.cluster_role.iter().any(|r| absent(&r.metadata)),
        Kind::Namespace => false,
    }
}

fn binding_drift(
    want_meta: &ObjectMeta,
    want_ref: &RoleRef,
    want_subjects: Option<&[Subject]>,
    have_meta: &ObjectMeta,
    have_ref: &RoleRef,
    have_subjects: Option<&[Subject]>,
) -> Option<Drift> {
    if normal_ref(want_ref) != normal_ref(have_ref) {
        Some(Drift::RoleRef)
    } else if normal_subjects(want_subjects) != normal_subjects(have_subjects) {
        Some(Drift::Subjects)
    } else {
        (!metadata_kept(want_meta, have_meta)).then_some(Drift::Metadata)
    }
}

/// Whether every label and annotation the agent sets is still there with its value (others
/// may add their own).
fn metadata_kept(want: &ObjectMeta, have: &ObjectMeta) -> bool {
    fn contains(
        want: Option<&BTreeMap<String, String>>,
        have: Option<&BTreeMap<String, String>>,
    ) -> bool {
        want.into_iter()
            .flatten()
            .all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
    }
    contains(want.labels.as_ref(), have.labels.as_ref())
        && contains(want.annotations.as_ref(), have.annotations.as_ref())
}

/// A role reference as the API server stores it (the group defaults to RBAC's).
fn normal_ref(r: &RoleRef) -> (&str, &str, &str) {
    let group = r
        .api_group
        .as_deref()
        .filter(|g| !g.is_empty())
        .unwrap_or("rbac.authorization.k8s.io");
    (group, r.kind.as_str(), r.name.as_str())
}

/// Subjects as the API server stores them: an empty group is no group.
fn normal_subjects(subjects: Option<&[Subject]>) -> Vec<(&str, &str, &str, &str)> {
    subjects
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s.kind.as_str(),
                s.api_group.as_deref().unwrap_or_default(),
                s.namespace.as_deref().unwrap_or_default(),
                s.name.as_str(),
            )
        })
        .collect()
}

fn list(v: &Option<Vec<String>>) -> Vec<&str> {
    v.iter().flatten().map(String::as_str).collect()
}

/// Rules as the API server stores them: an empty list is no list.
fn normal_rules(rules: Option<&[PolicyRule]>) -> Vec<[Vec<&str>; 5]> {
    rules
        .unwrap_or_default()
        .iter()
        .map(|r| {
            [
                list(&r.api_groups),
                list(&r.resources),
                r.verbs.iter().map(String::as_str).collect(),
                list(&r.resource_names),
                list(&r.non_resource_urls),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::desired::{
        labels,
        tests::{federated, sample as grant},
    };
    use std::sync::Arc;

    /// What the API server gives back for what the agent applied: defaults filled in, empty
    /// lists dropped, foreign labels and managed fields added.
    fn as_stored(wanted: &MemberObjects) -> Vec<Observed> {
        let store = |m: &ObjectMeta| {
            let mut m = m.clone();
            m.uid = Some("object-uid".into());
            m.resource_version = Some("7".into());
            m.labels
                .get_or_insert_default()
                .insert("someone.else/label".into(), "x".into());
            m
        };
        let mut out: Vec<Observed> = wanted
            .service_account
            .iter()
            .map(|sa| Observed::ServiceAccount(store(&sa.metadata)))
            .collect();
        for b in &wanted.cluster_role_bindings {
            let mut b = b.clone();
            b.metadata = store(&b.metadata);
            out.push(Observed::ClusterRoleBinding(b));
        }
        for b in &wanted.role_bindings {
            let mut b = b.clone();
            b.metadata = store(&b.metadata);
            for s in b.subjects.iter_mut().flatten() {
                if s.kind == "ServiceAccount" {
                    s.api_group = Some(String::new());
                }
            }
            out.push(Observed::RoleBinding(b));
        }
        if let Some(r) = &wanted.cluster_role {
            let mut r = r.clone();
            r.metadata = store(&r.metadata);
            for rule in r.rules.iter_mut().flatten() {
                rule.resource_names = None;
            }
            out.push(Observed::ClusterRole(r));
        }
        out
    }

    #[test]
    fn what_the_agent_applied_is_no_drift_and_its_deletion_is() {
        let wanted = desired(&grant("g1", "ci"));
        let stored = as_stored(&wanted);
        assert_eq!(stored.len(), 5, "SA, 2 CRBs, 1 RB, 1 ClusterRole");
        for observed in &stored {
            assert_eq!(
                drift(&wanted, observed, Change::Applied),
                None,
                "{observed:?}"
            );
            assert_eq!(
                drift(&wanted, observed, Change::Deleted),
                Some(Drift::Deleted),
                "{}",
                observed.describe()
            );
        }
    }

    #[test]
    fn edits_that_undo_the_grant_are_drift() {
        let wanted = desired(&grant("g1", "ci"));
        let applied = |observed: Observed| drift(&wanted, &observed, Change::Applied);
        let stored = as_stored(&wanted);
        let Observed::ClusterRoleBinding(mut crb) = stored[1].clone() else {
            panic!()
        };
        crb.subjects.get_or_insert_default().push(Subject {
            kind: "User".into(),
            name: "mallory".into(),
            ..Subject::default()
        });
        assert_eq!(
            applied(Observed::ClusterRoleBinding(crb.clone())),
            Some(Drift::Subjects)
        );
        crb.subjects = None;
        assert_eq!(
            applied(Observed::ClusterRoleBinding(crb)),
            Some(Drift::Subjects)
        );

        let Observed::RoleBinding(mut rb) = stored[3].clone() else {
            panic!()
        };
        rb.role_ref.name = "admin".into();
        assert_eq!(applied(Observed::RoleBinding(rb)), Some(Drift::RoleRef));

        let Observed::ClusterRole(role) = stored[4].clone() else {
            panic!()
        };
        let mut widened = role.clone();
        widened.rules.get_or_insert_default()[0]
            .verbs
            .push("delete".into());
        let mut emptied = role;
        emptied.rules = None;
        for role in [widened, emptied] {
            assert_eq!(applied(Observed::ClusterRole(role)), Some(Drift::Rules));
        }

        let Observed::ServiceAccount(mut sa) = stored[0].clone() else {
            panic!()
        };
        sa.annotations = None;
        assert_eq!(applied(Observed::ServiceAccount(sa)), Some(Drift::Metadata));
    }

    #[test]
    fn objects_the_grant_no_longer_asks_for() {
        let mut g = grant("g1", "ci");
        let before = desired(&g);
        g.spec.cluster_roles.clear();
        let after = desired(&g);
        let Observed::ClusterRoleBinding(view) = as_stored(&before)[1].clone() else {
            panic!()
        };
        assert!(view.metadata.name.as_deref().unwrap().ends_with(":view"));
        let view = Observed::ClusterRoleBinding(view);
        // Still there (the agent has not pruned it yet): provision again, which prunes it.
        assert_eq!(drift(&after, &view, Change::Applied), Some(Drift::Unwanted));
        // Its deletion is the prune: nothing to do.
        assert_eq!(drift(&after, &view, Change::Deleted), None);
    }

    #[test]
    fn a_new_listing_finds_what_was_deleted_unseen() {
        let wanted = desired(&grant("g1", "ci"));
        let stored = as_stored(&wanted);
        let listed = |kind: Kind, skip: usize| -> HashSet<Key> {
            stored
                .iter()
                .enumerate()
                .filter(|(i, o)| o.kind() == kind && *i != skip)
                .map(|(_, o)| o.key())
                .collect()
        };
        for kind in [
            Kind::ServiceAccount,
            Kind::ClusterRoleBinding,
            Kind::RoleBinding,
            Kind::ClusterRole,
        ] {
            assert!(
                !missing(&wanted, kind, &listed(kind, usize::MAX)),
                "{kind:?}"
            );
        }
        // stored: SA, CRB view, CRB rules, RB, ClusterRole.
        for (index, kind) in [
            (0, Kind::ServiceAccount),
            (2, Kind::ClusterRoleBinding),
            (3, Kind::RoleBinding),
            (4, Kind::ClusterRole),
        ] {
            assert!(missing(&wanted, kind, &listed(kind, index)), "{kind:?}");
        }
        assert!(!missing(&wanted, Kind::Namespace, &HashSet::new()));
    }

    #[test]
    fn an_event_wakes_only_its_grant() {
        let grants = [Arc::new(grant("g1", "ci")), Arc::new(grant("g2", "deploy"))];
        let uid_of = |found: Vec<(Arc<RemoteAccountGrant>, MemberObjects)>| {
            found
                .iter()
                .map(|(g, _)| g.metadata.uid.clone().unwrap())
                .collect::<Vec<_>>()
        };
        let stored = as_stored(&desired(&grants[1]));
        for observed in &stored {
            assert_eq!(uid_of(concerns(observed, &grants)), ["g2"], "{observed:?}");
        }
        // Labels stripped: found by kind, namespace and name.
        let Observed::ClusterRoleBinding(mut crb) = stored[1].clone() else {
            panic!()
        };
        crb.metadata.labels = None;
        assert_eq!(
            uid_of(concerns(&Observed::ClusterRoleBinding(crb), &grants)),
            ["g2"]
        );
        // A deleted grant's leftovers wake nobody (the sweeper removes them).
        let mut orphan = stored[0].meta().clone();
        orphan.labels = Some(labels("gone"));
        assert!(concerns(&Observed::ServiceAccount(orphan), &grants).is_empty());
        // The service accounts' namespace concerns every grant with an account in it.
        let ns = ObjectMeta {
            name: Some("roster-remote".into()),
            ..ObjectMeta::default()
        };
        assert_eq!(
            uid_of(concerns(&Observed::Namespace(ns.clone()), &grants)),
            ["g1", "g2"]
        );
        for (_, wanted) in concerns(&Observed::Namespace(ns.clone()), &grants) {
            let wanted = &wanted;
            let observed = Observed::Namespace(ns.clone());
            assert_eq!(
                drift(wanted, &observed, Change::Deleted),
                Some(Drift::Deleted)
            );
            assert_eq!(drift(wanted, &observed, Change::Applied), None);
        }
        let other = Observed::Namespace(ObjectMeta {
            name: Some("elsewhere".into()),
            ..ObjectMeta::default()
        });
        assert!(concerns(&other, &grants).is_empty());
    }

    #[test]
    fn a_federated_grants_bindings_drift_like_a_token_grants() {
        let wanted = desired(&federated("f1", "ci"));
        let stored = as_stored(&wanted);
        // No service account: 2 CRBs, 1 RB, 1 ClusterRole.
        assert_eq!(stored.len(), 4);
        assert!(stored.iter().all(|o| o.kind() != Kind::ServiceAccount));
        for observed in &stored {
            assert_eq!(
                drift(&wanted, observed, Change::Applied),
                None,
                "{observed:?}"
            );
            assert_eq!(
                drift(&wanted, observed, Change::Deleted),
                Some(Drift::Deleted),
                "{}",
                observed.describe()
            );
        }
        // Someone points the binding at another user, or adds one.
        let Observed::ClusterRoleBinding(mut crb) = stored[0].clone() else {
            panic!()
        };
        crb.subjects.get_or_insert_default()[0].name =
            "roster-hub:system:serviceaccount:team-b:ci".into();
        assert_eq!(
            drift(&wanted, &Observed::ClusterRoleBinding(crb), Change::Applied),
            Some(Drift::Subjects)
        );
        // The API server's deletion of a namespace concerns no federated grant.
        let ns = Observed::Namespace(ObjectMeta {
            name: Some("roster-remote".into()),
            ..ObjectMeta::default()
        });
        let grants = [Arc::new(federated("f1", "ci"))];
        assert!(concerns(&ns, &grants).is_empty());
        assert_eq!(drift(&wanted, &ns, Change::Deleted), None);
        // A deleted ClusterRoleBinding wakes its grant, by label or by name.
        let crb = stored[0].clone();
        assert_eq!(concerns(&crb, &grants).len(), 1);
        // A listing after an outage finds one missing; no account is ever missing.
        let listed: HashSet<Key> = stored.iter().skip(1).map(Observed::key).collect();
        assert!(missing(&wanted, Kind::ClusterRoleBinding, &listed));
        assert!(!missing(&wanted, Kind::ServiceAccount, &HashSet::new()));
    }

    #[test]
    fn a_narrowed_federated_grant_sheds_its_binding() {
        let mut g = federated("f1", "ci");
        let before = as_stored(&desired(&g));
        g.spec.roles.clear();
        let after = desired(&g);
        let rb = before
            .iter()
            .find(|o| o.kind() == Kind::RoleBinding)
            .unwrap();
        assert_eq!(drift(&after, rb, Change::Applied), Some(Drift::Unwanted));
        assert_eq!(drift(&after, rb, Change::Deleted), None);
    }
}
