//! Tokens the agent holds, which one to present first, and when to renew: pure decisions.

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;

use super::error::CredentialError;
use crate::jwt;

/// How long before expiry the hub token file must hold the next token, so that kube (which
/// re-reads token files about once a minute) switches in time.
pub const TOKEN_FILE_RELOAD: SignedDuration = SignedDuration::from_secs(90);

/// A token this close to its expiry is treated as expired.
const EXPIRY_MARGIN: SignedDuration = SignedDuration::from_secs(10);

/// A bearer token and, when it is a JWT, its expiry.
#[derive(Debug, Clone)]
pub struct Token {
    pub(super) secret: SecretString,
    pub(super) expires: Option<Timestamp>,
    pub(super) origin: &'static str,
}

impl Token {
    /// `secret`, reading its expiry from its claims; `origin` names it in logs.
    pub fn new(secret: &str, origin: &'static str) -> Self {
        let secret = secret.trim();
        Self {
            expires: jwt::expiry(secret).ok(),
            secret: secret.to_owned().into(),
            origin,
        }
    }

    /// When it expires, if known.
    pub fn expires(&self) -> Option<Timestamp> {
        self.expires
    }

    /// Whether it has expired (or is about to) at `now`. A token without a readable expiry
    /// is tried: the hub decides.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires.is_some_and(|exp| now + EXPIRY_MARGIN >= exp)
    }
}

/// The tokens to present for the first TokenRequest, in order: the agent tokens held (in the
/// state folder, kept on the member) that are valid, the longest-lived first, then the
/// bootstrap token while it is valid.
pub fn candidates(
    held: impl IntoIterator<Item = Token>,
    bootstrap: Option<Token>,
    now: Timestamp,
    member: &str,
) -> Result<Vec<Token>, CredentialError> {
    let mut tokens: Vec<Token> = held.into_iter().filter(|t| !t.expired(now)).collect();
    // Unknown expiries last: the hub decides about them.
    tokens.sort_by_key(|t| std::cmp::Reverse(t.expires.map(|e| e.as_second())));
    match bootstrap {
        Some(b) if !b.expired(now) => tokens.push(b),
        Some(b) if tokens.is_empty() => {
            return Err(CredentialError::BootstrapExpired {
                at: b.expires.unwrap_or(now),
                member: member.to_owned(),
            });
        }
        _ => {}
    }
    Ok(tokens)
}

/// When to renew a token issued at `issued` that expires at `expires`: at 80% of its life,
/// and no later than [`TOKEN_FILE_RELOAD`] before it expires.
pub fn refresh_at(issued: Timestamp, expires: Timestamp) -> Timestamp {
    let life = expires.duration_since(issued);
    let at_80 = issued + life.mul_f64(0.8);
    at_80.min(expires - TOKEN_FILE_RELOAD).max(issued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::token_with;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn jwt(exp: i64, origin: &'static str) -> Token {
        Token::new(&token_with(&serde_json::json!({ "exp": exp })), origin)
    }

    fn origins(tokens: &[Token]) -> Vec<&'static str> {
        tokens.iter().map(|t| t.origin).collect()
    }

    #[test]
    fn a_valid_saved_token_goes_first_then_the_bootstrap() {
        let now = at(1000);
        let tokens = candidates(Some(jwt(5000, "saved")), Some(jwt(4000, "boot")), now, "m");
        assert_eq!(origins(&tokens.unwrap()), ["saved", "boot"]);
        // Saved token expired: the bootstrap alone.
        let tokens = candidates(Some(jwt(900, "saved")), Some(jwt(4000, "boot")), now, "m");
        assert_eq!(origins(&tokens.unwrap()), ["boot"]);
        // Bootstrap expired, but the saved token is still good: keep going with it.
        let tokens = candidates(Some(jwt(5000, "saved")), Some(jwt(900, "boot")), now, "m");
        assert_eq!(origins(&tokens.unwrap()), ["saved"]);
        // Of the tokens held (state folder, kept on the member), the longest-lived first.
        let held = [jwt(3000, "file"), jwt(900, "old"), jwt(5000, "kept")];
        let tokens = candidates(held, Some(jwt(4000, "boot")), now, "m");
        assert_eq!(origins(&tokens.unwrap()), ["kept", "file", "boot"]);
        // A token without a readable expiry is presented; the hub decides.
        let tokens = candidates(None, Some(Token::new("opaque", "boot")), now, "m");
        assert_eq!(origins(&tokens.unwrap()), ["boot"]);
    }

    #[test]
    fn everything_expired_names_the_time_and_the_join_command() {
        let error = candidates(
            Some(jwt(900, "saved")),
            Some(jwt(950, "boot")),
            at(1000),
            "m-1",
        )
        .unwrap_err();
        assert!(matches!(error, CredentialError::BootstrapExpired { .. }));
        assert_eq!(
            error.to_string(),
            "the bootstrap credential expired at 1970-01-01T00:15:50Z; run 'kubectl roster join \
             m-1' to issue a new one"
        );
        // A token about to expire counts as expired.
        assert!(jwt(1005, "x").expired(at(1000)));
        assert!(!jwt(1011, "x").expired(at(1000)));
    }

    #[test]
    fn renewal_at_80_percent_of_the_granted_life() {
        assert_eq!(refresh_at(at(0), at(3600)), at(2880));
        assert_eq!(refresh_at(at(100), at(700)), at(580));
        // Short lives still leave kube time to re-read the token file.
        assert_eq!(refresh_at(at(0), at(300)), at(210));
        // Nothing left: renew at once.
        assert_eq!(refresh_at(at(0), at(0)), at(0));
    }
}
