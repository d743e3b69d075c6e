//! Federated grants served by the member's agent (issue 17) on the real control planes. A
//! RemoteAccountGrant with `spec.federatedUser` is written straight into a joined member's
//! namespace on the hub (as the hub does for a federated RemoteServiceAccount); the shared
//! agent binds the rights to that member User and to nothing else: no service account on the
//! member, no Secret on the hub, a ready status without token fields. The member's own
//! authorizer (SubjectAccessReviews by the admin) allows what was granted and denies the rest;
//! a deleted ClusterRoleBinding is put back; narrowing the grant and deleting it take the
//! rights away, and how long that takes is printed (`--nocapture`). A grant beyond the
//! member's ceiling, or naming a user that is not a hub service account's, gets nothing.

use std::time::{Duration, Instant};

use k8s_openapi::api::{
    authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec},
    core::v1::{Secret, ServiceAccount},
    rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding, Subject},
};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use roster_api::{
    RemoteAccountGrant, RemoteAccountGrantSpec, RemoteAccountGrantStatus, federation, names,
    remote_account_grant::GrantOwner, remote_service_account::NamespacedRole,
};
use roster_testenv::{TestEnv, wait};
use serde_json::json;

use super::{
    members,
    remote_access::{create_member_namespace, diagnostics, suffix},
    support::assert_mentions,
};

const MEMBER: &str = "member-1";
const TIMEOUT: Duration = Duration::from_secs(60);
/// How often a change is looked for when its delay is what is measured.
const POLL: Duration = Duration::from_millis(20);

/// A federated grant of RemoteServiceAccount `rsa` in the test's namespace, for the hub
/// service account `deployer` there: `cluster_roles` cluster-wide and `roles` in namespaces.
fn federated_grant(
    env: &TestEnv,
    rsa: &str,
    cluster_roles: &[&str],
    roles: &[(&str, &str)],
) -> RemoteAccountGrant {
    let mut grant = RemoteAccountGrant::new(
        &names::grant_name(&env.namespace, rsa),
        RemoteAccountGrantSpec {
            remote_service_account: GrantOwner {
                namespace: env.namespace.clone(),
                name: rsa.into(),
                uid: format!("{rsa}-uid"),
            },
            federated_user: Some(federation::federated_user(&env.namespace, "deployer")),
            cluster_roles: cluster_roles.iter().map(|r| (*r).to_owned()).collect(),
            roles: roles
                .iter()
                .map(|(namespace, role)| NamespacedRole {
                    namespace: (*namespace).to_owned(),
                    cluster_role: (*role).to_owned(),
                })
                .collect(),
            ..RemoteAccountGrantSpec::default()
        },
    );
    grant.metadata.namespace = Some(names::member_namespace(MEMBER));
    grant
}

/// The API server's table row for the grant `name` in member-1's namespace (what `kubectl get`
/// prints), by column name; cells as text.
async fn table_row(
    hub: &Client,
    name: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let path = format!(
        "/apis/roster.dev/v1alpha1/namespaces/{}/remoteaccountgrants/{name}",
        names::member_namespace(MEMBER)
    );
    let request = http::Request::get(path)
        .header(
            http::header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io",
        )
        .body(Vec::new())?;
    let table: serde_json::Value = hub.request(request).await?;
    let columns = table["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let cells = table["rows"][0]["cells"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(columns
        .iter()
        .zip(cells)
        .map(|(c, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (c["name"].as_str().unwrap_or_default().to_owned(), text)
        })
        .collect())
}

fn grants(env: &TestEnv) -> Api<RemoteAccountGrant> {
    Api::namespaced(env.hub.clone(), &names::member_namespace(MEMBER))
}

/// The member objects labelled with grant `uid`: service accounts, ClusterRoleBindings,
/// RoleBindings, ClusterRoles.
async fn labelled(member: &Client, uid: &str) -> anyhow::Result<[usize; 4]> {
    let selector = ListParams::default().labels(&format!("{}={uid}", names::LABEL_GRANT_UID));
    Ok([
        Api::<ServiceAccount>::all(member.clone())
            .list(&selector)
            .await?
            .items
            .len(),
        Api::<ClusterRoleBinding>::all(member.clone())
            .list(&selector)
            .await?
            .items
            .len(),
        Api::<RoleBinding>::all(member.clone())
            .list(&selector)
            .await?
            .items
            .len(),
        Api::<ClusterRole>::all(member.clone())
            .list(&selector)
            .await?
            .items
            .len(),
    ])
}

/// Whether the member's authorizer lets `user` `verb` `resource` (in `namespace`, or
/// cluster-wide), asked by the admin with a SubjectAccessReview.
async fn allowed(
    member: &Client,
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> anyhow::Result<bool> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_owned()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                namespace: namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(member.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// Polls `done` every [`POLL`] until it holds; returns how long that took since `since`.
async fn measure<F, Fut>(
    env: &TestEnv,
    what: &str,
    since: Instant,
    done: F,
) -> anyhow::Result<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    loop {
        if done().await? {
            return Ok(since.elapsed());
        }
        if since.elapsed() >= TIMEOUT {
            anyhow::bail!(
                "timed out after {TIMEOUT:?} waiting for {what}\n{}",
                diagnostics(env)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn user_subject(subjects: Option<&[Subject]>, user: &str) -> bool {
    matches!(subjects, Some([s]) if s.kind == "User"
        && s.name == user
        && s.api_group.as_deref() == Some("rbac.authorization.k8s.io")
        && s.namespace.is_none())
}

#[tokio::test]
async fn a_federated_grant_binds_the_hub_accounts_user_and_nothing_else() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    members::joined().await;
    let member = env.member(MEMBER).await?;
    let rsa = format!("fed-{}", suffix());
    let apps = format!("apps-{}", suffix());
    create_member_namespace(&member, &apps).await?;
    let user = federation::federated_user(&env.namespace, "deployer");
    let name = names::grant_name(&env.namespace, &rsa);
    let created = grants(&env)
        .create(
            &PostParams::default(),
            &federated_grant(&env, &rsa, &["view"], &[(&apps, "edit")]),
        )
        .await?;
    let uid = created.metadata.uid.clone().unwrap_or_default();

    let status: RemoteAccountGrantStatus =
        wait::until("the federated grant ready", TIMEOUT, || async {
            Ok(grants(&env).get(&name).await?.status.filter(|s| s.ready))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(&env)))?;
    assert_eq!(status.message, format!("bound to {user}"));
    assert_eq!(status.observed_generation, created.metadata.generation);
    assert_eq!(
        (
            status.service_account_uid.as_str(),
            status.token_expiry.as_ref(),
            status.last_refresh.as_ref()
        ),
        ("", None, None),
        "nothing minted"
    );

    // On the member: the bindings name the User; no service account anywhere.
    let base = format!("roster-federated:{}:{rsa}", env.namespace);
    let crbs: Api<ClusterRoleBinding> = Api::all(member.clone());
    let rbs: Api<RoleBinding> = Api::namespaced(member.clone(), &apps);
    let view = crbs.get(&format!("{base}:view")).await?;
    assert_eq!(view.role_ref.name, "view");
    assert!(user_subject(view.subjects.as_deref(), &user), "{view:?}");
    let edit = rbs.get(&format!("{base}:edit")).await?;
    assert_eq!(edit.role_ref.name, "edit");
    assert!(user_subject(edit.subjects.as_deref(), &user), "{edit:?}");
    assert_eq!(
        labelled(&member, &uid).await?,
        [0, 1, 1, 0],
        "no service account, one ClusterRoleBinding, one RoleBinding, no ClusterRole"
    );
    // On the hub: no Secret for the grant (the hub creates none, the agent writes none).
    let secrets: Api<Secret> = Api::namespaced(env.hub.clone(), &names::member_namespace(MEMBER));
    assert!(secrets.get_opt(&name).await?.is_none());
    // `kubectl get remoteaccountgrants` (the API server's table) shows whom it binds.
    let row = table_row(&env.hub, &name).await?;
    assert_eq!(row["Federated User"], user.as_str(), "{row:?}");
    assert_eq!(row["Service Account"], "", "{row:?}");
    assert_eq!(row["Ready"], "true", "{row:?}");

    // The member's authorizer: what was granted, and nothing more.
    let may =
        |verb: &'static str, group: &'static str, resource: &'static str, ns: Option<String>| {
            let (member, user) = (member.clone(), user.clone());
            async move { allowed(&member, &user, verb, group, resource, ns.as_deref()).await }
        };
    assert!(may("list", "", "pods", None).await?, "view, cluster-wide");
    assert!(may("list", "", "pods", Some("default".into())).await?);
    assert!(
        may("delete", "", "pods", Some(apps.clone())).await?,
        "edit in {apps}"
    );
    assert!(!may("delete", "", "pods", Some("default".into())).await?);
    assert!(!may("delete", "", "pods", None).await?);
    assert!(
        !may(
            "create",
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            None
        )
        .await?
    );
    assert!(
        !may("list", "", "secrets", None).await?,
        "view reads no Secrets"
    );
    // Another hub service account's user gets nothing.
    let other = federation::federated_user(&env.namespace, "someone-else");
    assert!(!allowed(&member, &other, "list", "", "pods", None).await?);

    // A deleted ClusterRoleBinding is put back by the repair watches.
    let t = Instant::now();
    crbs.delete(&format!("{base}:view"), &DeleteParams::default())
        .await?;
    let repaired = measure(&env, "the view ClusterRoleBinding back", t, || async {
        Ok(crbs
            .get_opt(&format!("{base}:view"))
            .await?
            .is_some_and(|b| {
                b.metadata.deletion_timestamp.is_none()
                    && user_subject(b.subjects.as_deref(), &user)
            }))
    })
    .await?;
    eprintln!("measured: federated ClusterRoleBinding deleted -> repaired after {repaired:?}");
    assert!(may("list", "", "pods", None).await?);

    // Narrowing: the grant drops the role in apps; its RoleBinding goes, and the rights with it.
    let t = Instant::now();
    grants(&env)
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"roles": null}})),
        )
        .await?;
    let unbound = measure(&env, "the edit RoleBinding removed", t, || async {
        Ok(rbs.get_opt(&format!("{base}:edit")).await?.is_none())
    })
    .await?;
    let refused = measure(&env, "delete pods in apps refused", t, || async {
        Ok(!may("delete", "", "pods", Some(apps.clone())).await?)
    })
    .await?;
    eprintln!(
        "measured: federated grant narrowed -> RoleBinding removed after {unbound:?}, \
         `delete pods` refused by the member after {refused:?}"
    );
    assert!(may("list", "", "pods", None).await?, "view stays");
    wait::until("the narrowed grant reported", TIMEOUT, || async {
        let g = grants(&env).get(&name).await?;
        let status = g.status.unwrap_or_default();
        Ok((status.ready && status.observed_generation == g.metadata.generation).then_some(()))
    })
    .await?;

    // Deleting the grant removes every binding.
    let t = Instant::now();
    grants(&env).delete(&name, &DeleteParams::default()).await?;
    let swept = measure(
        &env,
        "every binding of the deleted grant gone",
        t,
        || async { Ok(labelled(&member, &uid).await? == [0, 0, 0, 0]) },
    )
    .await?;
    let denied = measure(&env, "list pods refused", t, || async {
        Ok(!may("list", "", "pods", None).await?)
    })
    .await?;
    eprintln!(
        "measured: federated grant deleted -> every binding removed after {swept:?}, \
         `list pods` refused by the member after {denied:?}"
    );
    Ok(())
}

#[tokio::test]
async fn federated_grants_beyond_the_ceiling_or_for_foreign_users_get_nothing() -> anyhow::Result<()>
{
    let env = TestEnv::start().await?;
    members::joined().await;
    let member = env.member(MEMBER).await?;

    let rsa = format!("fed-admin-{}", suffix());
    let too_much = federated_grant(&env, &rsa, &["cluster-admin"], &[]);
    let mut foreign = federated_grant(&env, &format!("fed-foreign-{}", suffix()), &["view"], &[]);
    // A member identity the hub does not own: the agent must not hand it rights.
    foreign.spec.federated_user = Some("system:serviceaccount:kube-system:default".into());
    for (grant, expected) in [
        (too_much, ["beyond this member's ceiling", "cluster-admin"]),
        (
            foreign,
            [
                "spec.federatedUser",
                "system:serviceaccount:kube-system:default",
            ],
        ),
    ] {
        let name = grant.metadata.name.clone().unwrap_or_default();
        let created = grants(&env).create(&PostParams::default(), &grant).await?;
        let uid = created.metadata.uid.clone().unwrap_or_default();
        let status = wait::until(
            "the agent's refusal in the grant's status",
            TIMEOUT,
            || async {
                Ok(grants(&env)
                    .get(&name)
                    .await?
                    .status
                    .filter(|s| !s.ready && !s.message.is_empty()))
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(&env)))?;
        assert_mentions(&status.message, &expected);
        assert_eq!(
            labelled(&member, &uid).await?,
            [0, 0, 0, 0],
            "{name}: nothing created"
        );
        grants(&env).delete(&name, &DeleteParams::default()).await?;
    }
    Ok(())
}
