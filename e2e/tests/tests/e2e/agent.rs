//! roster-agent on real control planes: gathering a member's report (identity, version,
//! ClusterProperties, node topology), obtaining the agent's hub credentials from a bootstrap
//! token, and the whole agent heartbeating and reporting. Nothing here needs roster-hub: the
//! tests create, as admin, what `kubectl roster join` and the hub would.

use std::{path::PathBuf, time::Duration};

use super::support::username;
use k8s_openapi::{
    api::{
        coordination::v1::Lease,
        core::v1::{Namespace, Node, Secret, ServiceAccount},
        rbac::v1::{
            ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
        },
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use roster_agent::{
    cli::Cli,
    credentials::{CredentialError, Credentials, Settings},
    jwt, probe,
    report::{build, gather},
    timing,
};
use roster_api::{
    MemberCluster, MemberClusterSpec, MemberReport,
    member_cluster::{Heartbeat, NodeSummary},
    member_report::REPORT_NAME,
    names,
};
use roster_runtime::logging::{LogFormat, LogOptions};
use roster_testenv::{TestEnv, identity, kubeconfig, wait};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Field manager of this file's writes.
const TEST_MANAGER: &str = "roster-e2e-agent";

/// The member this file uses; it leaves member-2 as it found it.
const MEMBER: &str = "member-2";

/// Held by the tests of this file that read or change member-2, so that one's nodes and
/// ClusterProperties do not show up in another's report.
static MEMBER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:08x}", nanos ^ std::process::id())
}

fn cluster_property_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "clusterproperties.about.k8s.io",
            // *.k8s.io groups need this; upstream's CRD carries the same.
            "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes/enhancements/pull/1645"}
        },
        "spec": {
            "group": "about.k8s.io",
            "scope": "Cluster",
            "names": {"plural": "clusterproperties", "singular": "clusterproperty",
                      "kind": "ClusterProperty", "listKind": "ClusterPropertyList"},
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["value"],
                             "properties": {"value": {"type": "string"}}}}}}
            }]
        }
    }))
    .expect("CRD is well-formed")
}

fn node(name: &str, zone: &str, ready: bool) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "topology.kubernetes.io/region": "roster-test-region",
            "topology.kubernetes.io/zone": zone}},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                                   "reason": "Test", "message": "created by a test"}]}
    }))
    .expect("node is well-formed")
}

#[tokio::test]
async fn gather_reads_identity_version_cluster_properties_and_topology() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let _member_2 = MEMBER_LOCK.lock().await;
    let member = env.member(MEMBER).await?;
    let uid = Api::<Namespace>::all(member.clone())
        .get("kube-system")
        .await?
        .metadata
        .uid
        .expect("kube-system has a UID");

    // The probe sees a ready API server, and says why when there is none.
    probe::readyz(&member).await?;
    let nobody = Client::try_from(kube::Config::new("https://127.0.0.1:1".parse()?))?;
    let unreachable = probe::readyz(&nobody)
        .await
        .expect_err("nothing listens there")
        .to_string();
    assert!(
        unreachable.starts_with("cannot reach the API server"),
        "{unreachable}"
    );

    let obs = gather::gather(&member).await?;
    assert_eq!(build::cluster_id(&obs), uid);
    assert!(obs.git_version.starts_with("v1."), "{}", obs.git_version);
    assert_eq!(obs.cluster_properties, None, "the CRD is not installed yet");

    let id = format!("test-id-{}", suffix());
    let nodes = [format!("agent-a-{id}"), format!("agent-b-{id}")];
    let result = with_properties_and_nodes(&member, &id, &nodes).await;
    // member-2 is shared: remove what this test created whatever happened above.
    cleanup(&member, &nodes).await?;
    result
}

async fn with_properties_and_nodes(
    member: &Client,
    id: &str,
    nodes: &[String; 2],
) -> anyhow::Result<()> {
    roster_testenv::crds::install(member, &[cluster_property_crd()]).await?;
    let properties: Api<DynamicObject> =
        Api::all_with(member.clone(), &gather::cluster_property_resource());
    let property: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "about.k8s.io/v1alpha1", "kind": "ClusterProperty",
        "metadata": {"name": "cluster.clusterset.k8s.io"},
        "spec": {"value": id}
    }))?;
    properties.create(&PostParams::default(), &property).await?;
    let obs = wait::until("the ClusterProperty to be gathered", TIMEOUT, || async {
        let obs = gather::gather(member).await?;
        Ok(obs.cluster_properties.is_some().then_some(obs))
    })
    .await?;
    anyhow::ensure!(build::cluster_id(&obs) == id, "cluster id {obs:?}");
    let reported = build::observed_properties(&obs);
    anyhow::ensure!(
        reported
            .get("cluster.clusterset.k8s.io")
            .map(String::as_str)
            == Some(id),
        "properties {reported:?}"
    );

    let api: Api<Node> = Api::all(member.clone());
    api.create(&PostParams::default(), &node(&nodes[0], "zone-a", true))
        .await?;
    api.create(&PostParams::default(), &node(&nodes[1], "zone-b", false))
        .await?;
    let obs = gather::gather(member).await?;
    let spec = build::spec(
        &obs,
        &Default::default(),
        Default::default(),
        build::FirstSeen::default().observe(&build::observed_properties(&obs), timing::now()),
    );
    anyhow::ensure!(
        spec.nodes == NodeSummary { total: 2, ready: 1 },
        "nodes {:?}",
        spec.nodes
    );
    let names: Vec<(&str, &str)> = spec
        .properties
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    anyhow::ensure!(
        names
            == [
                ("cluster.clusterset.k8s.io", id),
                ("topology.kubernetes.io/region", "roster-test-region"),
            ],
        "uniform region reported, differing zones not: {names:?}"
    );
    anyhow::ensure!(spec.cluster_id == id);
    Ok(())
}

async fn cleanup(member: &Client, nodes: &[String]) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(member.clone());
    for name in nodes {
        let _ = api.delete(name, &DeleteParams::default()).await;
    }
    let crds: Api<CustomResourceDefinition> = Api::all(member.clone());
    let _ = crds
        .delete("clusterproperties.about.k8s.io", &DeleteParams::default())
        .await;
    wait::until("test nodes and CRD gone", TIMEOUT, || async {
        for name in nodes {
            if api.get_opt(name).await?.is_some() {
                return Ok(None);
            }
        }
        let crd = crds.get_opt("clusterproperties.about.k8s.io").await?;
        Ok(crd.is_none().then_some(()))
    })
    .await
}

/// What the hub prepares for a member, in `ns`: the two service accounts, the bootstrap and
/// agent Roles of the design, and the Lease.
async fn prepare_member_namespace(hub: &Client, ns: &str) -> anyhow::Result<()> {
    let meta = |name: &str| ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    };
    // Server-side apply, so that a roster-hub preparing the same objects does not conflict.
    let pp = PatchParams::apply(TEST_MANAGER).force();
    let sas: Api<ServiceAccount> = Api::namespaced(hub.clone(), ns);
    for name in [
        names::AGENT_SERVICE_ACCOUNT,
        names::BOOTSTRAP_SERVICE_ACCOUNT,
    ] {
        let sa = ServiceAccount {
            metadata: meta(name),
            ..Default::default()
        };
        sas.patch(name, &pp, &Patch::Apply(&sa)).await?;
    }
    let rule = |group: &str, resource: &str, verbs: &[&str], names: &[&str]| PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(vec![resource.into()]),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        resource_names: (!names.is_empty())
            .then(|| names.iter().map(|n| (*n).to_owned()).collect()),
        ..Default::default()
    };
    let mint_agent_token = rule(
        "",
        "serviceaccounts/token",
        &["create"],
        &[names::AGENT_SERVICE_ACCOUNT],
    );
    let agent_rules = vec![
        rule(
            "coordination.k8s.io",
            "leases",
            &["get", "update", "patch"],
            &[names::AGENT_LEASE],
        ),
        rule("roster.dev", "memberreports", &["create"], &[]),
        rule(
            "roster.dev",
            "memberreports",
            &["get", "update", "patch"],
            &[REPORT_NAME],
        ),
        mint_agent_token.clone(),
    ];
    let grants = [
        (
            names::BOOTSTRAP_ROLE,
            names::BOOTSTRAP_SERVICE_ACCOUNT,
            vec![mint_agent_token],
        ),
        (names::AGENT_ROLE, names::AGENT_SERVICE_ACCOUNT, agent_rules),
    ];
    for (role, subject, rules) in grants {
        let role_object = Role {
            metadata: meta(role),
            rules: Some(rules),
        };
        Api::<Role>::namespaced(hub.clone(), ns)
            .patch(role, &pp, &Patch::Apply(&role_object))
            .await?;
        let binding = RoleBinding {
            metadata: meta(role),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "Role".into(),
                name: role.into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: subject.into(),
                namespace: Some(ns.into()),
                ..Default::default()
            }]),
        };
        Api::<RoleBinding>::namespaced(hub.clone(), ns)
            .patch(role, &pp, &Patch::Apply(&binding))
            .await?;
    }
    let lease = Lease {
        metadata: meta(names::AGENT_LEASE),
        ..Default::default()
    };
    Api::<Lease>::namespaced(hub.clone(), ns)
        .patch(names::AGENT_LEASE, &pp, &Patch::Apply(&lease))
        .await?;
    Ok(())
}

/// What the hub grants an agent beyond its namespace: reading its own MemberCluster.
async fn allow_reading_member_cluster(hub: &Client, ns: &str, member: &str) -> anyhow::Result<()> {
    let name = names::agent_cluster_role(member);
    let pp = PatchParams::apply(TEST_MANAGER).force();
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["roster.dev".into()]),
            resources: Some(vec!["memberclusters".into()]),
            verbs: vec!["get".into(), "list".into(), "watch".into()],
            resource_names: Some(vec![member.into()]),
            ..Default::default()
        }]),
        ..Default::default()
    };
    Api::<ClusterRole>::all(hub.clone())
        .patch(&name, &pp, &Patch::Apply(&role))
        .await?;
    let binding = ClusterRoleBinding {
        metadata: role.metadata.clone(),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: names::AGENT_SERVICE_ACCOUNT.into(),
            namespace: Some(ns.into()),
            ..Default::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(hub.clone())
        .patch(&name, &pp, &Patch::Apply(&binding))
        .await?;
    Ok(())
}

/// A bootstrap token for `ns`, minted as admin (what `kubectl roster join` does).
async fn bootstrap_token(hub: &Client, ns: &str) -> anyhow::Result<String> {
    let bootstrap = names::BOOTSTRAP_SERVICE_ACCOUNT;
    Ok(identity::token(hub, ns, bootstrap, 600).await?.token)
}

/// Writes a kubeconfig for the hub with `token` and returns its path.
fn write_kubeconfig(env: &TestEnv, dir: &std::path::Path, token: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("bootstrap-{}.kubeconfig", suffix()));
    std::fs::write(
        &path,
        kubeconfig::to_yaml(&env.fleet.hub.token_kubeconfig(token))?,
    )?;
    Ok(path)
}

#[tokio::test]
async fn credentials_trade_a_bootstrap_token_for_renewable_agent_tokens() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let ns = env.namespace.clone();
    prepare_member_namespace(&env.hub, &ns).await?;
    let dir = env.fleet.dir().join(format!("agent-{ns}"));
    let settings = |bootstrap: PathBuf, state: &str| Settings {
        member: "test-member".into(),
        namespace: ns.clone(),
        bootstrap_kubeconfig: bootstrap,
        state_dir: dir.join(state),
        ttl_seconds: 600,
        kept: None,
    };
    let agent_user = format!(
        "system:serviceaccount:{ns}:{}",
        names::AGENT_SERVICE_ACCOUNT
    );

    // The bootstrap token buys an agent token, kept in the state folder.
    let bootstrap = write_kubeconfig(&env, &dir, &bootstrap_token(&env.hub, &ns).await?)?;
    let mut credentials = Credentials::start(settings(bootstrap, "state")).await?;
    let first = std::fs::read_to_string(credentials.token_path())?;
    assert_eq!(
        jwt::claims(&first)?.sub.as_deref(),
        Some(agent_user.as_str())
    );
    let life = credentials.expires().expect("expiry").as_second() - timing::now().as_second();
    assert!((590..=610).contains(&life), "granted {life} s");
    let renew_in = credentials.refresh_at().as_second() - timing::now().as_second();
    assert!((470..=490).contains(&renew_in), "renewal in {renew_in} s");

    // The hub client reads the token file and authenticates as the agent, with no more
    // rights than granted.
    let hub = Client::try_from(credentials.hub_config())?;
    assert_eq!(username(&hub).await?, agent_user);
    let denied = Api::<Secret>::namespaced(hub, &ns)
        .list(&ListParams::default())
        .await
        .expect_err("the agent may not list secrets");
    assert!(denied.to_string().contains(&agent_user), "{denied}");

    // Renewal with the agent's own identity writes a new token.
    credentials.refresh().await?;
    let second = std::fs::read_to_string(credentials.token_path())?;
    assert_ne!(first, second);
    assert_eq!(
        username(&Client::try_from(credentials.hub_config())?).await?,
        agent_user
    );

    // A restart with a useless bootstrap credential still works from the saved token.
    let garbage = write_kubeconfig(&env, &dir, "garbage")?;
    let restarted = Credentials::start(settings(garbage.clone(), "state")).await?;
    assert_eq!(
        username(&Client::try_from(restarted.hub_config())?).await?,
        agent_user
    );

    // Without a saved token, a garbage bootstrap token is refused by the hub…
    let error = Credentials::start(settings(garbage, "fresh-1"))
        .await
        .expect_err("garbage accepted");
    assert!(
        matches!(error, CredentialError::Refused { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the hub refused the credential (wrong, expired or revoked); run 'kubectl roster join \
         test-member' to issue a new bootstrap credential"
    );

    // …and an expired one is recognised before the hub is asked.
    let expired = write_kubeconfig(
        &env,
        &dir,
        "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjEwMDAwMDAwMDB9.c2ln",
    )?;
    let error = Credentials::start(settings(expired, "fresh-2"))
        .await
        .expect_err("expired accepted");
    assert_eq!(
        error.to_string(),
        "the bootstrap credential expired at 2001-09-09T01:46:40Z; run 'kubectl roster join \
         test-member' to issue a new one"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn the_agent_heartbeats_and_reports_once_until_something_changes() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let _member_2 = MEMBER_LOCK.lock().await;
    // What `kubectl roster join` and roster-hub would set up (a roster-hub running beside this
    // test may do it too): a MemberCluster with a fast heartbeat, its namespace and RBAC.
    let member_name = format!("agent-run-{}", suffix());
    let ns = names::member_namespace(&member_name);
    let spec = MemberClusterSpec {
        heartbeat: Some(Heartbeat {
            period_seconds: 1,
            grace_seconds: 4,
        }),
        ..Default::default()
    };
    let members: Api<MemberCluster> = Api::all(env.hub.clone());
    members
        .create(
            &PostParams::default(),
            &MemberCluster::new(&member_name, spec),
        )
        .await?;
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(env.hub.clone())
        .patch(
            &ns,
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(&namespace),
        )
        .await?;
    allow_reading_member_cluster(&env.hub, &ns, &member_name).await?;
    prepare_member_namespace(&env.hub, &ns).await?;
    let dir = env.fleet.dir().join(&ns);
    let bootstrap = write_kubeconfig(&env, &dir, &bootstrap_token(&env.hub, &ns).await?)?;
    let member = env.fleet.member(MEMBER).expect("member-2");
    let cli = Cli {
        member_name: member_name.clone(),
        bootstrap_kubeconfig: bootstrap,
        member_kubeconfig: Some(member.kubeconfig_path()),
        state_dir: dir.join("state"),
        credential_secret: None,
        bootstrap_secret: None,
        api_server_url: None,
        api_server_ca_file: None,
        report_interval: 1,
        probe_failure_threshold: 3,
        hub_token_ttl: 600,
        token_refresh_fraction: 0.8,
        grantable_cluster_roles: vec!["view".into()],
        allow_rules: false,
        admin_address: "127.0.0.1:0".parse()?,
        log: LogOptions {
            log_format: LogFormat::Plain,
            log_filter: "info".into(),
        },
    };
    let agent = tokio::spawn(roster_agent::run(cli));

    let reports: Api<MemberReport> = Api::namespaced(env.hub.clone(), &ns);
    let report = wait::until("the agent's first report", TIMEOUT, || async {
        anyhow::ensure!(!agent.is_finished(), "the agent stopped");
        Ok(reports.get_opt(REPORT_NAME).await?)
    })
    .await?;
    let uid = Api::<Namespace>::all(env.member(MEMBER).await?)
        .get("kube-system")
        .await?
        .metadata
        .uid;
    let spec = &report.spec;
    assert_eq!(Some(&spec.cluster_id), uid.as_ref());
    assert!(spec.kubernetes_version.starts_with("v1."), "{spec:?}");
    assert_eq!(spec.api_server.server, member.server());
    let ca = spec.api_server.ca_data.as_ref().expect("CA reported");
    assert_eq!(String::from_utf8_lossy(&ca.0), member.ca_pem());
    assert!(spec.api_server_health.healthy, "{spec:?}");
    assert!(!spec.agent_version.is_empty());
    let managers: Vec<_> = report
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| (m.manager.clone(), m.operation.clone()))
        .collect();
    assert!(
        managers.contains(&(
            Some(names::AGENT_FIELD_MANAGER.into()),
            Some("Apply".into())
        )),
        "{managers:?}"
    );

    let leases: Api<Lease> = Api::namespaced(env.hub.clone(), &ns);
    // The heartbeat follows the MemberCluster's settings: grace 4 s, a renewal every second.
    let lease = wait::until("the agent's heartbeat", TIMEOUT, || async {
        let spec = leases
            .get(names::AGENT_LEASE)
            .await?
            .spec
            .unwrap_or_default();
        let renewed = spec.renew_time.is_some() && spec.lease_duration_seconds == Some(4);
        Ok(renewed.then_some(spec))
    })
    .await?;
    assert_eq!(lease.holder_identity.as_deref(), Some(member_name.as_str()));
    let renewed = lease.renew_time.expect("renewed").0;
    wait::until("the next heartbeat", Duration::from_secs(5), || async {
        let spec = leases
            .get(names::AGENT_LEASE)
            .await?
            .spec
            .unwrap_or_default();
        Ok(spec.renew_time.filter(|t| t.0 > renewed).map(|_| ()))
    })
    .await?;

    // Nothing changes on member-2, so three more report intervals write nothing. (Proving an
    // absence takes a window of time; there is no condition to wait for.)
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(!agent.is_finished(), "the agent stopped");
    let again = reports.get(REPORT_NAME).await?;
    assert_eq!(
        again.metadata.resource_version,
        report.metadata.resource_version
    );

    agent.abort();
    let dp = DeleteParams::default();
    members.delete(&member_name, &dp).await?;
    let role = names::agent_cluster_role(&member_name);
    let _ = Api::<ClusterRoleBinding>::all(env.hub.clone())
        .delete(&role, &dp)
        .await;
    let _ = Api::<ClusterRole>::all(env.hub.clone())
        .delete(&role, &dp)
        .await;
    let _ = Api::<Namespace>::all(env.hub.clone())
        .delete(&ns, &dp)
        .await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
