//! The MemberCluster status: what the agent reported and what the hub concluded.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use roster_api::{
    MemberCluster, MemberClusterStatus,
    conditions::{
        CONDITION_FEDERATION_TRUSTED, CONDITION_PROPERTIES_PUBLISHED, federation,
        properties as reasons,
    },
    member_cluster::ApiServer,
    member_report::{FederationTrust, MemberReportSpec},
};

use crate::conditions::Desired;

/// The PropertiesPublished condition, given the properties left out of the profile.
pub fn properties_published(too_long: &[String]) -> Desired {
    if too_long.is_empty() {
        Desired::new(
            CONDITION_PROPERTIES_PUBLISHED,
            "True",
            reasons::PUBLISHED,
            "every property is published in the ClusterProfile",
        )
    } else {
        Desired::new(
            CONDITION_PROPERTIES_PUBLISHED,
            "False",
            reasons::VALUE_TOO_LONG,
            format!(
                "left out of the ClusterProfile, whose property values are limited to {} characters: {}",
                cluster_inventory::names::PROPERTY_VALUE_MAX_LEN,
                too_long.join(", ")
            ),
        )
    }
}

/// The FederationTrusted condition, from the agent's last check (`None`: it has not reported
/// one, which agents before federated access never do).
pub fn federation_trusted(trust: Option<&FederationTrust>) -> Desired {
    match trust {
        None => Desired::new(
            CONDITION_FEDERATION_TRUSTED,
            "Unknown",
            federation::NOT_CHECKED,
            "the member's agent has not reported whether its API server trusts the hub's \
             service-account issuer (an agent older than federated access does not check)",
        ),
        Some(t) if t.trusted => Desired::new(
            CONDITION_FEDERATION_TRUSTED,
            "True",
            federation::HUB_ISSUER_TRUSTED,
            t.message.clone(),
        ),
        Some(t) => Desired::new(
            CONDITION_FEDERATION_TRUSTED,
            "False",
            federation::HUB_ISSUER_NOT_TRUSTED,
            t.message.clone(),
        ),
    }
}

/// The status to write; `inventories` name those publishing the member's profile.
pub fn desired(
    member: &MemberCluster,
    report: Option<&MemberReportSpec>,
    conditions: Vec<Condition>,
    inventories: Vec<String>,
) -> MemberClusterStatus {
    // An override without a CA keeps the reported one, as the profile's access provider does:
    // consumers' token Secrets (`ca.crt`) are built from this.
    let reported_ca = || report.and_then(|r| r.api_server.ca_data.clone());
    let api_server = match &member.spec.api_server {
        Some(over) => Some(ApiServer {
            server: over.server.clone(),
            ca_data: over.ca_data.clone().or_else(reported_ca),
        }),
        None => report
            .filter(|r| !r.api_server.server.is_empty())
            .map(|r| ApiServer {
                server: r.api_server.server.clone(),
                ca_data: r.api_server.ca_data.clone(),
            }),
    };
    MemberClusterStatus {
        conditions,
        cluster_id: report
            .map(|r| r.cluster_id.clone())
            .filter(|s| !s.is_empty()),
        kubernetes_version: report
            .map(|r| r.kubernetes_version.clone())
            .filter(|s| !s.is_empty()),
        api_server,
        nodes: report.map(|r| r.nodes.clone()),
        properties: report.map(|r| r.properties.clone()).unwrap_or_default(),
        agent_version: report
            .map(|r| r.agent_version.clone())
            .filter(|s| !s.is_empty()),
        inventories,
        observed_generation: member.metadata.generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn federation_trust_follows_the_agents_check() {
        let c = federation_trusted(None);
        assert_eq!((c.status, c.reason), ("Unknown", federation::NOT_CHECKED));
        let yes = FederationTrust {
            trusted: true,
            message: "ok".into(),
        };
        let c = federation_trusted(Some(&yes));
        assert_eq!(
            (c.status, c.reason),
            ("True", federation::HUB_ISSUER_TRUSTED)
        );
        let no = FederationTrust {
            trusted: false,
            message: "401: add the configuration".into(),
        };
        let c = federation_trusted(Some(&no));
        assert_eq!(
            (c.status, c.reason),
            ("False", federation::HUB_ISSUER_NOT_TRUSTED)
        );
        assert_eq!(c.message, "401: add the configuration");
    }

    #[test]
    fn too_long_properties_are_named() {
        assert_eq!(properties_published(&[]).status, "True");
        let c = properties_published(&["big (2000 characters)".into()]);
        assert_eq!((c.status, c.reason), ("False", reasons::VALUE_TOO_LONG));
        assert!(c.message.contains("big (2000 characters)"));
    }

    #[test]
    fn an_override_without_a_ca_keeps_the_reported_ca() {
        use k8s_openapi::ByteString;
        use roster_api::{MemberClusterSpec, member_report::ReportedApiServer};
        let m = MemberCluster::new(
            "m",
            MemberClusterSpec {
                api_server: Some(ApiServer {
                    server: "https://10.0.0.1:6443".into(),
                    ca_data: None,
                }),
                ..Default::default()
            },
        );
        let report = MemberReportSpec {
            api_server: ReportedApiServer {
                server: "https://10.96.0.1:443".into(),
                ca_data: Some(ByteString(b"reported CA".to_vec())),
            },
            ..Default::default()
        };
        let s = desired(&m, Some(&report), vec![], vec![]);
        assert_eq!(
            s.api_server,
            Some(ApiServer {
                server: "https://10.0.0.1:6443".into(),
                ca_data: Some(ByteString(b"reported CA".to_vec())),
            })
        );
        // Without a report, the override alone.
        let s = desired(&m, None, vec![], vec![]);
        assert_eq!(s.api_server.and_then(|a| a.ca_data), None);
    }

    #[test]
    fn status_without_a_report_has_only_conditions() {
        let mut m = MemberCluster::new("m", Default::default());
        m.metadata.generation = Some(3);
        let s = desired(&m, None, vec![], vec![]);
        assert_eq!(
            s,
            MemberClusterStatus {
                observed_generation: Some(3),
                ..Default::default()
            }
        );
    }
}
