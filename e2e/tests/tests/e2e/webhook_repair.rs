//! The hub's MutatingWebhookConfiguration put back when it is deleted or changed, on a private
//! hub control plane: the shared hub's configuration serves other tests' pods, which a deleted
//! one would let through without their mounts. roster-hub runs as in `support::hub_process`,
//! with exactly deploy/hub's RBAC, which lets it create the configuration only by name: the
//! first creation and the re-creation after a delete prove that `create` with resourceNames
//! authorizes a server-side apply that creates.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    admissionregistration::v1::{MutatingWebhookConfiguration, ServiceReference},
    core::v1::Pod,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use roster_api::webhook::{CONFIGURATION, MATCH_CONDITION, WEBHOOK};
use roster_testenv::{Fleet, crds, deploy, kubeconfig, ports, process, roster, wait};
use serde_json::json;

use super::{support, webhook};

const TIMEOUT: Duration = Duration::from_secs(60);
/// "Within seconds": the longest a repair may take.
const REPAIR: Duration = Duration::from_secs(10);
const NAMESPACE: &str = "apps";
const RSA: &str = "deployer";
const MEMBERS: [&str; 2] = ["member-1", "member-2"];

/// Polls `check` every 20 ms (finer than `wait::until`: the time is what is measured) until it
/// gives a value; returns it and how long it took from `since`.
async fn timed<T, F, Fut>(what: &str, since: Instant, mut check: F) -> anyhow::Result<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    loop {
        if let Some(value) = check().await? {
            return Ok((value, since.elapsed()));
        }
        anyhow::ensure!(since.elapsed() < REPAIR, "{what}: not within {REPAIR:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The hub's webhook entry of the configuration, if any.
fn hook(
    config: &MutatingWebhookConfiguration,
) -> Option<&k8s_openapi::api::admissionregistration::v1::MutatingWebhook> {
    config.webhooks.iter().flatten().find(|w| w.name == WEBHOOK)
}

/// The namespace, two MemberClusters (no agents: named clusters are mounted anyway) and an
/// account naming both.
async fn workload(admin: &Client) -> anyhow::Result<()> {
    roster_testenv::workload::automount(admin, NAMESPACE, &MEMBERS, RSA).await?;
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(admin.clone(), NAMESPACE);
    wait::until("the default service account", TIMEOUT, || async {
        Ok(accounts.get_opt("default").await?.map(|_| ()))
    })
    .await
}

/// An annotated pod, created now: admitted with its mounts (Some), or not yet.
async fn mounted(pods: &Api<Pod>) -> anyhow::Result<Option<()>> {
    let pod: Pod = serde_json::from_value(webhook::pod_json(Some(RSA)))?;
    let expected = webhook::expected_mounts(&[(RSA, MEMBERS[0]), (RSA, MEMBERS[1])]);
    Ok(match pods.create(&PostParams::default(), &pod).await {
        Ok(pod) if webhook::roster_mounts(&pod) == expected => Some(()),
        _ => None,
    })
}

fn hub_args(kubeconfig: &Path, port: u16) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--admin-address=127.0.0.1:0".into(),
        format!("--webhook-address=127.0.0.1:{port}"),
        format!("--webhook-url={}", support::webhook_url(port)),
        "--webhook-dns-names=127.0.0.1".into(),
        "--leader-elect=false".into(),
    ]
}

#[tokio::test]
async fn the_webhook_configuration_is_put_back_when_deleted_or_changed() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("roster-webhook-repair-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fleet = Fleet::start(&dir.join("fleet"), &[]).await?;
    let admin = fleet.hub.client().await?;
    crds::install(&admin, &roster_api::crd::all()).await?;
    let kubeconfig = deploy::hub_kubeconfig(&fleet.hub, &dir).await?;
    let port = ports::free_port()?;
    let log = dir.join("roster-hub.log");
    let _hub = roster::spawn(
        "roster-hub",
        &hub_args(&kubeconfig, port),
        &[("RUST_LOG", "info,roster_hub=debug")],
        &log,
    )?;
    let diagnostics = |e: anyhow::Error| {
        e.context(format!(
            "roster-hub's log:\n{}",
            process::log_tail(&log, 20)
        ))
    };

    // The hub creates the configuration (nobody else does here), with its caBundle.
    let configurations: Api<MutatingWebhookConfiguration> = Api::all(admin.clone());
    let bundle = wait::until(
        "roster-hub to create the configuration",
        TIMEOUT,
        || async { Ok(webhook::ca_bundle(&admin).await?.filter(|b| !b.is_empty())) },
    )
    .await
    .map_err(diagnostics)?;
    let created = configurations.get(CONFIGURATION).await?;
    let hooked = hook(&created).expect("the hub's webhook");
    assert_eq!(
        hooked.client_config.url.as_deref(),
        Some(support::webhook_url(port).as_str())
    );
    assert_eq!(hooked.failure_policy.as_deref(), Some("Fail"));
    workload(&admin).await?;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NAMESPACE);
    wait::until("an annotated pod admitted with its mounts", TIMEOUT, || {
        mounted(&pods)
    })
    .await
    .map_err(diagnostics)?;

    // Deleted: recreated with the current caBundle, and pods get their mounts again.
    let old_uid = created.metadata.uid.clone();
    let deleted = Instant::now();
    configurations
        .delete(CONFIGURATION, &Default::default())
        .await?;
    let (recreated, recreate_time) = timed("the configuration recreated", deleted, || async {
        Ok(configurations
            .get_opt(CONFIGURATION)
            .await?
            .filter(|c| c.metadata.uid != old_uid))
    })
    .await
    .map_err(diagnostics)?;
    let recreated_bundle = hook(&recreated)
        .and_then(|w| w.client_config.ca_bundle.as_ref())
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    assert_eq!(recreated_bundle.as_deref(), Some(bundle.as_str()));
    let ((), admit_time) = timed("an annotated pod mounted again", deleted, || mounted(&pods))
        .await
        .map_err(diagnostics)?;

    // Edited by someone else (as `kubectl edit` would, with a replace): the failure policy
    // turned to Ignore, beside a label of theirs; then the match condition removed. Each is
    // put back, the label stays.
    let mut edited = configurations.get(CONFIGURATION).await?;
    edited
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("team".into(), "platform".into());
    edited.webhooks.as_mut().expect("webhooks")[0].failure_policy = Some("Ignore".into());
    let changed = Instant::now();
    configurations
        .replace(CONFIGURATION, &PostParams::default(), &edited)
        .await?;
    let (repaired, policy_time) = timed("failurePolicy Fail again", changed, || async {
        let config = configurations.get(CONFIGURATION).await?;
        let fail = hook(&config).and_then(|w| w.failure_policy.as_deref()) == Some("Fail");
        Ok(fail.then_some(config))
    })
    .await
    .map_err(diagnostics)?;
    assert_eq!(
        repaired
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("team")),
        Some(&"platform".to_owned()),
        "a foreign label stays"
    );

    let mut edited = repaired;
    edited.webhooks.as_mut().expect("webhooks")[0].match_conditions = None;
    let changed = Instant::now();
    configurations
        .replace(CONFIGURATION, &PostParams::default(), &edited)
        .await?;
    let ((), condition_time) = timed("the match condition back", changed, || async {
        let config = configurations.get(CONFIGURATION).await?;
        let back = hook(&config)
            .and_then(|w| w.match_conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.name == MATCH_CONDITION));
        Ok(back.then_some(()))
    })
    .await
    .map_err(diagnostics)?;

    // The client config pointed at a Service instead of the hub's URL: server-side apply alone
    // cannot drop the other manager's `service` (the object would hold both, which the API
    // server refuses), so the hub replaces its webhook whole, then applies.
    let mut edited = configurations.get(CONFIGURATION).await?;
    let client = &mut edited.webhooks.as_mut().expect("webhooks")[0].client_config;
    client.url = None;
    client.service = Some(ServiceReference {
        namespace: "default".into(),
        name: "elsewhere".into(),
        path: Some("/mutate".into()),
        port: Some(443),
    });
    let changed = Instant::now();
    configurations
        .replace(CONFIGURATION, &PostParams::default(), &edited)
        .await?;
    let url = support::webhook_url(port);
    let ((), client_time) = timed("the URL back", changed, || async {
        let config = configurations.get(CONFIGURATION).await?;
        let back = hook(&config).is_some_and(|w| {
            w.client_config.url.as_deref() == Some(url.as_str())
                && w.client_config.service.is_none()
        });
        Ok(back.then_some(()))
    })
    .await
    .map_err(diagnostics)?;

    // And the API server still calls the webhook for annotated pods.
    wait::until("an annotated pod admitted with its mounts", TIMEOUT, || {
        mounted(&pods)
    })
    .await
    .map_err(diagnostics)?;

    // The same apply under another name is refused to the hub's identity: `create` (and
    // `patch`) hold for its own configuration only.
    let as_hub = Client::try_from(
        kubeconfig::to_config(kube::config::Kubeconfig::read_from(&kubeconfig)?).await?,
    )?;
    let other = roster_api::webhook::configuration(
        "someone-elses",
        &roster_api::webhook::Endpoint::url(&support::webhook_url(port))?,
        deploy::HUB_NAMESPACE,
        None,
    );
    let mut other = serde_json::to_value(&other)?;
    other["apiVersion"] = json!("admissionregistration.k8s.io/v1");
    other["kind"] = json!("MutatingWebhookConfiguration");
    let refused = Api::<MutatingWebhookConfiguration>::all(as_hub)
        .patch(
            "someone-elses",
            &PatchParams::apply(roster_api::names::HUB_FIELD_MANAGER).force(),
            &Patch::Apply(other),
        )
        .await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(s)) if s.code == 403),
        "{refused:?}"
    );

    println!(
        "webhook repair: deleted configuration recreated in {recreate_time:.2?} (same caBundle), \
         annotated pods mounted again after {admit_time:.2?}; failurePolicy Ignore put back in \
         {policy_time:.2?}; removed matchCondition put back in {condition_time:.2?}; URL swapped \
         for a Service put back in {client_time:.2?}"
    );
    drop(fleet);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
