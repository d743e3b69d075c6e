//! Reading `KUBERNETES_EXEC_INFO`: which ExecCredential version the client speaks and which
//! cluster it wants a token for.

use serde_json::Value;

use crate::error::Error;
pub use crate::target::{ApiVersion, EXEC_INFO_ENV};

/// What the client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The version to answer in.
    pub api_version: ApiVersion,
    /// The member cluster, from `spec.cluster.config.clusterName`.
    pub cluster: String,
    /// `spec.cluster.config.audience`, which only federated mode reads.
    pub audience: AudienceField,
}

/// What `spec.cluster.config.audience` holds. Not an error when invalid until federated mode
/// needs it: the `roster` provider's extension has no audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudienceField {
    /// No `audience` key (or `null`).
    Absent,
    /// A non-empty string.
    Text(String),
    /// Anything else, as JSON.
    Invalid(String),
}

/// Parses the value of `KUBERNETES_EXEC_INFO` (`None` when unset).
pub fn parse(raw: Option<&str>) -> Result<ExecRequest, Error> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty());
    let raw = raw.ok_or(Error::ExecInfoMissing)?;
    let info: Value = serde_json::from_str(raw).map_err(Error::ExecInfoNotJson)?;
    let api_version = match info.get("apiVersion") {
        Some(Value::String(v)) => {
            ApiVersion::parse(v).ok_or_else(|| Error::UnsupportedApiVersion {
                found: Some(v.clone()),
            })?
        }
        Some(other) => {
            return Err(Error::UnsupportedApiVersion {
                found: Some(other.to_string()),
            });
        }
        None => return Err(Error::UnsupportedApiVersion { found: None }),
    };
    let cluster = info
        .pointer("/spec/cluster")
        .filter(|c| !c.is_null())
        .ok_or(Error::NoClusterInfo)?;
    let audience = match cluster.pointer("/config/audience") {
        None | Some(Value::Null) => AudienceField::Absent,
        Some(Value::String(text)) if !text.trim().is_empty() => {
            AudienceField::Text(text.trim().to_owned())
        }
        Some(other) => AudienceField::Invalid(other.to_string()),
    };
    let cluster = cluster
        .pointer("/config/clusterName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or(Error::NoClusterName)?;
    Ok(ExecRequest {
        api_version,
        cluster: cluster.to_owned(),
        audience,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(value: Value) -> Result<ExecRequest, Error> {
        parse(Some(&value.to_string()))
    }

    fn info(api_version: &str, cluster: Value) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": false, "cluster": cluster},
        })
    }

    #[test]
    fn reads_version_and_cluster_name() {
        for version in [ApiVersion::V1, ApiVersion::V1Beta1] {
            let request = parse_json(info(
                version.as_str(),
                json!({
                    "server": "https://member-1.example.com:6443",
                    "certificate-authority-data": "LS0t",
                    "config": {"clusterName": "member-1"},
                }),
            ))
            .unwrap();
            assert_eq!(
                request,
                ExecRequest {
                    api_version: version,
                    cluster: "member-1".into(),
                    audience: AudienceField::Absent,
                }
            );
        }
    }

    #[test]
    fn reads_the_federated_audience() {
        let audience = |config: Value| {
            parse_json(info(ApiVersion::V1.as_str(), json!({"config": config})))
                .unwrap()
                .audience
        };
        assert_eq!(
            audience(json!({"clusterName": "member-1", "audience": "roster:member-1"})),
            AudienceField::Text("roster:member-1".into())
        );
        assert_eq!(
            audience(json!({"clusterName": "member-1", "audience": null})),
            AudienceField::Absent
        );
        assert_eq!(
            audience(json!({"clusterName": "member-1", "audience": ""})),
            AudienceField::Invalid("\"\"".into())
        );
        assert_eq!(
            audience(json!({"clusterName": "member-1", "audience": ["a"]})),
            AudienceField::Invalid("[\"a\"]".into())
        );
    }

    #[test]
    fn missing_or_blank_is_its_own_error() {
        for raw in [None, Some(""), Some("  \n")] {
            assert!(matches!(parse(raw), Err(Error::ExecInfoMissing)), "{raw:?}");
        }
    }

    #[test]
    fn not_json() {
        assert!(matches!(
            parse(Some("{apiVersion: v1")),
            Err(Error::ExecInfoNotJson(_))
        ));
    }

    #[test]
    fn unsupported_versions_are_named() {
        let err = parse_json(info("client.authentication.k8s.io/v1alpha1", json!({}))).unwrap_err();
        assert!(
            matches!(&err, Error::UnsupportedApiVersion { found: Some(v) } if v.ends_with("v1alpha1"))
        );
        let message = err.to_string();
        assert!(
            message.contains("client.authentication.k8s.io/v1 and"),
            "{message}"
        );
        assert!(
            message.contains("client.authentication.k8s.io/v1beta1"),
            "{message}"
        );
        assert!(matches!(
            parse_json(json!({"kind": "ExecCredential"})),
            Err(Error::UnsupportedApiVersion { found: None })
        ));
        assert!(matches!(
            parse_json(json!(["not", "an", "object"])),
            Err(Error::UnsupportedApiVersion { found: None })
        ));
        assert!(matches!(
            parse_json(json!({"apiVersion": 1})),
            Err(Error::UnsupportedApiVersion { found: Some(v) }) if v == "1"
        ));
    }

    #[test]
    fn cluster_info_is_required() {
        let v1 = ApiVersion::V1.as_str();
        let no_spec = json!({"apiVersion": v1, "kind": "ExecCredential"});
        assert!(matches!(parse_json(no_spec), Err(Error::NoClusterInfo)));
        let no_cluster = json!({"apiVersion": v1, "spec": {"interactive": false}});
        assert!(matches!(parse_json(no_cluster), Err(Error::NoClusterInfo)));
        assert!(matches!(
            parse_json(info(v1, Value::Null)),
            Err(Error::NoClusterInfo)
        ));
    }

    #[test]
    fn cluster_name_is_required() {
        let v1 = ApiVersion::V1.as_str();
        for cluster in [
            json!({"server": "https://x"}),
            json!({"config": null}),
            json!({"config": {}}),
            json!({"config": {"clusterName": ""}}),
            json!({"config": {"clusterName": 7}}),
            json!({"config": {"name": "member-1"}}),
        ] {
            assert!(
                matches!(
                    parse_json(info(v1, cluster.clone())),
                    Err(Error::NoClusterName)
                ),
                "{cluster}"
            );
        }
    }
}
