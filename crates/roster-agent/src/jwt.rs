//! Reading a service-account token's claims without verifying its signature: the agent only
//! needs to know when a token it holds expires; the hub is the one that verifies it.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;

/// Why a token's claims cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Not three dot-separated parts.
    #[error("not a JWT (expected three dot-separated parts)")]
    Shape,
    /// The payload is not base64url.
    #[error("the JWT payload is not base64url")]
    Base64(#[from] base64::DecodeError),
    /// The payload is not a JSON object of claims.
    #[error("the JWT payload is not a JSON claims object")]
    Json(#[from] serde_json::Error),
    /// No usable `exp` claim.
    #[error("the JWT has no valid exp claim")]
    NoExpiry,
}

/// The registered claims the agent looks at.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct Claims {
    /// Expiry, seconds since the epoch (NumericDate may carry a fraction).
    pub exp: Option<f64>,
    /// Issue time, seconds since the epoch.
    pub iat: Option<f64>,
    /// Subject, for example `system:serviceaccount:ns:name`.
    pub sub: Option<String>,
}

/// Decodes the claims of a JWT.
pub fn claims(token: &str) -> Result<Claims, JwtError> {
    let mut parts = token.trim().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Shape);
    };
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// When a JWT expires.
pub fn expiry(token: &str) -> Result<Timestamp, JwtError> {
    let exp = claims(token)?.exp.ok_or(JwtError::NoExpiry)?;
    if !exp.is_finite() {
        return Err(JwtError::NoExpiry);
    }
    Timestamp::from_second(exp.floor() as i64).map_err(|_| JwtError::NoExpiry)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE;

    /// An unsigned token with `payload` as its claims.
    pub(crate) fn token_with(payload: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        format!("{header}.{payload}.c2lnbmF0dXJl")
    }

    #[test]
    fn reads_the_expiry_and_subject() {
        let token = token_with(&serde_json::json!({
            "exp": 1_900_000_000, "iat": 1_899_996_400,
            "sub": "system:serviceaccount:roster-member-a:roster-agent",
            "kubernetes.io": {"namespace": "roster-member-a"}
        }));
        let claims = claims(&token).unwrap();
        assert_eq!(
            claims.sub.as_deref(),
            Some("system:serviceaccount:roster-member-a:roster-agent")
        );
        assert_eq!(
            expiry(&token).unwrap(),
            Timestamp::from_second(1_900_000_000).unwrap()
        );
        // Trailing newline (as in a file) and a fractional NumericDate are fine.
        let fractional = token_with(&serde_json::json!({"exp": 1_900_000_000.7}));
        assert_eq!(
            expiry(&format!("{fractional}\n")).unwrap().as_second(),
            1_900_000_000
        );
    }

    #[test]
    fn padded_payloads_are_accepted() {
        let payload = URL_SAFE.encode(br#"{"exp":10}"#);
        assert!(payload.ends_with('='));
        let token = format!("a.{payload}.b");
        assert_eq!(expiry(&token).unwrap().as_second(), 10);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(claims("not-a-jwt"), Err(JwtError::Shape)));
        assert!(matches!(claims("a.b.c.d"), Err(JwtError::Shape)));
        assert!(matches!(claims("a.!!!.c"), Err(JwtError::Base64(_))));
        let not_json = format!("a.{}.c", URL_SAFE_NO_PAD.encode("[1,2]"));
        assert!(matches!(claims(&not_json), Err(JwtError::Json(_))));
        let no_exp = token_with(&serde_json::json!({"sub": "x"}));
        assert!(matches!(expiry(&no_exp), Err(JwtError::NoExpiry)));
        let huge = token_with(&serde_json::json!({"exp": 1e300}));
        assert!(matches!(expiry(&huge), Err(JwtError::NoExpiry)));
    }
}
