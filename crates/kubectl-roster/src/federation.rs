//! `kubectl roster join --federation-config FILE`: the member API server's
//! `AuthenticationConfiguration` trusting the hub's service-account issuer for this member
//! (federated access, `roster_api::federation`).
//!
//! Issuer: what the hub's own discovery document says (the `iss` of its tokens). Discovery
//! URL and CA: those of the hub endpoint the agent's manifest carries, since the member's
//! control plane reaches the hub the way its agent does. The file is staged beside its
//! destination before the hub is touched and moved into place once the join succeeded, so an
//! unreadable discovery document or an unwritable file changes nothing.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use kube::config::AuthInfo;
use roster_api::federation::{self, HubIssuer};
use serde::Deserialize;
use serde_json::Value;

use crate::kubeconfig::HubEndpoint;

/// Where every Kubernetes API server serves its service-account issuer's discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// The opt-in component of `deploy/` that opens discovery to members (no credentials).
pub const DISCOVERY_COMPONENT: &str = "deploy/components/issuer-discovery";

/// What the configuration needs from the hub's discovery document.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Discovery {
    /// The hub's service-account issuer: the `iss` of its tokens.
    pub issuer: String,
    /// Where the hub's public keys are served.
    #[serde(default)]
    pub jwks_uri: String,
}

impl Discovery {
    /// Parses the document; an issuer that is missing or not `https` is an error (the member
    /// API server accepts only `https` issuers).
    pub fn parse(body: &str) -> anyhow::Result<Self> {
        let discovery: Self =
            serde_json::from_str(body).context("the hub's discovery document has no issuer")?;
        anyhow::ensure!(
            discovery.issuer.starts_with("https://"),
            "the hub's service-account issuer is {:?}; a member API server trusts only https \
             issuers (the hub API server's --service-account-issuer)",
            discovery.issuer
        );
        Ok(discovery)
    }
}

/// Reads the hub's discovery document with the admin's own client.
pub async fn read_discovery(hub: &kube::Client) -> anyhow::Result<Discovery> {
    let body = get(hub).await.with_context(|| {
        format!(
            "reading the hub's service-account issuer discovery document (GET {DISCOVERY_PATH}) \
             for --federation-config; nothing was changed"
        )
    })?;
    Discovery::parse(&body).context("--federation-config; nothing was changed")
}

async fn get(client: &kube::Client) -> anyhow::Result<String> {
    let request = http::Request::get(DISCOVERY_PATH).body(Vec::new())?;
    Ok(client.request_text(request).await?)
}

/// A warning when the hub refuses its discovery document to a caller without credentials, as
/// members are; `None` when it serves it (or the check itself could not run).
pub async fn anonymous_warning(hub: &kube::Config) -> Option<String> {
    let mut anonymous = hub.clone();
    anonymous.auth_info = AuthInfo::default();
    let client = kube::Client::try_from(anonymous).ok()?;
    match get(&client).await {
        Ok(_) => None,
        Err(e) => Some(format!(
            "the hub does not serve {DISCOVERY_PATH} to callers without credentials ({e:#}), \
             and member API servers fetch it without any: on the hub, apply the kustomize \
             component {DISCOVERY_COMPONENT} (it binds system:service-account-issuer-discovery \
             to system:unauthenticated)"
        )),
    }
}

/// The discovery URL on the hub API server `server`.
pub fn discovery_url(server: &str) -> String {
    format!("{}{DISCOVERY_PATH}", server.trim_end_matches('/'))
}

/// The `AuthenticationConfiguration` for `member`, trusting the issuer of `discovery` through
/// `endpoint` (the hub as the agent's manifest reaches it).
pub fn authentication_config(
    member: &str,
    endpoint: &HubEndpoint,
    discovery: &Discovery,
) -> anyhow::Result<Value> {
    anyhow::ensure!(
        !endpoint.insecure,
        "--federation-config needs the hub's CA, but the hub kubeconfig skips certificate \
         checks: a member API server verifies the hub's certificate; nothing was changed"
    );
    let hub = HubIssuer {
        url: discovery.issuer.clone(),
        discovery_url: discovery_url(&endpoint.server),
        ca_pem: endpoint.ca_pem.clone().unwrap_or_default(),
    };
    let mut config = federation::authentication_config(member, &hub);
    if hub.ca_pem.is_empty()
        && let Some(issuer) = config["jwt"][0]["issuer"].as_object_mut()
    {
        // No CA in the kubeconfig: the hub's certificate chains to the system roots, which
        // is what the API server uses when the field is absent.
        issuer.remove("certificateAuthority");
    }
    Ok(config)
}

/// The `AuthenticationConfiguration` for `member` when the hub's issuer is public: the
/// member's API server fetches the issuer's discovery document and keys from the issuer URL
/// itself, checked against its system roots, so neither a discovery URL nor a CA is written
/// (and the hub kubeconfig's endpoint does not matter).
pub fn public_issuer_config(member: &str, discovery: &Discovery) -> Value {
    let hub = HubIssuer {
        url: discovery.issuer.clone(),
        discovery_url: String::new(),
        ca_pem: String::new(),
    };
    let mut config = federation::authentication_config(member, &hub);
    if let Some(issuer) = config["jwt"][0]["issuer"].as_object_mut() {
        issuer.remove("discoveryURL");
        issuer.remove("certificateAuthority");
    }
    config
}

/// The file's text: a header saying what it is, then the configuration as YAML.
pub fn render(member: &str, config: &Value) -> anyhow::Result<String> {
    let yaml = serde_saphyr::to_string(config).context("serializing the configuration")?;
    Ok(format!(
        "# kube-apiserver --authentication-config of member {member}: accept the Roster hub's \
         service-account\n# tokens for audience {}, as users {}.\n\
         # Written by `kubectl roster join {member} --federation-config`.\n{yaml}",
        federation::audience(member),
        federation::federated_user("<namespace>", "<name>"),
    ))
}

/// What may stop the member from using the configuration as written.
pub fn warnings(endpoint: &HubEndpoint, discovery: &Discovery) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(name) = &endpoint.tls_server_name {
        warnings.push(format!(
            "the hub kubeconfig checks the hub's certificate against the name {name}, which an \
             AuthenticationConfiguration cannot express: the discovery URL's host must be in \
             the certificate (pass --hub-server with such a URL)"
        ));
    }
    if !discovery.jwks_uri.is_empty() && origin(&discovery.jwks_uri) != origin(&endpoint.server) {
        warnings.push(format!(
            "the hub's discovery document sends members to {} for its keys, not to the hub API \
             server {}: the member fetches them with the CA written here; if that host has \
             another CA (a managed hub's public issuer), join again with \
             --federation-public-issuer so the member uses the issuer {} directly",
            discovery.jwks_uri, endpoint.server, discovery.issuer
        ));
    }
    warnings
}

/// `scheme://host[:port]` of `url`, with the default https port dropped.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = match scheme {
        "https" => authority.strip_suffix(":443").unwrap_or(authority),
        _ => authority,
    };
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    )
}

/// What the member's admin does with the file.
pub fn instructions(member: &str, file: &Path, discovery: &Discovery) -> String {
    let file = file.display();
    format!(
        "wrote {file}: the authentication configuration member {member}'s API server needs to \
         accept hub service-account tokens for audience {audience} (issuer {issuer}).\n\
         On member {member}'s control plane:\n\
         - copy it to every API server host and start kube-apiserver with \
         --authentication-config=<that path>; once the flag is set, the API server reloads \
         the file when it changes, without a restart\n\
         - --authentication-config cannot be combined with --oidc-* flags: move those into \
         the file as another jwt entry\n\
         - if the API server already has an --authentication-config, add this file's jwt \
         entry to that file's jwt list instead of replacing it\n\
         - managed Kubernetes: configure an external OIDC issuer {issuer} with client ID \
         (audience) {audience}, username claim sub with prefix {prefix}, no groups, and the \
         CA of this file (see README, \"Federated access\")\n\
         - the member's API server must reach the hub's discovery URL and keys ({jwks})\n\
         then check: kubectl roster status (the member reports whether it trusts the hub)",
        audience = federation::audience(member),
        issuer = discovery.issuer,
        prefix = federation::USERNAME_PREFIX,
        jwks = if discovery.jwks_uri.is_empty() {
            "its jwks_uri"
        } else {
            &discovery.jwks_uri
        },
    )
}

/// A file written under a temporary name beside its destination, moved there by
/// [`Staged::commit`]; removed if dropped uncommitted.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Staged {
    /// Writes `content` beside `dest`; fails (writing nothing) when the folder is not
    /// writable.
    pub fn write(dest: &Path, content: &str) -> anyhow::Result<Self> {
        let name = dest
            .file_name()
            .with_context(|| format!("{} is not a file name", dest.display()))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".roster-{}", std::process::id()));
        let temp = dest.with_file_name(temp_name);
        let staged = Self {
            temp,
            dest: dest.to_owned(),
            committed: false,
        };
        let mut file = std::fs::File::create(&staged.temp)
            .with_context(|| format!("cannot write {}; nothing was changed", dest.display()))?;
        file.write_all(content.as_bytes())
            .with_context(|| format!("cannot write {}; nothing was changed", dest.display()))?;
        Ok(staged)
    }

    /// Moves the file to its destination.
    pub fn commit(mut self) -> anyhow::Result<()> {
        std::fs::rename(&self.temp, &self.dest)
            .with_context(|| format!("moving the configuration to {}", self.dest.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn endpoint(server: &str) -> HubEndpoint {
        HubEndpoint {
            server: server.into(),
            ca_pem: Some(CA.into()),
            ..HubEndpoint::default()
        }
    }

    fn discovery(jwks: &str) -> Discovery {
        Discovery {
            issuer: "https://hub.roster.test".into(),
            jwks_uri: jwks.into(),
        }
    }

    #[test]
    fn discovery_documents_are_read_and_checked() {
        let doc = r#"{"issuer":"https://hub.example","jwks_uri":"https://10.0.0.1:6443/openid/v1/jwks",
            "response_types_supported":["id_token"]}"#;
        let parsed = Discovery::parse(doc).expect("valid");
        assert_eq!(parsed.issuer, "https://hub.example");
        assert_eq!(parsed.jwks_uri, "https://10.0.0.1:6443/openid/v1/jwks");
        for (bad, says) in [
            ("not json", "no issuer"),
            (r#"{"jwks_uri":"x"}"#, "no issuer"),
            (
                r#"{"issuer":"kubernetes/serviceaccount"}"#,
                "only https issuers",
            ),
        ] {
            let err = format!("{:#}", Discovery::parse(bad).expect_err(bad));
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_discovery_url_is_on_the_agents_hub_endpoint() {
        for server in ["https://10.200.0.11:6443", "https://10.200.0.11:6443/"] {
            assert_eq!(
                discovery_url(server),
                "https://10.200.0.11:6443/.well-known/openid-configuration"
            );
        }
        assert_eq!(
            discovery_url("https://lb.example/hub"),
            "https://lb.example/hub/.well-known/openid-configuration"
        );
    }

    #[test]
    fn the_configuration_is_the_shared_one_for_the_hubs_issuer_endpoint_and_ca() {
        let config =
            authentication_config("m1", &endpoint("https://10.200.0.11:6443"), &discovery(""))
                .expect("config");
        let expected = federation::authentication_config(
            "m1",
            &HubIssuer {
                url: "https://hub.roster.test".into(),
                discovery_url: "https://10.200.0.11:6443/.well-known/openid-configuration".into(),
                ca_pem: CA.into(),
            },
        );
        assert_eq!(config, expected);
    }

    #[test]
    fn system_roots_leave_the_ca_out_and_skipped_checks_are_refused() {
        let mut system_roots = endpoint("https://hub.example");
        system_roots.ca_pem = None;
        let config = authentication_config("m1", &system_roots, &discovery("")).expect("config");
        let issuer = &config["jwt"][0]["issuer"];
        assert!(issuer.get("certificateAuthority").is_none(), "{issuer}");
        assert_eq!(issuer["url"], "https://hub.roster.test");

        let mut insecure = endpoint("https://hub.example");
        insecure.insecure = true;
        let err = authentication_config("m1", &insecure, &discovery("")).expect_err("insecure");
        assert!(
            err.to_string().contains("skips certificate checks"),
            "{err}"
        );
    }

    #[test]
    fn a_public_issuer_is_named_alone() {
        let config = public_issuer_config("m1", &discovery("https://oidc.example/keys"));
        let issuer = &config["jwt"][0]["issuer"];
        assert_eq!(
            issuer,
            &serde_json::json!({"url": "https://hub.roster.test", "audiences": ["roster:m1"]}),
            "no discoveryURL, no certificateAuthority"
        );
        let through_hub =
            authentication_config("m1", &endpoint("https://10.200.0.11:6443"), &discovery(""))
                .expect("config");
        let mut rest = config.clone();
        rest["jwt"][0]["issuer"] = through_hub["jwt"][0]["issuer"].clone();
        assert_eq!(rest, through_hub, "claims, mappings and rules are the same");
    }

    #[test]
    fn the_file_says_what_it_is_and_parses_back_to_the_configuration() {
        let config = authentication_config("m1", &endpoint("https://h:6443"), &discovery(""))
            .expect("config");
        let text = render("m1", &config).expect("yaml");
        assert!(text.starts_with("# kube-apiserver --authentication-config of member m1"));
        assert!(
            text.contains("as users roster-hub:system:serviceaccount:<namespace>:<name>"),
            "{text}"
        );
        let parsed: Value = serde_saphyr::from_str(&text).expect("parses");
        assert_eq!(parsed, config);
    }

    /// `config/member-authentication-config.yaml` is what join writes for this hub.
    #[test]
    fn the_sample_in_config_is_what_join_writes() {
        let sample = include_str!("../../../config/member-authentication-config.yaml");
        let hub = HubEndpoint {
            server: "https://hub.example.com:6443".into(),
            ca_pem: Some(
                "-----BEGIN CERTIFICATE-----\n<the hub's CA>\n-----END CERTIFICATE-----\n".into(),
            ),
            ..HubEndpoint::default()
        };
        let discovery = Discovery {
            issuer: "https://kubernetes.default.svc.cluster.local".into(),
            jwks_uri: "https://hub.example.com:6443/openid/v1/jwks".into(),
        };
        let written = authentication_config("member-1", &hub, &discovery).expect("config");
        let parsed: Value = serde_saphyr::from_str(sample).expect("the sample parses");
        assert_eq!(parsed, written, "regenerate the sample from render()");
    }

    #[test]
    fn keys_elsewhere_and_server_names_are_warned_about() {
        let same = endpoint("https://10.200.0.11:6443");
        assert!(warnings(&same, &discovery("https://10.200.0.11:6443/openid/v1/jwks")).is_empty());
        assert!(warnings(&same, &discovery("")).is_empty());
        let default_port = endpoint("https://Hub.example");
        assert!(warnings(&default_port, &discovery("https://hub.example:443/keys")).is_empty());

        let public = warnings(&same, &discovery("https://oidc.example.com/id/1/keys"));
        assert_eq!(public.len(), 1);
        assert!(
            public[0].contains("--federation-public-issuer"),
            "{}",
            public[0]
        );

        let mut named = endpoint("https://10.0.0.1:6443");
        named.tls_server_name = Some("hub.internal".into());
        let named = warnings(&named, &discovery("https://10.0.0.1:6443/openid/v1/jwks"));
        assert!(named[0].contains("hub.internal"), "{named:?}");
    }

    #[test]
    fn instructions_name_the_flag_its_limits_and_the_audience() {
        let text = instructions("m1", Path::new("m1-auth.yaml"), &discovery(""));
        for part in [
            "m1-auth.yaml",
            "--authentication-config=",
            "reloads",
            "--oidc-*",
            "jwt entry",
            "roster:m1",
            "roster-hub:",
            "https://hub.roster.test",
        ] {
            assert!(text.contains(part), "{part} missing from:\n{text}");
        }
    }

    #[test]
    fn a_staged_file_appears_only_when_committed() {
        let dir = std::env::temp_dir().join(format!("roster-staged-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let dest = dir.join("auth.yaml");
        let staged = Staged::write(&dest, "a: 1\n").expect("writable");
        assert!(!dest.exists());
        staged.commit().expect("commit");
        assert_eq!(std::fs::read_to_string(&dest).expect("read"), "a: 1\n");

        let dropped = dir.join("dropped.yaml");
        drop(Staged::write(&dropped, "b: 2\n").expect("writable"));
        assert!(!dropped.exists());
        let left: Vec<_> = std::fs::read_dir(&dir).expect("list").flatten().collect();
        assert_eq!(left.len(), 1, "only the committed file: {left:?}");

        let err = Staged::write(&dir.join("missing/auth.yaml"), "c").expect_err("no folder");
        assert!(err.to_string().contains("nothing was changed"), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
