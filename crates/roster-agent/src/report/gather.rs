//! Reading the member cluster: its identity, version, nodes and ClusterProperties. Raw facts
//! only; [`super::build`] turns them into a report.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, ListParams},
};
use roster_runtime::errors::Category;

/// Group of the ClusterProperty API (KEP-2149).
pub const CLUSTER_PROPERTY_GROUP: &str = "about.k8s.io";

/// Node label naming the node's region.
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";

/// Node label naming the node's zone.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

/// Nodes fetched per list call.
const NODE_PAGE: u32 = 500;

/// What the agent saw on its member cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// UID of the `kube-system` namespace.
    pub kube_system_uid: String,
    /// The API server's `gitVersion`.
    pub git_version: String,
    /// One entry per node.
    pub nodes: Vec<NodeFacts>,
    /// ClusterProperty name → value; `None` when the ClusterProperty CRD is not installed.
    pub cluster_properties: Option<BTreeMap<String, String>>,
}

/// What the report needs of one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// Its Ready condition is True.
    pub ready: bool,
    /// Its region label.
    pub region: Option<String>,
    /// Its zone label.
    pub zone: Option<String>,
}

/// Why the member could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// No answer from the member API server.
    #[error("the member API server is unreachable")]
    Unreachable(#[source] kube::Error),
    /// The member API server refused or failed a request.
    #[error("reading {what} on the member")]
    Api {
        /// What was being read.
        what: &'static str,
        /// The error.
        #[source]
        source: kube::Error,
    },
}

fn failed(what: &'static str) -> impl FnOnce(kube::Error) -> GatherError {
    move |source| match source {
        kube::Error::HyperError(_) | kube::Error::Service(_) => GatherError::Unreachable(source),
        _ => GatherError::Api { what, source },
    }
}

/// The ClusterProperty resource (`clusterproperties.about.k8s.io/v1alpha1`, cluster-scoped).
pub fn cluster_property_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(CLUSTER_PROPERTY_GROUP, "v1alpha1", "ClusterProperty"),
        "clusterproperties",
    )
}

/// Reads everything the report needs from the member cluster.
pub async fn gather(member: &Client) -> Result<Observations, GatherError> {
    let namespaces: Api<Namespace> = Api::all(member.clone());
    let (kube_system, version, nodes, cluster_properties) = tokio::try_join!(
        async {
            namespaces
                .get("kube-system")
                .await
                .map_err(failed("namespace kube-system"))
        },
        async {
            member
                .apiserver_version()
                .await
                .map_err(failed("the version"))
        },
        async { nodes(member).await.map_err(failed("nodes")) },
        async {
            cluster_properties(member)
                .await
                .map_err(failed("ClusterProperties"))
        },
    )?;
    Ok(Observations {
        kube_system_uid: kube_system.metadata.uid.unwrap_or_default(),
        git_version: version.git_version,
        nodes,
        cluster_properties,
    })
}

async fn nodes(member: &Client) -> Result<Vec<NodeFacts>, kube::Error> {
    let api: Api<Node> = Api::all(member.clone());
    let mut params = ListParams::default().limit(NODE_PAGE);
    let mut facts = Vec::new();
    loop {
        let page = api.list(&params).await?;
        facts.extend(page.items.iter().map(node_facts));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(facts),
        }
    }
}

/// Readiness and topology of a node.
pub fn node_facts(node: &Node) -> NodeFacts {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let label = |key: &str| {
        node.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
    };
    NodeFacts {
        ready,
        region: label(LABEL_REGION),
        zone: label(LABEL_ZONE),
    }
}

/// Every ClusterProperty's value, or `None` when the API is not served (CRD not installed).
async fn cluster_properties(
    member: &Client,
) -> Result<Option<BTreeMap<String, String>>, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(member.clone(), &cluster_property_resource());
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(Some(list.items.iter().filter_map(property).collect())),
        // An API that is not served answers a bare `404 page not found`, not a Status with a
        // reason (which kube's `is_not_found` looks at): the Category falls back on the code.
        Err(e) if Category::of(&e) == Category::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A ClusterProperty's name and `spec.value`.
pub fn property(object: &DynamicObject) -> Option<(String, String)> {
    let name = object.metadata.name.clone()?;
    let value = object.data.get("spec")?.get("value")?.as_str()?;
    Some((name, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_readiness_and_labels() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n", "labels": {LABEL_REGION: "eu", LABEL_ZONE: "eu-a"}},
            "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"}
            ]}
        }))
        .unwrap();
        assert_eq!(
            node_facts(&node),
            NodeFacts {
                ready: true,
                region: Some("eu".into()),
                zone: Some("eu-a".into())
            }
        );
        let bare: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}
        }))
        .unwrap();
        assert_eq!(node_facts(&bare), NodeFacts::default());
    }

    #[test]
    fn cluster_property_values() {
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "about.k8s.io/v1alpha1", "kind": "ClusterProperty",
            "metadata": {"name": "cluster.clusterset.k8s.io"},
            "spec": {"value": "abc"}
        }))
        .unwrap();
        assert_eq!(
            property(&object),
            Some(("cluster.clusterset.k8s.io".into(), "abc".into()))
        );
        let no_value: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "about.k8s.io/v1alpha1", "kind": "ClusterProperty",
            "metadata": {"name": "x"}, "spec": {}
        }))
        .unwrap();
        assert_eq!(property(&no_value), None);
        let resource = cluster_property_resource();
        assert_eq!(resource.api_version, "about.k8s.io/v1alpha1");
        assert_eq!(resource.plural, "clusterproperties");
    }
}
