//! [`MemberSelector`]: a label selector over MemberClusters, used by RemoteServiceAccounts and
//! Inventories, and the one place that says what it matches.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::validation::label_key_problem;

/// A label selector over MemberClusters, with the bounds the API server needs to cost its
/// validation rules. Same fields and meaning as a Kubernetes LabelSelector. (Label keys are
/// checked by the hub, which reports a bad key on the object that holds the selector: a CEL
/// rule over unbounded map keys would exceed the API server's cost budget.)
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.matchLabels) || self.matchLabels.all(k, !format.labelValue().validate(self.matchLabels[k]).hasValue())").message("selector.matchLabels values must be valid label values"))]
#[x_kube(validation = Rule::new("!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'] && ((e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0)))").message("selector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist, and values are required exactly for In and NotIn"))]
pub struct MemberSelector {
    /// Labels a MemberCluster must carry, each with exactly this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "match_labels_schema")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Label requirements a MemberCluster must meet; all must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub match_expressions: Option<Vec<MemberSelectorRequirement>>,
}

fn match_labels_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Labels a MemberCluster must carry, each with exactly this value.",
        "type": "object",
        "maxProperties": 64,
        "additionalProperties": {"type": "string", "maxLength": 63}
    })
}

/// One requirement of a [`MemberSelector`].
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberSelectorRequirement {
    /// The label key.
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// In, NotIn, Exists or DoesNotExist.
    #[schemars(length(max = 16))]
    pub operator: String,
    /// Values for In and NotIn; empty for Exists and DoesNotExist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub values: Option<Vec<String>>,
}

impl From<&MemberSelector> for LabelSelector {
    fn from(s: &MemberSelector) -> Self {
        LabelSelector {
            match_labels: s.match_labels.clone(),
            match_expressions: s.match_expressions.as_ref().map(|exprs| {
                exprs
                    .iter()
                    .map(|e| LabelSelectorRequirement {
                        key: e.key.clone(),
                        operator: e.operator.clone(),
                        values: e.values.clone(),
                    })
                    .collect()
            }),
        }
    }
}

impl MemberSelector {
    /// Whether `labels` satisfy the selector (which [`MemberSelector::problem`] accepted).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let labels_ok = self
            .match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v));
        labels_ok
            && self
                .match_expressions
                .iter()
                .flatten()
                .all(|e| e.holds(labels))
    }

    /// Why the selector cannot be evaluated: a label key that is not a valid Kubernetes label
    /// key (the CRD checks values and operators; keys are checked here, see the type's doc).
    pub fn problem(&self) -> Option<String> {
        self.match_labels
            .iter()
            .flat_map(|m| m.keys())
            .chain(self.match_expressions.iter().flatten().map(|e| &e.key))
            .find_map(|key| {
                label_key_problem(key).map(|p| format!("selector label key {key:?}: {p}"))
            })
    }
}

impl MemberSelectorRequirement {
    fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let values = self.values.as_deref().unwrap_or_default();
        match self.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    }
}
