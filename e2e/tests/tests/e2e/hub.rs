//! roster-hub on the real hub API server, with the agent's side played by the test through the
//! agent's own credentials: preparation, conditions, the ClusterProfile, timing of Unknown,
//! write counts, least privilege and cleanup.

use std::time::{Duration, Instant};

use cluster_inventory::v1alpha1::ClusterProfile;
use futures::StreamExt;
use k8s_openapi::{
    api::{coordination::v1::Lease, core::v1::Namespace, rbac::v1::ClusterRole},
    apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use roster_api::{
    MemberCluster, MemberClusterSpec, MemberReport, MemberReportSpec,
    member_cluster::{Heartbeat, ReportedProperty, StaticProperty},
    member_report::{ApiServerHealth, ReportedApiServer},
    names,
};
use roster_testenv::{TestEnv, identity, wait};
use serde_json::json;

use super::support::{INVENTORY, hub_process};

const TIMEOUT: Duration = Duration::from_secs(60);

fn member_spec(grace: i32) -> MemberClusterSpec {
    MemberClusterSpec {
        display_name: Some("A member".into()),
        properties: vec![StaticProperty {
            name: "topology.kubernetes.io/region".into(),
            value: "eu-west-1".into(),
        }],
        heartbeat: Some(Heartbeat {
            period_seconds: 1,
            grace_seconds: grace,
        }),
        ..Default::default()
    }
}

pub(super) async fn create_member(env: &TestEnv, name: &str, grace: i32) -> anyhow::Result<()> {
    Api::<MemberCluster>::all(env.hub.clone())
        .create(
            &PostParams::default(),
            &MemberCluster::new(name, member_spec(grace)),
        )
        .await?;
    Ok(())
}

pub(super) fn condition(conditions: &[Condition], type_: &str) -> Option<(String, String)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

pub(super) async fn wait_member_condition(
    env: &TestEnv,
    name: &str,
    type_: &str,
    status: &str,
) -> anyhow::Result<MemberCluster> {
    let api: Api<MemberCluster> = Api::all(env.hub.clone());
    let waited = wait::until(&format!("{name} {type_}={status}"), TIMEOUT, || {
        let api = api.clone();
        async move {
            let m = api.get(name).await?;
            let ok = m
                .status
                .as_ref()
                .and_then(|s| condition(&s.conditions, type_))
                .is_some_and(|(s, _)| s == status);
            Ok(ok.then_some(m))
        }
    })
    .await;
    match waited {
        Ok(m) => Ok(m),
        Err(e) => {
            let object = api
                .get(name)
                .await
                .map(|m| serde_json::to_string(&m).unwrap_or_default());
            Err(e.context(format!(
                "{name} is {object:?}\n{}",
                super::support::hub_diagnostics(env)
            )))
        }
    }
}

pub(super) async fn wait_profile(
    env: &TestEnv,
    name: &str,
    healthy: &str,
) -> anyhow::Result<ClusterProfile> {
    let api: Api<ClusterProfile> = Api::namespaced(env.hub.clone(), INVENTORY);
    wait::until(
        &format!("profile {name} healthy={healthy}"),
        TIMEOUT,
        || {
            let api = api.clone();
            async move {
                let p = api.get_opt(name).await?;
                let ok = p
                    .as_ref()
                    .and_then(|p| p.status.as_ref())
                    .and_then(|s| condition(&s.conditions, "ControlPlaneHealthy"))
                    .is_some_and(|(s, _)| s == healthy);
                Ok(if ok { p } else { None })
            }
        },
    )
    .await
}

/// The agent's own client: a token for `roster-agent` in the member's namespace.
pub(super) async fn agent_client(env: &TestEnv, member: &str) -> anyhow::Result<(Client, String)> {
    let ns = names::member_namespace(member);
    let agent = identity::token(&env.hub, &ns, names::AGENT_SERVICE_ACCOUNT, 600).await?;
    Ok((agent.client(&env.fleet.hub).await?, agent.token))
}

pub(super) async fn heartbeat(agent: &Client, member: &str) -> kube::Result<Lease> {
    let patch =
        json!({"spec": {"holderIdentity": "test-agent", "renewTime": MicroTime(Timestamp::now())}});
    Api::<Lease>::namespaced(agent.clone(), &names::member_namespace(member))
        .patch(
            names::AGENT_LEASE,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
}

pub(super) fn report(healthy: bool) -> MemberReportSpec {
    MemberReportSpec {
        cluster_id: "11111111-2222-3333-4444-555555555555".into(),
        kubernetes_version: "v1.37.2".into(),
        api_server: ReportedApiServer {
            server: "https://127.0.0.1:6443".into(),
            ca_data: Some(k8s_openapi::ByteString(
                b"-----BEGIN CERTIFICATE-----\n".to_vec(),
            )),
        },
        api_server_health: ApiServerHealth {
            healthy,
            message: if healthy {
                String::new()
            } else {
                "readyz returned 500".into()
            },
            last_transition_time: Some(Time(Timestamp::from_second(1_800_000_000).unwrap())),
        },
        properties: vec![ReportedProperty {
            name: "example.com/rack".into(),
            value: "r1".into(),
            last_observed_time: Some(Time(Timestamp::from_second(1_800_000_000).unwrap())),
        }],
        agent_version: "0.1.0".into(),
        ..Default::default()
    }
}

pub(super) async fn send_report(
    agent: &Client,
    member: &str,
    spec: MemberReportSpec,
) -> kube::Result<MemberReport> {
    let object = json!({"apiVersion": "roster.dev/v1alpha1", "kind": "MemberReport", "metadata": {"name": "report"}, "spec": spec});
    Api::<MemberReport>::namespaced(agent.clone(), &names::member_namespace(member))
        .patch(
            "report",
            &PatchParams::apply(names::AGENT_FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
}

/// Renews the lease every 500 ms until dropped.
pub(super) fn keep_heartbeating(agent: Client, member: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let _ = heartbeat(&agent, &member).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

#[tokio::test]
async fn member_joins_and_gets_a_true_cluster_profile() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let name = format!("{}-a", env.namespace);
    create_member(&env, &name, 4).await?;
    let member = wait_member_condition(&env, &name, "Joined", "False").await?;
    assert_eq!(
        condition(&member.status.unwrap().conditions, "Joined")
            .unwrap()
            .1,
        "AwaitingAgent"
    );

    // The hub prepared the namespace, identities and RBAC, all owned by the MemberCluster.
    let ns: Namespace = Api::all(env.hub.clone())
        .get(&names::member_namespace(&name))
        .await?;
    assert_eq!(ns.metadata.owner_references.unwrap()[0].name, name);
    let (agent, token) = agent_client(&env, &name).await?;
    heartbeat(&agent, &name).await?;
    send_report(&agent, &name, report(true)).await?;

    let profile = wait_profile(&env, &name, "True").await?;
    let labels = profile.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["x-k8s.io/cluster-manager"], "roster");
    assert_eq!(
        labels["multicluster.x-k8s.io/inventory-member-id"],
        "11111111-2222-3333-4444-555555555555"
    );
    assert_eq!(profile.spec.cluster_manager.name, "roster");
    assert_eq!(profile.spec.display_name.as_deref(), Some("A member"));
    let status = profile.status.clone().unwrap();
    assert_eq!(
        condition(&status.conditions, "Joined").unwrap(),
        ("True".into(), "AgentConnected".into())
    );
    assert_eq!(
        status.version.unwrap().kubernetes.as_deref(),
        Some("v1.37.2")
    );
    let props: Vec<_> = status
        .properties
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(
        props,
        [
            (
                "cluster.clusterset.k8s.io",
                "11111111-2222-3333-4444-555555555555"
            ),
            ("example.com/rack", "r1"),
            ("topology.kubernetes.io/region", "eu-west-1"),
        ]
    );
    let provider = &status.access_providers[0];
    assert_eq!(provider.name, "roster");
    let cluster = provider.cluster.as_ref().unwrap();
    assert_eq!(cluster.server, "https://127.0.0.1:6443");
    assert_eq!(
        cluster.extensions[0].extension,
        json!({"clusterName": name})
    );
    assert!(
        status.credential_providers.is_empty(),
        "the deprecated copy breaks applies once anyone writes at v1alpha2"
    );

    // Nothing secret in what the hub publishes.
    let member: MemberCluster = Api::all(env.hub.clone()).get(&name).await?;
    for published in [
        serde_json::to_string(&profile)?,
        serde_json::to_string(&member)?,
    ] {
        assert!(
            !published.contains(&token),
            "a token leaked into a published object"
        );
    }

    // An unhealthy API server makes the profile say False, not Unknown.
    send_report(&agent, &name, report(false)).await?;
    heartbeat(&agent, &name).await?;
    let profile = wait_profile(&env, &name, "False").await?;
    assert_eq!(
        condition(&profile.status.unwrap().conditions, "ControlPlaneHealthy")
            .unwrap()
            .1,
        "ApiServerUnhealthy"
    );
    Ok(())
}

#[tokio::test]
async fn missed_heartbeats_turn_health_unknown_after_the_grace_period_and_not_before()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let name = format!("{}-b", env.namespace);
    let grace = 4;
    create_member(&env, &name, grace).await?;
    wait_member_condition(&env, &name, "Joined", "False").await?;
    let (agent, _) = agent_client(&env, &name).await?;
    send_report(&agent, &name, report(true)).await?;
    let beats = keep_heartbeating(agent.clone(), name.clone());
    wait_profile(&env, &name, "True").await?;

    beats.abort();
    let _ = beats.await;
    heartbeat(&agent, &name).await?;
    let last = Instant::now();
    wait_profile(&env, &name, "Unknown").await?;
    let silence = last.elapsed();
    eprintln!("measured: Unknown after {silence:?} without a heartbeat (grace {grace}s)");
    let grace = Duration::from_secs(grace as u64);
    assert!(
        silence + Duration::from_millis(250) >= grace,
        "Unknown after {silence:?}, before the {grace:?} grace period"
    );
    assert!(
        silence <= grace + Duration::from_secs(3),
        "Unknown only after {silence:?}"
    );
    let member: MemberCluster = Api::all(env.hub.clone()).get(&name).await?;
    assert_eq!(
        condition(&member.status.unwrap().conditions, "ControlPlaneHealthy").unwrap(),
        ("Unknown".into(), "HeartbeatMissed".into())
    );

    // Heartbeats again: healthy again.
    let beats = keep_heartbeating(agent, name.clone());
    wait_profile(&env, &name, "True").await?;
    beats.abort();

    // Each transition left a Kubernetes Event on the MemberCluster.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(env.hub.clone());
    let reasons = wait::until(
        "the transitions' Events",
        Duration::from_secs(30),
        || async {
            let reasons: Vec<(String, String)> = events
                .list(&Default::default())
                .await?
                .items
                .into_iter()
                .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(&name))
                .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default()))
                .collect();
            let seen = |r: &str| reasons.iter().any(|(_, reason)| reason == r);
            Ok((seen("HeartbeatMissed") && seen("ApiServerReady")).then_some(reasons))
        },
    )
    .await?;
    assert!(
        reasons.contains(&("Warning".into(), "HeartbeatMissed".into())),
        "{reasons:?}"
    );
    Ok(())
}

#[tokio::test]
async fn nothing_changing_means_no_profile_writes() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let name = format!("{}-c", env.namespace);
    create_member(&env, &name, 4).await?;
    wait_member_condition(&env, &name, "Joined", "False").await?;
    let (agent, _) = agent_client(&env, &name).await?;
    send_report(&agent, &name, report(true)).await?;
    let beats = keep_heartbeating(agent, name.clone());
    wait_profile(&env, &name, "True").await?;
    // Let the hub settle, then count every change to the profile and the MemberCluster.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let profiles: Api<ClusterProfile> = Api::namespaced(env.hub.clone(), INVENTORY);
    let members: Api<MemberCluster> = Api::all(env.hub.clone());
    let field = format!("metadata.name={name}");
    let profile_changes = count_changes(profiles, &field, Duration::from_secs(10));
    let member_changes = count_changes(members, &field, Duration::from_secs(10));
    let (profile_changes, member_changes) = tokio::join!(profile_changes, member_changes);
    let (profile_changes, member_changes) = (profile_changes?, member_changes?);
    eprintln!(
        "measured: {profile_changes} ClusterProfile and {member_changes} MemberCluster writes in 10 s of heartbeats"
    );
    beats.abort();
    assert_eq!(
        profile_changes, 0,
        "ClusterProfile writes while nothing changed (20 heartbeats)"
    );
    assert_eq!(
        member_changes, 0,
        "MemberCluster writes while nothing changed"
    );
    Ok(())
}

/// Counts modifications of objects matching `field` seen by a watch during `window`.
async fn count_changes<K>(api: Api<K>, field: &str, window: Duration) -> anyhow::Result<usize>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let stream = watcher(api, watcher::Config::default().fields(field)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut changes = 0;
    let mut initial = true;
    let deadline = tokio::time::sleep(window);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return Ok(changes),
            event = stream.next() => match event {
                Some(Ok(watcher::Event::InitDone)) => initial = false,
                Some(Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_))) if !initial => changes += 1,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(changes),
            }
        }
    }
}

#[tokio::test]
async fn an_agent_cannot_touch_another_members_objects() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let (a, b) = (
        format!("{}-a", env.namespace),
        format!("{}-b", env.namespace),
    );
    create_member(&env, &a, 4).await?;
    create_member(&env, &b, 4).await?;
    wait_member_condition(&env, &a, "Joined", "False").await?;
    wait_member_condition(&env, &b, "Joined", "False").await?;
    let (agent_a, _) = agent_client(&env, &a).await?;

    // Its own objects: allowed.
    heartbeat(&agent_a, &a).await?;
    send_report(&agent_a, &a, report(true)).await?;
    Api::<MemberCluster>::all(agent_a.clone()).get(&a).await?;

    // Member B's: denied by RBAC, with the agent named in the message.
    let denied = |r: kube::Result<()>, what: &str| match r {
        Err(kube::Error::Api(s)) if s.code == 403 => assert!(
            s.message.contains(&format!(
                "system:serviceaccount:roster-member-{a}:roster-agent"
            )),
            "{what}: {}",
            s.message
        ),
        other => panic!("{what}: expected 403, got {other:?}"),
    };
    denied(heartbeat(&agent_a, &b).await.map(|_| ()), "B's lease");
    denied(
        send_report(&agent_a, &b, report(true)).await.map(|_| ()),
        "B's report",
    );
    denied(
        Api::<MemberReport>::namespaced(agent_a.clone(), &names::member_namespace(&b))
            .get("report")
            .await
            .map(|_| ()),
        "reading B's report",
    );
    denied(
        Api::<MemberCluster>::all(agent_a.clone())
            .get(&b)
            .await
            .map(|_| ()),
        "B's MemberCluster",
    );
    denied(
        Api::<MemberCluster>::all(agent_a.clone())
            .patch_status(
                &a,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {}})),
            )
            .await
            .map(|_| ()),
        "its own MemberCluster status",
    );
    Ok(())
}

#[tokio::test]
async fn deleting_a_member_removes_everything_and_revokes_the_agent() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let name = format!("{}-d", env.namespace);
    create_member(&env, &name, 4).await?;
    wait_member_condition(&env, &name, "Joined", "False").await?;
    let (agent, _) = agent_client(&env, &name).await?;
    heartbeat(&agent, &name).await?;
    send_report(&agent, &name, report(true)).await?;
    wait_profile(&env, &name, "True").await?;

    Api::<MemberCluster>::all(env.hub.clone())
        .delete(&name, &DeleteParams::default())
        .await?;
    let profiles: Api<ClusterProfile> = Api::namespaced(env.hub.clone(), INVENTORY);
    let namespaces: Api<Namespace> = Api::all(env.hub.clone());
    let roles: Api<ClusterRole> = Api::all(env.hub.clone());
    wait::until("profile, namespace and cluster role gone", TIMEOUT, || {
        let (profiles, namespaces, roles, name) = (
            profiles.clone(),
            namespaces.clone(),
            roles.clone(),
            name.clone(),
        );
        async move {
            let gone = profiles.get_opt(&name).await?.is_none()
                && namespaces
                    .get_opt(&names::member_namespace(&name))
                    .await?
                    .is_none()
                && roles
                    .get_opt(&names::agent_cluster_role(&name))
                    .await?
                    .is_none();
            Ok(gone.then_some(()))
        }
    })
    .await?;
    // The service account is gone, so its token stops authenticating (after a moment, while
    // the API server's view of service accounts catches up it is still denied by RBAC).
    wait::until("the deleted agent's token refused", TIMEOUT, || async {
        match heartbeat(&agent, &name).await {
            Err(kube::Error::Api(s)) if s.code == 401 => Ok(Some(())),
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            other => anyhow::bail!("the deleted agent's token must be refused, got {other:?}"),
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_name_that_cannot_be_a_namespace_is_reported_on_the_object() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let name = format!("{}.with-dot", env.namespace);
    create_member(&env, &name, 4).await?;
    let member = wait_member_condition(&env, &name, "Joined", "False").await?;
    let joined = member
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Joined")
        .unwrap();
    assert_eq!(joined.reason, "InvalidName");
    assert!(
        joined.message.contains("cannot become a namespace suffix"),
        "{}",
        joined.message
    );
    let profiles: Api<ClusterProfile> = Api::namespaced(env.hub.clone(), INVENTORY);
    assert!(
        profiles.get_opt(&name).await?.is_none(),
        "no profile for a member that cannot join"
    );
    Api::<MemberCluster>::all(env.hub.clone())
        .delete(&name, &DeleteParams::default())
        .await?;
    Ok(())
}
