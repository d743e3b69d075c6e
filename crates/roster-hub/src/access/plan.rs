//! The remote-access reconcile's decision. From a RemoteServiceAccount and what the hub's caches
//! hold (members, grants, delivered tokens, consumer Secrets), [`decide`] works out everything
//! the hub wants written: the grants handed to the agents, the consumer's token Secrets, what to
//! revoke, and the status with the Events of its transitions. It reads only the [`View`] it is
//! given and writes nothing; `reconcile` decides, then hands the plan to `writes`.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::{ConfigMap, Secret},
    apimachinery::pkg::apis::meta::v1::Condition,
    jiff::Timestamp,
};
use kube::{ResourceExt, runtime::events::Event};
use roster_api::{
    MemberCluster, RemoteAccessPolicy, RemoteAccountGrant, RemoteServiceAccount,
    RemoteServiceAccountStatus,
    names::{self, token_secret},
};

use super::{desired, policy, status, targets};
use crate::{clock::whole_seconds, conditions, events};

/// Without events, each RemoteServiceAccount is looked at again this often.
pub const RESYNC: Duration = Duration::from_secs(300);

/// What the hub's caches hold, as the decision reads it.
pub trait View {
    /// Every MemberCluster.
    fn members(&self) -> Vec<Arc<MemberCluster>>;
    /// The grant `namespace/name`.
    fn grant(&self, namespace: &str, name: &str) -> Option<Arc<RemoteAccountGrant>>;
    /// Every grant serving the RemoteServiceAccount `namespace/name`.
    fn grants_of(&self, namespace: &str, name: &str) -> Vec<Arc<RemoteAccountGrant>>;
    /// Roster's Secret `namespace/name`.
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>>;
    /// Every RemoteAccessPolicy.
    fn policies(&self) -> Vec<Arc<RemoteAccessPolicy>>;
    /// The labels of the hub namespace `namespace` (none when it is not cached).
    fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String>;
    /// The consumer token Secrets of the RemoteServiceAccount `namespace/name`.
    fn consumer_secrets(&self, namespace: &str, name: &str) -> Vec<Arc<Secret>>;
    /// The consumer ConfigMaps (federated access) of the RemoteServiceAccount `namespace/name`.
    fn consumer_config_maps(&self, namespace: &str, name: &str) -> Vec<Arc<ConfigMap>>;
}

/// One member's grant and what goes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantPlan {
    /// The member.
    pub member: String,
    /// The grant the hub wants in the member's namespace.
    pub grant: RemoteAccountGrant,
    /// The cached grant, when it already says what the hub wants; otherwise `grant` is applied.
    pub current: Option<Arc<RemoteAccountGrant>>,
    /// Whether the empty delivery Secret (owned by the grant as stored) must be created.
    pub create_delivery: bool,
    /// Whether to ask the agent to deliver again (its delivery Secret is gone).
    pub request_delivery: bool,
}

/// A usable token for the consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPlan {
    /// The member it is for.
    pub member: String,
    /// The consumer's `<rsa>-<cluster>` Secret holding it.
    pub secret: Secret,
    /// When it expires.
    pub expiry: Timestamp,
}

/// Everything the hub wants written for a RemoteServiceAccount that is not being deleted.
pub struct Plan {
    /// The grants of the members it is served on.
    pub grants: Vec<GrantPlan>,
    /// The consumer's token Secrets, for the members with a usable token.
    pub tokens: Vec<TokenPlan>,
    /// The grants of members that left the selection or the hub (their agents then delete the
    /// service accounts).
    pub revoke: Vec<Arc<RemoteAccountGrant>>,
    /// The consumer's Secrets for those members.
    pub delete_secrets: Vec<String>,
    /// Federated access: the consumer's `<rsa>-<cluster>` ConfigMaps (server, CA and a
    /// kubeconfig reading the projected token the pod webhook mounts), for the members served
    /// whose API server is known.
    pub config_maps: Vec<ConfigMap>,
    /// The consumer's ConfigMaps for members no longer served.
    pub delete_config_maps: Vec<String>,
    /// The members it is served on.
    pub served: Vec<String>,
    /// Its status.
    pub status: RemoteServiceAccountStatus,
    /// The Events of the status's condition transitions, published when the status is written.
    pub events: Vec<Event>,
    /// When to look again (a token's expiry, or the resync).
    pub requeue: Duration,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("grants", &self.grants.len())
            .field("tokens", &self.tokens.len())
            .field("revoke", &self.revoke.len())
            .field("delete_secrets", &self.delete_secrets)
            .field("config_maps", &self.config_maps.len())
            .field("delete_config_maps", &self.delete_config_maps)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Everything to write for `rsa` at `now`, given what `view` holds.
pub fn decide(rsa: &RemoteServiceAccount, view: &impl View, now: Timestamp) -> Plan {
    let namespace = rsa.namespace().unwrap_or_default();
    let name = rsa.name_any();
    let members = view.members();
    let policies = view.policies();
    let namespace_labels = view.namespace_labels(&namespace);
    let (targets, selection_error) = match targets::select(&rsa.spec.clusters, &members) {
        Ok(t) => (t, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let mut plan = Plan {
        grants: Vec::new(),
        tokens: Vec::new(),
        revoke: Vec::new(),
        delete_secrets: Vec::new(),
        config_maps: Vec::new(),
        delete_config_maps: Vec::new(),
        served: Vec::new(),
        status: RemoteServiceAccountStatus::default(),
        events: Vec::new(),
        requeue: RESYNC,
    };
    let federated = rsa.spec.federation.is_some();
    let mut clusters = Vec::with_capacity(targets.len());
    for target in &targets {
        let trust = federated.then(|| status::Trust::of(target.member));
        let problem = match target.member {
            None => Some(format!("MemberCluster {} does not exist", target.name)),
            Some(member) => names::member_namespace_problem(&target.name)
                .or_else(|| policy::refusal(rsa, &namespace_labels, member, &policies))
                // A federated grant goes only to a member that trusts the hub: nothing is
                // bound where no hub token could use it, and an agent that predates federated
                // access (it reports no trust) never sees one.
                .or_else(|| trust.and_then(status::Trust::refusal)),
        };
        let (grant, delivered) = match problem {
            Some(_) => (None, None),
            None => {
                let g = grant_plan(rsa, &target.name, view);
                let delivered = view
                    .secret(&names::member_namespace(&target.name), &g.grant.name_any())
                    .filter(|_| !federated)
                    .and_then(|s| desired::delivered(&s));
                plan.served.push(target.name.clone());
                (Some(g), delivered)
            }
        };
        // The grant as the API server will hold it once written: its status is the agent's
        // word on the spec it last saw.
        let as_stored = grant.as_ref().and_then(|g| stored(&g.grant, view));
        let endpoint = target.member.and_then(endpoint);
        let observed = status::Observed {
            name: &target.name,
            member_problem: problem.as_deref(),
            has_endpoint: endpoint.is_some(),
            grant: as_stored.as_ref(),
            delivered: delivered.as_ref(),
            federated: trust,
        };
        if federated
            && problem.is_none()
            && let Some(endpoint) = &endpoint
        {
            plan.config_maps
                .push(desired::consumer_config_map(rsa, &target.name, endpoint));
        }
        if let (Some(token), Some(endpoint)) = (status::usable(&observed, now), &endpoint) {
            plan.tokens.push(TokenPlan {
                member: target.name.clone(),
                secret: desired::consumer_secret(rsa, &target.name, endpoint, token),
                expiry: token.expiry,
            });
            plan.requeue = plan.requeue.min(until(now, token.expiry));
        }
        clusters.push(status::cluster(&observed, now));
        plan.grants.extend(grant);
    }

    let served = |member: Option<&String>| member.is_some_and(|m| plan.served.contains(m));
    plan.revoke = view
        .grants_of(&namespace, &name)
        .into_iter()
        .filter(|g| !served(g.labels().get(names::LABEL_MEMBER)))
        .collect();
    plan.delete_secrets = view
        .consumer_secrets(&namespace, &name)
        .into_iter()
        .filter(|s| !served(s.labels().get(names::LABEL_MEMBER)))
        .map(|s| s.name_any())
        .collect();
    plan.delete_config_maps = view
        .consumer_config_maps(&namespace, &name)
        .into_iter()
        .filter(|c| !served(c.labels().get(names::LABEL_MEMBER)) || !federated)
        .map(|c| c.name_any())
        .collect();

    let ready = status::ready_condition(&clusters, selection_error.as_deref(), federated);
    let previous: &[Condition] = rsa
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let generation = rsa.metadata.generation;
    plan.status = RemoteServiceAccountStatus {
        conditions: conditions::build_all(&[ready], previous, &whole_seconds(now), generation),
        ready_clusters: Some(
            i32::try_from(clusters.iter().filter(|c| c.ready).count()).unwrap_or(i32::MAX),
        ),
        clusters,
        observed_generation: generation,
    };
    plan.events = events::transitions(previous, &plan.status.conditions);
    plan
}

/// The grant of `rsa` on `member`, compared with the cached one.
fn grant_plan(rsa: &RemoteServiceAccount, member: &str, view: &impl View) -> GrantPlan {
    let wanted = desired::grant(rsa, member);
    let namespace = names::member_namespace(member);
    let cached = view.grant(&namespace, &wanted.name_any());
    // Federated grants deliver nothing: no Secret is ever created for them.
    let federated = wanted.spec.federated_user.is_some();
    let has_delivery = federated || view.secret(&namespace, &wanted.name_any()).is_some();
    GrantPlan {
        member: member.to_owned(),
        create_delivery: !has_delivery,
        // The agent delivered into a Secret that is gone: wake it to deliver again (it watches
        // grants, not Secrets).
        request_delivery: !has_delivery && cached.as_ref().is_some_and(|g| g.status.is_some()),
        current: cached
            .filter(|g| g.spec == wanted.spec && labels_hold(g.labels(), wanted.labels())),
        grant: wanted,
    }
}

/// The grant as stored once `wanted` is applied: the cached one, whose generation moves on when
/// its spec changes (the agent has then not acted on the new spec yet); none before it exists.
fn stored(wanted: &RemoteAccountGrant, view: &impl View) -> Option<RemoteAccountGrant> {
    let cached = view.grant(&wanted.namespace()?, &wanted.name_any())?;
    let mut stored = (*cached).clone();
    if stored.spec != wanted.spec {
        stored.spec = wanted.spec.clone();
        stored.metadata.generation = stored.metadata.generation.map(|g| g + 1);
    }
    Some(stored)
}

/// Whether every label in `wanted` is in `have`.
pub fn labels_hold(
    have: &std::collections::BTreeMap<String, String>,
    wanted: &std::collections::BTreeMap<String, String>,
) -> bool {
    wanted.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// The member's API server as the consumer reaches it: the MemberCluster's reported (or
/// overridden) endpoint, with its CA.
fn endpoint(member: &MemberCluster) -> Option<desired::Endpoint> {
    let api = member.status.as_ref()?.api_server.as_ref()?;
    Some(desired::Endpoint {
        server: api.server.clone(),
        ca: api
            .ca_data
            .as_ref()
            .map(|c| c.0.clone())
            .unwrap_or_default(),
    })
}

fn until(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(then.duration_since(now)).unwrap_or(Duration::ZERO) + Duration::from_secs(1)
}

/// Whether `object` is one of the consumer objects (token Secrets, federated ConfigMaps) of the
/// RemoteServiceAccount `namespace/name`.
pub fn is_consumer_object_of(object: &impl ResourceExt, namespace: &str, name: &str) -> bool {
    object.namespace().as_deref() == Some(namespace)
        && object
            .labels()
            .get(token_secret::LABEL_REMOTE_SERVICE_ACCOUNT)
            .map(String::as_str)
            == Some(name)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use k8s_openapi::ByteString;
    use roster_api::{
        MemberClusterStatus, RemoteAccountGrantStatus, RemoteServiceAccountSpec,
        member_cluster::ApiServer, remote_service_account::ClusterSelection,
    };

    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The hub's caches, as plain maps.
    #[derive(Default)]
    struct Cached {
        members: Vec<Arc<MemberCluster>>,
        grants: HashMap<(String, String), Arc<RemoteAccountGrant>>,
        secrets: HashMap<(String, String), Arc<Secret>>,
        policies: Vec<Arc<RemoteAccessPolicy>>,
        config_maps: Vec<Arc<ConfigMap>>,
    }

    impl View for Cached {
        fn members(&self) -> Vec<Arc<MemberCluster>> {
            self.members.clone()
        }
        fn grant(&self, namespace: &str, name: &str) -> Option<Arc<RemoteAccountGrant>> {
            self.grants.get(&(namespace.into(), name.into())).cloned()
        }
        fn grants_of(&self, namespace: &str, name: &str) -> Vec<Arc<RemoteAccountGrant>> {
            let owned = |g: &&Arc<RemoteAccountGrant>| {
                let owner = &g.spec.remote_service_account;
                owner.namespace == namespace && owner.name == name
            };
            self.grants.values().filter(owned).cloned().collect()
        }
        fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
            self.secrets.get(&(namespace.into(), name.into())).cloned()
        }
        fn policies(&self) -> Vec<Arc<RemoteAccessPolicy>> {
            self.policies.clone()
        }
        fn namespace_labels(&self, _: &str) -> BTreeMap<String, String> {
            BTreeMap::new()
        }
        fn consumer_secrets(&self, namespace: &str, name: &str) -> Vec<Arc<Secret>> {
            let mine = |s: &&Arc<Secret>| is_consumer_object_of(s.as_ref(), namespace, name);
            self.secrets.values().filter(mine).cloned().collect()
        }
        fn consumer_config_maps(&self, namespace: &str, name: &str) -> Vec<Arc<ConfigMap>> {
            let mine = |c: &&Arc<ConfigMap>| is_consumer_object_of(c.as_ref(), namespace, name);
            self.config_maps.iter().filter(mine).cloned().collect()
        }
    }

    impl Cached {
        fn put_grant(&mut self, g: RemoteAccountGrant) {
            let key = (g.namespace().unwrap(), g.name_any());
            self.grants.insert(key, Arc::new(g));
        }
        fn put_secret(&mut self, s: Secret) {
            let key = (s.namespace().unwrap(), s.name_any());
            self.secrets.insert(key, Arc::new(s));
        }
    }

    /// Lets team-a have the ClusterRoles view and edit on every member.
    fn view_policy() -> Vec<Arc<RemoteAccessPolicy>> {
        let policy: RemoteAccessPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "roster.dev/v1alpha1",
            "kind": "RemoteAccessPolicy",
            "metadata": {"name": "team-a"},
            "spec": {"consumers": {"namespaces": ["team-a"]}, "members": {},
                     "clusterRoles": ["view", "edit"]},
        }))
        .unwrap();
        vec![Arc::new(policy)]
    }

    fn rsa(clusters: &[&str]) -> RemoteServiceAccount {
        let mut rsa = RemoteServiceAccount::new(
            "reader",
            RemoteServiceAccountSpec {
                clusters: ClusterSelection {
                    names: Some(clusters.iter().map(|c| (*c).to_owned()).collect()),
                    ..Default::default()
                },
                cluster_roles: vec!["view".into()],
                ..Default::default()
            },
        );
        rsa.metadata.namespace = Some("team-a".into());
        rsa.metadata.uid = Some("rsa-uid".into());
        rsa.metadata.generation = Some(1);
        rsa
    }

    fn member(name: &str) -> Arc<MemberCluster> {
        let mut m = MemberCluster::new(name, Default::default());
        m.status = Some(MemberClusterStatus {
            api_server: Some(ApiServer {
                server: "https://10.0.0.1:6443".into(),
                ca_data: Some(ByteString(b"CA".to_vec())),
            }),
            ..Default::default()
        });
        Arc::new(m)
    }

    /// The grant of `rsa` on `member` as the agent left it: ready for `generation`.
    fn provisioned(
        rsa: &RemoteServiceAccount,
        member: &str,
        generation: i64,
    ) -> RemoteAccountGrant {
        let mut g = desired::grant(rsa, member);
        g.metadata.uid = Some("grant-uid".into());
        g.metadata.generation = Some(generation);
        g.status = Some(RemoteAccountGrantStatus {
            ready: true,
            observed_generation: Some(generation),
            ..Default::default()
        });
        g
    }

    fn delivery(grant: &RemoteAccountGrant, expiry: &str) -> Secret {
        let mut s = desired::delivery_secret(grant);
        s.data = Some(
            [
                (token_secret::TOKEN.to_owned(), ByteString(b"tok".to_vec())),
                (
                    token_secret::EXPIRATION.to_owned(),
                    ByteString(expiry.as_bytes().to_vec()),
                ),
            ]
            .into(),
        );
        s
    }

    const NOW: &str = "2026-12-06T20:00:00Z";

    #[test]
    fn a_federated_request_binds_a_hub_identity_and_stores_no_token() {
        use roster_api::{
            conditions::CONDITION_FEDERATION_TRUSTED, remote_service_account::Federation,
        };
        let mut federated = rsa(&["m1", "m2"]);
        federated.spec.federation = Some(Federation::default());
        let trusting = |name: &str, trusted: &str| {
            let mut m = (*member(name)).clone();
            m.status.as_mut().unwrap().conditions = vec![Condition {
                type_: CONDITION_FEDERATION_TRUSTED.into(),
                status: trusted.into(),
                reason: "R".into(),
                message: "checked".into(),
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(NOW)),
                observed_generation: None,
            }];
            Arc::new(m)
        };
        let mut cached = Cached {
            members: vec![trusting("m1", "True"), trusting("m2", "False")],
            policies: view_policy(),
            ..Default::default()
        };
        let plan = decide(&federated, &cached, t(NOW));
        let granted: Vec<_> = plan.grants.iter().map(|g| g.member.as_str()).collect();
        assert_eq!(
            granted,
            ["m1"],
            "only a member that trusts the hub gets a grant"
        );
        for g in &plan.grants {
            assert_eq!(
                g.grant.spec.federated_user.as_deref(),
                Some("roster-hub:system:serviceaccount:team-a:reader"),
                "default: the hub service account named like the RemoteServiceAccount"
            );
            assert!(g.grant.spec.service_account.name.is_empty());
            assert!(
                !g.create_delivery && !g.request_delivery,
                "no Secret at all"
            );
        }
        let names: Vec<_> = plan.config_maps.iter().map(|c| c.name_any()).collect();
        assert_eq!(names, ["reader-m1"]);
        let kubeconfig = &plan.config_maps[0].data.as_ref().unwrap()["kubeconfig"];
        assert!(
            kubeconfig.contains("/var/run/secrets/roster.dev/reader/m1/token"),
            "{kubeconfig}"
        );

        cached.put_grant(provisioned(&federated, "m1", 1));
        let plan = decide(&federated, &cached, t(NOW));
        assert!(plan.tokens.is_empty());
        let ready: Vec<_> = plan
            .status
            .clusters
            .iter()
            .map(|c| (c.name.as_str(), c.ready, c.member_trusts_hub))
            .collect();
        assert_eq!(
            ready,
            [("m1", true, Some(true)), ("m2", false, Some(false))],
            "bound and usable where the member trusts the hub"
        );
        assert!(
            plan.status.clusters[1]
                .message
                .as_deref()
                .unwrap()
                .contains("does not trust")
        );

        // The member stops trusting the hub: its grant is revoked.
        cached.members[0] = trusting("m1", "False");
        let plan = decide(&federated, &cached, t(NOW));
        assert!(plan.grants.is_empty());
        assert_eq!(plan.revoke.len(), 1);
        assert_eq!(plan.delete_config_maps, Vec::<String>::new(), "none cached");
    }

    #[test]
    fn a_new_request_hands_a_grant_to_each_member_and_waits() {
        let cached = Cached {
            members: vec![member("m1")],
            policies: view_policy(),
            ..Default::default()
        };
        let plan = decide(&rsa(&["m1", "gone"]), &cached, t(NOW));
        assert_eq!(plan.served, ["m1"]);
        let [grant] = plan.grants.as_slice() else {
            panic!("{plan:?}")
        };
        assert!(grant.current.is_none(), "applied");
        assert!(grant.create_delivery && !grant.request_delivery);
        assert!(plan.tokens.is_empty());
        let messages: Vec<_> = plan
            .status
            .clusters
            .iter()
            .map(|c| c.message.clone().unwrap())
            .collect();
        assert_eq!(
            messages,
            [
                "MemberCluster gone does not exist",
                "handing the request to the member's agent"
            ]
        );
        assert_eq!(plan.status.ready_clusters, Some(0));
        assert_eq!(plan.events.len(), 1, "Ready appears");
        assert_eq!(plan.requeue, RESYNC);

        // Without a policy allowing it, nothing is handed out and the status says why.
        let unallowed = Cached {
            policies: Vec::new(),
            ..cached
        };
        let plan = decide(&rsa(&["m1"]), &unallowed, t(NOW));
        assert!(plan.grants.is_empty() && plan.served.is_empty());
        let message = plan.status.clusters[0].message.clone().unwrap_or_default();
        assert!(
            !message.is_empty() && plan.status.ready_clusters == Some(0),
            "{message}"
        );
    }

    #[test]
    fn a_delivered_token_reaches_the_consumer_and_its_expiry_sets_the_requeue() {
        let r = rsa(&["m1"]);
        let mut cached = Cached {
            members: vec![member("m1")],
            policies: view_policy(),
            ..Default::default()
        };
        let g = provisioned(&r, "m1", 1);
        cached.put_secret(delivery(&g, "2026-12-06T20:02:00Z"));
        cached.put_grant(g);
        let plan = decide(&r, &cached, t(NOW));
        assert!(plan.grants[0].current.is_some(), "nothing to apply");
        assert!(!plan.grants[0].create_delivery);
        let [token] = plan.tokens.as_slice() else {
            panic!("{plan:?}")
        };
        assert_eq!(token.member, "m1");
        assert_eq!(token.secret.namespace().as_deref(), Some("team-a"));
        assert_eq!(plan.requeue, Duration::from_secs(121));
        assert_eq!(plan.status.ready_clusters, Some(1));
    }

    #[test]
    fn a_changed_spec_is_applied_and_the_old_token_is_not_handed_out() {
        let mut r = rsa(&["m1"]);
        let mut cached = Cached {
            members: vec![member("m1")],
            policies: view_policy(),
            ..Default::default()
        };
        let g = provisioned(&r, "m1", 1);
        cached.put_secret(delivery(&g, "2026-12-06T21:00:00Z"));
        cached.put_grant(g);
        r.spec.cluster_roles = vec!["edit".into()];
        let plan = decide(&r, &cached, t(NOW));
        assert!(plan.grants[0].current.is_none(), "applied");
        assert!(plan.tokens.is_empty());
        assert_eq!(
            plan.status.clusters[0].message.as_deref(),
            Some("waiting for the member's agent to apply the latest spec")
        );
    }

    #[test]
    fn a_member_that_left_the_selection_is_revoked_and_a_lost_delivery_is_asked_again() {
        let r = rsa(&["m1"]);
        let mut cached = Cached {
            members: vec![member("m1"), member("m2")],
            policies: view_policy(),
            ..Default::default()
        };
        cached.put_grant(provisioned(&r, "m1", 1));
        let left = provisioned(&r, "m2", 1);
        let mut consumer = delivery(&left, "2026-12-06T21:00:00Z");
        consumer.metadata.namespace = Some("team-a".into());
        consumer.metadata.name = Some("reader-m2".into());
        cached.put_secret(consumer);
        cached.put_grant(left);
        let plan = decide(&r, &cached, t(NOW));
        let revoked: Vec<_> = plan.revoke.iter().map(|g| g.namespace().unwrap()).collect();
        assert_eq!(revoked, [names::member_namespace("m2")]);
        assert_eq!(plan.delete_secrets, ["reader-m2"]);
        let m1 = &plan.grants[0];
        assert!(m1.create_delivery && m1.request_delivery, "{m1:?}");
    }
}
