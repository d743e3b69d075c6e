//! The agent repairs what it creates on its member for a grant (issue 12): the service account,
//! its RoleBinding, its ClusterRoleBinding and the ClusterRole of `rules`, deleted or edited by
//! someone else on the member, are put back within seconds by the shared agents (see
//! `members`); the grant and its RemoteServiceAccount are `Ready` again and a token from the
//! consumer's Secret works against the member. A recreated service account invalidated the old
//! tokens: the agent mints and delivers a new one. Times are printed (`--nocapture`).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    core::v1::{ConfigMap, Namespace, Secret, ServiceAccount},
    rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleBinding, Subject},
};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use roster_api::{
    RemoteAccountGrant,
    names::{self, token_secret},
};
use roster_testenv::{TestEnv, secret::text, wait};
use serde_json::json;

use super::{
    members,
    remote_access::{
        consumer_client, create_member_namespace, create_rsa, diagnostics, status_code, suffix,
        token_secret, wait_ready,
    },
};

const MEMBER: &str = "member-1";
const RSA: &str = "mended";
/// Another grant for the same member, whose objects nobody touches: it must not be woken.
const BYSTANDER: &str = "bystander";
const TIMEOUT: Duration = Duration::from_secs(60);
/// How often a repair is looked for: finer than `wait::until`'s, since the repair times are
/// what this test measures.
const POLL: Duration = Duration::from_millis(20);
/// What the agent logs when a change to a member object wakes a grant.
const REPAIR_LOG: &str = "member object deleted or changed; provisioning the grant again";
/// What the agent logs when a watch of its member's objects fails.
const WATCH_FAILED: &str = "watch of the member's grant objects failed";

/// The member objects of the grant and how to reach them.
struct Grant {
    env: TestEnv,
    member: Client,
    /// Member namespace where the grant's RoleBinding (`view`) lets it list ConfigMaps.
    apps: String,
    /// The member service account's namespace and name.
    sa_namespace: String,
    sa_name: String,
}

impl Grant {
    /// Name of the ClusterRole of `rules` and of its ClusterRoleBinding.
    fn base(&self) -> String {
        format!("roster:{}:{}", self.sa_namespace, self.sa_name)
    }

    fn role_binding(&self) -> String {
        format!("{}:view", self.base())
    }

    fn subject_ok(&self, subjects: Option<&[Subject]>) -> bool {
        matches!(subjects, Some([s]) if s.kind == "ServiceAccount"
            && s.name == self.sa_name
            && s.namespace.as_deref() == Some(self.sa_namespace.as_str()))
    }

    fn crbs(&self) -> Api<ClusterRoleBinding> {
        Api::all(self.member.clone())
    }

    fn rbs(&self) -> Api<RoleBinding> {
        Api::namespaced(self.member.clone(), &self.apps)
    }

    fn roles(&self) -> Api<ClusterRole> {
        Api::all(self.member.clone())
    }

    fn accounts(&self) -> Api<ServiceAccount> {
        Api::namespaced(self.member.clone(), &self.sa_namespace)
    }

    /// Whether the ClusterRoleBinding is back as the grant wants it, labelled as Roster's.
    async fn crb_ok(&self) -> anyhow::Result<bool> {
        Ok(self.crbs().get_opt(&self.base()).await?.is_some_and(|b| {
            self.subject_ok(b.subjects.as_deref()) && labelled(&b.metadata.labels)
        }))
    }

    async fn rb_ok(&self) -> anyhow::Result<bool> {
        Ok(self
            .rbs()
            .get_opt(&self.role_binding())
            .await?
            .is_some_and(|b| {
                self.subject_ok(b.subjects.as_deref()) && labelled(&b.metadata.labels)
            }))
    }

    async fn role_ok(&self) -> anyhow::Result<bool> {
        Ok(self
            .roles()
            .get_opt(&self.base())
            .await?
            .is_some_and(|r| r.rules == Some(vec![rule("list")])))
    }

    /// Waits until `repaired` holds, polling every [`POLL`]; returns how long after `since`
    /// that was.
    async fn repaired<F, Fut>(
        &self,
        what: &str,
        since: Instant,
        repaired: F,
    ) -> anyhow::Result<Duration>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let deadline = since + TIMEOUT;
        loop {
            if repaired().await? {
                return Ok(since.elapsed());
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "timed out after {TIMEOUT:?} waiting for {what}\n{}",
                    diagnostics(&self.env)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the RemoteServiceAccount is Ready and a token from the consumer's Secret
    /// may list ConfigMaps in `apps` (through the RoleBinding) and namespaces (through the
    /// ClusterRole of `rules`) on the member: real requests. Returns the time since `since`.
    async fn consumer_works(&self, since: Instant) -> anyhow::Result<Duration> {
        wait::until(
            "the consumer's token to work on the member",
            TIMEOUT,
            || async {
                let secret = token_secret(&self.env, RSA, MEMBER).await?;
                Ok((access(&secret, &self.apps).await? == (200, 200)).then_some(()))
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(&self.env)))?;
        let elapsed = since.elapsed();
        wait_ready(&self.env, RSA, 1).await?;
        Ok(elapsed)
    }
}

fn rule(verb: &str) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["namespaces".into()]),
        verbs: vec![verb.into()],
        ..PolicyRule::default()
    }
}

fn labelled(labels: &Option<BTreeMap<String, String>>) -> bool {
    labels
        .as_ref()
        .is_some_and(|l| l.contains_key(names::LABEL_GRANT_UID))
}

/// The answers of the member to a consumer holding the token in `secret`: listing ConfigMaps
/// in `apps`, listing namespaces.
async fn access(secret: &Secret, apps: &str) -> anyhow::Result<(u16, u16)> {
    let client = consumer_client(secret).await?;
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), apps)
        .list(&ListParams::default())
        .await;
    let namespaces = Api::<Namespace>::all(client)
        .list(&ListParams::default().limit(1))
        .await;
    Ok((status_code(configmaps).await, status_code(namespaces).await))
}

/// A write by someone else (as `kubectl edit` would: an update under another field manager).
fn tamper() -> PatchParams {
    PatchParams {
        field_manager: Some("e2e-tamper".into()),
        ..PatchParams::default()
    }
}

fn report(what: &str, object: Duration, consumer: Duration) {
    eprintln!(
        "measured: {what}: repaired on the member in {object:?}; consumer's token works and the \
         RemoteServiceAccount is Ready {consumer:?} after the change"
    );
}

#[tokio::test]
async fn the_agent_repairs_a_grants_member_objects() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let joined = members::joined().await;
    let member = env.member(MEMBER).await?;
    let apps = format!("apps-{}", suffix());
    create_member_namespace(&member, &apps).await?;
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("mended-data".into());
    Api::<ConfigMap>::namespaced(member.clone(), &apps)
        .create(&PostParams::default(), &cm)
        .await?;
    // The grant's service account lives in a namespace of its own, which the agent creates and
    // this test may delete; the bystander's in the shared default one.
    let sa_namespace = format!("mended-{}", suffix());
    for (name, account) in [
        (RSA, json!({"namespace": sa_namespace})),
        (BYSTANDER, json!({})),
    ] {
        create_rsa(
            &env,
            name,
            json!({
                "clusters": {"names": [MEMBER]},
                "serviceAccount": account,
                "roles": [{"namespace": apps, "clusterRole": "view"}],
                "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}],
            }),
        )
        .await?;
    }
    wait_ready(&env, RSA, 1).await?;
    wait_ready(&env, BYSTANDER, 1).await?;
    let grant = Grant {
        sa_namespace,
        sa_name: format!("{}-{RSA}", env.namespace),
        env,
        member,
        apps,
    };
    let secret = token_secret(&grant.env, RSA, MEMBER).await?;
    assert_eq!(access(&secret, &grant.apps).await?, (200, 200));
    let dp = DeleteParams::default();

    // The ClusterRole of `rules`: deleted, then its rules narrowed.
    let t = Instant::now();
    grant.roles().delete(&grant.base(), &dp).await?;
    let object = grant
        .repaired("the ClusterRole back", t, || grant.role_ok())
        .await?;
    report(
        "ClusterRole deleted",
        object,
        grant.consumer_works(t).await?,
    );

    let t = Instant::now();
    let narrowed =
        json!({"rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]});
    grant
        .roles()
        .patch(&grant.base(), &tamper(), &Patch::Merge(narrowed))
        .await?;
    let object = grant
        .repaired("the ClusterRole's rules back", t, || grant.role_ok())
        .await?;
    report(
        "ClusterRole rules edited",
        object,
        grant.consumer_works(t).await?,
    );

    // The ClusterRoleBinding: deleted, its subjects replaced, its grant label removed.
    let t = Instant::now();
    grant.crbs().delete(&grant.base(), &dp).await?;
    let object = grant
        .repaired("the ClusterRoleBinding back", t, || grant.crb_ok())
        .await?;
    report(
        "ClusterRoleBinding deleted",
        object,
        grant.consumer_works(t).await?,
    );

    let mallory = json!({"subjects": [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}]});
    let t = Instant::now();
    grant
        .crbs()
        .patch(&grant.base(), &tamper(), &Patch::Merge(mallory.clone()))
        .await?;
    let object = grant
        .repaired("the ClusterRoleBinding's subjects back", t, || {
            grant.crb_ok()
        })
        .await?;
    report(
        "ClusterRoleBinding subjects edited",
        object,
        grant.consumer_works(t).await?,
    );

    let t = Instant::now();
    let unlabel = json!({"metadata": {"labels": {names::LABEL_GRANT_UID: null}}});
    grant
        .crbs()
        .patch(&grant.base(), &tamper(), &Patch::Merge(unlabel))
        .await?;
    let object = grant
        .repaired("the ClusterRoleBinding's label back", t, || grant.crb_ok())
        .await?;
    report(
        "ClusterRoleBinding grant label removed",
        object,
        grant.consumer_works(t).await?,
    );

    // The RoleBinding: deleted, its subjects replaced.
    let t = Instant::now();
    grant.rbs().delete(&grant.role_binding(), &dp).await?;
    let object = grant
        .repaired("the RoleBinding back", t, || grant.rb_ok())
        .await?;
    report(
        "RoleBinding deleted",
        object,
        grant.consumer_works(t).await?,
    );

    let t = Instant::now();
    grant
        .rbs()
        .patch(&grant.role_binding(), &tamper(), &Patch::Merge(mallory))
        .await?;
    let object = grant
        .repaired("the RoleBinding's subjects back", t, || grant.rb_ok())
        .await?;
    report(
        "RoleBinding subjects edited",
        object,
        grant.consumer_works(t).await?,
    );

    // The service account: deleting it kills its tokens; the agent creates it again, mints a
    // new token and delivers it, and the consumer's Secret works again.
    let before = token_secret(&grant.env, RSA, MEMBER).await?;
    let old_token = text(&before, token_secret::TOKEN);
    let old_uid = grant.accounts().get(&grant.sa_name).await?.metadata.uid;
    let t = Instant::now();
    grant.accounts().delete(&grant.sa_name, &dp).await?;
    let object = grant
        .repaired("the service account back with a new UID", t, || async {
            let sa = grant.accounts().get_opt(&grant.sa_name).await?;
            Ok(sa.is_some_and(|sa| sa.metadata.uid.is_some() && sa.metadata.uid != old_uid))
        })
        .await?;
    let delivered = grant
        .repaired("a new token in the consumer's Secret", t, || async {
            let secret = token_secret(&grant.env, RSA, MEMBER).await?;
            Ok(text(&secret, token_secret::TOKEN) != old_token)
        })
        .await?;
    let consumer = grant.consumer_works(t).await?;
    report("ServiceAccount deleted", object, consumer);
    eprintln!(
        "measured: ServiceAccount deleted: new token in the consumer's Secret after {delivered:?}"
    );
    // The old token died with its service account (the API server may keep accepting it
    // from its token cache for up to 10 s).
    let client = consumer_client(&before).await?;
    let refused = grant
        .repaired("the old token to be refused", t, || async {
            let old = Api::<ConfigMap>::namespaced(client.clone(), &grant.apps)
                .list(&ListParams::default())
                .await;
            Ok(status_code(old).await == 401)
        })
        .await?;
    eprintln!("measured: ServiceAccount deleted: the old token refused (401) {refused:?} after");
    let sa = grant.accounts().get(&grant.sa_name).await?;
    let grants: Api<RemoteAccountGrant> =
        Api::namespaced(grant.env.hub.clone(), &names::member_namespace(MEMBER));
    let status = grants
        .get(&names::grant_name(&grant.env.namespace, RSA))
        .await?
        .status
        .unwrap_or_default();
    assert!(status.ready, "{status:?}");
    assert_eq!(Some(status.service_account_uid), sa.metadata.uid);

    // The service account's namespace, which the agent created: the namespace controller
    // deletes the account, writes are refused while the namespace terminates, and once it is
    // gone the agent creates both again and delivers a new token.
    let namespaces = Api::<Namespace>::all(grant.member.clone());
    let old_namespace = namespaces.get(&grant.sa_namespace).await?.metadata.uid;
    let before = token_secret(&grant.env, RSA, MEMBER).await?;
    let old_token = text(&before, token_secret::TOKEN);
    let t = Instant::now();
    namespaces.delete(&grant.sa_namespace, &dp).await?;
    let object = grant
        .repaired("the namespace and the service account back", t, || async {
            let ns = namespaces.get_opt(&grant.sa_namespace).await?;
            let fresh = ns.is_some_and(|ns| {
                ns.metadata.uid != old_namespace && ns.metadata.deletion_timestamp.is_none()
            });
            Ok(fresh && grant.accounts().get_opt(&grant.sa_name).await?.is_some())
        })
        .await?;
    let delivered = grant
        .repaired("a new token after the namespace's deletion", t, || async {
            let secret = token_secret(&grant.env, RSA, MEMBER).await?;
            Ok(text(&secret, token_secret::TOKEN) != old_token)
        })
        .await?;
    report(
        "service account's Namespace deleted",
        object,
        grant.consumer_works(t).await?,
    );
    eprintln!(
        "measured: service account's Namespace deleted: new token in the consumer's Secret \
         after {delivered:?}"
    );

    // Only the grant whose objects were touched was woken by a change.
    let log = joined
        .logs
        .iter()
        .find(|l| l.to_string_lossy().contains(&format!("agent-{MEMBER}")))
        .expect("member-1's agent log");
    let log = std::fs::read_to_string(log)?;
    let woken = |rsa: &str| -> Vec<&str> {
        let grant = names::grant_name(&grant.env.namespace, rsa);
        log.lines()
            .filter(|l| l.contains(REPAIR_LOG) && l.contains(&grant))
            .collect()
    };
    assert!(
        woken(RSA).len() >= 8,
        "wake-ups of {RSA}: {:#?}",
        woken(RSA)
    );
    assert!(
        woken(BYSTANDER).is_empty(),
        "the bystander grant was woken: {:#?}",
        woken(BYSTANDER)
    );
    // The member's API server never went away, so its watches never broke: an idle watch
    // waits for the server to end it (it once broke every 30 s on the agent's request
    // timeout, resumed from an ever older version, and listed everything anew on "too old").
    let broken: Vec<&str> = log.lines().filter(|l| l.contains(WATCH_FAILED)).collect();
    assert!(
        broken.is_empty(),
        "the agent's member watches broke: {broken:#?}"
    );
    let bystander = token_secret(&grant.env, BYSTANDER, MEMBER).await?;
    assert_eq!(access(&bystander, &grant.apps).await?, (200, 200));

    Api::<Namespace>::all(grant.member.clone())
        .delete(&grant.apps, &dp)
        .await?;
    Ok(())
}
