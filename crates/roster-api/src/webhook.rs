//! The pod automount webhook's `MutatingWebhookConfiguration` (product flow 5), decided once:
//! roster-hub applies it and puts it back when it is deleted or changed, `xtask deploy` writes
//! `deploy/hub/webhook.yaml` from it, and `make dev`, the e2e tests and the bench reach a hub
//! through it. Every decision (which pods, which namespaces, what happens when the hub is down)
//! is in [`configuration`]; callers only say where the hub listens.

use std::{collections::BTreeMap, fmt, str::FromStr};

use k8s_openapi::{
    ByteString,
    api::admissionregistration::v1::{
        MatchCondition, MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations,
        ServiceReference, WebhookClientConfig,
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta},
};

use crate::names;

/// Default name of the configuration (roster-hub's `--webhook-configuration`).
pub const CONFIGURATION: &str = "roster-hub";

/// The webhook's name inside the configuration (also the `name` label of the API server's
/// admission metrics).
pub const WEBHOOK: &str = "pods.roster.dev";

/// The path the hub serves AdmissionReviews on.
pub const PATH: &str = "/mutate-pods";

/// The webhook reviewing RemoteServiceAccounts under the RemoteAccessPolicies.
pub const RSA_WEBHOOK: &str = "remoteserviceaccounts.roster.dev";

/// The path the hub reviews RemoteServiceAccounts on.
pub const RSA_PATH: &str = "/validate-remoteserviceaccounts";

/// Name of the match condition that sends only creations and spec changes of live
/// RemoteServiceAccounts (never the hub's own finalizer updates).
pub const RSA_MATCH_CONDITION: &str = "creates-or-changes-the-spec";

/// Name of the match condition that sends only annotated pods.
pub const MATCH_CONDITION: &str = "asks-for-remote-service-accounts";

/// Seconds the API server waits for an answer.
pub const TIMEOUT_SECONDS: i32 = 5;

/// Namespace whose pods are never sent, besides the hub's own.
pub const KUBE_SYSTEM: &str = "kube-system";

/// Default port of a Service reference, as the API server defaults it.
pub const DEFAULT_SERVICE_PORT: i32 = 443;

/// Where the API server reaches the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The hub's Service in the cluster (path [`PATH`]).
    Service {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
        /// The Service's port.
        port: i32,
    },
    /// A URL, for a hub that runs off the cluster (tests, `make dev`).
    Url(String),
}

/// Why an endpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not `namespace/name[:port]`.
    #[error("{0:?} is not NAMESPACE/NAME[:PORT] (for example roster-system/roster-hub:443)")]
    Service(String),
    /// The API server calls webhook URLs over HTTPS only.
    #[error("{0:?} is not an https:// URL (for example https://127.0.0.1:9443/mutate-pods)")]
    Url(String),
}

impl Endpoint {
    /// An `https://` URL; the API server refuses any other scheme.
    pub fn url(url: &str) -> Result<Self, EndpointError> {
        let rest = url.strip_prefix("https://").unwrap_or_default();
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.contains('@') || url.contains(['?', '#']) {
            return Err(EndpointError::Url(url.to_owned()));
        }
        Ok(Self::Url(url.to_owned()))
    }

    /// The client config pointing there, trusting `ca_bundle` when given.
    pub fn client_config(&self, ca_bundle: Option<&[u8]>) -> WebhookClientConfig {
        self.client_config_at(PATH, ca_bundle)
    }

    /// The client config for the hub's `path`: a Service's path, or a URL's path replaced
    /// (the URL names the pod webhook; the others are on the same host).
    pub fn client_config_at(&self, path: &str, ca_bundle: Option<&[u8]>) -> WebhookClientConfig {
        let ca_bundle = ca_bundle.map(|b| ByteString(b.to_vec()));
        match self {
            Self::Service {
                namespace,
                name,
                port,
            } => WebhookClientConfig {
                service: Some(ServiceReference {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    path: Some(path.to_owned()),
                    port: Some(*port),
                }),
                ca_bundle,
                url: None,
            },
            Self::Url(url) => WebhookClientConfig {
                url: Some(if path == PATH {
                    url.clone()
                } else {
                    url_at(url, path)
                }),
                ca_bundle,
                service: None,
            },
        }
    }
}

/// `namespace/name[:port]` (a Service reference), or an `https://` URL.
impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains("://") {
            return Self::url(s);
        }
        let bad = || EndpointError::Service(s.to_owned());
        let (namespace, rest) = s.split_once('/').ok_or_else(bad)?;
        let (name, port) = match rest.split_once(':') {
            Some((name, port)) => (name, port.parse().map_err(|_| bad())?),
            None => (rest, DEFAULT_SERVICE_PORT),
        };
        let valid = |n: &str| {
            !n.is_empty()
                && n.len() <= 63
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !n.starts_with('-')
                && !n.ends_with('-')
        };
        if !valid(namespace) || !valid(name) || !(1..=65535).contains(&port) {
            return Err(bad());
        }
        Ok(Self::Service {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service {
                namespace,
                name,
                port,
            } => write!(f, "{namespace}/{name}:{port}"),
            Self::Url(url) => f.write_str(url),
        }
    }
}

/// `url` (`https://host[:port][/path]`) with its path replaced by `path`.
fn url_at(url: &str, path: &str) -> String {
    let rest = url.strip_prefix("https://").unwrap_or(url);
    let host = rest.split('/').next().unwrap_or_default();
    format!("https://{host}{path}")
}

/// The CEL expression of [`RSA_MATCH_CONDITION`].
pub const RSA_MATCH_EXPRESSION: &str = "request.operation == 'CREATE' || (!has(object.metadata.deletionTimestamp) && object.spec != oldObject.spec)";

/// The CEL expression of [`MATCH_CONDITION`]: the pod carries the automount annotation.
pub fn match_expression() -> String {
    format!(
        "has(object.metadata.annotations) && '{}' in object.metadata.annotations",
        names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS
    )
}

/// The configuration named `name` sending pod creations to the hub at `endpoint`, trusting
/// `ca_bundle` when given. `hub_namespace` (where the hub's pods run) is never sent, nor
/// kube-system: the hub's own pods must start without it.
///
/// The decisions:
/// - only pods carrying the annotation are sent (a match condition), so no other pod's
///   creation depends on the hub being up;
/// - `failurePolicy: Fail`: a pod that asks for remote credentials and starts without them
///   would run with none (or fall back to another identity); refusing it is better;
/// - `reinvocationPolicy: IfNeeded`: containers another webhook adds after this one get the
///   mounts too;
/// - `sideEffects: None`, and an answer within [`TIMEOUT_SECONDS`].
pub fn configuration(
    name: &str,
    endpoint: &Endpoint,
    hub_namespace: &str,
    ca_bundle: Option<&[u8]>,
) -> MutatingWebhookConfiguration {
    let mut excluded = vec![KUBE_SYSTEM.to_owned()];
    if hub_namespace != KUBE_SYSTEM {
        excluded.push(hub_namespace.to_owned());
    }
    MutatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_owned(),
                CONFIGURATION.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![
            MutatingWebhook {
                name: WEBHOOK.to_owned(),
                admission_review_versions: vec!["v1".to_owned()],
                side_effects: "None".to_owned(),
                failure_policy: Some("Fail".to_owned()),
                reinvocation_policy: Some("IfNeeded".to_owned()),
                timeout_seconds: Some(TIMEOUT_SECONDS),
                client_config: endpoint.client_config(ca_bundle),
                rules: Some(vec![RuleWithOperations {
                    api_groups: Some(vec![String::new()]),
                    api_versions: Some(vec!["v1".to_owned()]),
                    operations: Some(vec!["CREATE".to_owned()]),
                    resources: Some(vec!["pods".to_owned()]),
                    scope: Some("Namespaced".to_owned()),
                }]),
                namespace_selector: Some(LabelSelector {
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "kubernetes.io/metadata.name".to_owned(),
                        operator: "NotIn".to_owned(),
                        values: Some(excluded),
                    }]),
                    match_labels: None,
                }),
                match_conditions: Some(vec![MatchCondition {
                    name: MATCH_CONDITION.to_owned(),
                    expression: match_expression(),
                }]),
                match_policy: None,
                object_selector: None,
            },
            rsa_webhook(endpoint, ca_bundle),
        ]),
    }
}

/// The webhook refusing RemoteServiceAccounts beyond the RemoteAccessPolicies. It never
/// patches (`reinvocationPolicy: IfNeeded` has it look again when a later webhook changes the
/// object), fails closed (`failurePolicy: Fail`: no hub, no new rights), and sees creations and
/// spec changes only, so the hub's finalizer updates and deletions never depend on it. In
/// every namespace: a tenant may own any namespace but the hub's.
fn rsa_webhook(endpoint: &Endpoint, ca_bundle: Option<&[u8]>) -> MutatingWebhook {
    MutatingWebhook {
        name: RSA_WEBHOOK.to_owned(),
        admission_review_versions: vec!["v1".to_owned()],
        side_effects: "None".to_owned(),
        failure_policy: Some("Fail".to_owned()),
        reinvocation_policy: Some("IfNeeded".to_owned()),
        timeout_seconds: Some(TIMEOUT_SECONDS),
        client_config: endpoint.client_config_at(RSA_PATH, ca_bundle),
        rules: Some(vec![RuleWithOperations {
            api_groups: Some(vec![crate::GROUP.to_owned()]),
            api_versions: Some(vec!["v1alpha1".to_owned()]),
            operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
            resources: Some(vec!["remoteserviceaccounts".to_owned()]),
            scope: Some("Namespaced".to_owned()),
        }]),
        namespace_selector: Some(LabelSelector::default()),
        match_conditions: Some(vec![MatchCondition {
            name: RSA_MATCH_CONDITION.to_owned(),
            expression: RSA_MATCH_EXPRESSION.to_owned(),
        }]),
        match_policy: None,
        object_selector: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn service() -> Endpoint {
        "roster-system/roster-hub:443".parse().unwrap()
    }

    #[test]
    fn endpoints_parse_and_print_back() {
        assert_eq!(
            service(),
            Endpoint::Service {
                namespace: "roster-system".into(),
                name: "roster-hub".into(),
                port: 443
            }
        );
        assert_eq!(service().to_string(), "roster-system/roster-hub:443");
        assert_eq!(
            "ns/hub".parse::<Endpoint>().unwrap().to_string(),
            "ns/hub:443"
        );
        let url = "https://127.0.0.1:9443/mutate-pods";
        assert_eq!(url.parse::<Endpoint>().unwrap(), Endpoint::Url(url.into()));
        for bad in [
            "roster-hub",
            "/roster-hub",
            "ns/",
            "ns/hub:0",
            "ns/hub:x",
            "NS/hub",
            "ns/hub/x",
        ] {
            let err = bad.parse::<Endpoint>().unwrap_err();
            assert_eq!(err, EndpointError::Service(bad.into()), "{bad}");
        }
        for bad in [
            "http://127.0.0.1:9443/mutate-pods",
            "https://",
            "https://u@host/x",
            "https://host/x?a=b",
        ] {
            assert!(
                matches!(bad.parse::<Endpoint>(), Err(EndpointError::Url(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_configuration_sends_only_annotated_pods_outside_the_system_namespaces() {
        let config = configuration("roster-hub", &service(), "roster-system", None);
        assert_eq!(config.metadata.name.as_deref(), Some("roster-hub"));
        let hooks = config.webhooks.unwrap();
        let [hook, rsas] = hooks.as_slice() else {
            panic!("two webhooks: {hooks:?}")
        };
        assert_eq!(rsas.name, RSA_WEBHOOK);
        assert_eq!(rsas.failure_policy.as_deref(), Some("Fail"));
        assert_eq!(
            rsas.client_config.service.as_ref().unwrap().path.as_deref(),
            Some(RSA_PATH)
        );
        let rsa_rules = &rsas.rules.as_ref().unwrap()[0];
        assert_eq!(
            rsa_rules.resources.as_deref(),
            Some(&["remoteserviceaccounts".to_owned()][..])
        );
        assert_eq!(
            rsa_rules.operations.as_deref(),
            Some(&["CREATE".to_owned(), "UPDATE".to_owned()][..])
        );
        assert_eq!(hook.name, WEBHOOK);
        assert_eq!(hook.failure_policy.as_deref(), Some("Fail"));
        assert_eq!(hook.reinvocation_policy.as_deref(), Some("IfNeeded"));
        assert_eq!(hook.side_effects, "None");
        assert_eq!(hook.timeout_seconds, Some(5));
        let rules = hook.rules.as_ref().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(
            rules[0].operations.as_deref(),
            Some(&["CREATE".to_owned()][..])
        );
        assert_eq!(
            rules[0].resources.as_deref(),
            Some(&["pods".to_owned()][..])
        );
        let excluded = hook
            .namespace_selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap();
        assert_eq!(excluded[0].operator, "NotIn");
        assert_eq!(
            excluded[0].values.as_deref(),
            Some(&["kube-system".to_owned(), "roster-system".to_owned()][..])
        );
        let condition = &hook.match_conditions.as_ref().unwrap()[0];
        assert_eq!(condition.name, MATCH_CONDITION);
        assert!(
            condition
                .expression
                .contains(names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS)
        );
        // No caBundle unless given: a re-apply of deploy/hub must not reset the hub's.
        let service = hook.client_config.service.as_ref().unwrap();
        assert_eq!(
            (
                service.namespace.as_str(),
                service.name.as_str(),
                service.path.as_deref(),
                service.port
            ),
            ("roster-system", "roster-hub", Some(PATH), Some(443))
        );
        assert!(hook.client_config.ca_bundle.is_none());
        assert!(hook.client_config.url.is_none());
    }

    #[test]
    fn a_url_and_a_ca_bundle_go_into_the_client_config() {
        let url = Endpoint::url("https://127.0.0.1:9443/mutate-pods").unwrap();
        let config = configuration("private", &url, "kube-system", Some(b"PEM"));
        let hook = &config.webhooks.as_ref().unwrap()[0];
        assert_eq!(
            hook.client_config.url.as_deref(),
            Some("https://127.0.0.1:9443/mutate-pods")
        );
        assert!(hook.client_config.service.is_none());
        assert_eq!(
            config.webhooks.as_ref().unwrap()[1]
                .client_config
                .url
                .as_deref(),
            Some("https://127.0.0.1:9443/validate-remoteserviceaccounts")
        );
        assert_eq!(
            hook.client_config.ca_bundle,
            Some(ByteString(b"PEM".to_vec()))
        );
        let excluded = &hook
            .namespace_selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap()[0];
        assert_eq!(
            excluded.values.as_deref(),
            Some(&["kube-system".to_owned()][..])
        );
    }

    #[test]
    fn the_configuration_serializes_as_the_api_expects() {
        let value = serde_json::to_value(configuration(
            "roster-hub",
            &service(),
            "roster-system",
            None,
        ))
        .unwrap();
        let hook = &value["webhooks"][0];
        assert_eq!(hook["rules"][0]["apiGroups"], serde_json::json!([""]));
        assert_eq!(
            hook["clientConfig"],
            serde_json::json!({"service": {
            "namespace": "roster-system", "name": "roster-hub", "path": "/mutate-pods", "port": 443}})
        );
        assert!(hook.get("objectSelector").is_none());
    }
}
