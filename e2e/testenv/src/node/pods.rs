//! Pods on a node cluster: running and ready, for the real-node tests and `make dev`.

use std::{cell::RefCell, time::Duration};

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, api::ListParams};

use super::cluster::NodeCluster;
use crate::wait;

/// Whether `pod` is Running with every container ready.
pub fn running_and_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Waits until `count` pods matching `selector` in `namespace` of `cluster` are Running and
/// Ready, and returns them. A failed list is tried again until `timeout`; the last failure is
/// part of the timeout's error.
pub async fn wait_ready(
    cluster: &NodeCluster,
    namespace: &str,
    selector: &str,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(cluster.client().await?, namespace);
    let params = ListParams::default().labels(selector);
    let what = format!(
        "{count} pods {selector} Running and Ready on {} (see kubectl -n {namespace} get pods)",
        cluster.name()
    );
    let failed = &RefCell::new(None);
    wait::until(&what, timeout, || {
        let (pods, params) = (pods.clone(), params.clone());
        async move {
            let list = match pods.list(&params).await {
                Ok(list) => list,
                Err(e) => {
                    *failed.borrow_mut() = Some(e);
                    return Ok(None);
                }
            };
            let ready: Vec<Pod> = list.items.into_iter().filter(running_and_ready).collect();
            Ok((ready.len() == count).then_some(ready))
        }
    })
    .await
    .map_err(|e| match failed.take() {
        Some(list) => e.context(format!("the last list failed: {list}")),
        None => e,
    })
}
