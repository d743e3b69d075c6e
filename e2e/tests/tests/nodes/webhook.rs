//! The pod webhook of `deploy/hub`, reached by the hub's API server through its Service on
//! the node: an annotated pod with an invalid value is refused by roster-hub itself.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, api::PostParams};
use roster_testenv::node::NodeCluster;
use serde_json::json;

/// Creates (dry run) a pod whose annotation roster-hub's webhook rejects, until the answer is
/// the webhook's own (the webhook's Service may take a moment to get its endpoints).
pub async fn refuses_an_invalid_annotation(hub: &NodeCluster) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(hub.client().await?, "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {
            "name": "webhook-probe",
            "annotations": {"roster.dev/remote-service-accounts": "Not_A_Name"},
        },
        "spec": {"containers": [{"name": "c", "image": "roster.test/pause:v1"}]},
    }))?;
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    roster_testenv::wait::until("the pod webhook's answer", Duration::from_secs(60), || {
        let (pods, pod, params) = (pods.clone(), pod.clone(), params.clone());
        async move {
            match pods.create(&params, &pod).await {
                Ok(_) => anyhow::bail!("a pod with an invalid annotation was admitted"),
                Err(e) => {
                    let refused = e
                        .to_string()
                        .contains("invalid annotation roster.dev/remote-service-accounts");
                    Ok(refused.then_some(()))
                }
            }
        }
    })
    .await?;
    eprintln!("the API server reached roster-hub's webhook, which refused the invalid annotation");
    Ok(())
}
