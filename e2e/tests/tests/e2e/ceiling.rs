//! The member's ceiling on the real control planes: a grant beyond what the member's admin let
//! its agent grant — asked through a RemoteServiceAccount a too-wide policy allows, or written
//! straight into the member's namespace on the hub as a compromised hub would — is refused by
//! the agent, which says so in the grant's status (and the hub on the RemoteServiceAccount),
//! and the member's API server shows no binding for it. And the RBAC `kubectl roster join`
//! writes for a narrow ceiling holds on the member's real authorizer: `bind` only on the listed
//! ClusterRoles, no `escalate`.

use std::time::Duration;

use k8s_openapi::api::{
    authentication::v1::TokenRequest,
    core::v1::ServiceAccount,
    rbac::v1::{ClusterRole, ClusterRoleBinding},
};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, PostParams},
};
use roster_api::{
    RemoteAccountGrant, RemoteServiceAccount,
    ceiling::Ceiling,
    names,
    remote_account_grant::{GrantOwner, GrantServiceAccount},
};
use roster_testenv::{TestEnv, kubeconfig, wait};
use serde_json::json;

use super::{
    members,
    remote_access::{create_rsa, diagnostics, suffix},
    support::assert_mentions,
};

const MEMBER: &str = "member-1";
const TIMEOUT: Duration = Duration::from_secs(60);

/// What the grant-UID label finds on the member.
async fn objects_of(member: &Client, uid: &str) -> anyhow::Result<usize> {
    let selector = ListParams::default().labels(&format!("{}={uid}", names::LABEL_GRANT_UID));
    let crbs = Api::<ClusterRoleBinding>::all(member.clone())
        .list(&selector)
        .await?;
    let sas = Api::<ServiceAccount>::all(member.clone())
        .list(&selector)
        .await?;
    Ok(crbs.items.len() + sas.items.len())
}

#[tokio::test]
async fn grants_beyond_the_members_ceiling_are_refused_by_its_agent() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    members::joined().await;
    let member = env.member(MEMBER).await?;

    // A policy allowing everything (a misconfigured hub): the agent still refuses.
    create_rsa(
        &env,
        "too-much",
        json!({"clusters": {"names": [MEMBER]}, "clusterRoles": ["cluster-admin"]}),
    )
    .await?;
    let rsas: Api<RemoteServiceAccount> = Api::namespaced(env.hub.clone(), &env.namespace);
    let message = wait::until(
        "the agent's refusal on the RemoteServiceAccount",
        TIMEOUT,
        || async {
            let status = rsas.get("too-much").await?.status.unwrap_or_default();
            Ok(status
                .clusters
                .iter()
                .find(|c| !c.ready)
                .and_then(|c| c.message.clone())
                .filter(|m| m.contains("ceiling")))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(&env)))?;
    assert_mentions(
        &message,
        &[
            "the member's agent reports: beyond this member's ceiling",
            "ClusterRole cluster-admin is not grantable here",
        ],
    );

    // A grant written straight into the member's namespace on the hub.
    let grants: Api<RemoteAccountGrant> =
        Api::namespaced(env.hub.clone(), &names::member_namespace(MEMBER));
    let name = names::grant_name(&env.namespace, "rogue");
    let mut rogue = RemoteAccountGrant::new(
        &name,
        roster_api::RemoteAccountGrantSpec {
            remote_service_account: GrantOwner {
                namespace: env.namespace.clone(),
                name: "rogue".into(),
                uid: "rogue".into(),
            },
            service_account: GrantServiceAccount {
                namespace: names::DEFAULT_REMOTE_NAMESPACE.into(),
                name: format!("{}-rogue", env.namespace),
            },
            cluster_roles: vec!["cluster-admin".into()],
            ..Default::default()
        },
    );
    rogue.metadata.namespace = Some(names::member_namespace(MEMBER));
    let rogue = grants.create(&PostParams::default(), &rogue).await?;
    let uid = rogue.metadata.uid.clone().unwrap_or_default();
    let status = wait::until(
        "the agent's refusal in the grant's status",
        TIMEOUT,
        || async {
            Ok(grants
                .get(&name)
                .await?
                .status
                .filter(|s| !s.ready && !s.message.is_empty()))
        },
    )
    .await?;
    assert_mentions(
        &status.message,
        &["beyond this member's ceiling", "cluster-admin"],
    );
    assert_eq!(
        objects_of(&member, &uid).await?,
        0,
        "no binding, no account"
    );
    assert_eq!(
        Api::<ServiceAccount>::namespaced(member.clone(), names::DEFAULT_REMOTE_NAMESPACE)
            .get_opt(&format!("{}-rogue", env.namespace))
            .await?
            .map(|s| s.metadata.name),
        None
    );
    grants.delete(&name, &DeleteParams::default()).await?;
    Ok(())
}

/// The member's own authorizer, for an identity holding the ClusterRole `kubectl roster join
/// --grantable-cluster-roles view` writes: binding view is allowed, cluster-admin and edit are
/// forbidden, and writing a ClusterRole with rights it lacks (escalate) is forbidden.
#[tokio::test]
async fn a_narrow_ceiling_is_the_agents_rbac_on_the_member() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let member = env.member(MEMBER).await?;
    let name = format!("ceiling-{}", suffix());
    let pp = PostParams::default();
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": name},
        "rules": kubectl_roster::manifest::agent_rules(&Ceiling::default()),
    }))?;
    Api::<ClusterRole>::all(member.clone())
        .create(&pp, &role)
        .await?;
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    let accounts = Api::<ServiceAccount>::namespaced(member.clone(), "default");
    accounts.create(&pp, &sa).await?;
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}],
    }))?;
    Api::<ClusterRoleBinding>::all(member.clone())
        .create(&pp, &binding)
        .await?;
    let token = accounts
        .create_token_request(&name, &pp, &TokenRequest::default())
        .await?
        .status
        .and_then(|s| s.token)
        .unwrap_or_default();
    let cluster = env.fleet.member(MEMBER).expect("member-1");
    let config = kubeconfig::token_kubeconfig("agent", cluster.server(), cluster.ca_pem(), &token);
    let agent = Client::try_from(kubeconfig::to_config(config).await?)?;
    let crbs = Api::<ClusterRoleBinding>::all(agent.clone());
    let bind = |role: &str| {
        serde_json::from_value::<ClusterRoleBinding>(json!({
            "metadata": {"name": format!("{name}-{role}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "User", "name": "someone"}],
        }))
    };
    // RBAC is checked on the role's rules too: wait until the agent's binding is in effect.
    wait::until("the narrow agent may bind view", TIMEOUT, || async {
        Ok(crbs.create(&pp, &bind("view")?).await.ok().map(|_| ()))
    })
    .await?;
    for role in ["cluster-admin", "edit", "admin"] {
        match crbs.create(&pp, &bind(role)?).await {
            Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{role}: {s:?}"),
            other => panic!("binding {role} was not forbidden: {other:?}"),
        }
    }
    let everything: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-everything")},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }))?;
    match Api::<ClusterRole>::all(agent)
        .create(&pp, &everything)
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("escalation was not forbidden: {other:?}"),
    }
    Ok(())
}
