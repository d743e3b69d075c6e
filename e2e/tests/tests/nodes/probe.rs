//! Reaching one cluster's API server from a pod of another, across the fabric: a pod running
//! the control-plane binary's kubectl asks the other API server for `/version`, verifying its
//! serving certificate (which names the node IP) with that cluster's CA.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::{
    Api,
    api::{LogParams, PostParams},
};
use roster_testenv::{binary, identity, image::roster as images, node::NodeCluster};
use serde_json::json;

/// The probe image: kubectl (the multi-call binary, named so it runs kubectl) and its libraries.
const PROBE_IMAGE: &str = "roster.test/kubectl:v1";

fn probe_image(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let out = dir.join("kubectl.tar");
    if out.is_file() {
        return Ok(out);
    }
    let binary = binary::controlplane()?;
    let mut image = images::image("kubectl", &binary, "v1")?;
    image.name = PROBE_IMAGE.into();
    image.labels.clear();
    images::write(&image, &out)?;
    Ok(out)
}

/// A short-lived token of `to`'s `default/default` service account: any authenticated user
/// may read `/version`.
async fn token(to: &NodeCluster) -> anyhow::Result<String> {
    let client = to.client().await?;
    Ok(identity::token(&client, "default", "default", 600)
        .await?
        .token)
}

/// A pod on `from` gets `/version` from `to`'s API server at its fabric address.
pub async fn reaches(from: &NodeCluster, to: &NodeCluster) -> anyhow::Result<()> {
    let image = probe_image(from.dir().parent().unwrap_or(from.dir()))?;
    from.import(&image)?;
    let client = from.client().await?;
    let name = format!("probe-{}", to.name());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let ca: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name},
        "data": {"ca.crt": to.ca_pem()},
    }))?;
    cms.create(&PostParams::default(), &ca).await?;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "kubectl",
                "image": PROBE_IMAGE,
                "imagePullPolicy": "Never",
                "args": [
                    "get", "--raw", "/version",
                    format!("--server={}", to.fleet_server()),
                    "--certificate-authority=/ca/ca.crt",
                    format!("--token={}", token(to).await?),
                ],
                "env": [{"name": "HOME", "value": "/tmp"}],
                "volumeMounts": [
                    {"name": "ca", "mountPath": "/ca"},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }],
            "volumes": [
                {"name": "ca", "configMap": {"name": name}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }))?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let created = std::time::Instant::now();
    pods.create(&PostParams::default(), &pod).await?;
    let what = format!("{name} on {} finished", from.name());
    let phase = roster_testenv::wait::until(&what, Duration::from_secs(120), || {
        let (pods, name) = (pods.clone(), name.clone());
        async move {
            let pod = pods.get(&name).await?;
            let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
            Ok(matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase))
        }
    })
    .await?;
    let logs = pods.logs(&name, &LogParams::default()).await?;
    assert_eq!(phase, "Succeeded", "{name} on {}: {logs}", from.name());
    assert!(
        logs.contains("\"gitVersion\": \"v1.37.2\""),
        "{name}: {logs}"
    );
    eprintln!(
        "a pod on {} reached {} at {} (pod created to Succeeded: {:?})",
        from.name(),
        to.name(),
        to.fleet_server(),
        created.elapsed()
    );
    Ok(())
}
