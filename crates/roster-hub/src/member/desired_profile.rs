//! The ClusterProfile the hub publishes for a member: labels, spec and status. Pure.

use std::collections::BTreeMap;

use cluster_inventory::{
    names::{
        EXEC_EXTENSION, LABEL_CLUSTER_MANAGER, LABEL_INVENTORY_MEMBER_ID, PROPERTY_CLUSTER_ID,
        PROPERTY_NAME_MAX_LEN, PROPERTY_VALUE_MAX_LEN,
    },
    v1alpha1::{
        AccessProvider, Cluster, ClusterManager, ClusterProfileSpec, ClusterProfileStatus,
        ClusterVersion, NamedExtension, Property,
    },
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use roster_api::{MemberCluster, member_report::MemberReportSpec, names};

/// The parts of a ClusterProfile outside its status that the hub owns.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProfileMeta {
    /// Labels the hub sets.
    pub labels: BTreeMap<String, String>,
    /// The spec.
    pub spec: ClusterProfileSpec,
}

/// Everything the hub wants in a member's ClusterProfile.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredProfile {
    /// Labels and spec.
    pub meta: ProfileMeta,
    /// Status.
    pub status: ClusterProfileStatus,
}

/// The profile of `member`; `conditions` are the member's Joined and ControlPlaneHealthy.
pub fn desired(
    member: &MemberCluster,
    report: Option<&MemberReportSpec>,
    conditions: Vec<Condition>,
) -> DesiredProfile {
    DesiredProfile {
        meta: ProfileMeta {
            labels: labels(member, report),
            spec: spec(member),
        },
        status: status(member, report, conditions),
    }
}

/// Every label key the hub manages on a profile.
pub const MANAGED_LABELS: [&str; 3] = [
    LABEL_CLUSTER_MANAGER,
    names::LABEL_MEMBER,
    LABEL_INVENTORY_MEMBER_ID,
];

/// Labels of the profile.
pub fn labels(
    member: &MemberCluster,
    report: Option<&MemberReportSpec>,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (
            LABEL_CLUSTER_MANAGER.to_owned(),
            names::CLUSTER_MANAGER.to_owned(),
        ),
        (
            names::LABEL_MEMBER.to_owned(),
            member_name(member).to_owned(),
        ),
    ]);
    if let Some(id) = report
        .map(|r| r.cluster_id.as_str())
        .filter(|id| roster_api::validation::is_label_value(id))
    {
        labels.insert(LABEL_INVENTORY_MEMBER_ID.to_owned(), id.to_owned());
    }
    labels
}

/// Spec of the profile.
pub fn spec(member: &MemberCluster) -> ClusterProfileSpec {
    ClusterProfileSpec {
        display_name: Some(
            member
                .spec
                .display_name
                .clone()
                .unwrap_or_else(|| member_name(member).to_owned()),
        ),
        cluster_manager: ClusterManager {
            name: names::CLUSTER_MANAGER.to_owned(),
        },
    }
}

/// Properties to publish and the names of those left out for being too long.
pub fn properties(
    member: &MemberCluster,
    report: Option<&MemberReportSpec>,
) -> (Vec<Property>, Vec<String>) {
    let mut by_name: BTreeMap<String, Property> = BTreeMap::new();
    if let Some(report) = report {
        for p in &report.properties {
            by_name.insert(
                p.name.clone(),
                Property {
                    name: p.name.clone(),
                    value: p.value.clone(),
                    last_observed_time: p.last_observed_time.clone(),
                },
            );
        }
        if !report.cluster_id.is_empty() {
            by_name.insert(
                PROPERTY_CLUSTER_ID.to_owned(),
                Property {
                    name: PROPERTY_CLUSTER_ID.to_owned(),
                    value: report.cluster_id.clone(),
                    last_observed_time: None,
                },
            );
        }
    }
    // Static properties are the administrator's word: they win on a name clash.
    for p in &member.spec.properties {
        by_name.insert(
            p.name.clone(),
            Property {
                name: p.name.clone(),
                value: p.value.clone(),
                last_observed_time: None,
            },
        );
    }
    let mut too_long = Vec::new();
    let published = by_name
        .into_values()
        .filter(|p| {
            let fits = !p.value.is_empty()
                && p.value.chars().count() <= PROPERTY_VALUE_MAX_LEN
                && p.name.len() <= PROPERTY_NAME_MAX_LEN;
            if !fits {
                too_long.push(format!(
                    "{} ({} characters)",
                    p.name,
                    p.value.chars().count()
                ));
            }
            fits
        })
        .collect();
    (published, too_long)
}

/// The `roster` access provider, once the member's API server is known.
pub fn access_provider(
    member: &MemberCluster,
    report: Option<&MemberReportSpec>,
) -> Option<AccessProvider> {
    let (server, ca) = match &member.spec.api_server {
        Some(over) => (
            over.server.clone(),
            over.ca_data
                .clone()
                .or_else(|| report.and_then(|r| r.api_server.ca_data.clone())),
        ),
        None => {
            let reported = &report?.api_server;
            (reported.server.clone(), reported.ca_data.clone())
        }
    };
    if server.is_empty() {
        return None;
    }
    Some(AccessProvider {
        name: names::ACCESS_PROVIDER.to_owned(),
        cluster: Some(Cluster {
            server,
            certificate_authority_data: ca,
            extensions: vec![NamedExtension {
                name: EXEC_EXTENSION.to_owned(),
                extension: serde_json::json!({ "clusterName": member_name(member) }),
            }],
            ..Cluster::default()
        }),
    })
}

/// The `roster-federated` access provider: the `roster` one's server and CA, with the member's
/// audience in the exec extension, published only while the member's agent reports that its
/// API server trusts the hub's issuer (so a consumer never picks a provider that cannot work).
pub fn federated_access_provider(
    member: &MemberCluster,
    report: Option<&MemberReportSpec>,
) -> Option<AccessProvider> {
    let trusted = report?.federation.as_ref().is_some_and(|f| f.trusted);
    let mut provider = access_provider(member, report).filter(|_| trusted)?;
    provider.name = names::FEDERATED_ACCESS_PROVIDER.to_owned();
    if let Some(cluster) = provider.cluster.as_mut() {
        let name = member_name(member);
        cluster.extensions = vec![NamedExtension {
            name: EXEC_EXTENSION.to_owned(),
            extension: serde_json::json!({
                "clusterName": name,
                "audience": roster_api::federation::audience(name),
            }),
        }];
    }
    Some(provider)
}

/// Status of the profile; `conditions` are the member's Joined and ControlPlaneHealthy.
pub fn status(
    member: &MemberCluster,
    report: Option<&MemberReportSpec>,
    conditions: Vec<Condition>,
) -> ClusterProfileStatus {
    let providers: Vec<AccessProvider> = access_provider(member, report)
        .into_iter()
        .chain(federated_access_provider(member, report))
        .collect();
    ClusterProfileStatus {
        conditions,
        version: report
            .filter(|r| !r.kubernetes_version.is_empty())
            .map(|r| ClusterVersion {
                kubernetes: Some(r.kubernetes_version.clone()),
            }),
        properties: properties(member, report).0,
        // Never the deprecated `credentialProviders`: v1alpha2 does not declare it, so once
        // any client has written the profile at v1alpha2 the API server refuses every apply
        // carrying it (its managed-fields bookkeeping converts the merged object to v1alpha2).
        // Every reader of v1alpha1 Roster knows of (the upstream Go library from v0.1.0,
        // Kueue) reads `accessProviders`. An old hub's copy is removed by the next write.
        credential_providers: Vec::new(),
        access_providers: providers,
    }
}

fn member_name(member: &MemberCluster) -> &str {
    member.metadata.name.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use roster_api::{
        MemberClusterSpec,
        member_cluster::{ApiServer, ReportedProperty, StaticProperty},
        member_report::ReportedApiServer,
    };

    fn member(spec: MemberClusterSpec) -> MemberCluster {
        MemberCluster::new("member-1", spec)
    }

    fn report() -> MemberReportSpec {
        MemberReportSpec {
            cluster_id: "0b6f2c1e-5d2a-4a8e-9a7c-1f2e3d4c5b6a".into(),
            kubernetes_version: "v1.37.2".into(),
            api_server: ReportedApiServer {
                server: "https://127.0.0.1:6443".into(),
                ca_data: Some(ByteString(b"CA".to_vec())),
            },
            properties: vec![
                ReportedProperty {
                    name: "topology.kubernetes.io/region".into(),
                    value: "reported".into(),
                    last_observed_time: None,
                },
                ReportedProperty {
                    name: "big".into(),
                    value: "x".repeat(1025),
                    last_observed_time: None,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn labels_and_spec_follow_the_contract() {
        let m = member(MemberClusterSpec::default());
        let l = labels(&m, Some(&report()));
        assert_eq!(l[LABEL_CLUSTER_MANAGER], "roster");
        assert_eq!(
            l[LABEL_INVENTORY_MEMBER_ID],
            "0b6f2c1e-5d2a-4a8e-9a7c-1f2e3d4c5b6a"
        );
        assert!(!labels(&m, None).contains_key(LABEL_INVENTORY_MEMBER_ID));
        let bad_id = MemberReportSpec {
            cluster_id: "not a label value!".into(),
            ..report()
        };
        assert!(!labels(&m, Some(&bad_id)).contains_key(LABEL_INVENTORY_MEMBER_ID));
        let s = spec(&m);
        assert_eq!(s.cluster_manager.name, "roster");
        assert_eq!(s.display_name.as_deref(), Some("member-1"));
    }

    #[test]
    fn static_properties_win_and_long_values_are_reported_not_cut() {
        let m = member(MemberClusterSpec {
            properties: vec![StaticProperty {
                name: "topology.kubernetes.io/region".into(),
                value: "eu-west-1".into(),
            }],
            ..Default::default()
        });
        let (published, too_long) = properties(&m, Some(&report()));
        let names: Vec<_> = published
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (
                    "cluster.clusterset.k8s.io",
                    "0b6f2c1e-5d2a-4a8e-9a7c-1f2e3d4c5b6a"
                ),
                ("topology.kubernetes.io/region", "eu-west-1"),
            ]
        );
        assert_eq!(too_long, ["big (1025 characters)"]);
    }

    #[test]
    fn the_federated_provider_appears_only_while_the_member_trusts_the_hub() {
        use roster_api::member_report::FederationTrust;
        let m = member(MemberClusterSpec::default());
        let providers = |r: &MemberReportSpec| {
            status(&m, Some(r), vec![])
                .access_providers
                .into_iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
        };
        let mut r = report();
        assert_eq!(providers(&r), ["roster"], "an agent that does not check");
        r.federation = Some(FederationTrust {
            trusted: false,
            message: "401".into(),
        });
        assert_eq!(providers(&r), ["roster"]);
        r.federation = Some(FederationTrust {
            trusted: true,
            message: String::new(),
        });
        assert_eq!(providers(&r), ["roster", "roster-federated"]);
        let federated = federated_access_provider(&m, Some(&r)).unwrap();
        let plain = access_provider(&m, Some(&r)).unwrap();
        let (fc, pc) = (federated.cluster.unwrap(), plain.cluster.unwrap());
        assert_eq!(
            (fc.server, fc.certificate_authority_data),
            (pc.server, pc.certificate_authority_data)
        );
        assert_eq!(
            fc.extensions[0].extension,
            serde_json::json!({"clusterName": "member-1", "audience": "roster:member-1"})
        );
    }

    #[test]
    fn access_provider_uses_the_override_and_never_a_secret() {
        let plain = member(MemberClusterSpec::default());
        assert!(
            access_provider(&plain, None).is_none(),
            "no server known yet"
        );
        let p = access_provider(&plain, Some(&report())).unwrap();
        let cluster = p.cluster.unwrap();
        assert_eq!(p.name, "roster");
        assert_eq!(cluster.server, "https://127.0.0.1:6443");
        assert_eq!(cluster.extensions[0].name, EXEC_EXTENSION);
        assert_eq!(
            cluster.extensions[0].extension,
            serde_json::json!({"clusterName": "member-1"})
        );

        let lb = member(MemberClusterSpec {
            api_server: Some(ApiServer {
                server: "https://lb.example:6443".into(),
                ca_data: None,
            }),
            ..Default::default()
        });
        let cluster = access_provider(&lb, Some(&report()))
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!(cluster.server, "https://lb.example:6443");
        assert_eq!(
            cluster.certificate_authority_data,
            Some(ByteString(b"CA".to_vec())),
            "reported CA when the override has none"
        );

        let status = status(&plain, Some(&report()), vec![]);
        assert_eq!(status.access_providers.len(), 1);
        let json = serde_json::to_string(&status).unwrap();
        assert!(
            !json.contains("credentialProviders"),
            "v1alpha2 does not declare it: {json}"
        );
        // Everything written is v1alpha2 too, so no served version refuses a merged profile.
        let as_v1alpha2: cluster_inventory::v1alpha2::ClusterProfileStatus =
            serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&as_v1alpha2).unwrap(), json);
        assert!(!json.to_lowercase().contains("token"), "{json}");
    }
}
