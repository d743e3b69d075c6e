//! The admin servers end to end: a private fleet (one member) with the real `roster-hub`,
//! `kubectl roster join` and `roster-agent`, scraped over plain HTTP while a member joins, a
//! remote service account gets its token, and both are removed again.

use std::{net::SocketAddr, path::Path, time::Duration};

use k8s_openapi::api::{core::v1::Secret, rbac::v1::ClusterRoleBinding};
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use roster_api::{
    MemberCluster, RemoteServiceAccount,
    names::{self, token_secret},
};
use roster_testenv::{
    Fleet, admin, crds, metrics::Page, ports::free_address, process::Process, roster, wait,
};
use serde_json::json;

const MEMBER: &str = "edge-m";
const TIMEOUT: Duration = Duration::from_secs(90);

/// `GET path` on a daemon's admin port; `None` while nothing listens there yet.
async fn get(address: SocketAddr, path: &str) -> anyhow::Result<Option<admin::Answer>> {
    admin::get(address, path, Duration::from_secs(10)).await
}

/// The Prometheus text of `address`.
async fn scrape(address: SocketAddr) -> anyhow::Result<Page> {
    let answer = get(address, "/metrics")
        .await?
        .ok_or_else(|| anyhow::anyhow!("nothing listens on {address}"))?;
    anyhow::ensure!(answer.status == 200, "/metrics answered {answer:?}");
    Ok(Page(answer.body))
}

/// Waits until `/readyz` on `address` answers 200.
async fn wait_ready(address: SocketAddr, what: &str) -> anyhow::Result<()> {
    wait::until(&format!("{what} /readyz 200"), TIMEOUT, || async move {
        Ok(get(address, "/readyz")
            .await?
            .filter(|a| a.status == 200)
            .map(|_| ()))
    })
    .await
}

/// Waits until a scrape of `address` satisfies `check`; returns that scrape.
async fn wait_scrape(
    address: SocketAddr,
    what: &str,
    check: impl Fn(&Page) -> bool,
) -> anyhow::Result<Page> {
    let (check, last) = (&check, &std::cell::RefCell::new(String::new()));
    let found = wait::until(what, TIMEOUT, || async move {
        let samples = scrape(address).await?;
        if check(&samples) {
            return Ok(Some(samples));
        }
        *last.borrow_mut() = samples.0;
        Ok(None)
    })
    .await;
    found.map_err(|e| e.context(format!("last scrape of {address}:\n{}", last.borrow())))
}

fn spawn_hub(fleet: &Fleet, dir: &Path, admin: SocketAddr) -> anyhow::Result<Process> {
    // No election: this hub is alone on its private fleet.
    let flags = ["--leader-elect=false".into()];
    roster::spawn_hub(fleet, admin, &flags, &dir.join("roster-hub.log"))
}

/// Joins the member with `kubectl roster join --output kubeconfig` and runs its agent.
async fn join(fleet: &Fleet, dir: &Path, admin: SocketAddr) -> anyhow::Result<Process> {
    let bootstrap = dir.join("bootstrap.kubeconfig");
    super::support::join_kubeconfig(fleet, MEMBER, &bootstrap).await?;
    roster::spawn_agent(
        &fleet.members[0],
        &bootstrap,
        &dir.join("agent-state"),
        admin,
        &[],
        &dir.join("roster-agent.log"),
    )
}

const JOINED_TRUE: [(&str, &str); 2] = [("condition", "Joined"), ("status", "True")];
const HEALTHY_TRUE: [(&str, &str); 2] = [("condition", "ControlPlaneHealthy"), ("status", "True")];

#[tokio::test]
async fn hub_and_agent_metrics_through_a_join_a_token_and_a_removal() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("roster-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fleet = Fleet::start(&dir, &[MEMBER]).await?;
    let hub = fleet.hub.client().await?;
    crds::install(&hub, &roster_api::crd::all()).await?;

    // The hub: alive at once, ready once its caches are, no member counted yet.
    let hub_admin = free_address()?;
    let _roster_hub = spawn_hub(&fleet, &dir, hub_admin)?;
    wait_ready(hub_admin, "roster-hub").await?;
    let healthz = get(hub_admin, "/healthz").await?.expect("the hub listens");
    assert_eq!((healthz.status, healthz.body.as_str()), (200, "ok\n"));
    let start = scrape(hub_admin).await?;
    assert_eq!(start.value("roster_members", &JOINED_TRUE), Some(0.0));
    assert_eq!(
        start.value(
            "roster_members",
            &[("condition", "Joined"), ("status", "False")]
        ),
        Some(0.0)
    );

    // A member with fast heartbeats joins; its agent is ready once it has a token and has
    // heartbeated, and the hub counts the member Joined and healthy.
    let member = json!({
        "apiVersion": "roster.dev/v1alpha1", "kind": "MemberCluster",
        "metadata": {"name": MEMBER},
        "spec": {"heartbeat": {"periodSeconds": 1, "graceSeconds": 5}},
    });
    let members: Api<MemberCluster> = Api::all(hub.clone());
    members
        .patch(
            MEMBER,
            &PatchParams::apply("metrics-test"),
            &Patch::Apply(member),
        )
        .await?;
    let agent_admin = free_address()?;
    let mut agent = join(&fleet, &dir, agent_admin).await?;
    wait_ready(agent_admin, "roster-agent").await?;
    let joined = wait_scrape(hub_admin, "the member counted Joined and healthy", |s| {
        s.value("roster_members", &JOINED_TRUE) == Some(1.0)
            && s.value("roster_members", &HEALTHY_TRUE) == Some(1.0)
    })
    .await?;
    let ok = |s: &Page, controller| {
        s.value(
            "roster_reconcile_total",
            &[("controller", controller), ("result", "ok")],
        )
        .unwrap_or(0.0)
    };
    assert!(ok(&joined, "member") > 0.0);
    assert!(joined.value("roster_profile_writes_total", &[]) >= Some(1.0));
    assert!(joined.value("roster_member_status_writes_total", &[]) >= Some(1.0));
    assert!(
        joined
            .value(
                "roster_reconcile_duration_seconds_count",
                &[("controller", "member")]
            )
            .unwrap_or(0.0)
            > 0.0
    );
    let age = joined
        .value("roster_member_heartbeat_age_seconds", &[("member", MEMBER)])
        .expect("the member's heartbeat age");
    assert!((0.0..5.0).contains(&age), "heartbeat age {age}");

    let agent_metrics = wait_scrape(agent_admin, "the agent's heartbeats", |s| {
        s.value("roster_agent_heartbeats_total", &[("result", "ok")])
            .unwrap_or(0.0)
            > 0.0
    })
    .await?;
    assert_eq!(
        agent_metrics.value("roster_agent_api_server_healthy", &[]),
        Some(1.0)
    );
    assert_eq!(agent_metrics.value("roster_agent_grants", &[]), Some(0.0));
    let healthz = get(agent_admin, "/healthz")
        .await?
        .expect("the agent listens");
    assert_eq!(healthz.status, 200);

    // A remote service account: the agent mints, the hub issues; both count down to expiry.
    let team = roster_testenv::env::create_namespace(&hub).await?;
    roster_testenv::policy::allow_everything(&hub, &team).await?;
    let rsa: RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
        "metadata": {"name": "ops"},
        "spec": {"clusters": {"names": [MEMBER]}, "clusterRoles": ["view"]},
    }))?;
    let rsas: Api<RemoteServiceAccount> = Api::namespaced(hub.clone(), &team);
    rsas.create(&PostParams::default(), &rsa).await?;
    let expiry_labels = [
        ("namespace", team.as_str()),
        ("remote_service_account", "ops"),
        ("cluster", MEMBER),
    ];
    let issued = wait_scrape(hub_admin, "the token issued", |s| {
        s.value("roster_remote_tokens_issued_total", &[]) >= Some(1.0)
            && s.value("roster_remote_token_expiry_seconds", &expiry_labels)
                .is_some()
    })
    .await?;
    let left = issued
        .value("roster_remote_token_expiry_seconds", &expiry_labels)
        .unwrap_or_default();
    assert!(left > 600.0 && left <= 3600.0, "token expires in {left} s");
    assert!(ok(&issued, "remote-access") > 0.0);

    let grant = names::grant_name(&team, "ops");
    let minted = wait_scrape(agent_admin, "the agent's minted token", |s| {
        s.value("roster_agent_remote_tokens_minted_total", &[]) >= Some(1.0)
            && s.value("roster_agent_grants", &[]) == Some(1.0)
    })
    .await?;
    let left = minted
        .value(
            "roster_agent_remote_token_expiry_seconds",
            &[("grant", &grant)],
        )
        .expect("the grant's token expiry");
    assert!(left > 600.0 && left <= 3600.0, "token expires in {left} s");

    // Never a token in a metric.
    let secret = Api::<Secret>::namespaced(hub.clone(), &team)
        .get(&names::token_secret_name("ops", MEMBER))
        .await?;
    let token = secret
        .data
        .and_then(|d| d.get(token_secret::TOKEN).cloned())
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
        .expect("the consumer's Secret holds the token");
    for scraped in [scrape(hub_admin).await?, scrape(agent_admin).await?] {
        assert!(!scraped.0.contains(&token), "a token in the metrics");
    }

    // Someone deletes the grant's binding on the member: the agent puts it back and counts it.
    let member = fleet.members[0].client().await?;
    let crb = format!("roster:{}:{team}-ops:view", names::DEFAULT_REMOTE_NAMESPACE);
    Api::<ClusterRoleBinding>::all(member.clone())
        .delete(&crb, &DeleteParams::default())
        .await?;
    let repaired = [("kind", "ClusterRoleBinding"), ("drift", "deleted")];
    // At least once: under load the agent may see the deletion again on a relist.
    wait_scrape(agent_admin, "the repair counted", |s| {
        s.value("roster_agent_grant_repairs_total", &repaired) >= Some(1.0)
    })
    .await?;
    wait::until("the binding back", TIMEOUT, || async {
        let crbs = Api::<ClusterRoleBinding>::all(member.clone());
        Ok(crbs.get_opt(&crb).await?.map(|_| ()))
    })
    .await?;

    // A write the member keeps refusing (a RoleBinding in a namespace it does not have) is
    // counted by category, and the RemoteServiceAccount's status names the object and why.
    let stuck: RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
        "metadata": {"name": "stuck"},
        "spec": {
            "clusters": {"names": [MEMBER]},
            "roles": [{"namespace": "no-such-namespace", "clusterRole": "view"}],
        },
    }))?;
    rsas.create(&PostParams::default(), &stuck).await?;
    let object = format!(
        "RoleBinding no-such-namespace/roster:{}:{team}-stuck:view",
        names::DEFAULT_REMOTE_NAMESPACE
    );
    let message = wait::until("the refused binding in the status", TIMEOUT, || async {
        let rsa = rsas.get("stuck").await?;
        let clusters = rsa.status.unwrap_or_default().clusters;
        Ok(clusters
            .first()
            .and_then(|c| c.message.clone())
            .filter(|m| m.contains(&object)))
    })
    .await?;
    assert!(message.contains("not found"), "{message}");
    wait_scrape(agent_admin, "the refused binding counted", |s| {
        s.value(
            "roster_agent_grant_errors_total",
            &[("category", "not_found")],
        ) >= Some(1.0)
    })
    .await?;
    rsas.delete("stuck", &DeleteParams::default()).await?;

    // The remote service account goes: so do its expiry series, on both sides.
    rsas.delete("ops", &DeleteParams::default()).await?;
    wait_scrape(hub_admin, "the hub's expiry series to go", |s| {
        s.value("roster_remote_token_expiry_seconds", &expiry_labels)
            .is_none()
    })
    .await?;
    wait_scrape(agent_admin, "the agent's grant to go", |s| {
        s.value("roster_agent_grants", &[]) == Some(0.0)
            && s.value(
                "roster_agent_remote_token_expiry_seconds",
                &[("grant", &grant)],
            )
            .is_none()
    })
    .await?;

    // The member goes: nothing counted, no heartbeat series left.
    agent.stop();
    members.delete(MEMBER, &DeleteParams::default()).await?;
    wait_scrape(hub_admin, "the deleted member to leave the metrics", |s| {
        s.value("roster_members", &JOINED_TRUE) == Some(0.0)
            && s.value("roster_members", &HEALTHY_TRUE) == Some(0.0)
            && s.value("roster_member_heartbeat_age_seconds", &[("member", MEMBER)])
                .is_none()
    })
    .await?;
    drop(fleet);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
