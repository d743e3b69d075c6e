//! The agent's install manifest for a member cluster: typed objects, rendered as a YAML stream.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy},
        core::v1::{
            Capabilities, Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction, Namespace,
            PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
            SeccompProfile, Secret, SecretVolumeSource, SecurityContext, ServiceAccount, Volume,
            VolumeMount,
        },
        rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject},
    },
    apimachinery::pkg::{
        api::resource::Quantity, apis::meta::v1::LabelSelector, util::intstr::IntOrString,
    },
};
use kube::api::ObjectMeta;
use roster_api::{ceiling::Ceiling, names};
use serde::Serialize;

/// Name of the agent's Deployment, ServiceAccount, ClusterRole and ClusterRoleBinding.
pub const AGENT: &str = "roster-agent";

/// Name of the Secret holding the bootstrap kubeconfig.
pub const BOOTSTRAP_SECRET: &str = "roster-bootstrap";

/// Key of the bootstrap kubeconfig in its Secret.
pub const BOOTSTRAP_KEY: &str = "kubeconfig";

/// Where the bootstrap Secret is mounted in the agent's container.
const BOOTSTRAP_DIR: &str = "/etc/roster/bootstrap";

/// Secret in the agent's namespace where the agent keeps its hub token for the next pod.
pub const CREDENTIAL_SECRET: &str = "roster-agent-hub-credential";

/// The agent's state folder, an emptyDir: a copy of its current hub token for its hub client.
/// The identity that outlives the pod is the Secret [`CREDENTIAL_SECRET`].
const STATE_DIR: &str = "/var/lib/roster-agent";

/// The agent's admin port (metrics, health).
const ADMIN_PORT: i32 = 8081;

/// Name of the admin port in the container.
const ADMIN_PORT_NAME: &str = "admin";

/// The non-root user and group the agent runs as.
const AGENT_UID: i64 = 65532;

/// What the manifest is made from.
#[derive(Clone, Copy, Debug)]
pub struct AgentInstall<'a> {
    /// The member's name on the hub.
    pub member: &'a str,
    /// The agent's container image.
    pub image: &'a str,
    /// The bootstrap kubeconfig (YAML), secret: it carries the bootstrap token.
    pub bootstrap_kubeconfig: &'a str,
    /// The member API server URL the agent reports (its `--api-server-url`), when consumers
    /// reach the member by another address than the agent's in-cluster one.
    pub api_server_url: Option<&'a str>,
    /// ClusterRoles the agent may bind on the member (`*`: any): its `bind` in the manifest's
    /// ClusterRole is limited to these names, and its `--grantable-cluster-roles`.
    pub grantable_cluster_roles: &'a [&'a str],
    /// Whether grants may carry rules: the agent then holds `escalate` (and `bind` on any
    /// ClusterRole, since the names of the ClusterRoles it writes cannot be listed in advance).
    pub allow_rules: bool,
}

/// One object of the manifest.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// The agent's namespace.
    Namespace(Namespace),
    /// The agent's identity on the member.
    ServiceAccount(ServiceAccount),
    /// What the agent may do on the member.
    ClusterRole(ClusterRole),
    /// Grants the ClusterRole to the agent.
    ClusterRoleBinding(ClusterRoleBinding),
    /// The bootstrap kubeconfig.
    Secret(Secret),
    /// The agent itself (boxed: it is much larger than the others).
    Deployment(Box<Deployment>),
}

impl AgentInstall<'_> {
    /// The manifest's objects, in the order `kubectl apply` needs them.
    pub fn objects(&self) -> Vec<Object> {
        vec![
            Object::Namespace(Namespace {
                metadata: self.meta(names::AGENT_NAMESPACE, None),
                ..Namespace::default()
            }),
            Object::ServiceAccount(ServiceAccount {
                metadata: self.meta(AGENT, Some(names::AGENT_NAMESPACE)),
                ..ServiceAccount::default()
            }),
            Object::ClusterRole(ClusterRole {
                metadata: self.meta(AGENT, None),
                rules: Some(agent_rules(&self.ceiling())),
                ..ClusterRole::default()
            }),
            Object::ClusterRoleBinding(ClusterRoleBinding {
                metadata: self.meta(AGENT, None),
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "ClusterRole".into(),
                    name: AGENT.into(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: AGENT.into(),
                    namespace: Some(names::AGENT_NAMESPACE.into()),
                    ..Subject::default()
                }]),
            }),
            Object::Secret(Secret {
                metadata: self.meta(BOOTSTRAP_SECRET, Some(names::AGENT_NAMESPACE)),
                type_: Some("Opaque".into()),
                string_data: Some(BTreeMap::from([(
                    BOOTSTRAP_KEY.to_owned(),
                    self.bootstrap_kubeconfig.to_owned(),
                )])),
                ..Secret::default()
            }),
            Object::Deployment(Box::new(self.deployment())),
        ]
    }

    /// The manifest as a `---`-separated YAML stream.
    pub fn render(&self) -> anyhow::Result<String> {
        Ok(serde_saphyr::to_string_multiple(&self.objects())?)
    }

    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_owned(), AGENT.to_owned()),
            (
                names::LABEL_MANAGED_BY.to_owned(),
                names::MANAGED_BY.to_owned(),
            ),
            (names::LABEL_MEMBER.to_owned(), self.member.to_owned()),
        ])
    }

    fn meta(&self, name: &str, namespace: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: namespace.map(str::to_owned),
            labels: Some(self.labels()),
            ..ObjectMeta::default()
        }
    }

    fn deployment(&self) -> Deployment {
        let selector = BTreeMap::from([("app.kubernetes.io/name".to_owned(), AGENT.to_owned())]);
        Deployment {
            metadata: self.meta(AGENT, Some(names::AGENT_NAMESPACE)),
            spec: DeploymentSpec {
                replicas: Some(1),
                selector: LabelSelector {
                    match_labels: Some(selector),
                    ..LabelSelector::default()
                },
                // One agent at a time: two would race on the lease and the report.
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..DeploymentStrategy::default()
                }),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(self.labels()),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(self.pod()),
                },
                ..DeploymentSpec::default()
            },
            ..Deployment::default()
        }
    }

    fn pod(&self) -> PodSpec {
        PodSpec {
            service_account_name: Some(AGENT.into()),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(AGENT_UID),
                run_as_group: Some(AGENT_UID),
                fs_group: Some(AGENT_UID),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![self.container()],
            volumes: Some(vec![
                Volume {
                    name: "bootstrap".into(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(BOOTSTRAP_SECRET.into()),
                        default_mode: Some(0o440),
                        ..SecretVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                Volume {
                    name: "state".into(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                },
            ]),
            ..PodSpec::default()
        }
    }

    /// What the agent may grant on the member.
    pub fn ceiling(&self) -> Ceiling {
        Ceiling {
            cluster_roles: self
                .grantable_cluster_roles
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            allow_rules: self.allow_rules,
        }
    }

    fn container(&self) -> Container {
        let args = [
            "--member-name",
            self.member,
            "--bootstrap-kubeconfig",
            &format!("{BOOTSTRAP_DIR}/{BOOTSTRAP_KEY}"),
            "--state-dir",
            STATE_DIR,
            "--credential-secret",
            &format!("{}/{CREDENTIAL_SECRET}", names::AGENT_NAMESPACE),
            "--bootstrap-secret",
            &format!("{}/{BOOTSTRAP_SECRET}", names::AGENT_NAMESPACE),
            "--admin-address",
            &format!("0.0.0.0:{ADMIN_PORT}"),
        ];
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.extend(self.ceiling().args());
        if let Some(url) = self.api_server_url {
            args.extend(["--api-server-url".to_owned(), url.to_owned()]);
        }
        Container {
            name: AGENT.into(),
            image: Some(self.image.into()),
            args: Some(args),
            ports: Some(vec![ContainerPort {
                name: Some(ADMIN_PORT_NAME.into()),
                container_port: ADMIN_PORT,
                ..ContainerPort::default()
            }]),
            // Alive while the process runs (even while it waits for the hub); ready once it
            // holds a hub token and has heartbeated.
            liveness_probe: Some(http_probe("/healthz", 10)),
            readiness_probe: Some(http_probe("/readyz", 5)),
            resources: Some(ResourceRequirements {
                requests: Some(quantities(&[("cpu", "10m"), ("memory", "32Mi")])),
                limits: Some(quantities(&[("memory", "128Mi")])),
                ..ResourceRequirements::default()
            }),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                run_as_non_root: Some(true),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    ..Capabilities::default()
                }),
                ..SecurityContext::default()
            }),
            volume_mounts: Some(vec![
                VolumeMount {
                    name: "bootstrap".into(),
                    mount_path: BOOTSTRAP_DIR.into(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                },
                VolumeMount {
                    name: "state".into(),
                    mount_path: STATE_DIR.into(),
                    ..VolumeMount::default()
                },
            ]),
            ..Container::default()
        }
    }
}

/// A GET of `path` on the admin port every `period_seconds`.
fn http_probe(path: &str, period_seconds: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(ADMIN_PORT_NAME.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        ..Probe::default()
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect()
}

/// What the agent may do on its member: read what it reports, and create the service accounts
/// and RBAC of remote service accounts, within `ceiling`: `bind` (grant a ClusterRole it does
/// not hold) only on the grantable ClusterRoles by name, `escalate` (write a ClusterRole with
/// rights it does not hold) only when rules are allowed, and then `bind` on any ClusterRole
/// (the agent's own `roster:…` ClusterRoles have names nobody can list in advance).
pub fn agent_rules(ceiling: &Ceiling) -> Vec<PolicyRule> {
    const READ: &[&str] = &["get", "list", "watch"];
    const WRITE: &[&str] = &[
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    vec![
        // `create`: a remote service account's namespace is created when missing; `list` and
        // `watch` (of those labelled as Roster's): it is created again when deleted.
        rule("", &["namespaces"], &["get", "list", "watch", "create"]),
        rule("", &["nodes"], READ),
        rule("about.k8s.io", &["clusterproperties"], READ),
        rule("apiextensions.k8s.io", &["customresourcedefinitions"], READ),
        // `watch`: a remote service account deleted by someone else is created again.
        rule(
            "",
            &["serviceaccounts"],
            &[
                "create", "get", "list", "watch", "update", "patch", "delete",
            ],
        ),
        rule("", &["serviceaccounts/token"], &["create"]),
        rule(
            "rbac.authorization.k8s.io",
            &[
                "roles",
                "rolebindings",
                "clusterroles",
                "clusterrolebindings",
            ],
            WRITE,
        ),
        rule("", &["secrets"], &["get", "create", "update", "patch"]),
    ]
    .into_iter()
    .chain(grant_rules(ceiling))
    .collect()
}

/// The `bind` and `escalate` rules of `ceiling`.
fn grant_rules(ceiling: &Ceiling) -> Vec<PolicyRule> {
    let rbac = "rbac.authorization.k8s.io";
    if ceiling.allow_rules {
        return vec![rule(rbac, &["clusterroles"], &["bind", "escalate"])];
    }
    let mut bind = rule(rbac, &["clusterroles"], &["bind"]);
    if !ceiling.any_cluster_role() {
        if ceiling.cluster_roles.is_empty() {
            return Vec::new();
        }
        bind.resource_names = Some(ceiling.cluster_roles.clone());
    }
    vec![bind]
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(owned(resources)),
        verbs: owned(verbs),
        ..PolicyRule::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const INSTALL: AgentInstall<'static> = AgentInstall {
        member: "m1",
        image: "example.com/roster-agent:1",
        bootstrap_kubeconfig: "apiVersion: v1\nkind: Config\nusers:\n- name: x\n",
        api_server_url: None,
        grantable_cluster_roles: &["view"],
        allow_rules: false,
    };

    fn docs() -> Vec<Value> {
        let yaml = INSTALL.render().expect("renders");
        serde_saphyr::from_multiple(&yaml).expect("parses back as a YAML stream")
    }

    #[test]
    fn renders_every_object_in_apply_order() {
        let kinds: Vec<String> = docs()
            .iter()
            .map(|d| {
                format!(
                    "{}/{}",
                    d["kind"].as_str().unwrap_or("?"),
                    d["metadata"]["name"]
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace/\"roster-system\"",
                "ServiceAccount/\"roster-agent\"",
                "ClusterRole/\"roster-agent\"",
                "ClusterRoleBinding/\"roster-agent\"",
                "Secret/\"roster-bootstrap\"",
                "Deployment/\"roster-agent\"",
            ]
        );
        for doc in docs() {
            assert!(doc["apiVersion"].is_string(), "{doc}");
            assert_eq!(doc["metadata"]["labels"]["roster.dev/member"], "m1");
        }
    }

    #[test]
    fn the_secret_carries_the_kubeconfig_verbatim() {
        let docs = docs();
        let secret = &docs[4];
        assert_eq!(secret["metadata"]["namespace"], "roster-system");
        assert_eq!(
            secret["stringData"]["kubeconfig"],
            INSTALL.bootstrap_kubeconfig
        );
    }

    #[test]
    fn the_reported_api_server_url_is_an_agent_flag_only_when_given() {
        let install = AgentInstall {
            api_server_url: Some("https://10.200.0.12:6443"),
            ..INSTALL
        };
        let args = docs_args(&docs_of(&install));
        assert_eq!(
            args[args.len() - 2..],
            [
                Value::from("--api-server-url"),
                Value::from("https://10.200.0.12:6443")
            ]
        );
        let default = docs_args(&docs_of(&INSTALL));
        assert!(!default.iter().any(|a| a == "--api-server-url"));
    }

    fn docs_of(install: &AgentInstall<'_>) -> Vec<Value> {
        serde_saphyr::from_multiple(&install.render().expect("renders")).expect("parses")
    }

    fn docs_args(docs: &[Value]) -> Vec<Value> {
        docs[5]["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("args")
            .clone()
    }

    #[test]
    fn the_agent_runs_locked_down_with_its_flags_and_mounts() {
        let docs = docs();
        let spec = &docs[5]["spec"];
        assert_eq!(spec["replicas"], 1);
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "roster-agent");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let c = &pod["containers"][0];
        assert_eq!(c["image"], INSTALL.image);
        assert_eq!(
            c["args"],
            serde_json::json!([
                "--member-name",
                "m1",
                "--bootstrap-kubeconfig",
                "/etc/roster/bootstrap/kubeconfig",
                "--state-dir",
                "/var/lib/roster-agent",
                "--credential-secret",
                "roster-system/roster-agent-hub-credential",
                "--bootstrap-secret",
                "roster-system/roster-bootstrap",
                "--admin-address",
                "0.0.0.0:8081",
                "--grantable-cluster-roles=view"
            ])
        );
        assert_eq!(
            c["ports"],
            serde_json::json!([{"name": "admin", "containerPort": 8081}])
        );
        assert_eq!(
            c["livenessProbe"],
            serde_json::json!({"httpGet": {"path": "/healthz", "port": "admin"}, "periodSeconds": 10})
        );
        assert_eq!(
            c["readinessProbe"],
            serde_json::json!({"httpGet": {"path": "/readyz", "port": "admin"}, "periodSeconds": 5})
        );
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["resources"]["requests"]["cpu"], "10m");
        assert_eq!(c["resources"]["requests"]["memory"], "32Mi");
        assert_eq!(c["resources"]["limits"]["memory"], "128Mi");
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/etc/roster/bootstrap");
        assert_eq!(c["volumeMounts"][0]["readOnly"], true);
        assert_eq!(
            pod["volumes"][0]["secret"]["secretName"],
            "roster-bootstrap"
        );
        assert!(pod["volumes"][1]["emptyDir"].is_object());
    }

    #[test]
    fn the_cluster_role_lets_the_agent_grant_remote_roles() {
        let rules = agent_rules(&Ceiling {
            cluster_roles: vec!["view".into()],
            allow_rules: true,
        });
        let allows = |resource: &str, verb: &str| {
            rules.iter().any(|r| {
                r.resources.iter().flatten().any(|x| x == resource)
                    && r.verbs.iter().any(|v| v == verb)
            })
        };
        assert!(allows("nodes", "watch"));
        assert!(allows("clusterproperties", "list"));
        assert!(allows("serviceaccounts/token", "create"));
        // The agent watches what it creates for grants, to repair it.
        for resource in [
            "namespaces",
            "serviceaccounts",
            "clusterroles",
            "clusterrolebindings",
            "rolebindings",
        ] {
            assert!(allows(resource, "watch"), "{resource}");
        }
        assert!(allows("clusterroles", "escalate"));
        assert!(allows("clusterroles", "bind"));
        assert!(
            !allows("roles", "bind"),
            "the agent binds ClusterRoles only"
        );
        assert!(allows("secrets", "patch"));
        assert!(!allows("namespaces", "delete"));
        assert!(!allows("secrets", "list"));
    }

    #[test]
    fn bind_is_limited_to_the_grantable_cluster_roles_and_escalate_to_rules() {
        let grant_rules_of = |ceiling: Ceiling| {
            agent_rules(&ceiling)
                .into_iter()
                .filter(|r| r.verbs.iter().any(|v| v == "bind" || v == "escalate"))
                .collect::<Vec<_>>()
        };
        let default = grant_rules_of(Ceiling::default());
        assert_eq!(default.len(), 1);
        assert_eq!(default[0].verbs, ["bind"]);
        assert_eq!(
            default[0].resource_names.as_deref(),
            Some(&["view".to_owned()][..])
        );
        let any = grant_rules_of(Ceiling {
            cluster_roles: vec!["*".into()],
            allow_rules: false,
        });
        assert_eq!(
            (any[0].verbs.as_slice(), &any[0].resource_names),
            (&["bind".to_owned()][..], &None)
        );
        assert!(
            grant_rules_of(Ceiling {
                cluster_roles: Vec::new(),
                allow_rules: false,
            })
            .is_empty()
        );
        let rules = grant_rules_of(Ceiling {
            cluster_roles: vec!["view".into()],
            allow_rules: true,
        });
        assert_eq!(rules[0].verbs, ["bind", "escalate"]);
        assert_eq!(rules[0].resource_names, None);
        // The agent is told the same ceiling.
        let args = docs_args(&docs());
        assert!(
            args.iter().any(|a| a == "--grantable-cluster-roles=view"),
            "{args:?}"
        );
    }
}
