//! A consumer pod on the hub reaches a member through its ClusterProfile, with
//! `roster-credential` as the exec plugin: a RemoteServiceAccount (cluster role `view` on the
//! member), a kubeconfig built from the profile's access provider `roster` whose user runs
//! `/usr/local/bin/roster-credential` (the binary of the roster-credential image), and kubectl
//! beside it in the same image lists the member's namespaces.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;
use base64::Engine;
use cluster_inventory::v1alpha1::ClusterProfile;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{
    Api,
    api::{LogParams, PostParams},
};
use roster_api::names;
use roster_testenv::{binary, image::roster as images, node::NodeCluster, wait};
use serde_json::json;

use super::support;

const TIMEOUT: Duration = Duration::from_secs(180);
/// The consumer's image: roster-credential's image with kubectl added.
pub const CONSUMER_IMAGE: &str = "roster.test/consumer:v1";
/// The consumer's namespace on the hub.
pub const NAMESPACE: &str = "team-a";
/// Its RemoteServiceAccount.
pub const RSA: &str = "reader";

fn consumer_image(dir: &Path) -> anyhow::Result<PathBuf> {
    let credential = roster_testenv::roster::binary_path("roster-credential")?;
    let mut image = images::image("roster-credential", &credential, "consumer")?;
    let kubectl = images::image("kubectl", &binary::controlplane()?, "v1")?;
    for file in kubectl.files {
        if !image.files.iter().any(|f| f.path == file.path) {
            image.files.push(file);
        }
    }
    image.name = CONSUMER_IMAGE.into();
    image.entrypoint = vec![images::binary_path("kubectl")];
    image.labels.clear();
    let out = dir.join("consumer.tar");
    images::write(&image, &out)?;
    Ok(out)
}

/// The kubeconfig a consumer builds from `profile`'s access provider `roster`: the exec
/// plugin gets the cluster name from the provider's extension (`provideClusterInfo`).
fn kubeconfig(profile: &ClusterProfile) -> anyhow::Result<String> {
    let name = profile.metadata.name.clone().context("unnamed profile")?;
    let cluster = profile
        .status
        .as_ref()
        .and_then(|s| s.access_providers.iter().find(|a| a.name == "roster"))
        .and_then(|a| a.cluster.clone())
        .context("no access provider roster in the profile")?;
    let ca = cluster
        .certificate_authority_data
        .context("no CA in the profile")?;
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": cluster.server,
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(&ca.0),
            "extensions": [{"name": "client.authentication.k8s.io/exec",
                            "extension": {"clusterName": name}}],
        }}],
        "users": [{"name": "roster", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": images::binary_path("roster-credential"),
            "args": ["--remote-service-account", RSA],
            "provideClusterInfo": true,
            "interactiveMode": "Never",
        }}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": "roster"}}],
        "current-context": name,
    });
    Ok(serde_json::to_string(&config)?)
}

/// Journey: a RemoteServiceAccount in `team-a`, then a pod of the consumer image lists the
/// member's namespaces through the profile with roster-credential.
pub async fn reaches_the_member(hub: &NodeCluster, member: &str, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let image = consumer_image(dir)?;
    hub.import(&image)?;
    eprintln!(
        "consumer image (roster-credential and kubectl, {} MiB) assembled and imported in {:?}",
        std::fs::metadata(&image)?.len() >> 20,
        started.elapsed()
    );
    let client = hub.client().await?;

    let rsa = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        // Without a RemoteAccessPolicy the hub's webhook refuses the account.
        {"apiVersion": "roster.dev/v1alpha1", "kind": "RemoteAccessPolicy",
         "metadata": {"name": format!("view-for-{NAMESPACE}")},
         "spec": {"consumers": {"namespaces": [NAMESPACE]}, "members": {},
                  "clusterRoles": ["view"]}},
        {"apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
         "metadata": {"name": RSA, "namespace": NAMESPACE},
         "spec": {"clusters": {"names": [member]}, "clusterRoles": ["view"]}},
        // roster-credential reads the token Secret with the pod's own identity.
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "read-remote-tokens", "namespace": NAMESPACE},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "read-remote-tokens", "namespace": NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "read-remote-tokens"},
         "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": NAMESPACE}]},
    ]});
    let file = dir.join("consumer-rsa.json");
    std::fs::write(&file, serde_json::to_string(&rsa)?)?;
    let applied = Instant::now();
    support::kubectl(hub, &["apply", "-f", &file.display().to_string()])?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let secret = format!("{RSA}-{member}");
    wait::until("the remote token Secret", TIMEOUT, || {
        let (secrets, secret) = (secrets.clone(), secret.clone());
        async move { Ok(secrets.get_opt(&secret).await?.map(|_| ())) }
    })
    .await?;
    eprintln!(
        "RemoteServiceAccount {NAMESPACE}/{RSA} -> token Secret {secret} in {:?}",
        applied.elapsed()
    );

    let profiles: Api<ClusterProfile> =
        Api::namespaced(client.clone(), names::DEFAULT_INVENTORY_NAMESPACE);
    let kubeconfig = kubeconfig(&profiles.get(member).await?)?;
    let pod_name = "consumer";
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "member-kubeconfig", "namespace": NAMESPACE},
         "data": {"kubeconfig": kubeconfig}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": pod_name, "namespace": NAMESPACE},
         "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "consumer",
                "image": CONSUMER_IMAGE,
                "imagePullPolicy": "Never",
                "args": ["--kubeconfig=/config/kubeconfig", "get", "namespaces", "-o", "name"],
                "env": [{"name": "HOME", "value": "/tmp"}],
                "volumeMounts": [
                    {"name": "config", "mountPath": "/config"},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }],
            "volumes": [
                {"name": "config", "configMap": {"name": "member-kubeconfig"}},
                {"name": "tmp", "emptyDir": {}},
            ],
         }},
    ]});
    let file = dir.join("consumer-pod.json");
    std::fs::write(&file, serde_json::to_string(&objects)?)?;
    let created = Instant::now();
    support::kubectl(hub, &["apply", "-f", &file.display().to_string()])?;
    let pods: Api<Pod> = Api::namespaced(client, NAMESPACE);
    lists_the_member_namespaces(&pods, pod_name, member).await?;
    eprintln!(
        "a consumer pod on the hub listed {member}'s namespaces through its ClusterProfile with roster-credential (pod created to Succeeded: {:?})",
        created.elapsed()
    );

    // The same through the pod webhook: an annotated pod gets the RSA's folder mounted, and
    // its container reads the kubeconfig there.
    let automounted = "automounted";
    let mounted = format!("/var/run/secrets/roster.dev/{RSA}/{member}/kubeconfig");
    let pod = automounted_pod(automounted, RSA, member, None)?;
    let created = Instant::now();
    let admitted = pods.create(&PostParams::default(), &pod).await?;
    let mounts: Vec<String> = admitted
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .map(|m| m.mount_path.clone())
        .collect();
    assert!(
        mounts.iter().any(|m| format!("{m}/kubeconfig") == mounted),
        "the webhook mounted the RSA's folder: {mounts:?}"
    );
    lists_the_member_namespaces(&pods, automounted, member).await?;
    eprintln!(
        "an annotated pod on the hub was admitted with {RSA}'s credentials mounted and listed {member}'s namespaces with the mounted kubeconfig (pod created to Succeeded: {:?})",
        created.elapsed()
    );
    Ok(())
}

/// A pod of the consumer image annotated for `rsa` that lists `member`'s namespaces with the
/// kubeconfig the webhook mounts, running as `account` (the namespace's default when `None`).
pub fn automounted_pod(
    name: &str,
    rsa: &str,
    member: &str,
    account: Option<&str>,
) -> anyhow::Result<Pod> {
    let mounted = format!("{}/{rsa}/{member}/kubeconfig", names::AUTOMOUNT_ROOT);
    let mut pod = json!({
        "metadata": {"name": name, "annotations": {"roster.dev/remote-service-accounts": rsa}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "consumer",
                "image": CONSUMER_IMAGE,
                "imagePullPolicy": "Never",
                "args": [format!("--kubeconfig={mounted}"), "get", "namespaces", "-o", "name"],
                "env": [{"name": "HOME", "value": "/tmp"}],
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    });
    if let Some(account) = account {
        pod["spec"]["serviceAccountName"] = json!(account);
    }
    Ok(serde_json::from_value(pod)?)
}

/// Waits for pod `name` to finish and checks it listed `member`'s namespaces.
pub async fn lists_the_member_namespaces(
    pods: &Api<Pod>,
    name: &str,
    member: &str,
) -> anyhow::Result<()> {
    let phase = wait::until(&format!("pod {name} finished"), TIMEOUT, || {
        let pods = pods.clone();
        async move {
            let pod = pods.get(name).await?;
            let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
            Ok(matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase))
        }
    })
    .await?;
    let logs = pods.logs(name, &LogParams::default()).await?;
    assert_eq!(phase, "Succeeded", "pod {name}: {logs}");
    assert!(
        logs.lines()
            .any(|l| l.trim() == format!("namespace/{}", names::AGENT_NAMESPACE)),
        "pod {name} listed {member}'s namespaces: {logs}"
    );
    Ok(())
}
