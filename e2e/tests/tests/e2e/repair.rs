//! What others do to Roster's objects on the hub does not stop them following the truth:
//! everyday writes to a ClusterProfile at either served version (labels, annotations,
//! finalizers, status edits, another manager's server-side apply), and deletions or edits of a
//! member's hub-side objects. The agent's side is played by the test, as in `hub.rs`.

use std::time::{Duration, Instant};

use cluster_inventory::v1alpha1::ClusterProfile;
use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{Namespace, ServiceAccount},
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use kube::{Api, Resource, api::DeleteParams};
use roster_api::names;
use roster_testenv::{TestEnv, command, wait};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{
    hub::{
        agent_client, condition, create_member, heartbeat, keep_heartbeating, report, send_report,
        wait_member_condition, wait_profile,
    },
    support::{INVENTORY, hub_process},
};

const GRACE: i32 = 4;

/// A foreign write to a profile, done with the upstream kubectl as a user would.
#[derive(Debug, Clone, Copy)]
enum Foreign {
    LabelV1alpha2,
    AnnotateV1alpha2,
    StatusEditV1alpha2,
    FinalizerV1alpha2,
    FinalizerV1alpha1,
    ServerSideApplyV1alpha2,
}

const FOREIGN_FINALIZER: &str = "example.com/keep";

impl Foreign {
    const ALL: [Foreign; 6] = [
        Foreign::LabelV1alpha2,
        Foreign::AnnotateV1alpha2,
        Foreign::StatusEditV1alpha2,
        Foreign::FinalizerV1alpha2,
        Foreign::FinalizerV1alpha1,
        Foreign::ServerSideApplyV1alpha2,
    ];

    fn suffix(self) -> &'static str {
        match self {
            Foreign::LabelV1alpha2 => "label",
            Foreign::AnnotateV1alpha2 => "annotate",
            Foreign::StatusEditV1alpha2 => "status",
            Foreign::FinalizerV1alpha2 => "fin2",
            Foreign::FinalizerV1alpha1 => "fin1",
            Foreign::ServerSideApplyV1alpha2 => "ssa",
        }
    }

    async fn apply(self, env: &TestEnv, profile: &str) -> anyhow::Result<()> {
        let kc = env.fleet.hub.kubeconfig_path();
        let at = |v: &str| format!("clusterprofiles.{v}.multicluster.x-k8s.io");
        let finalizer = json!({"metadata": {"finalizers": [FOREIGN_FINALIZER]}}).to_string();
        let args: Vec<String> = match self {
            // kubectl writes at the preferred version, v1alpha2.
            Foreign::LabelV1alpha2 => vec![
                "label".into(),
                "clusterprofile".into(),
                profile.into(),
                "team=x".into(),
            ],
            Foreign::AnnotateV1alpha2 => vec![
                "annotate".into(),
                "clusterprofile".into(),
                profile.into(),
                "note=hi".into(),
            ],
            Foreign::StatusEditV1alpha2 => vec![
                "patch".into(),
                at("v1alpha2"),
                profile.into(),
                "--subresource=status".into(),
                "--type=merge".into(),
                format!(
                    "-p={}",
                    json!({"status": {"version": {"kubernetes": "v0.0.0-tampered"}}})
                ),
            ],
            Foreign::FinalizerV1alpha2 => vec![
                "patch".into(),
                at("v1alpha2"),
                profile.into(),
                "--type=merge".into(),
                format!("-p={finalizer}"),
            ],
            Foreign::FinalizerV1alpha1 => vec![
                "patch".into(),
                at("v1alpha1"),
                profile.into(),
                "--type=merge".into(),
                format!("-p={finalizer}"),
            ],
            Foreign::ServerSideApplyV1alpha2 => {
                let manifest = env.fleet.dir().join(format!("{profile}-ssa.json"));
                let object = json!({
                    "apiVersion": "multicluster.x-k8s.io/v1alpha2", "kind": "ClusterProfile",
                    "metadata": {"name": profile, "namespace": INVENTORY,
                        "labels": {"argocd.argoproj.io/secret-type": "cluster"},
                        "annotations": {"managed-elsewhere": "yes"}},
                });
                std::fs::write(&manifest, object.to_string())?;
                vec![
                    "apply".into(),
                    "--server-side".into(),
                    "--field-manager=another-controller".into(),
                    format!("--filename={}", manifest.display()),
                ]
            }
        };
        let mut all = vec!["--namespace", INVENTORY];
        all.extend(args.iter().map(String::as_str));
        command::kubectl(&kc, &all)?.run_async().await?;
        Ok(())
    }

    /// What the foreign write left that must stay.
    fn kept(self, p: &ClusterProfile) -> bool {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        let annotations = p.metadata.annotations.clone().unwrap_or_default();
        let finalizers = p.metadata.finalizers.clone().unwrap_or_default();
        match self {
            Foreign::LabelV1alpha2 => labels.get("team").is_some_and(|v| v == "x"),
            Foreign::AnnotateV1alpha2 => annotations.get("note").is_some_and(|v| v == "hi"),
            Foreign::StatusEditV1alpha2 => true,
            Foreign::FinalizerV1alpha2 | Foreign::FinalizerV1alpha1 => {
                finalizers.iter().any(|f| f == FOREIGN_FINALIZER)
            }
            Foreign::ServerSideApplyV1alpha2 => {
                labels.contains_key("argocd.argoproj.io/secret-type")
                    && annotations.contains_key("managed-elsewhere")
            }
        }
    }
}

fn kubernetes_version(p: &ClusterProfile) -> Option<String> {
    p.status.as_ref()?.version.as_ref()?.kubernetes.clone()
}

/// One member through one foreign write: the profile keeps following its health.
async fn follows_the_truth(env: &TestEnv, foreign: Foreign) -> anyhow::Result<Duration> {
    let name = format!("{}-{}", env.namespace, foreign.suffix());
    create_member(env, &name, GRACE).await?;
    wait_member_condition(env, &name, "Joined", "False").await?;
    let (agent, _) = agent_client(env, &name).await?;
    send_report(&agent, &name, report(true)).await?;
    let beats = keep_heartbeating(agent.clone(), name.clone());
    wait_profile(env, &name, "True").await?;

    foreign.apply(env, &name).await?;
    let profiles: Api<ClusterProfile> = Api::namespaced(env.hub.clone(), INVENTORY);
    // A tampered status is put right at once.
    wait::until(
        &format!("{name}: status put right after {foreign:?}"),
        Duration::from_secs(30),
        || {
            let (profiles, name) = (profiles.clone(), name.clone());
            async move {
                let p = profiles.get(&name).await?;
                Ok((kubernetes_version(&p).as_deref() == Some("v1.37.2")).then_some(()))
            }
        },
    )
    .await?;

    // The agent stops: Unknown within the grace (and the sweep), despite the foreign write.
    beats.abort();
    let _ = beats.await;
    heartbeat(&agent, &name).await?;
    let last = Instant::now();
    let unknown = wait_profile(env, &name, "Unknown").await?;
    let silence = last.elapsed();
    assert!(
        silence <= Duration::from_secs(GRACE as u64 + 2),
        "{foreign:?}: Unknown {silence:?} after the last heartbeat (grace {GRACE}s)"
    );
    assert!(
        foreign.kept(&unknown),
        "{foreign:?} was undone: {unknown:?}"
    );

    // And True again when it comes back; what the other writer set is still there.
    let beats = keep_heartbeating(agent.clone(), name.clone());
    let back = wait_profile(env, &name, "True").await?;
    beats.abort();
    assert!(foreign.kept(&back), "{foreign:?} was undone: {back:?}");
    let status = back.status.as_ref().expect("a status");
    assert!(status.credential_providers.is_empty());
    assert_eq!(status.access_providers[0].name, "roster");

    // Let the profile go with its member.
    if back.metadata.finalizers.is_some() {
        command::kubectl(
            &env.fleet.hub.kubeconfig_path(),
            &[
                "--namespace",
                INVENTORY,
                "patch",
                "clusterprofile",
                &name,
                "--type=merge",
                r#"-p={"metadata":{"finalizers":null}}"#,
            ],
        )?
        .run_async()
        .await?;
    }
    Ok(silence)
}

#[tokio::test]
async fn profiles_follow_the_truth_whatever_other_clients_write_at_either_version()
-> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let results = futures::future::join_all(Foreign::ALL.map(|f| follows_the_truth(&env, f))).await;
    for (foreign, result) in Foreign::ALL.iter().zip(results) {
        let silence = result.map_err(|e| {
            e.context(format!(
                "{foreign:?}\n{}",
                super::support::hub_diagnostics(&env)
            ))
        })?;
        eprintln!(
            "measured: after {foreign:?}, Unknown {silence:?} after the last heartbeat (grace {GRACE}s)"
        );
    }
    Ok(())
}

/// Deletes `name` and waits until the hub has put it back (a new object); the time that took.
async fn replace_and_wait<K>(api: Api<K>, name: &str) -> anyhow::Result<Duration>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + DeserializeOwned + 'static,
{
    let old = api.get(name).await?;
    let old_uid = old.meta().uid.clone();
    api.delete(name, &DeleteParams::default()).await?;
    let started = Instant::now();
    wait::until(
        &format!("{} {name} put back", K::kind(&())),
        Duration::from_secs(90),
        || {
            let api = api.clone();
            let old_uid = old_uid.clone();
            async move {
                Ok(api
                    .get_opt(name)
                    .await?
                    .filter(|o| o.meta().uid != old_uid && o.meta().deletion_timestamp.is_none())
                    .map(|_| ()))
            }
        },
    )
    .await?;
    Ok(started.elapsed())
}

#[tokio::test]
async fn a_members_hub_side_objects_are_put_back_when_deleted_or_changed() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let name = format!("{}-objects", env.namespace);
    let ns = names::member_namespace(&name);
    create_member(&env, &name, 20).await?;
    wait_member_condition(&env, &name, "Joined", "False").await?;
    let (agent, _) = agent_client(&env, &name).await?;
    send_report(&agent, &name, report(true)).await?;
    let beats = keep_heartbeating(agent.clone(), name.clone());
    wait_profile(&env, &name, "True").await?;
    let c = env.hub.clone();
    let cluster_role = names::agent_cluster_role(&name);
    let mut repaired = Vec::new();

    // The agent's Lease and rights: put back while the agent keeps its identity, and the
    // member stays Joined and healthy.
    let lease =
        replace_and_wait(Api::<Lease>::namespaced(c.clone(), &ns), names::AGENT_LEASE).await?;
    repaired.push(("Lease roster-agent", lease));
    heartbeat(&agent, &name).await?;
    for role in [names::AGENT_ROLE, names::BOOTSTRAP_ROLE] {
        let t = replace_and_wait(Api::<Role>::namespaced(c.clone(), &ns), role).await?;
        repaired.push(("Role", t));
        let t = replace_and_wait(Api::<RoleBinding>::namespaced(c.clone(), &ns), role).await?;
        repaired.push(("RoleBinding", t));
    }
    let t = replace_and_wait(Api::<ClusterRole>::all(c.clone()), &cluster_role).await?;
    repaired.push(("ClusterRole", t));
    let t = replace_and_wait(Api::<ClusterRoleBinding>::all(c.clone()), &cluster_role).await?;
    repaired.push(("ClusterRoleBinding", t));
    // The agent can renew its Lease and read its MemberCluster again.
    wait::until("the agent renews again", Duration::from_secs(30), || {
        let agent = agent.clone();
        let name = name.clone();
        async move { Ok(heartbeat(&agent, &name).await.ok().map(|_| ())) }
    })
    .await?;
    let own: Api<roster_api::MemberCluster> = Api::all(agent.clone());
    own.get(&name).await?;
    let member = wait_member_condition(&env, &name, "ControlPlaneHealthy", "True").await?;
    assert_eq!(
        condition(&member.status.unwrap().conditions, "Joined")
            .unwrap()
            .0,
        "True"
    );

    // Edits are put right too: a wildcard rule slipped into the agent's Role, another subject
    // in its ClusterRoleBinding.
    let roles: Api<Role> = Api::namespaced(c.clone(), &ns);
    command::kubectl(
        &env.fleet.hub.kubeconfig_path(),
        &["--namespace", &ns, "patch", "role", names::AGENT_ROLE, "--type=json",
          r#"-p=[{"op":"add","path":"/rules/-","value":{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}}]"#],
    )?.run_async()
    .await?;
    let bindings: Api<ClusterRoleBinding> = Api::all(c.clone());
    command::kubectl(
        &env.fleet.hub.kubeconfig_path(),
        &[
            "patch",
            "clusterrolebinding",
            &cluster_role,
            "--type=json",
            r#"-p=[{"op":"add","path":"/subjects/-","value":{"kind":"User","name":"intruder"}}]"#,
        ],
    )?
    .run_async()
    .await?;
    wait::until("tampered RBAC put right", Duration::from_secs(30), || {
        let (roles, bindings, cluster_role) =
            (roles.clone(), bindings.clone(), cluster_role.clone());
        async move {
            let role = roles.get(names::AGENT_ROLE).await?;
            let wild = role
                .rules
                .iter()
                .flatten()
                .any(|r| r.verbs.iter().any(|v| v == "*"));
            let binding = bindings.get(&cluster_role).await?;
            let intruder = binding
                .subjects
                .iter()
                .flatten()
                .any(|s| s.name == "intruder");
            Ok((!wild && !intruder).then_some(()))
        }
    })
    .await?;

    // The identities: put back, though deleting a service account revokes its tokens by
    // design (a new one has a new uid), so the agent needs a new credential: a join.
    for account in [
        names::BOOTSTRAP_SERVICE_ACCOUNT,
        names::AGENT_SERVICE_ACCOUNT,
    ] {
        let t =
            replace_and_wait(Api::<ServiceAccount>::namespaced(c.clone(), &ns), account).await?;
        repaired.push(("ServiceAccount", t));
    }
    beats.abort();
    let (agent, _) = agent_client(&env, &name).await?;
    let beats = keep_heartbeating(agent.clone(), name.clone());
    wait_member_condition(&env, &name, "ControlPlaneHealthy", "True").await?;

    // Last, the whole namespace: the API server deletes what it holds first; the hub puts the
    // namespace and every object back once it is gone.
    let t = replace_and_wait(Api::<Namespace>::all(c.clone()), &ns).await?;
    repaired.push(("Namespace", t));
    let leases: Api<Lease> = Api::namespaced(c.clone(), &ns);
    assert!(
        wait_exists(&leases, names::AGENT_LEASE).await,
        "Lease not back"
    );
    assert!(
        wait_exists(&roles, names::AGENT_ROLE).await,
        "Role not back"
    );
    beats.abort();
    for (what, took) in &repaired {
        eprintln!("measured: {what} of {name} put back {took:?} after its deletion");
    }
    Ok(())
}

async fn wait_exists<K>(api: &Api<K>, name: &str) -> bool
where
    K: Resource + Clone + std::fmt::Debug + DeserializeOwned + 'static,
{
    wait::until("object back", Duration::from_secs(30), || {
        let api = api.clone();
        async move { Ok(api.get_opt(name).await?.map(|_| ())) }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_write_that_keeps_failing_is_named_in_an_event_and_counted() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    hub_process().await;
    let name = format!("{}-frozen", env.namespace);
    create_member(&env, &name, GRACE).await?;
    wait_member_condition(&env, &name, "Joined", "False").await?;
    let (agent, _) = agent_client(&env, &name).await?;
    send_report(&agent, &name, report(true)).await?;
    let beats = keep_heartbeating(agent.clone(), name.clone());
    wait_profile(&env, &name, "True").await?;

    // Someone's admission policy refuses every change to this profile.
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["multicluster.x-k8s.io"], "apiVersions": ["*"],
                "operations": ["UPDATE"], "resources": ["clusterprofiles", "clusterprofiles/status"]}]},
            "matchConditions": [{"name": "this-profile", "expression": format!("object.metadata.name == '{name}'")}],
            "validations": [{"expression": "false", "message": "frozen by a test policy"}],
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    });
    let manifest = env.fleet.dir().join(format!("{name}-policy.json"));
    std::fs::write(
        &manifest,
        json!({"apiVersion": "v1", "kind": "List", "items": [policy, binding]}).to_string(),
    )?;
    let kc = env.fleet.hub.kubeconfig_path();
    command::kubectl(
        &kc,
        &["apply", &format!("--filename={}", manifest.display())],
    )?
    .run_async()
    .await?;
    // Policies take effect a moment after they are created: wait until one is enforced.
    let profiles: Api<ClusterProfile> = Api::namespaced(env.hub.clone(), INVENTORY);
    wait::until("the policy enforced", Duration::from_secs(30), || {
        let (profiles, name) = (profiles.clone(), name.clone());
        async move {
            let patch = json!({"metadata": {"annotations": {"probe": Instant::now().elapsed().as_nanos().to_string()}}});
            let refused = profiles
                .patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch))
                .await
                .is_err();
            Ok(refused.then_some(()))
        }
    })
    .await?;

    // The member goes silent: the hub cannot write Unknown, and says so.
    beats.abort();
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.hub.clone(), "default");
    let note = wait::until(
        "a WriteFailed Event on the member",
        Duration::from_secs(60),
        || {
            let (events, name) = (events.clone(), name.clone());
            async move {
                Ok(events
                    .list(&Default::default())
                    .await?
                    .items
                    .into_iter()
                    .find_map(|e| {
                        let about = e.regarding.as_ref()?.name.as_deref()? == name;
                        (about && e.reason.as_deref() == Some("WriteFailed"))
                            .then(|| e.note.unwrap_or_default())
                    }))
            }
        },
    )
    .await?;
    super::support::assert_mentions(
        &note,
        &[
            &format!("ClusterProfile status {INVENTORY}/{name}"),
            "frozen by a test policy",
        ],
    );
    let metrics = super::support::hub_metrics().await?;
    assert!(
        roster_testenv::metrics::sum(
            &metrics,
            "roster_write_errors_total",
            &[("kind", "ClusterProfile status")]
        ) > 0.0,
        "no write error counted:\n{metrics}"
    );
    // The MemberCluster, which the hub can still write, tells the truth meanwhile.
    wait_member_condition(&env, &name, "ControlPlaneHealthy", "Unknown").await?;

    // Once the policy is gone, the profile catches up (a refusal is retried after a minute).
    command::kubectl(
        &kc,
        &["delete", &format!("--filename={}", manifest.display())],
    )?
    .run_async()
    .await?;
    wait::until("the profile catches up", Duration::from_secs(150), || {
        let (profiles, name) = (profiles.clone(), name.clone());
        async move {
            let p = profiles.get(&name).await?;
            let health = p
                .status
                .as_ref()
                .and_then(|s| condition(&s.conditions, "ControlPlaneHealthy"));
            Ok(health.filter(|(s, _)| s == "Unknown").map(|_| ()))
        }
    })
    .await?;
    eprintln!("measured: WriteFailed Event note: {note}");
    Ok(())
}

#[tokio::test]
async fn a_grant_and_its_delivery_secret_are_put_back_and_the_grant_serves_again()
-> anyhow::Result<()> {
    use super::remote_access::{consumer_client, create_rsa, token_secret, wait_ready};
    let env = TestEnv::start().await?;
    super::members::joined().await;
    let rsa = "mended-on-hub";
    let member = "member-1";
    create_rsa(
        &env,
        rsa,
        json!({"clusters": {"names": [member]}, "clusterRoles": ["view"]}),
    )
    .await?;
    wait_ready(&env, rsa, 1).await?;
    let ns = names::member_namespace(member);
    let grant = names::grant_name(&env.namespace, rsa);
    let mut repaired = Vec::new();
    let grants: Api<roster_api::RemoteAccountGrant> = Api::namespaced(env.hub.clone(), &ns);
    let delivery: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(env.hub.clone(), &ns);
    let consumer: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(env.hub.clone(), &env.namespace);
    let token_name = names::token_secret_name(rsa, member);
    for (what, took) in [
        (
            "RemoteAccountGrant",
            replace_and_wait(grants.clone(), &grant).await,
        ),
        (
            "delivery Secret",
            replace_and_wait(delivery.clone(), &grant).await,
        ),
        (
            "consumer token Secret",
            replace_and_wait(consumer.clone(), &token_name).await,
        ),
    ] {
        let took = took?;
        // Served again: Ready, and the consumer's token works on the member.
        let served = Instant::now();
        wait::until(
            &format!("served again after the {what}"),
            Duration::from_secs(60),
            || async {
                let ready = wait_ready(&env, rsa, 1).await.is_ok();
                let secret = token_secret(&env, rsa, member).await?;
                let client = consumer_client(&secret).await?;
                let works =
                    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client, "default")
                        .list(&Default::default())
                        .await
                        .is_ok();
                Ok((ready && works).then_some(()))
            },
        )
        .await?;
        repaired.push((what, took, took + served.elapsed()));
    }
    // The agent delivered again into the new delivery Secret.
    wait::until(
        "the delivery Secret refilled",
        Duration::from_secs(60),
        || async {
            let s = delivery.get(&grant).await?;
            let filled = s
                .data
                .as_ref()
                .and_then(|d| d.get(names::token_secret::TOKEN))
                .is_some_and(|t| !t.0.is_empty());
            Ok(filled.then_some(()))
        },
    )
    .await?;
    for (what, back, serving) in repaired {
        eprintln!(
            "measured: {what} put back {back:?} after its deletion; the grant serves again after {serving:?}"
        );
    }
    Ok(())
}
