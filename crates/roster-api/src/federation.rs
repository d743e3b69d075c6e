//! Federated identity (issue 17, first slice): what a member's API server needs to trust the
//! hub's service-account issuer through structured authentication, and the names the hub, the
//! agent and the plugin agree on. Pure: nothing here is wired into a component yet.
//!
//! A hub pod presents a short-lived token of its own hub service account, bound to the audience
//! of one member ([`audience`]); the member's API server verifies it against the hub's issuer
//! (its discovery document and keys, fetched from the hub's API server with the hub's CA) and
//! maps its `sub` to a user under [`USERNAME_PREFIX`], which no member user or service account
//! can have: member service accounts are `system:serviceaccount:…` and the API server refuses
//! external users under `system:`.

use serde_json::{Value, json};

/// The prefix of every federated user on a member: `roster-hub:` then the hub service account's
/// `system:serviceaccount:<namespace>:<name>`.
pub const USERNAME_PREFIX: &str = "roster-hub:";

/// The `sub` of every hub service-account token.
const SERVICE_ACCOUNT_SUBJECT: &str = "system:serviceaccount:";

/// The audience a hub token must carry to be accepted by `member` (and by no other member).
pub fn audience(member: &str) -> String {
    format!("roster:{member}")
}

/// The member user a hub service account `namespace/name` becomes.
pub fn federated_user(namespace: &str, name: &str) -> String {
    format!("{USERNAME_PREFIX}{SERVICE_ACCOUNT_SUBJECT}{namespace}:{name}")
}

/// How a member reaches the hub's service-account issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubIssuer {
    /// The issuer the hub's tokens carry (`iss`, the hub API server's `--service-account-issuer`).
    pub url: String,
    /// Where the member fetches the discovery document: the hub API server's
    /// `/.well-known/openid-configuration` (readable by `system:service-account-issuer-discovery`).
    pub discovery_url: String,
    /// PEM of the CA that signs the hub API server's serving certificate.
    pub ca_pem: String,
}

/// The member API server's `AuthenticationConfiguration` (`--authentication-config`) trusting
/// `hub` for `member`: only hub service-account tokens for this member's audience, mapped under
/// [`USERNAME_PREFIX`], without groups.
pub fn authentication_config(member: &str, hub: &HubIssuer) -> Value {
    json!({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "jwt": [{
            "issuer": {
                "url": hub.url,
                "discoveryURL": hub.discovery_url,
                "certificateAuthority": hub.ca_pem,
                "audiences": [audience(member)],
            },
            "claimValidationRules": [{
                "expression": format!("claims.sub.startsWith('{SERVICE_ACCOUNT_SUBJECT}')"),
                "message": "only the hub's service accounts are federated",
            }],
            "claimMappings": {
                "username": {"claim": "sub", "prefix": USERNAME_PREFIX},
            },
            "userValidationRules": [{
                "expression": format!(
                    "user.username.startsWith('{USERNAME_PREFIX}{SERVICE_ACCOUNT_SUBJECT}')"
                ),
                "message": format!(
                    "a federated user is {USERNAME_PREFIX}{SERVICE_ACCOUNT_SUBJECT}<namespace>:<name>"
                ),
            }],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> HubIssuer {
        HubIssuer {
            url: "https://hub.roster.test".into(),
            discovery_url: "https://10.200.0.11:6443/.well-known/openid-configuration".into(),
            ca_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
        }
    }

    #[test]
    fn each_member_trusts_only_its_own_audience_from_the_hub() {
        let config = authentication_config("member-1", &hub());
        let jwt = &config["jwt"][0];
        assert_eq!(config["apiVersion"], "apiserver.config.k8s.io/v1");
        assert_eq!(jwt["issuer"]["url"], "https://hub.roster.test");
        assert_eq!(jwt["issuer"]["audiences"], json!(["roster:member-1"]));
        assert_eq!(
            jwt["issuer"]["discoveryURL"],
            "https://10.200.0.11:6443/.well-known/openid-configuration"
        );
        assert!(
            jwt["issuer"]["certificateAuthority"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert_eq!(jwt["claimMappings"]["username"]["prefix"], USERNAME_PREFIX);
        assert!(jwt["claimMappings"].get("groups").is_none(), "no groups");
        assert_ne!(
            authentication_config("member-2", &hub())["jwt"][0]["issuer"]["audiences"],
            jwt["issuer"]["audiences"]
        );
    }

    #[test]
    fn federated_users_cannot_collide_with_member_identities() {
        let user = federated_user("team-a", "deployer");
        assert_eq!(user, "roster-hub:system:serviceaccount:team-a:deployer");
        // Member service accounts and the API server's own users all start with `system:`.
        assert!(!user.starts_with("system:"));
        let rule =
            authentication_config("m", &hub())["jwt"][0]["userValidationRules"][0]["expression"]
                .as_str()
                .unwrap()
                .to_owned();
        assert!(rule.contains("roster-hub:system:serviceaccount:"), "{rule}");
    }
}
