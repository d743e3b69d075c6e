//! The Kueue journey: Kueue's own manager (`make kueue`, v0.19.0 from the Go module proxy,
//! unchanged) runs on the shared hub with MultiKueue reading ClusterProfiles, and reaches a
//! member through Roster alone — an `Inventory` projects the member's profile into
//! `kueue-system`, a `RemoteServiceAccount` gives Kueue a least-privilege identity on the
//! member, and `roster-credential` (Kueue's `roster` access provider) hands Kueue its token.
//!
//! Kueue runs as a process with the hub's admin kubeconfig (its deployment's ClusterRole is
//! hub-wide too) and its internal certificate management; nothing registers its admission
//! webhooks with the API server (their certificate names the in-cluster Service, which a
//! loopback process cannot be), so the Job is created as Kueue's Job webhook would leave it:
//! suspended, with the queue-name label and `spec.managedBy: kueue.x-k8s.io/multikueue`.

use std::time::{Duration, Instant};

use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::{Namespace, Secret},
    rbac::v1::ClusterRole,
};
use kube::{
    Api,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    },
};
use roster_api::{Inventory, MemberCluster, RemoteAccessPolicy, RemoteServiceAccount, names};
use roster_testenv::{identity, kubeconfig, kueue, ports, process, roster, secret, wait};
use serde_json::{Value, json};

/// The member MultiKueue dispatches to (member-1 belongs to the inventories test's selection).
const MEMBER: &str = "member-2";
/// Kueue's config namespace: MultiKueue reads ClusterProfiles from there only.
const KUEUE_NAMESPACE: &str = "kueue-system";
/// The inventory serving Kueue, and the member label it selects.
const INVENTORY: &str = "kueue";
const LABEL: &str = "kueue";
/// The RemoteServiceAccount that is Kueue's identity on the workers.
const RSA: &str = "multikueue";
const FIELD_MANAGER: &str = "e2e-kueue";
const TIMEOUT: Duration = Duration::from_secs(90);

fn kueue_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kueue.x-k8s.io", "v1beta2", kind),
        plural,
    )
}

async fn apply(api: &Api<DynamicObject>, object: Value) -> anyhow::Result<()> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let object: DynamicObject = serde_json::from_value(object)?;
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await?;
    Ok(())
}

async fn apply_typed<K>(api: &Api<K>, object: Value) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await?;
    Ok(())
}

/// The ClusterRole a worker's admin creates for MultiKueue: its Workloads and the Jobs it
/// mirrors (batch/job is the one integration enabled here), cluster-wide because MultiKueue
/// watches every namespace. The RemoteServiceAccount names it, nothing more.
const WORKER_ROLE: &str = "multikueue-worker";

fn worker_role() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": WORKER_ROLE},
        "rules": [
            {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads"],
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads/status"],
             "verbs": ["get", "update", "patch"]},
            {"apiGroups": ["batch"], "resources": ["jobs"],
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": ["batch"], "resources": ["jobs/status"], "verbs": ["get"]},
        ],
    })
}

#[tokio::test]
async fn kueue_multikueue_dispatches_a_job_to_a_roster_member() -> anyhow::Result<()> {
    super::members::joined().await;
    let fleet = roster_testenv::shared_fleet().await;
    let hub = fleet.hub.client().await?;
    let member = fleet.member(MEMBER).expect("member-2").client().await?;
    let kueue_bin = kueue::binary()?;
    let dir = fleet.dir().join("kueue");
    std::fs::create_dir_all(dir.join("certs"))?;

    // Kueue's CRDs: on the hub with the conversion webhook Kueue serves, on the worker bare
    // (MultiKueue creates Workloads there; nothing runs Kueue on it in this test).
    let webhook_port = ports::free_port()?;
    let health = ports::free_address()?;
    let started = Instant::now();
    roster_testenv::crds::install(
        &hub,
        &kueue::crds(Some(&format!("https://127.0.0.1:{webhook_port}/convert")))?,
    )
    .await?;
    roster_testenv::crds::install(&member, &kueue::crds(None)?).await?;
    eprintln!(
        "measured: Kueue CRDs on hub and member in {:?}",
        started.elapsed()
    );

    // What the platform admin does: Kueue's namespace, the hub's right to write profiles there,
    // the inventory selecting the workers, the workers' label.
    roster_testenv::inventory::open_namespace(&hub, KUEUE_NAMESPACE).await?;
    apply_typed(
        &Api::<Inventory>::all(hub.clone()),
        json!({
            "apiVersion": "roster.dev/v1alpha1", "kind": "Inventory",
            "metadata": {"name": INVENTORY},
            "spec": {"namespace": KUEUE_NAMESPACE, "members": {"matchLabels": {LABEL: "worker"}},
                     "accessProviders": [names::ACCESS_PROVIDER]},
        }),
    )
    .await?;
    Api::<MemberCluster>::all(hub.clone())
        .patch(
            MEMBER,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {LABEL: "worker"}}})),
        )
        .await?;
    // Kueue's identity on the workers: the worker's admin defines what MultiKueue may do there,
    // the RemoteServiceAccount binds exactly that ClusterRole.
    apply_typed(&Api::<ClusterRole>::all(member.clone()), worker_role()).await?;
    // The platform admin's policy: kueue-system may have that ClusterRole on Kueue's workers,
    // nothing else anywhere (and the shared members' ceiling lets their agents bind it).
    apply_typed(
        &Api::<RemoteAccessPolicy>::all(hub.clone()),
        json!({
            "apiVersion": "roster.dev/v1alpha1", "kind": "RemoteAccessPolicy",
            "metadata": {"name": "kueue-multikueue"},
            "spec": {"consumers": {"namespaces": [KUEUE_NAMESPACE]},
                     "members": {"matchLabels": {LABEL: "worker"}},
                     "clusterRoles": [WORKER_ROLE]},
        }),
    )
    .await?;
    apply_typed(
        &Api::<RemoteServiceAccount>::namespaced(hub.clone(), KUEUE_NAMESPACE),
        json!({
            "apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
            "metadata": {"name": RSA, "namespace": KUEUE_NAMESPACE},
            "spec": {"clusters": {"selector": {"matchLabels": {LABEL: "worker"}}},
                     "clusterRoles": [WORKER_ROLE]},
        }),
    )
    .await?;
    let secret_name = names::token_secret_name(RSA, MEMBER);
    let secrets = Api::<Secret>::namespaced(hub.clone(), KUEUE_NAMESPACE);
    let token_secret = wait::until("Kueue's token Secret on the hub", TIMEOUT, || async {
        Ok(secrets.get_opt(&secret_name).await?)
    })
    .await?;
    // Least privilege, checked on the member with the token Kueue will use: Workloads in every
    // namespace yes, Secrets no.
    let cluster = fleet.member(MEMBER).expect("member-2");
    let as_kueue = identity::client(cluster, &secret::text(&token_secret, "token")).await?;
    let workloads_as_kueue =
        Api::<DynamicObject>::all_with(as_kueue.clone(), &kueue_resource("Workload", "workloads"));
    wait::until("the worker ClusterRole bound", TIMEOUT, || async {
        Ok(workloads_as_kueue
            .list(&ListParams::default())
            .await
            .ok()
            .map(|_| ()))
    })
    .await?;
    let denied = Api::<Secret>::all(as_kueue.clone())
        .list(&ListParams::default())
        .await;
    assert!(
        matches!(&denied, Err(kube::Error::Api(s)) if s.code == 403),
        "Kueue's member identity must not read Secrets: {denied:?}"
    );

    // roster-credential's hub identity: `get` on the token Secrets, nothing else (in a pod it
    // would be Kueue's service account with this Role).
    let token = identity::service_account(KUEUE_NAMESPACE, "kueue-credential")
        .role_name("kueue-credential")
        .rules([identity::named_rule(
            "",
            &["secrets"],
            &["get"],
            &[&secret_name],
        )])
        .create(&hub)
        .await?
        .token;
    let credential_kubeconfig = dir.join("credential.kubeconfig");
    std::fs::write(
        &credential_kubeconfig,
        kubeconfig::to_yaml(&fleet.hub.token_kubeconfig(&token))?,
    )?;

    // Kueue's configuration: the feature gate, the `roster` access provider, loopback ports.
    let config = json!({
        "apiVersion": "config.kueue.x-k8s.io/v1beta2", "kind": "Configuration",
        "namespace": KUEUE_NAMESPACE,
        "health": {"healthProbeBindAddress": health.to_string()},
        "metrics": {"bindAddress": "0"},
        "webhook": {"host": "127.0.0.1", "port": webhook_port,
                    "certDir": dir.join("certs").display().to_string()},
        "leaderElection": {"leaderElect": false},
        "internalCertManagement": {"enable": true},
        "integrations": {"frameworks": ["batch/job"]},
        "featureGates": {"MultiKueueClusterProfile": true, "VisibilityOnDemand": false},
        "multiKueue": {"clusterProfile": {"accessProviders": [{
            "name": names::ACCESS_PROVIDER,
            "execConfig": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": roster::binary_path("roster-credential")?.display().to_string(),
                "args": ["--remote-service-account", RSA],
                "env": [
                    {"name": "POD_NAMESPACE", "value": KUEUE_NAMESPACE},
                    {"name": "ROSTER_CREDENTIAL_KUBECONFIG",
                     "value": credential_kubeconfig.display().to_string()},
                ],
                "provideClusterInfo": true,
                "interactiveMode": "Never",
            },
        }]}},
    });
    // The Secret Kueue's certificate rotator fills; Kueue's manifests create it empty.
    apply_typed(
        &Api::<Secret>::namespaced(hub.clone(), KUEUE_NAMESPACE),
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "kueue-webhook-server-cert", "namespace": KUEUE_NAMESPACE}}),
    )
    .await?;
    let config_path = dir.join("kueue-config.yaml");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
    let log = dir.join("kueue.log");
    let kueue_started = Instant::now();
    let mut manager = process::Process::spawn(process::Spec {
        name: "kueue".into(),
        program: kueue_bin,
        args: vec![format!("--config={}", config_path.display()).into()],
        log: log.clone(),
        env: vec![(
            "KUBECONFIG".into(),
            fleet.hub.kubeconfig_path().into_os_string(),
        )],
    })?;
    // What the kubelet does in Kueue's pod: mount the rotator's Secret at the certificate
    // folder (Kueue's rotator waits for the files before it says it is ready).
    let certs = wait::until("Kueue's webhook certificate", TIMEOUT, || async {
        let secret = secrets.get("kueue-webhook-server-cert").await?;
        let files = ["ca.crt", "tls.crt", "tls.key"].map(|k| (k, secret::text(&secret, k)));
        Ok(files.iter().all(|(_, v)| !v.is_empty()).then_some(files))
    })
    .await?;
    for (name, text) in certs {
        std::fs::write(dir.join("certs").join(name), text)?;
    }
    let diagnostics = |what: &str| {
        format!(
            "{what}\n--- kueue log ---\n{}\n--- members ---\n{}",
            process::log_tail(&log, 60),
            super::members::diagnostics()
        )
    };

    // The MultiKueue setup, pointing at the projected profile.
    let mkc = Api::<DynamicObject>::all_with(
        hub.clone(),
        &kueue_resource("MultiKueueCluster", "multikueueclusters"),
    );
    apply(
        &mkc,
        json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "MultiKueueCluster",
            "metadata": {"name": MEMBER},
            "spec": {"clusterSource": {"clusterProfileRef": {"name": MEMBER}}},
        }),
    )
    .await?;
    let mkc_created = Instant::now();
    let active = wait::until("MultiKueueCluster Active", TIMEOUT, || async {
        let c = mkc.get(MEMBER).await?;
        let active = c.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Active" && c["status"] == "True");
        Ok(active.then_some(()))
    })
    .await;
    if let Err(e) = active {
        let status = mkc.get(MEMBER).await.map(|c| c.data["status"].clone());
        let exit = manager.exit_status();
        anyhow::bail!(diagnostics(&format!(
            "{e:#}; MultiKueueCluster status {status:?}; kueue exit {exit:?}"
        )));
    }
    eprintln!(
        "measured: MultiKueueCluster {MEMBER} Active {:?} after it was created ({:?} after Kueue started)",
        mkc_created.elapsed(),
        kueue_started.elapsed()
    );

    let all = |kind: &str, plural: &str| {
        Api::<DynamicObject>::all_with(hub.clone(), &kueue_resource(kind, plural))
    };
    apply(
        &all("MultiKueueConfig", "multikueueconfigs"),
        json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "MultiKueueConfig",
            "metadata": {"name": "roster"}, "spec": {"clusters": [MEMBER]},
        }),
    )
    .await?;
    apply(&all("AdmissionCheck", "admissionchecks"), json!({
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "AdmissionCheck",
        "metadata": {"name": "roster"},
        "spec": {"controllerName": "kueue.x-k8s.io/multikueue",
                 "parameters": {"apiGroup": "kueue.x-k8s.io", "kind": "MultiKueueConfig", "name": "roster"}},
    }))
    .await?;
    apply(
        &all("ResourceFlavor", "resourceflavors"),
        json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor",
            "metadata": {"name": "roster-default"},
        }),
    )
    .await?;
    apply(&all("ClusterQueue", "clusterqueues"), json!({
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue",
        "metadata": {"name": "roster"},
        "spec": {
            "namespaceSelector": {},
            "resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [{
                "name": "roster-default",
                "resources": [{"name": "cpu", "nominalQuota": "4"}, {"name": "memory", "nominalQuota": "4Gi"}],
            }]}],
            "admissionChecksStrategy": {"admissionChecks": [{"name": "roster"}]},
        },
    }))
    .await?;

    // The Job's namespace, on the hub and (as MultiKueue requires) on the worker.
    let ns = roster_testenv::env::create_namespace(&hub).await?;
    apply_typed(
        &Api::<Namespace>::all(member.clone()),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await?;
    apply(
        &Api::<DynamicObject>::namespaced_with(
            hub.clone(),
            &ns,
            &kueue_resource("LocalQueue", "localqueues"),
        ),
        json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
            "metadata": {"name": "roster", "namespace": ns},
            "spec": {"clusterQueue": "roster"},
        }),
    )
    .await?;
    // What Kueue's Job webhook would have made of it (no webhook is registered, see above).
    let jobs = Api::<Job>::namespaced(hub.clone(), &ns);
    let job_created = Instant::now();
    apply_typed(
        &jobs,
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "sample", "namespace": ns,
                         "labels": {"kueue.x-k8s.io/queue-name": "roster"}},
            "spec": {
                "suspend": true,
                "managedBy": "kueue.x-k8s.io/multikueue",
                "template": {"spec": {"restartPolicy": "Never", "containers": [{
                    "name": "main", "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                }]}},
            },
        }),
    )
    .await?;
    let remote = Api::<DynamicObject>::namespaced_with(
        member.clone(),
        &ns,
        &kueue_resource("Workload", "workloads"),
    );
    let dispatched = wait::until("the Job's Workload on the worker", TIMEOUT, || async {
        Ok(remote
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .next())
    })
    .await;
    let workload = match dispatched {
        Ok(w) => w,
        Err(e) => {
            let local = Api::<DynamicObject>::namespaced_with(
                hub.clone(),
                &ns,
                &kueue_resource("Workload", "workloads"),
            )
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .map(|w| w.data["status"].clone())
                    .collect::<Vec<_>>()
            });
            anyhow::bail!(diagnostics(&format!(
                "{e:#}; hub workloads' status {local:?}"
            )));
        }
    };
    eprintln!(
        "measured: Workload {}/{} on {MEMBER} {:?} after the Job was created on the hub",
        ns,
        workload.metadata.name.clone().unwrap_or_default(),
        job_created.elapsed()
    );
    let labels = workload.metadata.labels.clone().unwrap_or_default();
    assert!(
        labels.contains_key("kueue.x-k8s.io/multikueue-origin"),
        "the worker's Workload is MultiKueue's: {labels:?}"
    );
    assert_eq!(
        workload.data["spec"]["queueName"], "roster",
        "the Workload keeps the Job's queue"
    );

    // On the hub the Job's Workload holds its quota (the ClusterQueue admitted it), and waits on
    // the MultiKueue check, which now names the worker it dispatched to.
    let local = Api::<DynamicObject>::namespaced_with(
        hub.clone(),
        &ns,
        &kueue_resource("Workload", "workloads"),
    );
    let hub_workload = local
        .get(&workload.metadata.name.clone().unwrap_or_default())
        .await?;
    let reserved = hub_workload.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "QuotaReserved" && c["status"] == "True");
    assert!(
        reserved,
        "the hub Workload reserved quota: {}",
        hub_workload.data["status"]
    );
    let checks = hub_workload.data["status"]["admissionChecks"].clone();
    assert_eq!(checks[0]["name"], "roster", "{checks}");
    eprintln!(
        "hub Workload: quota reserved, check roster {}: {}",
        checks[0]["state"], checks[0]["message"]
    );

    // Leave the shared fleet as found: the label goes, the profile copy and the grant with it.
    jobs.delete("sample", &DeleteParams::background())
        .await
        .ok();
    Api::<MemberCluster>::all(hub.clone())
        .patch(
            MEMBER,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {LABEL: null}}})),
        )
        .await?;
    Api::<Inventory>::all(hub.clone())
        .delete(INVENTORY, &DeleteParams::default())
        .await?;
    Api::<RemoteServiceAccount>::namespaced(hub.clone(), KUEUE_NAMESPACE)
        .delete(RSA, &DeleteParams::default())
        .await?;
    manager.stop();
    Ok(())
}
