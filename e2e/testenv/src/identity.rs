//! Identities for tests and the bench: a service account allowed exactly some rules in its
//! namespace (a Role and a RoleBinding), and TokenRequest tokens for service accounts.

use k8s_openapi::{
    api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        core::v1::ServiceAccount as ServiceAccountObject,
        rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
    },
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};

use crate::{Cluster, kubeconfig};

/// How long tokens last unless asked otherwise, seconds (the API server's minimum).
pub const TOKEN_SECONDS: i64 = 600;

/// A TokenRequest token and when it expires.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer token.
    pub token: String,
    /// Its `expirationTimestamp`.
    pub expires: Timestamp,
}

impl Token {
    /// A client of `cluster` authenticating with the token.
    pub async fn client(&self, cluster: &Cluster) -> anyhow::Result<Client> {
        client(cluster, &self.token).await
    }
}

/// A client of `cluster` authenticating with the bearer `token`.
pub async fn client(cluster: &Cluster, token: &str) -> anyhow::Result<Client> {
    let config = kubeconfig::to_config(cluster.token_kubeconfig(token)).await?;
    Ok(Client::try_from(config)?)
}

/// A service account to create, with the rules it may use in its namespace.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    namespace: String,
    name: String,
    role: String,
    rules: Vec<PolicyRule>,
    seconds: i64,
}

/// Service account `name` in `namespace`, allowed nothing until [`ServiceAccount::rules`].
pub fn service_account(namespace: &str, name: &str) -> ServiceAccount {
    ServiceAccount {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        role: name.to_owned(),
        rules: Vec::new(),
        seconds: TOKEN_SECONDS,
    }
}

impl ServiceAccount {
    /// Allows `rules` in the namespace, through a Role and a RoleBinding.
    pub fn rules(mut self, rules: impl IntoIterator<Item = PolicyRule>) -> Self {
        self.rules.extend(rules);
        self
    }

    /// Names the Role and RoleBinding `role` (by default, as the service account).
    pub fn role_name(mut self, role: &str) -> Self {
        role.clone_into(&mut self.role);
        self
    }

    /// The token's lifetime, seconds ([`TOKEN_SECONDS`] by default).
    pub fn expires_in(mut self, seconds: i64) -> Self {
        self.seconds = seconds;
        self
    }

    /// Creates the service account, its Role and RoleBinding (when it has rules) with
    /// `admin`, and returns a fresh token for it.
    pub async fn create(&self, admin: &Client) -> anyhow::Result<Token> {
        let pp = PostParams::default();
        let (ns, name) = (self.namespace.as_str(), self.name.as_str());
        let meta = |name: &str| ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            ..ObjectMeta::default()
        };
        Api::<ServiceAccountObject>::namespaced(admin.clone(), ns)
            .create(
                &pp,
                &ServiceAccountObject {
                    metadata: meta(name),
                    ..ServiceAccountObject::default()
                },
            )
            .await?;
        if !self.rules.is_empty() {
            let role = Role {
                metadata: meta(&self.role),
                rules: Some(self.rules.clone()),
            };
            Api::<Role>::namespaced(admin.clone(), ns)
                .create(&pp, &role)
                .await?;
            let binding = RoleBinding {
                metadata: meta(&self.role),
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "Role".into(),
                    name: self.role.clone(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: name.to_owned(),
                    namespace: Some(ns.to_owned()),
                    ..Subject::default()
                }]),
            };
            Api::<RoleBinding>::namespaced(admin.clone(), ns)
                .create(&pp, &binding)
                .await?;
        }
        token(admin, ns, name, self.seconds).await
    }
}

/// A token of the existing service account `namespace/name`, lasting `seconds`, requested by
/// `client`.
pub async fn token(
    client: &Client,
    namespace: &str,
    name: &str,
    seconds: i64,
) -> anyhow::Result<Token> {
    request(client, namespace, name, seconds, None).await
}

/// A token of the existing service account `namespace/name` bound to `audience` (lasting
/// [`TOKEN_SECONDS`]), requested by `client`: what the kubelet projects for a pod, or what
/// `roster-credential --federated` requests.
pub async fn token_for_audience(
    client: &Client,
    namespace: &str,
    name: &str,
    audience: &str,
) -> anyhow::Result<Token> {
    request(
        client,
        namespace,
        name,
        TOKEN_SECONDS,
        Some(vec![audience.to_owned()]),
    )
    .await
}

async fn request(
    client: &Client,
    namespace: &str,
    name: &str,
    seconds: i64,
    audiences: Option<Vec<String>>,
) -> anyhow::Result<Token> {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences,
            expiration_seconds: Some(seconds),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let status = Api::<ServiceAccountObject>::namespaced(client.clone(), namespace)
        .create_token_request(name, &PostParams::default(), &request)
        .await?
        .status
        .ok_or_else(|| anyhow::anyhow!("TokenRequest for {namespace}/{name} has no status"))?;
    match (status.token, status.expiration_timestamp) {
        (Some(token), Some(expires)) if !token.is_empty() => Ok(Token {
            token,
            expires: expires.0,
        }),
        _ => anyhow::bail!("TokenRequest for {namespace}/{name} gave no token or expiry"),
    }
}

/// A rule allowing `verbs` on `resources` of the API group `group` (`""`: the core group).
pub fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// [`rule`] restricted to the objects named `names`.
pub fn named_rule(group: &str, resources: &[&str], verbs: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule {
        resource_names: Some(names.iter().map(|n| (*n).to_owned()).collect()),
        ..rule(group, resources, verbs)
    }
}
