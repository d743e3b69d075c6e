//! `deploy/`: the kustomize bases render with the real kubectl, every object passes the real API
//! server's validation (server-side dry run), the pods meet the restricted Pod Security
//! Standard, the hub's identity is as narrow as `deploy/hub/rbac.yaml` says, and the manifests
//! agree with the binaries (flags, defaults, ports) and the Dockerfile.
//!
//! Every other e2e test runs roster-hub as the service account of `deploy/hub` (see
//! `support::hub_process`), so the RBAC is exercised for real there.

use std::{collections::BTreeSet, path::Path};

use clap::Parser;
use k8s_openapi::api::{
    authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    core::v1::{Namespace, Pod, ServiceAccount},
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use roster_testenv::{TestEnv, binary::workspace_root, deploy, kubeconfig};
use serde_json::{Value, json};

use super::support::username;

/// The objects `deploy/hub` renders to.
async fn hub_objects() -> Vec<Value> {
    deploy::kustomize(&deploy::base("hub"))
        .await
        .expect("kubectl kustomize deploy/hub")
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| deploy::kind(o) == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered base"))
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects.iter().map(|o| deploy::kind(o).to_owned()).collect()
}

/// Applies the Namespaces among `objects` for real (namespaced objects cannot be dry-run into a
/// namespace that does not exist), then every object as a server-side dry run.
async fn dry_run(client: &Client, objects: &[Value]) {
    for ns in objects.iter().filter(|o| deploy::kind(o) == "Namespace") {
        deploy::apply(client, ns, false).await.unwrap();
    }
    for object in objects {
        if let Err(e) = deploy::apply(client, object, true).await {
            panic!("{e:#}");
        }
    }
}

/// A Pod made from `deployment`'s template in `namespace`, created as a dry run: admission
/// (Pod Security included) judges exactly what the Deployment would run.
async fn dry_run_pod(client: &Client, namespace: &str, deployment: &Value) -> kube::Result<Pod> {
    let template = &deployment["spec"]["template"];
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "dry-run-", "namespace": namespace,
                     "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    });
    let pod: Pod = serde_json::from_value(pod).unwrap();
    Api::<Pod>::namespaced(client.clone(), namespace)
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &pod,
        )
        .await
}

#[tokio::test]
async fn hub_base_passes_a_server_side_dry_run_on_the_hub() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let objects = hub_objects().await;
    let expected: BTreeSet<String> = [
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "MutatingWebhookConfiguration",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(kinds(&objects), expected);
    let crds: BTreeSet<_> = objects
        .iter()
        .filter(|o| deploy::kind(o) == "CustomResourceDefinition")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    let ours: BTreeSet<_> = roster_api::crd::all()
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(crds, ours, "deploy/hub installs every CRD, from crds/");
    // The shared hub keeps its own configuration `roster-hub` (with a URL): a dry run of the
    // base's (with a Service) under that name would hold both, which the API server refuses.
    let objects: Vec<Value> = objects
        .into_iter()
        .map(|mut o| {
            if deploy::kind(&o) == "MutatingWebhookConfiguration" {
                o["metadata"]["name"] = format!("roster-hub-dry-run-{}", env.namespace).into();
            }
            o
        })
        .collect();
    dry_run(&env.hub, &objects).await;
    Ok(())
}

#[tokio::test]
async fn hub_pods_meet_the_restricted_pod_security_standard() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let objects = hub_objects().await;
    let namespace = find(&objects, "Namespace", deploy::HUB_NAMESPACE);
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    // The namespace (enforcing `restricted`) and the service account must exist for real.
    deploy::apply(&env.hub, namespace, false).await?;
    let account = find(&objects, "ServiceAccount", deploy::HUB_SERVICE_ACCOUNT);
    deploy::apply(&env.hub, account, false).await?;
    let deployment = find(&objects, "Deployment", "roster-hub");
    if let Err(e) = dry_run_pod(&env.hub, deploy::HUB_NAMESPACE, deployment).await {
        panic!("the hub's pod is refused: {e}");
    }
    // The check is real: the same pod without its hardening is refused.
    let mut loose = deployment.clone();
    loose["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("securityContext");
    let refused = dry_run_pod(&env.hub, deploy::HUB_NAMESPACE, &loose)
        .await
        .expect_err("a pod without its securityContext is refused");
    assert!(refused.to_string().contains("restricted"), "{refused}");
    Ok(())
}

/// An overlay of `deploy/agent` as the README tells a user to write it, in a folder of the
/// test run; returns its rendered objects.
async fn agent_overlay(env: &TestEnv, member: &str) -> Vec<Value> {
    let dir = env
        .fleet
        .dir()
        .join(format!("agent-overlay-{}", env.namespace));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let base = deploy::relative_path(&dir, &deploy::base("agent"));
    std::fs::write(
        dir.join("bootstrap.kubeconfig"),
        "apiVersion: v1\nkind: Config\n",
    )
    .unwrap();
    let kustomization = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n\
         kind: Kustomization\n\
         resources:\n- {}\n\
         labels:\n- pairs: {{roster.dev/member: {member}}}\n\
         secretGenerator:\n\
         - name: roster-bootstrap\n  namespace: roster-system\n\
         \x20 files: [kubeconfig=bootstrap.kubeconfig]\n\
         \x20 literals: [member-name={member}]\n\
         images:\n\
         - {{name: ghcr.io/roster-dev/roster-agent, newName: registry.example.com/roster-agent, newTag: test}}\n",
        base.display()
    );
    std::fs::write(dir.join("kustomization.yaml"), kustomization).unwrap();
    deploy::kustomize(&dir)
        .await
        .expect("the agent overlay renders")
}

#[tokio::test]
async fn agent_overlay_passes_a_server_side_dry_run_on_a_member() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let plain = deploy::kustomize(&deploy::base("agent")).await?;
    assert_eq!(
        kinds(&plain),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Namespace",
            "ServiceAccount"
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    );

    let objects = agent_overlay(&env, "member-1").await;
    let secret = objects
        .iter()
        .find(|o| deploy::kind(o) == "Secret")
        .expect("the overlay generates the bootstrap Secret");
    let secret_name = secret["metadata"]["name"].as_str().unwrap();
    assert!(
        secret_name.starts_with("roster-bootstrap-"),
        "{secret_name}"
    );
    let deployment = find(&objects, "Deployment", "roster-agent");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    // kustomize renamed both references to the generated (hash-suffixed) Secret.
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], secret_name);
    assert_eq!(
        container["env"][0]["valueFrom"]["secretKeyRef"],
        json!({"name": secret_name, "key": "member-name"})
    );
    assert_eq!(container["image"], "registry.example.com/roster-agent:test");
    assert_eq!(
        deployment["metadata"]["labels"]["roster.dev/member"],
        "member-1"
    );

    // The agent reads the member name from the Secret's key exactly as it takes the flag.
    let mut args = command_line("roster-agent", deployment);
    args.push("--member-name=member-1".to_owned());
    roster_agent::cli::Cli::try_parse_from(&args).expect("roster-agent accepts the base's args");

    let member = env.member("member-1").await?;
    dry_run(&member, &objects).await;

    // The agent's pod meets the restricted standard too (checked in a namespace of this test
    // that enforces it, with the agent's service account).
    let ns = format!("{}-psa", env.namespace);
    let labels = [(
        "pod-security.kubernetes.io/enforce".to_owned(),
        "restricted".to_owned(),
    )];
    Api::<Namespace>::all(member.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(ns.clone()),
                    labels: Some(labels.into_iter().collect()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await?;
    Api::<ServiceAccount>::namespaced(member.clone(), &ns)
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some("roster-agent".into()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            },
        )
        .await?;
    if let Err(e) = dry_run_pod(&member, &ns, deployment).await {
        panic!("the agent's pod is refused: {e}");
    }
    Api::<Namespace>::all(member)
        .delete(&ns, &Default::default())
        .await?;
    Ok(())
}

/// The command line of the deployment's first container: `program` then its args.
fn command_line(program: &str, deployment: &Value) -> Vec<String> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    std::iter::once(program.to_owned())
        .chain(
            container["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned()),
        )
        .collect()
}

fn container_port(container: &Value, name: &str) -> u16 {
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("no container port {name}"))
}

#[tokio::test]
async fn roster_hub_accepts_the_deployment_and_agrees_with_its_defaults() {
    let objects = hub_objects().await;
    let deployment = find(&objects, "Deployment", "roster-hub");
    let cli = roster_hub::cli::Cli::try_parse_from(command_line("roster-hub", deployment))
        .unwrap_or_else(|e| panic!("roster-hub refuses the Deployment's args: {e}"));
    assert_eq!(
        cli.log.log_format,
        roster_runtime::logging::LogFormat::Json,
        "logs for collectors"
    );

    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["serviceAccountName"], deploy::HUB_SERVICE_ACCOUNT);
    // Ports: what the hub listens on is what the pod declares and the probes and Service use.
    let admin = container_port(container, "admin");
    assert_eq!(cli.admin_address.port(), admin);
    assert!(
        cli.admin_address.ip().is_unspecified(),
        "reachable by the kubelet"
    );
    let webhook = cli
        .webhook
        .webhook_address
        .expect("the Deployment serves the webhook");
    assert_eq!(webhook.port(), container_port(container, "webhook"));
    assert!(webhook.ip().is_unspecified());
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "admin");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "admin");
    let env_names: Vec<_> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env_names, ["POD_NAMESPACE", "POD_NAME"]);

    // The webhook: the configuration the hub keeps (exactly what it would apply itself with
    // the Deployment's flags, caBundle aside), reached through the Service under a name the
    // hub's certificate is valid for.
    let service = find(&objects, "Service", "roster-hub");
    let config = find(
        &objects,
        "MutatingWebhookConfiguration",
        &cli.webhook.webhook_configuration,
    );
    let kept = roster_api::webhook::configuration(
        &cli.webhook.webhook_configuration,
        &cli.webhook.endpoint(),
        deploy::HUB_NAMESPACE,
        None,
    );
    assert_eq!(
        config["webhooks"],
        serde_json::to_value(&kept).unwrap()["webhooks"]
    );
    let hook = &config["webhooks"][0];
    assert!(
        hook["clientConfig"].get("caBundle").is_none(),
        "a re-apply must not reset the caBundle the hub maintains"
    );
    let svc_ref = &hook["clientConfig"]["service"];
    assert_eq!(svc_ref["name"], service["metadata"]["name"]);
    assert_eq!(svc_ref["namespace"], service["metadata"]["namespace"]);
    let dns = format!(
        "{}.{}.svc",
        service["metadata"]["name"].as_str().unwrap(),
        service["metadata"]["namespace"].as_str().unwrap()
    );
    assert!(
        cli.webhook.webhook_dns_names.contains(&dns),
        "{dns} not in {:?}",
        cli.webhook.webhook_dns_names
    );
    let port = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == svc_ref["port"])
        .expect("the webhook's Service port");
    assert_eq!(port["targetPort"], "webhook");
    let condition = hook["matchConditions"][0]["expression"].as_str().unwrap();
    assert!(
        condition.contains(roster_api::names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS),
        "{condition}"
    );

    // RBAC names what the hub's defaults name.
    let cluster_role = find(&objects, "ClusterRole", "roster-hub");
    let webhook_rule = cluster_role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resources"][0] == "mutatingwebhookconfigurations")
        .expect("a rule for the webhook configuration");
    assert_eq!(
        webhook_rule["resourceNames"],
        json!([cli.webhook.webhook_configuration])
    );
    let leader = objects
        .iter()
        .find(|o| deploy::kind(o) == "Role" && o["metadata"]["namespace"] == deploy::HUB_NAMESPACE)
        .expect("the leader election Role");
    assert!(
        leader["rules"].as_array().unwrap().iter().any(|r| {
            r["resources"][0] == "leases"
                && r["resourceNames"] == json!([cli.leader_election.leader_election_lease])
        }),
        "{leader}"
    );
    // Writing ClusterProfiles: bound in the default inventory's namespace only.
    let writes = find(&objects, "ClusterRole", "roster-hub-inventory");
    assert_eq!(writes["rules"][0]["resources"][0], "clusterprofiles");
    let bindings: Vec<_> = objects
        .iter()
        .filter(|o| {
            deploy::kind(o) == "RoleBinding" && o["roleRef"]["name"] == "roster-hub-inventory"
        })
        .map(|o| o["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(bindings, [Some(cli.inventory_namespace.as_str())]);
}

#[tokio::test]
async fn images_carry_the_workspace_version() {
    let version = env!("CARGO_PKG_VERSION");
    let hub = hub_objects().await;
    let agent = deploy::kustomize(&deploy::base("agent")).await.unwrap();
    for (objects, name) in [(&hub, "roster-hub"), (&agent, "roster-agent")] {
        let deployment = find(objects, "Deployment", name);
        assert_eq!(
            deployment["spec"]["template"]["spec"]["containers"][0]["image"],
            format!("ghcr.io/roster-dev/{name}:{version}")
        );
    }
}

/// A SelfSubjectAccessReview: may the client's identity do `verb` on `resource`?
async fn may(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_owned())),
        None => (resource, None),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                namespace: namespace.map(str::to_owned),
                name: name.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .is_some_and(|s| s.allowed)
}

#[tokio::test]
async fn the_hub_identity_is_the_service_account_and_no_more() -> anyhow::Result<()> {
    let env = TestEnv::start().await?;
    let dir = env.fleet.dir().join(format!("deploy-{}", env.namespace));
    let path = deploy::hub_kubeconfig(&env.fleet.hub, &dir).await?;
    let config = kube::config::Kubeconfig::read_from(&path)?;
    let hub = Client::try_from(kubeconfig::to_config(config).await?)?;
    assert_eq!(
        username(&hub).await?,
        "system:serviceaccount:roster-system:roster-hub"
    );
    let ns = Some(env.namespace.as_str());
    let member_ns = Some("roster-member-x");
    // What it needs.
    for (verb, group, resource, namespace, name) in [
        ("patch", "roster.dev", "memberclusters/status", None, None),
        (
            "create",
            "rbac.authorization.k8s.io",
            "roles",
            member_ns,
            None,
        ),
        ("patch", "", "secrets", ns, None),
        (
            "patch",
            "coordination.k8s.io",
            "leases",
            member_ns,
            Some("roster-agent"),
        ),
        (
            "update",
            "coordination.k8s.io",
            "leases",
            Some("roster-system"),
            Some("roster-hub"),
        ),
        (
            "patch",
            "multicluster.x-k8s.io",
            "clusterprofiles/status",
            Some("cluster-inventory"),
            None,
        ),
        ("create", "events.k8s.io", "events", ns, None),
        (
            "patch",
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            None,
            Some("roster-hub"),
        ),
        // Re-creating it with server-side apply (see webhook_repair.rs for the real request).
        (
            "create",
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            None,
            Some("roster-hub"),
        ),
    ] {
        assert!(
            may(&hub, verb, group, resource, namespace, name).await,
            "roster-hub may not {verb} {resource} {namespace:?} {name:?}"
        );
    }
    // What it must not do: grant what it does not hold, touch pods or other webhooks, remove
    // namespaces, act as someone else, write profiles outside the inventory namespace.
    for (verb, group, resource, namespace, name) in [
        (
            "escalate",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            None,
        ),
        (
            "bind",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            Some("cluster-admin"),
        ),
        ("delete", "", "namespaces", None, None),
        ("list", "", "pods", None, None),
        ("create", "", "pods", ns, None),
        ("impersonate", "", "users", None, None),
        (
            "patch",
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            None,
            Some("other"),
        ),
        (
            "create",
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            None,
            Some("other"),
        ),
        (
            "create",
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            None,
            None,
        ),
        (
            "create",
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            None,
            None,
        ),
        (
            "patch",
            "multicluster.x-k8s.io",
            "clusterprofiles",
            ns,
            None,
        ),
        ("update", "coordination.k8s.io", "leases", ns, Some("other")),
        ("create", "", "serviceaccounts/token", ns, Some("default")),
        (
            "delete",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            None,
        ),
    ] {
        assert!(
            !may(&hub, verb, group, resource, namespace, name).await,
            "roster-hub may {verb} {resource} {namespace:?} {name:?}"
        );
    }
    Ok(())
}

/// The build stage's `cargo build` packages and the binaries each final stage copies.
struct Dockerfile {
    text: String,
}

impl Dockerfile {
    fn read() -> Self {
        let path = workspace_root().join("deploy/Dockerfile");
        Self {
            text: std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        }
    }

    /// Instructions, continuation lines joined, comments dropped.
    fn instructions(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = String::new();
        for line in self.text.lines() {
            let line = line.trim();
            if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
                continue;
            }
            match line.strip_suffix('\\') {
                Some(part) => current.push_str(part),
                None => {
                    current.push_str(line);
                    out.push(std::mem::take(&mut current));
                }
            }
        }
        out
    }

    /// Final stages as (name, instructions).
    fn stages(&self) -> Vec<(String, Vec<String>)> {
        let mut stages: Vec<(String, Vec<String>)> = Vec::new();
        for instruction in self.instructions() {
            if let Some(from) = instruction.strip_prefix("FROM ") {
                let name = from.rsplit_once(" AS ").map(|(_, n)| n.trim().to_owned());
                stages.push((name.unwrap_or_default(), Vec::new()));
            } else if let Some((_, body)) = stages.last_mut() {
                body.push(instruction);
            }
        }
        stages
    }
}

#[test]
fn dockerfile_builds_each_binary_with_the_pinned_toolchain_as_non_root() {
    let dockerfile = Dockerfile::read();
    let instructions = dockerfile.instructions();
    let toolchain = std::fs::read_to_string(workspace_root().join("rust-toolchain.toml")).unwrap();
    let channel = toolchain
        .lines()
        .find_map(|l| l.strip_prefix("channel = "))
        .map(|c| c.trim_matches('"'))
        .expect("rust-toolchain.toml names a channel");
    assert!(
        instructions.contains(&format!("ARG RUST_VERSION={channel}")),
        "the Dockerfile builds with rust-toolchain.toml's {channel}"
    );
    let build = instructions
        .iter()
        .find(|i| i.contains("cargo build"))
        .expect("a cargo build");
    assert!(build.contains("--release --locked"), "{build}");

    // Every workspace member is copied in (cargo needs them all to load the workspace).
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .expect("the workspace lists its members");
    for member in members.trim_matches(['[', ']']).split(',') {
        let member = member.trim().trim_matches('"').trim_end_matches("/*");
        assert!(
            instructions
                .iter()
                .any(|i| i.starts_with(&format!("COPY {member} "))),
            "the Dockerfile does not copy workspace member {member}"
        );
    }

    let images = ["roster-hub", "roster-agent", "roster-credential"];
    let stages = dockerfile.stages();
    for image in images {
        let package = workspace_root().join("crates").join(image);
        let cargo_toml = std::fs::read_to_string(package.join("Cargo.toml")).unwrap();
        assert!(
            cargo_toml.contains(&format!("name = \"{image}\"")),
            "{image}"
        );
        assert!(package.join("src/main.rs").is_file(), "{image} is a binary");
        assert!(
            build.contains(&format!("-p {image}")),
            "{image} is not built"
        );
        let (_, body) = stages
            .iter()
            .find(|(name, _)| name == image)
            .unwrap_or_else(|| panic!("no target {image}"));
        let binary = format!("/usr/local/bin/{image}");
        assert!(
            body.iter()
                .any(|i| i.starts_with("COPY --from=build ") && i.ends_with(&binary)),
            "{image}: {body:?}"
        );
        assert!(
            body.contains(&"USER 65532:65532".to_owned()),
            "{image} runs as root"
        );
        assert!(
            body.contains(&format!("ENTRYPOINT [\"{binary}\"]")),
            "{image}: {body:?}"
        );
    }
    // Runtime images: distroless, nothing else in them.
    let runtime = stages
        .iter()
        .position(|(name, _)| name == "runtime")
        .expect("a runtime stage");
    let from_line = instructions
        .iter()
        .filter(|i| i.starts_with("FROM "))
        .nth(runtime)
        .unwrap();
    assert!(from_line.contains("distroless"), "{from_line}");
    // The hub is the default target.
    assert_eq!(stages.last().map(|(n, _)| n.as_str()), Some("roster-hub"));
    assert!(Path::new(&workspace_root().join("deploy/Dockerfile.dockerignore")).is_file());
}
