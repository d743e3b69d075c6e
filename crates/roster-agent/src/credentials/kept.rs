//! The agent's hub identity kept on its member, where a replacement pod finds it: a Secret in
//! the agent's namespace holds its current hub token (written on every renewal), and once that
//! is in place the bootstrap credential is removed from the bootstrap Secret (its kubeconfig
//! keeps the hub's server and CA). A rolling upgrade, a drain or an eviction then needs no new
//! join, however old the bootstrap credential.

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    config::Kubeconfig,
};
use roster_api::names;
use secrecy::ExposeSecret;
use serde_json::json;

use super::token::Token;

/// Key of the token in the kept Secret.
pub const TOKEN_KEY: &str = "token";

/// Key of the kubeconfig in the bootstrap Secret (as `kubectl roster join` writes it).
pub const BOOTSTRAP_KEY: &str = "kubeconfig";

/// A Secret named `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl std::str::FromStr for SecretRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('/') {
            Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => Ok(Self {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            }),
            _ => Err(format!("{s:?} is not namespace/name")),
        }
    }
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where on its member the agent keeps its hub identity.
#[derive(Clone)]
pub struct Kept {
    member: Client,
    /// The Secret holding the agent's current hub token.
    pub credential: SecretRef,
    /// The bootstrap Secret, whose token is removed once the agent's own is kept.
    pub bootstrap: Option<SecretRef>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("credential", &self.credential)
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

impl Kept {
    /// Kept through `member` in `credential`, clearing `bootstrap`.
    pub fn new(member: Client, credential: SecretRef, bootstrap: Option<SecretRef>) -> Self {
        Self {
            member,
            credential,
            bootstrap,
        }
    }

    fn api(&self, at: &SecretRef) -> Api<Secret> {
        Api::namespaced(self.member.clone(), &at.namespace)
    }

    /// The token kept by an earlier pod, if any.
    pub async fn load(&self) -> Result<Option<Token>, kube::Error> {
        let secret = self
            .api(&self.credential)
            .get_opt(&self.credential.name)
            .await?;
        Ok(secret
            .and_then(|s| s.data?.remove(TOKEN_KEY))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .filter(|t| !t.trim().is_empty())
            .map(|t| Token::new(&t, "kept agent token")))
    }

    /// Keeps `token` (server-side apply of the whole Secret: created if missing).
    pub async fn save(&self, token: &Token) -> Result<(), kube::Error> {
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.credential.name,
                "namespace": self.credential.namespace,
                "labels": {names::LABEL_MANAGED_BY: names::MANAGED_BY},
            },
            "type": "Opaque",
            "data": {TOKEN_KEY: ByteString(token.secret.expose_secret().as_bytes().to_vec())},
        });
        self.api(&self.credential)
            .patch(
                &self.credential.name,
                &PatchParams::apply(names::AGENT_FIELD_MANAGER).force(),
                &Patch::Apply(secret),
            )
            .await
            .map(|_| ())
    }

    /// Removes the bootstrap credential from the bootstrap Secret, keeping the hub's server
    /// and CA; true when there was one to remove.
    pub async fn clear_bootstrap(&self) -> Result<bool, ClearError> {
        let Some(at) = &self.bootstrap else {
            return Ok(false);
        };
        let api = self.api(at);
        let Some(secret) = api.get_opt(&at.name).await? else {
            return Ok(false);
        };
        let data = secret.data.unwrap_or_default();
        let Some(raw) = data.get(BOOTSTRAP_KEY) else {
            return Ok(false);
        };
        let Some(cleared) = without_credentials(&String::from_utf8_lossy(&raw.0))? else {
            return Ok(false);
        };
        let patch =
            json!({"data": BTreeMap::from([(BOOTSTRAP_KEY, ByteString(cleared.into_bytes()))])});
        api.patch(
            &at.name,
            &PatchParams::apply(names::AGENT_FIELD_MANAGER),
            &Patch::Merge(patch),
        )
        .await?;
        Ok(true)
    }
}

/// Why the bootstrap credential could not be removed.
#[derive(Debug, thiserror::Error)]
pub enum ClearError {
    /// The member refused or failed the request.
    #[error("the member API server refused or failed the request")]
    Kube(#[from] kube::Error),
    /// The Secret's kubeconfig could not be read.
    #[error("the bootstrap kubeconfig cannot be read")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// It could not be written back.
    #[error("the bootstrap kubeconfig cannot be written")]
    Serialize(#[from] serde_json::Error),
}

/// `kubeconfig` (YAML or JSON) without any user credential, as JSON (a kubeconfig too); `None`
/// when it holds none.
pub fn without_credentials(kubeconfig: &str) -> Result<Option<String>, ClearError> {
    let mut config = Kubeconfig::from_yaml(kubeconfig)?;
    let mut had = false;
    for user in &mut config.auth_infos {
        if let Some(auth) = &mut user.auth_info {
            had |= auth.token.take().is_some() | auth.token_file.take().is_some();
        }
    }
    if !had {
        return Ok(None);
    }
    Ok(Some(serde_json::to_string(&config)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOTSTRAP: &str = "apiVersion: v1
kind: Config
clusters:
- name: hub
  cluster: {server: 'https://hub.example:6443', certificate-authority-data: Q0E=}
users:
- name: bootstrap
  user: {token: secret-bootstrap-token}
contexts:
- name: hub
  context: {cluster: hub, user: bootstrap}
current-context: hub
";

    #[test]
    fn the_bootstrap_kubeconfig_loses_its_token_and_keeps_the_hub() {
        let cleared = without_credentials(BOOTSTRAP).unwrap().unwrap();
        assert!(!cleared.contains("secret-bootstrap-token"), "{cleared}");
        let config = Kubeconfig::from_yaml(&cleared).unwrap();
        let cluster = config.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://hub.example:6443"));
        assert_eq!(cluster.certificate_authority_data.as_deref(), Some("Q0E="));
        assert_eq!(config.current_context.as_deref(), Some("hub"));
        assert_eq!(without_credentials(&cleared).unwrap(), None, "nothing left");
    }

    #[test]
    fn secret_references_are_namespace_slash_name() {
        let r: SecretRef = "roster-system/roster-agent-hub-credential".parse().unwrap();
        assert_eq!(r.namespace, "roster-system");
        assert_eq!(r.to_string(), "roster-system/roster-agent-hub-credential");
        for bad in ["", "name", "/name", "ns/"] {
            assert!(bad.parse::<SecretRef>().is_err(), "{bad}");
        }
    }
}
