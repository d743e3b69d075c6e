//! From raw observations to the MemberReport spec: cluster id, uniform topology, properties
//! with the time their current value was first seen. Pure.

use std::collections::BTreeMap;

use cluster_inventory::names::{PROPERTY_CLUSTER_ID, PROPERTY_REGION, PROPERTY_ZONE};
use k8s_openapi::{ByteString, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use roster_api::{
    MemberReportSpec,
    member_cluster::{NodeSummary, ReportedProperty},
    member_report::{ApiServerHealth, ReportedApiServer},
};

use super::{
    endpoint::Endpoint,
    gather::{NodeFacts, Observations},
};
use crate::timing;

/// Version of this agent, as reported.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The member's stable id: its `cluster.clusterset.k8s.io` ClusterProperty, else the UID of
/// its `kube-system` namespace.
pub fn cluster_id(obs: &Observations) -> String {
    obs.cluster_properties
        .as_ref()
        .and_then(|p| p.get(PROPERTY_CLUSTER_ID))
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| obs.kube_system_uid.clone())
}

/// The value every item carries, when there is at least one item and none lacks it.
pub fn uniform<'a>(mut values: impl Iterator<Item = Option<&'a str>>) -> Option<String> {
    let first = values.next()??;
    if first.is_empty() {
        return None;
    }
    values.all(|v| v == Some(first)).then(|| first.to_owned())
}

/// Region and zone properties, for the labels every node shares.
pub fn topology(nodes: &[NodeFacts]) -> BTreeMap<String, String> {
    let region = uniform(nodes.iter().map(|n| n.region.as_deref()));
    let zone = uniform(nodes.iter().map(|n| n.zone.as_deref()));
    [(PROPERTY_REGION, region), (PROPERTY_ZONE, zone)]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect()
}

/// Every property to report: derived topology, then ClusterProperties (which win: an admin
/// who sets one means it).
pub fn observed_properties(obs: &Observations) -> BTreeMap<String, String> {
    let mut properties = topology(&obs.nodes);
    if let Some(cluster_properties) = &obs.cluster_properties {
        properties.extend(cluster_properties.clone());
    }
    properties
}

/// When each property's current value was first seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirstSeen(BTreeMap<String, (String, Timestamp)>);

impl FirstSeen {
    /// Resumes from a report written earlier, so a restart does not move the times.
    pub fn from_reported(properties: &[ReportedProperty]) -> Self {
        Self(
            properties
                .iter()
                .filter_map(|p| {
                    let seen = p.last_observed_time.as_ref()?.0;
                    Some((p.name.clone(), (p.value.clone(), seen)))
                })
                .collect(),
        )
    }

    /// Takes in the properties seen `now` and returns them with their first-seen times.
    /// Properties no longer seen are forgotten.
    pub fn observe(
        &mut self,
        current: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Vec<ReportedProperty> {
        let now = timing::whole_seconds(now);
        self.0
            .retain(|name, (value, _)| current.get(name) == Some(value));
        current
            .iter()
            .map(|(name, value)| {
                let (_, seen) = self
                    .0
                    .entry(name.clone())
                    .or_insert_with(|| (value.clone(), now));
                ReportedProperty {
                    name: name.clone(),
                    value: value.clone(),
                    last_observed_time: Some(Time(*seen)),
                }
            })
            .collect()
    }
}

/// The report for `obs`, `endpoint`, `health` and the `properties` from [`FirstSeen`].
pub fn spec(
    obs: &Observations,
    endpoint: &Endpoint,
    health: ApiServerHealth,
    properties: Vec<ReportedProperty>,
) -> MemberReportSpec {
    let ready = obs.nodes.iter().filter(|n| n.ready).count();
    MemberReportSpec {
        cluster_id: cluster_id(obs),
        kubernetes_version: obs.git_version.clone(),
        api_server: ReportedApiServer {
            server: endpoint.server.clone(),
            ca_data: endpoint.ca_pem.clone().map(ByteString),
        },
        api_server_health: health,
        nodes: NodeSummary {
            total: i64::try_from(obs.nodes.len()).unwrap_or(i64::MAX),
            ready: i64::try_from(ready).unwrap_or(i64::MAX),
        },
        properties,
        agent_version: AGENT_VERSION.to_owned(),
        grant_ceiling: None,
        federation: None,
    }
}

/// `previous` with a new health: what the agent reports when it cannot read its member.
pub fn with_health(previous: &MemberReportSpec, health: ApiServerHealth) -> MemberReportSpec {
    MemberReportSpec {
        api_server_health: health,
        ..previous.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn node(ready: bool, region: Option<&str>, zone: Option<&str>) -> NodeFacts {
        NodeFacts {
            ready,
            region: region.map(Into::into),
            zone: zone.map(Into::into),
        }
    }

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn cluster_id_prefers_the_cluster_property() {
        let mut obs = Observations {
            kube_system_uid: "uid-1".into(),
            ..Observations::default()
        };
        assert_eq!(cluster_id(&obs), "uid-1");
        obs.cluster_properties = Some(props(&[("other", "x")]));
        assert_eq!(cluster_id(&obs), "uid-1");
        obs.cluster_properties = Some(props(&[(PROPERTY_CLUSTER_ID, "")]));
        assert_eq!(cluster_id(&obs), "uid-1", "an empty id is no id");
        obs.cluster_properties = Some(props(&[(PROPERTY_CLUSTER_ID, "prod-eu-1")]));
        assert_eq!(cluster_id(&obs), "prod-eu-1");
    }

    #[test]
    fn topology_only_when_every_node_agrees() {
        let nodes = [
            node(true, Some("eu"), Some("eu-a")),
            node(false, Some("eu"), Some("eu-b")),
        ];
        assert_eq!(
            topology(&nodes),
            props(&[(PROPERTY_REGION, "eu")]),
            "same region, different zones"
        );
        let one_unlabelled = [
            node(true, Some("eu"), Some("a")),
            node(true, None, Some("a")),
        ];
        assert_eq!(topology(&one_unlabelled), props(&[(PROPERTY_ZONE, "a")]));
        assert!(topology(&[]).is_empty(), "no nodes, no topology");
        assert!(topology(&[node(true, Some(""), None)]).is_empty());
    }

    #[test]
    fn cluster_properties_win_over_derived_ones() {
        let obs = Observations {
            nodes: vec![node(true, Some("eu"), None)],
            cluster_properties: Some(props(&[(PROPERTY_REGION, "europe"), ("a", "1")])),
            ..Observations::default()
        };
        assert_eq!(
            observed_properties(&obs),
            props(&[(PROPERTY_REGION, "europe"), ("a", "1")])
        );
    }

    #[test]
    fn last_observed_time_is_when_the_current_value_was_first_seen() {
        let mut seen = FirstSeen::default();
        let first = seen.observe(&props(&[("a", "1"), ("b", "x")]), at(100));
        assert!(
            first
                .iter()
                .all(|p| p.last_observed_time == Some(Time(at(100))))
        );
        let same = seen.observe(&props(&[("a", "1"), ("b", "x")]), at(200));
        assert_eq!(same, first, "an unchanged value keeps its time");
        let changed = seen.observe(&props(&[("a", "2"), ("b", "x")]), at(300));
        assert_eq!(changed[0].last_observed_time, Some(Time(at(300))));
        assert_eq!(changed[1].last_observed_time, Some(Time(at(100))));
        // Gone, then back: a new first sighting.
        seen.observe(&props(&[("a", "2")]), at(400));
        let back = seen.observe(&props(&[("a", "2"), ("b", "x")]), at(500));
        assert_eq!(back[1].last_observed_time, Some(Time(at(500))));
    }

    #[test]
    fn first_seen_resumes_from_an_earlier_report() {
        let earlier = vec![ReportedProperty {
            name: "a".into(),
            value: "1".into(),
            last_observed_time: Some(Time(at(50))),
        }];
        let mut seen = FirstSeen::from_reported(&earlier);
        assert_eq!(seen.observe(&props(&[("a", "1")]), at(900)), earlier);
    }

    #[test]
    fn spec_assembles_the_report() {
        let obs = Observations {
            kube_system_uid: "uid".into(),
            git_version: "v1.37.0".into(),
            nodes: vec![node(true, None, None), node(false, None, None)],
            cluster_properties: None,
        };
        let endpoint = Endpoint {
            server: "https://m:6443".into(),
            ca_pem: Some(b"PEM".to_vec()),
        };
        let health = ApiServerHealth {
            healthy: true,
            ..ApiServerHealth::default()
        };
        let spec = spec(&obs, &endpoint, health.clone(), vec![]);
        assert_eq!(spec.cluster_id, "uid");
        assert_eq!(spec.kubernetes_version, "v1.37.0");
        assert_eq!(spec.nodes, NodeSummary { total: 2, ready: 1 });
        assert_eq!(spec.api_server.server, "https://m:6443");
        assert_eq!(spec.api_server.ca_data, Some(ByteString(b"PEM".to_vec())));
        assert_eq!(spec.agent_version, AGENT_VERSION);
        let unhealthy = ApiServerHealth {
            healthy: false,
            message: "down".into(),
            last_transition_time: None,
        };
        let degraded = with_health(&spec, unhealthy.clone());
        assert_eq!(degraded.api_server_health, unhealthy);
        assert_eq!(degraded.cluster_id, spec.cluster_id);
    }
}
