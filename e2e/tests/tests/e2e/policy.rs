//! RemoteAccessPolicies on the real control planes: the CRD's validation, a tenant that may
//! only create RemoteServiceAccounts and read Secrets in its own hub namespace getting exactly
//! what the policy allows (each attempt beyond it refused with its message, the member's own
//! authorizer showing nothing more for what it did get), and a narrowed policy revoking a live
//! grant, a widened one restoring it.

use std::time::{Duration, Instant};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
    },
    core::v1::{ConfigMap, Namespace, Secret, ServiceAccount},
    rbac::v1::{PolicyRule, Role, RoleBinding},
};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams},
};
use roster_api::{RemoteAccessPolicy, RemoteServiceAccount, names};
use roster_testenv::{TestEnv, kubeconfig, wait};
use serde_json::{Value, json};

use super::{
    members,
    remote_access::{
        consumer_client, create_member_namespace, diagnostics, status_code, suffix, token_secret,
        wait_ready,
    },
    support::{accepted, assert_mentions, rejected},
};

const MEMBER: &str = "member-1";
const TIMEOUT: Duration = Duration::from_secs(60);

fn policy(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "roster.dev/v1alpha1",
        "kind": "RemoteAccessPolicy",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn policies(client: &Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &ApiResource::erase::<RemoteAccessPolicy>(&()),
    )
}

async fn apply_policy(client: &Client, name: &str, spec: Value) -> anyhow::Result<()> {
    Api::<RemoteAccessPolicy>::all(client.clone())
        .patch(
            name,
            &PatchParams::apply("roster-tests").force(),
            &Patch::Apply(policy(name, spec)),
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn remote_access_policy_validation() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let api = policies(&env.hub);
    let n = |s: &str| format!("{s}-{}", env.namespace);
    accepted(
        &api,
        policy(
            &n("valid"),
            json!({
                "consumers": {"namespaces": ["team-a"], "namespaceSelector": {"matchLabels": {"tier": "apps"}}},
                "members": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
                "clusterRoles": ["view", "*"],
                "roles": [{"namespaces": ["apps", "*"], "clusterRoles": ["edit"]}],
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                          {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}],
                "token": {"maxExpirationSeconds": 3600, "audiences": ["vault"]},
            }),
        ),
    )
    .await;
    let cases: [(&str, Value, &str); 8] = [
        (
            "no-consumers",
            json!({"consumers": {}, "members": {}}),
            "consumers needs namespaces, namespaceSelector or both",
        ),
        (
            "no-members",
            json!({"consumers": {"namespaces": ["a"]}}),
            "spec.members: Required value",
        ),
        (
            "bad-namespace",
            json!({"consumers": {"namespaces": ["Team_A"]}, "members": {}}),
            "each consumer namespace must be a valid namespace name",
        ),
        (
            "bad-operator",
            json!({"consumers": {"namespaces": ["a"]},
                   "members": {"matchExpressions": [{"key": "env", "operator": "Near"}]}}),
            "operator must be In, NotIn, Exists or DoesNotExist",
        ),
        (
            "bad-role",
            json!({"consumers": {"namespaces": ["a"]}, "members": {}, "clusterRoles": ["a/b"]}),
            "each cluster role must be a ClusterRole name or \"*\"",
        ),
        (
            "rule-without-resources",
            json!({"consumers": {"namespaces": ["a"]}, "members": {},
                   "rules": [{"apiGroups": [""], "verbs": ["get"]}]}),
            "each rule names resources or nonResourceURLs",
        ),
        (
            "short-token",
            json!({"consumers": {"namespaces": ["a"]}, "members": {},
                   "token": {"maxExpirationSeconds": 60}}),
            "spec.token.maxExpirationSeconds",
        ),
        (
            "bad-role-namespace",
            json!({"consumers": {"namespaces": ["a"]}, "members": {},
                   "roles": [{"namespaces": ["a b"], "clusterRoles": ["view"]}]}),
            "each namespace must be a namespace name (DNS label) or \"*\"",
        ),
    ];
    for (name, spec, expected) in cases {
        let message = rejected(&api, policy(&n(name), spec)).await;
        assert_mentions(&message, &[expected]);
    }
    Ok(())
}

/// A client of the hub as the service account `tenant` of the test's namespace, which may only
/// create and read RemoteServiceAccounts and read Secrets there.
async fn tenant(env: &TestEnv) -> anyhow::Result<Client> {
    let pp = PostParams::default();
    let ns = &env.namespace;
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "tenant"}}))?;
    Api::<ServiceAccount>::namespaced(env.hub.clone(), ns)
        .create(&pp, &sa)
        .await?;
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "tenant"},
        "rules": [
            {"apiGroups": ["roster.dev"], "resources": ["remoteserviceaccounts"],
             "verbs": ["create", "get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
        ],
    }))?;
    Api::<Role>::namespaced(env.hub.clone(), ns)
        .create(&pp, &role)
        .await?;
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "tenant"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": ns}],
    }))?;
    Api::<RoleBinding>::namespaced(env.hub.clone(), ns)
        .create(&pp, &binding)
        .await?;
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = Api::<ServiceAccount>::namespaced(env.hub.clone(), ns)
        .create_token_request("tenant", &pp, &request)
        .await?
        .status
        .and_then(|s| s.token)
        .unwrap_or_default();
    let hub = &env.fleet.hub;
    let config = kubeconfig::token_kubeconfig("tenant", hub.server(), hub.ca_pem(), &token);
    Ok(Client::try_from(kubeconfig::to_config(config).await?)?)
}

/// Creates the RemoteServiceAccount as `client`: Ok, or the API server's refusal message.
async fn try_create(
    client: &Client,
    namespace: &str,
    name: &str,
    spec: Value,
) -> Result<(), String> {
    let rsa: RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
        "metadata": {"name": name}, "spec": spec,
    }))
    .map_err(|e| e.to_string())?;
    match Api::<RemoteServiceAccount>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &rsa)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) => Err(format!("{} {}", s.code, s.message)),
        Err(e) => Err(e.to_string()),
    }
}

/// Waits until a dry run of creating a RemoteServiceAccount with `spec` as `client` is
/// admitted: the hub's webhook has seen a policy just written.
async fn admitted_soon(client: &Client, namespace: &str, spec: Value) -> anyhow::Result<()> {
    let rsa: RemoteServiceAccount = serde_json::from_value(json!({
        "apiVersion": "roster.dev/v1alpha1", "kind": "RemoteServiceAccount",
        "metadata": {"name": "probe"}, "spec": spec,
    }))?;
    let api = Api::<RemoteServiceAccount>::namespaced(client.clone(), namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    wait::until("the new policy admitted", TIMEOUT, || async {
        Ok(api.create(&dry_run, &rsa).await.ok().map(|_| ()))
    })
    .await
}

/// Whether the member's authorizer lets `client` do `verb` on `resource` (`namespace`: none
/// for all namespaces).
async fn can_i(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> anyhow::Result<bool> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                namespace: namespace.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

#[tokio::test]
async fn a_tenant_gets_nothing_beyond_the_policy() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    members::joined().await;
    let member = env.member(MEMBER).await?;
    let apps = format!("apps-{}", suffix());
    create_member_namespace(&member, &apps).await?;
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("visible".into());
    Api::<ConfigMap>::namespaced(member.clone(), &apps)
        .create(&PostParams::default(), &cm)
        .await?;
    let tenant = tenant(&env).await?;
    let ns = env.namespace.clone();
    let on = json!({"names": [MEMBER]});

    // No policy for this namespace yet: even an identity without rights is refused.
    let refused = try_create(&tenant, &ns, "early", json!({"clusters": on})).await;
    let message = refused.expect_err("no policy, no identity");
    assert_mentions(
        &message,
        &[&format!("no RemoteAccessPolicy serves namespace {ns}")],
    );

    let name = format!("tenant-{ns}");
    apply_policy(
        &env.hub,
        &name,
        json!({
            "consumers": {"namespaces": [ns]},
            "members": {"matchLabels": {members::LABEL.0: members::LABEL.1}},
            "roles": [{"namespaces": [apps], "clusterRoles": ["view"]}],
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]}],
            "token": {"maxExpirationSeconds": 3600},
        }),
    )
    .await?;

    let beyond: [(&str, Value, &str); 6] = [
        (
            "admin",
            json!({"clusters": on, "clusterRoles": ["cluster-admin"]}),
            "ClusterRole cluster-admin: ",
        ),
        (
            "editor",
            json!({"clusters": on, "clusterRoles": ["edit"]}),
            "ClusterRole edit: ",
        ),
        (
            "wildcard",
            json!({"clusters": on, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
            "rule verbs [*] resources [\"*\"] apiGroups [\"*\"]",
        ),
        (
            "writer",
            json!({"clusters": on, "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["delete"]}]}),
            "rule verbs [delete] resources [\"namespaces\"]",
        ),
        (
            "elsewhere",
            json!({"clusters": on, "roles": [{"namespace": "kube-system", "clusterRole": "view"}]}),
            "ClusterRole view in namespace kube-system: ",
        ),
        (
            "long-lived",
            json!({"clusters": on, "token": {"expirationSeconds": 7200}}),
            "a token lifetime of 7200 s: ",
        ),
    ];
    for (rsa, spec, expected) in beyond {
        let message = try_create(&tenant, &ns, rsa, spec)
            .await
            .expect_err(&format!("{rsa} is beyond the policy"));
        assert_mentions(
            &message,
            &[
                &format!("not allowed for namespace {ns} on member {MEMBER}"),
                expected,
            ],
        );
        eprintln!("refused as expected: {rsa}: {message}");
    }
    // A policy for this namespace lists what it asks for, on other members: the message
    // names it first.
    apply_policy(
        &env.hub,
        &format!("other-{ns}"),
        json!({"consumers": {"namespaces": [ns]},
               "members": {"matchLabels": {"e2e.roster.dev/nowhere": "true"}},
               "clusterRoles": ["edit"]}),
    )
    .await?;
    let expected = format!(
        "ClusterRole edit: allowed by RemoteAccessPolicy other-{ns} (does not select member \
         {MEMBER})"
    );
    let edit = json!({"clusters": on, "clusterRoles": ["edit"]});
    // At once: a refusal is checked against the API server, not only the hub's caches.
    let message = try_create(&tenant, &ns, "editor", edit)
        .await
        .expect_err("edit is for other members");
    assert_mentions(&message, &[&expected]);
    eprintln!("refused as expected: editor: {message}");

    // What the policy allows: admitted, provisioned, and nothing more on the member.
    try_create(
        &tenant,
        &ns,
        "reader",
        json!({"clusters": on,
               "roles": [{"namespace": apps, "clusterRole": "view"}],
               "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    wait_ready(&env, "reader", 1).await?;
    let secret = Api::<Secret>::namespaced(tenant.clone(), &ns)
        .get(&names::token_secret_name("reader", MEMBER))
        .await?;
    let remote = consumer_client(&secret).await?;
    let cms = Api::<ConfigMap>::namespaced(remote.clone(), &apps)
        .list(&ListParams::default())
        .await?;
    assert!(
        cms.items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("visible"))
    );
    for (verb, group, resource, namespace, allowed) in [
        ("list", "", "configmaps", Some(apps.as_str()), true),
        ("list", "", "namespaces", None, true),
        ("*", "*", "*", None, false),
        ("create", "", "pods", Some(apps.as_str()), false),
        ("list", "", "secrets", Some(apps.as_str()), false),
        ("list", "", "configmaps", Some("kube-system"), false),
        ("get", "", "secrets", None, false),
        ("delete", "", "namespaces", None, false),
        (
            "bind",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            false,
        ),
        (
            "create",
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            None,
            false,
        ),
    ] {
        assert_eq!(
            can_i(&remote, verb, group, resource, namespace).await?,
            allowed,
            "{verb} {group}/{resource} in {namespace:?}"
        );
    }
    // Every rule the member's authorizer lists for the identity, in the granted namespace and
    // in another, beyond what any authenticated user has there (a fresh service account with
    // no binding): reads in the granted namespace, the one rule everywhere.
    let nobody = nobody(&env, &member, &apps).await?;
    for namespace in [apps.as_str(), "kube-system"] {
        let baseline = rules(&nobody, namespace).await?;
        let extra: Vec<PolicyRule> = rules(&remote, namespace)
            .await?
            .into_iter()
            .filter(|r| !baseline.contains(r))
            .collect();
        assert!(!extra.is_empty(), "the grant shows in {namespace}");
        for rule in &extra {
            let reads = rule
                .verbs
                .iter()
                .all(|v| ["get", "list", "watch"].contains(&v.as_str()));
            let resources = rule.resources.clone().unwrap_or_default();
            assert!(reads, "in {namespace}: beyond the policy: {rule:?}");
            assert!(!resources.iter().any(|r| r.contains('*')), "{rule:?}");
            if namespace == "kube-system" {
                assert_eq!(resources, ["namespaces"], "only the rule, in kube-system");
            }
        }
    }
    Ok(())
}

/// The resource rules the member's authorizer lists for `client` in `namespace`.
async fn rules(client: &Client, namespace: &str) -> anyhow::Result<Vec<PolicyRule>> {
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.into()),
        },
        ..Default::default()
    };
    let status = Api::<SelfSubjectRulesReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?
        .status
        .unwrap_or_default();
    Ok(status
        .resource_rules
        .into_iter()
        .map(|r| PolicyRule {
            api_groups: r.api_groups,
            resources: r.resources,
            resource_names: r.resource_names,
            verbs: r.verbs,
            non_resource_urls: None,
        })
        .collect())
}

/// A client of the member as a fresh service account of `namespace` with no binding.
async fn nobody(env: &TestEnv, member: &Client, namespace: &str) -> anyhow::Result<Client> {
    let pp = PostParams::default();
    let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "nobody"}}))?;
    let accounts = Api::<ServiceAccount>::namespaced(member.clone(), namespace);
    accounts.create(&pp, &sa).await?;
    let token = accounts
        .create_token_request("nobody", &pp, &TokenRequest::default())
        .await?
        .status
        .and_then(|s| s.token)
        .unwrap_or_default();
    let cluster = env
        .fleet
        .member(MEMBER)
        .ok_or_else(|| anyhow::anyhow!("no {MEMBER}"))?;
    let config = kubeconfig::token_kubeconfig("nobody", cluster.server(), cluster.ca_pem(), &token);
    Ok(Client::try_from(kubeconfig::to_config(config).await?)?)
}

#[tokio::test]
async fn narrowing_a_policy_revokes_and_widening_restores() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    members::joined().await;
    let ns = env.namespace.clone();
    let name = format!("revocable-{ns}");
    let allow_view =
        json!({"consumers": {"namespaces": [ns]}, "members": {}, "clusterRoles": ["view"]});
    apply_policy(&env.hub, &name, allow_view.clone()).await?;
    let on = json!({"names": [MEMBER]});
    admitted_soon(
        &env.hub,
        &ns,
        json!({"clusters": on, "clusterRoles": ["view"]}),
    )
    .await?;
    try_create(
        &env.hub,
        &ns,
        "viewer",
        json!({"clusters": {"names": [MEMBER]}, "clusterRoles": ["view"]}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    wait_ready(&env, "viewer", 1).await?;
    let secret = token_secret(&env, "viewer", MEMBER).await?;
    let old = consumer_client(&secret).await?;
    let read = |client: Client| async move {
        status_code(
            Api::<ConfigMap>::namespaced(client, "kube-system")
                .list(&ListParams::default())
                .await,
        )
        .await
    };
    assert_eq!(read(old.clone()).await, 200);

    // Narrowed: view is no longer allowed.
    let narrowed = Instant::now();
    apply_policy(
        &env.hub,
        &name,
        json!({"consumers": {"namespaces": [ns]}, "members": {}, "clusterRoles": ["basic-user"]}),
    )
    .await?;
    let secrets: Api<Secret> = Api::namespaced(env.hub.clone(), &ns);
    let secret_name = names::token_secret_name("viewer", MEMBER);
    wait::until("the token Secret removed", TIMEOUT, || async {
        Ok(secrets.get_opt(&secret_name).await?.is_none().then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", diagnostics(&env)))?;
    let secret_gone = narrowed.elapsed();
    let rsas: Api<RemoteServiceAccount> = Api::namespaced(env.hub.clone(), &ns);
    let status = wait::until("the status says why", TIMEOUT, || async {
        let rsa = rsas.get("viewer").await?;
        let status = rsa.status.unwrap_or_default();
        let said = status.clusters.iter().any(|c| {
            !c.ready
                && c.message
                    .as_deref()
                    .is_some_and(|m| m.contains("ClusterRole view: "))
        });
        Ok(said.then_some(status))
    })
    .await?;
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "False");
    assert_mentions(&ready.message, &["ClusterRole view"]);
    wait::until("the old token refused (401)", TIMEOUT, || async {
        Ok((read(old.clone()).await == 401).then_some(()))
    })
    .await?;
    let token_dead = narrowed.elapsed();
    eprintln!(
        "measured: policy narrowed -> consumer Secret gone after {secret_gone:?}, old token \
         401 after {token_dead:?}"
    );
    let grants = Api::<roster_api::RemoteAccountGrant>::namespaced(
        env.hub.clone(),
        &names::member_namespace(MEMBER),
    );
    assert!(
        grants
            .get_opt(&names::grant_name(&ns, "viewer"))
            .await?
            .is_none()
    );

    // Widened again: a new identity and token.
    let widened = Instant::now();
    apply_policy(&env.hub, &name, allow_view).await?;
    wait_ready(&env, "viewer", 1).await?;
    let secret = token_secret(&env, "viewer", MEMBER).await?;
    let new = consumer_client(&secret).await?;
    assert_eq!(read(new).await, 200);
    eprintln!(
        "measured: policy widened -> RemoteServiceAccount Ready again after {:?}",
        widened.elapsed()
    );

    // A namespace relabelled out of a label-selecting policy is revoked the same way.
    apply_policy(
        &env.hub,
        &name,
        json!({"consumers": {"namespaceSelector": {"matchLabels": {"policy.e2e/view": ns}}},
               "members": {}, "clusterRoles": ["view"]}),
    )
    .await?;
    let label = |value: Option<&str>| json!({"metadata": {"labels": {"policy.e2e/view": value}}});
    let namespaces = Api::<Namespace>::all(env.hub.clone());
    namespaces
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(label(Some(&ns))),
        )
        .await?;
    wait_ready(&env, "viewer", 1).await?;
    namespaces
        .patch(&ns, &PatchParams::default(), &Patch::Merge(label(None)))
        .await?;
    wait::until("the Secret removed after the relabel", TIMEOUT, || async {
        Ok(secrets.get_opt(&secret_name).await?.is_none().then_some(()))
    })
    .await?;
    Ok(())
}

/// `deploy/hub` carries roster-remote-access-view/edit, aggregated into the built-in view,
/// edit and admin only with the component `deploy/components/aggregate-remote-access`: applied
/// on the hub, the cluster-role aggregation controller gives `edit` the authoring rights.
#[tokio::test]
async fn user_roles_aggregate_into_view_edit_and_admin_only_when_opted_in() -> anyhow::Result<()> {
    use k8s_openapi::api::rbac::v1::ClusterRole;
    use roster_testenv::deploy;

    let env = TestEnv::start().await?;
    let plain = deploy::kustomize(&deploy::base("hub")).await?;
    let role = |objects: &[Value], name: &str| {
        objects
            .iter()
            .find(|o| deploy::kind(o) == "ClusterRole" && o["metadata"]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no ClusterRole {name}"))
    };
    for name in ["roster-remote-access-view", "roster-remote-access-edit"] {
        let labels = role(&plain, name)["metadata"]["labels"].clone();
        assert!(
            !labels.to_string().contains("aggregate-to"),
            "{name} aggregates without opting in: {labels}"
        );
    }
    // An overlay as a user writes it, inside the workspace (kustomize loads relative paths).
    let overlay = roster_testenv::binary::workspace_root()
        .join("target")
        .join(format!("aggregate-{}", env.namespace));
    std::fs::create_dir_all(&overlay)?;
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n\
         - ../../deploy/hub\ncomponents:\n- ../../deploy/components/aggregate-remote-access\n",
    )?;
    let opted = deploy::kustomize(&overlay).await;
    std::fs::remove_dir_all(&overlay)?;
    let opted = opted?;
    let edit_role = role(&opted, "roster-remote-access-edit");
    assert_eq!(
        edit_role["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
        "true"
    );
    assert_eq!(
        role(&opted, "roster-remote-access-view")["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    let roles = Api::<ClusterRole>::all(env.hub.clone());
    for name in ["roster-remote-access-view", "roster-remote-access-edit"] {
        roles
            .patch(
                name,
                &PatchParams::apply("roster-tests").force(),
                &Patch::Apply(role(&opted, name)),
            )
            .await?;
    }
    wait::until(
        "edit aggregating RemoteServiceAccount authoring",
        TIMEOUT,
        || async {
            let edit = roles.get("edit").await?;
            let authors = edit.rules.iter().flatten().any(|r| {
                r.resources
                    .iter()
                    .flatten()
                    .any(|x| x == "remoteserviceaccounts")
                    && r.verbs.iter().any(|v| v == "create")
            });
            Ok(authors.then_some(()))
        },
    )
    .await?;
    Ok(())
}

/// Runs `kubectl roster audit` on the shared hub as its admin: exit success, standard output.
async fn audit(env: &TestEnv, output: &str) -> anyhow::Result<(bool, String)> {
    let out = tokio::process::Command::new(roster_testenv::roster::binary_path("kubectl-roster")?)
        .arg(format!(
            "--kubeconfig={}",
            env.fleet.hub.kubeconfig_path().display()
        ))
        .args(["audit", "-o", output])
        .output()
        .await?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[tokio::test]
async fn the_audit_lists_identities_and_marks_the_one_beyond_policy() -> anyhow::Result<()> {
    use roster_api::{
        RemoteAccountGrant, RemoteAccountGrantSpec,
        remote_account_grant::{GrantOwner, GrantServiceAccount},
    };

    let env = TestEnv::start().await?;
    members::joined().await;
    let ns = env.namespace.clone();
    let name = format!("audited-{ns}");
    apply_policy(
        &env.hub,
        &name,
        json!({"consumers": {"namespaces": [ns]}, "members": {}, "clusterRoles": ["view"]}),
    )
    .await?;
    let on = json!({"names": [MEMBER]});
    admitted_soon(
        &env.hub,
        &ns,
        json!({"clusters": on, "clusterRoles": ["view"]}),
    )
    .await?;
    try_create(
        &env.hub,
        &ns,
        "audited",
        json!({"clusters": on, "clusterRoles": ["view"]}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    wait_ready(&env, "audited", 1).await?;
    // Beyond the policy, within member-1's ceiling: what a compromised hub could write.
    let grants: Api<RemoteAccountGrant> =
        Api::namespaced(env.hub.clone(), &names::member_namespace(MEMBER));
    let mut rogue = RemoteAccountGrant::new(
        &names::grant_name(&ns, "rogue"),
        RemoteAccountGrantSpec {
            remote_service_account: GrantOwner {
                namespace: ns.clone(),
                name: "rogue".into(),
                uid: "rogue".into(),
            },
            service_account: GrantServiceAccount {
                namespace: names::DEFAULT_REMOTE_NAMESPACE.into(),
                name: format!("{ns}-rogue"),
            },
            cluster_roles: vec!["edit".into()],
            ..Default::default()
        },
    );
    rogue.metadata.namespace = Some(names::member_namespace(MEMBER));
    grants.create(&PostParams::default(), &rogue).await?;

    let (ok, json) = audit(&env, "json").await?;
    assert!(!ok, "a marked identity fails the audit");
    let report: Value = serde_json::from_str(&json)?;
    let rows = report["identities"].as_array().cloned().unwrap_or_default();
    let agent = report["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["member"] == MEMBER).cloned())
        .expect("member-1's agent");
    // The shared members' ceiling, as the tests joined them (members::CEILING).
    let grantable: Vec<&str> = super::members::CEILING[0]
        .trim_start_matches("--grantable-cluster-roles=")
        .split(',')
        .collect();
    assert_eq!(
        agent["ceiling"],
        json!({"clusterRoles": grantable, "allowRules": true}),
        "the agent's rights as it reports them"
    );
    let ours: Vec<&Value> = rows.iter().filter(|r| r["namespace"] == ns).collect();
    assert_eq!(ours.len(), 2, "{ours:#?}");
    let audited = ours
        .iter()
        .find(|r| r["remoteServiceAccount"] == "audited")
        .expect("the audited row");
    assert_eq!(audited["member"], MEMBER);
    assert_eq!(
        audited["serviceAccount"],
        format!("roster-remote/{ns}-audited")
    );
    assert_eq!(audited["clusterRoles"], json!(["view"]));
    assert_eq!(audited["allowedBy"], json!([name]));
    assert_eq!(audited["findings"], json!([]));
    let rsa = Api::<RemoteServiceAccount>::namespaced(env.hub.clone(), &ns)
        .get("audited")
        .await?;
    let cluster = &rsa.status.unwrap_or_default().clusters[0];
    let expiry = cluster.token_expiry.as_ref().expect("an expiry").0;
    assert_eq!(audited["tokenExpiry"], json!(expiry.to_string()));
    assert!(audited["lastRefresh"].is_string());
    let rogue_row = ours
        .iter()
        .find(|r| r["remoteServiceAccount"] == "rogue")
        .expect("the rogue row");
    let findings = rogue_row["findings"].to_string();
    assert_mentions(
        &findings,
        &[
            "beyond policy: not allowed for namespace",
            "ClusterRole edit",
            "no RemoteServiceAccount behind it",
        ],
    );
    let (_, table) = audit(&env, "table").await?;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with('!') && l.contains(&format!("{ns}/rogue"))),
        "{table}"
    );
    eprintln!("kubectl roster audit (this test's rows):");
    for line in table.lines().filter(|l| {
        l.contains(&ns)
            || l.contains("NAMESPACE/ACCOUNT")
            || l.contains("member-")
            || l.contains("AGENT ON")
    }) {
        eprintln!("{line}");
    }
    grants
        .delete(&names::grant_name(&ns, "rogue"), &Default::default())
        .await?;
    Ok(())
}
