//! From a remote token Secret to a credential: which Secret to read, and whether what it holds
//! is a token that can be handed out now.

use k8s_openapi::{ByteString, api::core::v1::Secret, jiff::Timestamp};
use roster_api::names::{self, token_secret};
use secrecy::SecretString;

use crate::error::Error;
pub use crate::target::SecretRef;

impl SecretRef {
    /// The token Secret of `remote_service_account` for `cluster`, if the two names make a
    /// valid Secret name; its namespace is set with [`SecretRef::in_namespace`]. The cluster name
    /// comes from the client, so a name reaching outside the Secret's URL (`/`, `..`) is refused.
    pub fn new(remote_service_account: &str, cluster: &str) -> Result<Self, Error> {
        let name = names::token_secret_name(remote_service_account, cluster);
        if !roster_api::validation::is_dns_subdomain(&name) || remote_service_account.is_empty() {
            return Err(Error::InvalidSecretName {
                name,
                remote_service_account: remote_service_account.to_owned(),
                cluster: cluster.to_owned(),
            });
        }
        Ok(Self {
            namespace: String::new(),
            name,
            remote_service_account: remote_service_account.to_owned(),
            cluster: cluster.to_owned(),
        })
    }
}

/// A token and when it expires.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The bearer token for the member cluster.
    pub token: SecretString,
    /// When the token expires.
    pub expiration: Timestamp,
}

/// The credential `secret` holds at `now`, or why it holds none that may be handed out.
pub fn credential(at: &SecretRef, secret: &Secret, now: Timestamp) -> Result<Credential, Error> {
    let boxed = || Box::new(at.clone());
    let type_ = secret.type_.as_deref().unwrap_or("Opaque");
    if type_ != token_secret::TYPE {
        return Err(Error::WrongSecretType {
            secret: boxed(),
            found: type_.to_owned(),
        });
    }
    let value = |key: &str| secret.data.as_ref().and_then(|d| d.get(key));

    let token = match value(token_secret::TOKEN).map(|ByteString(bytes)| std::str::from_utf8(bytes))
    {
        None => return Err(Error::TokenNotDelivered { secret: boxed() }),
        Some(Err(_)) => return Err(Error::MalformedToken { secret: boxed() }),
        Some(Ok(text)) => text.trim(),
    };
    if token.is_empty() {
        return Err(Error::TokenNotDelivered { secret: boxed() });
    }
    if token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(Error::MalformedToken { secret: boxed() });
    }

    let raw_expiration = value(token_secret::EXPIRATION)
        .map(|ByteString(bytes)| String::from_utf8_lossy(bytes).trim().to_owned());
    let expiration = raw_expiration
        .as_deref()
        .and_then(token_secret::parse_expiry)
        .ok_or_else(|| Error::BadExpiration {
            secret: boxed(),
            found: raw_expiration.clone(),
        })?;
    if expiration <= now {
        return Err(Error::TokenExpired {
            secret: boxed(),
            expired_at: rfc3339(expiration),
            ago: human_duration(now.as_second() - expiration.as_second()),
        });
    }
    Ok(Credential {
        token: SecretString::from(token.to_owned()),
        expiration,
    })
}

/// `time` as RFC 3339 in UTC with whole seconds, like `2026-11-22T21:00:00Z`.
pub fn rfc3339(time: Timestamp) -> String {
    token_secret::format_expiry(time)
}

/// A duration in seconds as `2h5m`, `3m20s` or `0s`, to the second.
pub(crate) fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    let text: String = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if text.is_empty() { "0s".into() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::BTreeMap;

    fn at() -> SecretRef {
        SecretRef::new("deployer", "member-1")
            .unwrap()
            .in_namespace("team-a")
    }

    fn now() -> Timestamp {
        "2026-11-22T20:00:00Z".parse().unwrap()
    }

    fn secret(type_: &str, data: &[(&str, &[u8])]) -> Secret {
        Secret {
            type_: Some(type_.into()),
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    fn remote(data: &[(&str, &[u8])]) -> Secret {
        secret(token_secret::TYPE, data)
    }

    #[test]
    fn secret_names() {
        let at = at();
        assert_eq!(at.name, "deployer-member-1");
        assert_eq!(at.to_string(), "team-a/deployer-member-1");
        assert!(SecretRef::new("deployer", "eu.member-1").is_ok());
        for (rsa, cluster) in [
            ("deployer", "../configmaps/x"),
            ("deployer", "a/b"),
            ("deployer", "Member"),
            ("deployer", "member-"),
            ("", "member-1"),
            ("deployer", &"m".repeat(250)),
        ] {
            let err = SecretRef::new(rsa, cluster).unwrap_err();
            assert!(
                matches!(err, Error::InvalidSecretName { .. }),
                "{rsa} {cluster}"
            );
        }
    }

    #[test]
    fn a_fresh_token_is_handed_out() {
        let secret = remote(&[
            (token_secret::TOKEN, b"eyJhbGciOi.abc.def\n"),
            (token_secret::EXPIRATION, b"2026-11-22T21:00:00Z"),
            (token_secret::CA, b"-----BEGIN CERTIFICATE-----"),
            (token_secret::SERVER, b"https://member-1:6443"),
        ]);
        let credential = credential(&at(), &secret, now()).unwrap();
        assert_eq!(credential.token.expose_secret(), "eyJhbGciOi.abc.def");
        assert_eq!(rfc3339(credential.expiration), "2026-11-22T21:00:00Z");
        assert!(!format!("{credential:?}").contains("eyJhbGciOi"));
    }

    #[test]
    fn expiry_with_an_offset_or_fraction_is_normalized() {
        let secret = remote(&[
            (token_secret::TOKEN, b"t"),
            (token_secret::EXPIRATION, b"2026-11-22T22:00:00.25+01:00"),
        ]);
        let credential = credential(&at(), &secret, now()).unwrap();
        assert_eq!(rfc3339(credential.expiration), "2026-11-22T21:00:00Z");
    }

    #[test]
    fn only_remote_token_secrets_are_read() {
        let secret = secret(
            "kubernetes.io/service-account-token",
            &[(token_secret::TOKEN, b"hub-token")],
        );
        let err = credential(&at(), &secret, now()).unwrap_err();
        assert!(
            matches!(err, Error::WrongSecretType { found, .. } if found == "kubernetes.io/service-account-token")
        );
        let untyped = Secret::default();
        assert!(matches!(
            credential(&at(), &untyped, now()),
            Err(Error::WrongSecretType { found, .. }) if found == "Opaque"
        ));
    }

    #[test]
    fn no_token_yet() {
        for secret in [
            remote(&[]),
            remote(&[(token_secret::TOKEN, b"")]),
            remote(&[
                (token_secret::TOKEN, b" \n"),
                (token_secret::EXPIRATION, b"2026-11-22T21:00:00Z"),
            ]),
            Secret {
                type_: Some(token_secret::TYPE.into()),
                ..Default::default()
            },
        ] {
            assert!(matches!(
                credential(&at(), &secret, now()),
                Err(Error::TokenNotDelivered { .. })
            ));
        }
    }

    #[test]
    fn malformed_tokens() {
        for token in [&b"\xff\xfe"[..], b"two words", b"a\nb"] {
            let secret = remote(&[
                (token_secret::TOKEN, token),
                (token_secret::EXPIRATION, b"2026-11-22T21:00:00Z"),
            ]);
            assert!(matches!(
                credential(&at(), &secret, now()),
                Err(Error::MalformedToken { .. })
            ));
        }
    }

    #[test]
    fn expiry_must_be_there_and_valid() {
        let missing = remote(&[(token_secret::TOKEN, b"t")]);
        assert!(matches!(
            credential(&at(), &missing, now()),
            Err(Error::BadExpiration { found: None, .. })
        ));
        let invalid = remote(&[
            (token_secret::TOKEN, b"t"),
            (token_secret::EXPIRATION, b"tomorrow"),
        ]);
        assert!(matches!(
            credential(&at(), &invalid, now()),
            Err(Error::BadExpiration { found: Some(v), .. }) if v == "tomorrow"
        ));
    }

    #[test]
    fn expired_tokens_are_refused_and_say_when() {
        for (expiry, ago) in [
            ("2026-11-22T20:00:00Z", "0s"),
            ("2026-11-22T19:56:40Z", "3m20s"),
            ("2026-11-21T17:55:00Z", "1d2h5m"),
        ] {
            let secret = remote(&[
                (token_secret::TOKEN, b"t"),
                (token_secret::EXPIRATION, expiry.as_bytes()),
            ]);
            match credential(&at(), &secret, now()) {
                Err(Error::TokenExpired {
                    expired_at,
                    ago: found,
                    ..
                }) => {
                    assert_eq!(expired_at, expiry);
                    assert_eq!(found, ago);
                }
                other => panic!("{expiry}: {other:?}"),
            }
        }
    }
}
