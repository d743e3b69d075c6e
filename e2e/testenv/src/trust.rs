//! Federated trust in the test bed (issue 17): each member API server starts with the
//! `AuthenticationConfiguration` that `kubectl roster join --federation-config` writes for it,
//! trusting its fleet's hub (`roster_api::federation::authentication_config`), and the hub
//! publishes its issuer discovery with the binding of `deploy/components/issuer-discovery`
//! ([`publish_issuer_discovery`]).
//!
//! A member's API server does not wait for the hub at start: its JWT authenticator fetches the
//! discovery document in the background and retries every 10 s, so hub and members still start
//! in parallel; hub tokens are refused (401) until the first fetch succeeds.

use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use roster_api::federation::{self, HubIssuer};

use crate::binary;

/// File name of a member's authentication configuration in its cluster folder.
pub const AUTHENTICATION_CONFIG: &str = "authentication-config.yaml";

/// The service-account issuer of test cluster `cluster` (its API server's
/// `--service-account-issuer` and `--api-audiences`).
pub fn issuer(cluster: &str) -> String {
    format!("https://{cluster}.roster.test")
}

/// How members reach hub `hub` whose API server is at `server` (as the agents reach it) with
/// serving certificates signed by `ca_pem`.
pub fn hub_issuer(hub: &str, server: &str, ca_pem: &str) -> HubIssuer {
    HubIssuer {
        url: issuer(hub),
        discovery_url: format!(
            "{}/.well-known/openid-configuration",
            server.trim_end_matches('/')
        ),
        ca_pem: ca_pem.to_owned(),
    }
}

/// The configuration text of member `member` trusting `hub`.
pub fn member_config(member: &str, hub: &HubIssuer) -> anyhow::Result<String> {
    let config = federation::authentication_config(member, hub);
    Ok(serde_saphyr::to_string(&config)?)
}

/// Writes member `member`'s configuration into its cluster folder `dir`; returns the API
/// server flag that loads it.
pub fn write_member_config(dir: &Path, member: &str, hub: &HubIssuer) -> anyhow::Result<String> {
    let path = dir.join(AUTHENTICATION_CONFIG);
    std::fs::write(&path, member_config(member, hub)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(apiserver_flag(&path))
}

/// `--authentication-config=<path>`.
pub fn apiserver_flag(path: &Path) -> String {
    format!("--authentication-config={}", path.display())
}

/// The configuration file of a member started with one, in its cluster folder `dir`.
pub fn config_path(dir: &Path) -> Option<PathBuf> {
    Some(dir.join(AUTHENTICATION_CONFIG)).filter(|p| p.is_file())
}

/// The opt-in kustomize component of `deploy/` that lets members read the hub's issuer
/// discovery, and its one resource: what the test bed applies to every hub.
pub const ISSUER_DISCOVERY: &str = "deploy/components/issuer-discovery";
const ISSUER_DISCOVERY_FILE: &str = "issuer-discovery.yaml";

/// Field manager of what the test bed applies for trust.
const FIELD_MANAGER: &str = "roster-e2e-trust";

/// The file of [`ISSUER_DISCOVERY`]'s one resource, in this workspace.
pub fn issuer_discovery_path() -> PathBuf {
    binary::workspace_root()
        .join(ISSUER_DISCOVERY)
        .join(ISSUER_DISCOVERY_FILE)
}

/// The ClusterRoleBinding of [`ISSUER_DISCOVERY`], read from its file.
pub fn issuer_discovery_binding() -> anyhow::Result<ClusterRoleBinding> {
    let path = issuer_discovery_path();
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Applies [`ISSUER_DISCOVERY`]'s binding to the hub `client` (server-side apply), so members
/// fetch the hub's discovery document and keys without credentials.
pub async fn publish_issuer_discovery(client: &kube::Client) -> anyhow::Result<()> {
    let binding = issuer_discovery_binding()?;
    let name = binding.metadata.name.clone().unwrap_or_default();
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&binding),
        )
        .await
        .with_context(|| format!("applying {ISSUER_DISCOVERY} to the hub"))?;
    Ok(())
}

/// Which members of a fleet trust its hub. By default every member does.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrustOptions<'a> {
    /// Members whose API server starts without the hub's authentication configuration, as a
    /// member whose admin has not set up federated access.
    pub untrusting: &'a [&'a str],
}

impl TrustOptions<'_> {
    /// Whether `member` trusts the hub.
    pub fn trusts(&self, member: &str) -> bool {
        !self.untrusting.contains(&member)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn members_trust_the_hubs_issuer_through_its_api_server() {
        let hub = hub_issuer("hub", "https://127.0.0.1:4443/", "CA");
        assert_eq!(hub.url, "https://hub.roster.test");
        assert_eq!(
            hub.discovery_url,
            "https://127.0.0.1:4443/.well-known/openid-configuration"
        );
        let text = member_config("member-1", &hub).unwrap();
        let parsed: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            federation::authentication_config("member-1", &hub),
            "the shared configuration, unchanged"
        );
    }

    #[test]
    fn the_hub_opens_exactly_the_discovery_role_to_callers_without_credentials() {
        let binding = issuer_discovery_binding().unwrap();
        assert_eq!(binding.role_ref.kind, "ClusterRole");
        assert_eq!(
            binding.role_ref.name,
            "system:service-account-issuer-discovery"
        );
        let subjects = binding.subjects.unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(
            (subjects[0].kind.as_str(), subjects[0].name.as_str()),
            ("Group", "system:unauthenticated")
        );
    }

    #[test]
    fn every_member_trusts_unless_named() {
        let options = TrustOptions {
            untrusting: &["plain"],
        };
        assert!(options.trusts("member-1"));
        assert!(!options.trusts("plain"));
        assert!(TrustOptions::default().trusts("plain"));
        assert_eq!(
            apiserver_flag(Path::new("/x/a.yaml")),
            "--authentication-config=/x/a.yaml"
        );
    }
}
