//! Federated mode's decisions: which audience, which file, whether a token can be handed out,
//! which hub service account the plugin is, and what a TokenRequest asks for and answers.
//!
//! The plugin hands out a token of its own hub service account, audience-bound to one member;
//! members that trust the hub's issuer map it to a federated user (see
//! `roster_api::federation`). Nothing here performs I/O: `run` reads the file or calls the hub.

use std::path::{Path, PathBuf};

use k8s_openapi::{
    api::authentication::v1::{TokenRequest, TokenRequestSpec},
    jiff::Timestamp,
};
use secrecy::SecretString;

use crate::{
    error::Error,
    exec_info::AudienceField,
    jwt,
    secret::{Credential, human_duration, rfc3339},
    target::ServiceAccountRef,
};

/// The file name under `<token dir>/<cluster>/`, as the webhook mounts it.
pub const TOKEN_FILE: &str = "token";

/// What a username of a service account starts with.
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// The audience to ask for: the extension's `audience`, else `roster:<cluster>`.
pub fn audience(cluster: &str, field: &AudienceField) -> Result<String, Error> {
    match field {
        AudienceField::Absent => Ok(roster_api::federation::audience(cluster)),
        AudienceField::Text(audience) => Ok(audience.clone()),
        AudienceField::Invalid(found) => Err(Error::BadAudience {
            found: found.clone(),
        }),
    }
}

/// `<dir>/<cluster>/token`; the cluster name comes from the client, so one that would reach
/// outside `dir` (`/`, `..`) is refused.
pub fn token_file(dir: &Path, cluster: &str) -> Result<PathBuf, Error> {
    if !roster_api::validation::is_dns_subdomain(cluster) {
        return Err(Error::InvalidClusterName {
            cluster: cluster.to_owned(),
        });
    }
    Ok(dir.join(cluster).join(TOKEN_FILE))
}

/// The credential in the token file at `path` (its `contents` as read), if its token is for
/// `audience` and not expired at `now`.
pub fn file_credential(
    path: &Path,
    cluster: &str,
    contents: std::io::Result<Vec<u8>>,
    audience: &str,
    now: Timestamp,
) -> Result<Credential, Error> {
    let bytes = contents.map_err(|e| Error::TokenFileUnreadable {
        path: path.to_owned(),
        cluster: cluster.to_owned(),
        cause: e.to_string(),
    })?;
    let not_jwt = || Error::TokenFileNotJwt {
        path: path.to_owned(),
    };
    let token = std::str::from_utf8(&bytes).map_err(|_| not_jwt())?.trim();
    let claims = jwt::claims(token).ok_or_else(not_jwt)?;
    let expiration = claims
        .expires
        .and_then(|exp| Timestamp::from_second(exp).ok())
        .ok_or_else(not_jwt)?;
    if !claims.audiences.iter().any(|a| a == audience) {
        return Err(Error::TokenFileWrongAudience {
            path: path.to_owned(),
            audience: audience.to_owned(),
            found: claims.audiences,
        });
    }
    if expiration <= now {
        return Err(Error::TokenFileExpired {
            path: path.to_owned(),
            expired_at: rfc3339(expiration),
            ago: human_duration(now.as_second() - expiration.as_second()),
        });
    }
    Ok(Credential {
        token: SecretString::from(token.to_owned()),
        expiration,
    })
}

/// The service account a username names (`system:serviceaccount:<namespace>:<name>`).
pub fn service_account(username: &str) -> Option<ServiceAccountRef> {
    let rest = username.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (namespace, name) = rest.split_once(':')?;
    let valid = |part: &str| !part.is_empty() && !part.contains([':', '/']);
    (valid(namespace) && valid(name)).then(|| ServiceAccountRef {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

/// The service account whose bearer `token` the plugin holds, when it is a service-account JWT
/// (its `sub`); else the hub must be asked who the plugin is.
pub fn service_account_of_token(token: &str) -> Option<ServiceAccountRef> {
    service_account(jwt::claims(token)?.subject.as_deref()?)
}

/// The TokenRequest for `audience`, lasting `expiration_seconds`.
pub fn token_request(audience: &str, expiration_seconds: i64) -> TokenRequest {
    TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(vec![audience.to_owned()]),
            expiration_seconds: Some(expiration_seconds),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    }
}

/// The credential a TokenRequest's answer holds: its token and the API server's expiry.
pub fn requested_credential(answer: TokenRequest) -> Result<Credential, String> {
    let status = answer
        .status
        .ok_or("the TokenRequest came back without a status")?;
    let token = status.token.as_deref().map(str::trim).unwrap_or_default();
    if token.is_empty() {
        return Err("the TokenRequest came back without a token".into());
    }
    let expiration = status
        .expiration_timestamp
        .ok_or("the TokenRequest came back without an expirationTimestamp")?;
    Ok(Credential {
        token: SecretString::from(token.to_owned()),
        expiration: expiration.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::{
        api::authentication::v1::TokenRequestStatus, apimachinery::pkg::apis::meta::v1::Time,
    };
    use secrecy::ExposeSecret;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-11-22T20:00:00Z".parse().unwrap()
    }

    fn token(aud: &[&str], exp: &str) -> Vec<u8> {
        let exp: Timestamp = exp.parse().unwrap();
        jwt::unsigned_for_tests(&json!({
            "aud": aud,
            "exp": exp.as_second(),
            "sub": "system:serviceaccount:team-a:deployer",
        }))
        .into_bytes()
    }

    const PATH: &str = "/var/run/secrets/roster.dev/deployer/member-1/token";

    fn read(contents: std::io::Result<Vec<u8>>) -> Result<Credential, Error> {
        file_credential(
            Path::new(PATH),
            "member-1",
            contents,
            "roster:member-1",
            now(),
        )
    }

    #[test]
    fn audience_from_the_extension_else_from_the_cluster() {
        assert_eq!(
            audience("member-1", &AudienceField::Absent).unwrap(),
            "roster:member-1"
        );
        assert_eq!(
            audience("member-1", &AudienceField::Text("custom".into())).unwrap(),
            "custom"
        );
        assert!(matches!(
            audience("member-1", &AudienceField::Invalid("7".into())),
            Err(Error::BadAudience { found }) if found == "7"
        ));
    }

    #[test]
    fn token_file_paths() {
        let dir = Path::new("/var/run/secrets/roster.dev/deployer");
        assert_eq!(token_file(dir, "member-1").unwrap(), Path::new(PATH));
        for cluster in ["../x", "a/b", "..", "Member", ""] {
            assert!(matches!(
                token_file(dir, cluster),
                Err(Error::InvalidClusterName { .. })
            ));
        }
    }

    #[test]
    fn a_fresh_token_for_the_audience_is_handed_out_with_its_exp() {
        let contents = token(&["roster:member-1", "other"], "2026-11-22T21:00:00Z");
        let credential = read(Ok(contents.clone())).unwrap();
        let text = String::from_utf8(contents).unwrap();
        assert_eq!(credential.token.expose_secret(), text);
        assert_eq!(rfc3339(credential.expiration), "2026-11-22T21:00:00Z");
        let mut with_newline = text.into_bytes();
        with_newline.push(b'\n');
        assert!(read(Ok(with_newline)).is_ok());
    }

    #[test]
    fn token_files_that_cannot_work_are_refused() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        assert!(matches!(
            read(Err(missing)),
            Err(Error::TokenFileUnreadable { cause, .. }) if cause == "No such file"
        ));
        for contents in [
            b"opaque".to_vec(),
            b"\xff\xfe".to_vec(),
            jwt::unsigned_for_tests(&json!({"aud": ["roster:member-1"]})).into_bytes(),
        ] {
            assert!(matches!(
                read(Ok(contents)),
                Err(Error::TokenFileNotJwt { .. })
            ));
        }
        assert!(matches!(
            read(Ok(token(&["roster:member-2"], "2026-11-22T21:00:00Z"))),
            Err(Error::TokenFileWrongAudience { found, .. }) if found == ["roster:member-2"]
        ));
        assert!(matches!(
            read(Ok(token(&["roster:member-1"], "2026-11-22T19:00:00Z"))),
            Err(Error::TokenFileExpired { ago, .. }) if ago == "1h"
        ));
    }

    #[test]
    fn service_accounts_from_usernames_and_tokens() {
        let sa = |ns: &str, name: &str| ServiceAccountRef {
            namespace: ns.into(),
            name: name.into(),
        };
        assert_eq!(
            service_account("system:serviceaccount:team-a:deployer"),
            Some(sa("team-a", "deployer"))
        );
        for username in [
            "kubernetes-admin",
            "system:serviceaccount:team-a",
            "system:serviceaccount::x",
            "system:serviceaccount:a:b:c",
            "system:serviceaccounts:team-a:x",
        ] {
            assert_eq!(service_account(username), None, "{username}");
        }
        let jwt = String::from_utf8(token(
            &["https://kubernetes.default.svc"],
            "2026-11-22T21:00:00Z",
        ))
        .unwrap();
        assert_eq!(
            service_account_of_token(&jwt),
            Some(sa("team-a", "deployer"))
        );
        assert_eq!(service_account_of_token("static-token"), None);
    }

    #[test]
    fn token_requests() {
        let request = token_request("roster:member-1", 3600);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "metadata": {},
                "spec": {"audiences": ["roster:member-1"], "expirationSeconds": 3600},
            })
        );
        let expiration: Timestamp = "2026-11-22T21:00:00Z".parse().unwrap();
        let answer = |token: &str| TokenRequest {
            status: Some(TokenRequestStatus {
                token: Some(token.into()),
                expiration_timestamp: Some(Time(expiration)),
            }),
            ..TokenRequest::default()
        };
        let credential = requested_credential(answer("tok")).unwrap();
        assert_eq!(credential.token.expose_secret(), "tok");
        assert_eq!(credential.expiration, expiration);
        assert!(requested_credential(answer(" ")).is_err());
        assert!(requested_credential(TokenRequest::default()).is_err());
    }
}
