//! The claims of a service-account token, read without checking its signature: the plugin only
//! uses them to tell who it is and to refuse a token that cannot work (wrong audience, expired),
//! never to trust anyone; the member's API server checks the signature.

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

/// The claims the plugin reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    /// `sub`: for a service account, `system:serviceaccount:<namespace>:<name>`.
    pub subject: Option<String>,
    /// `aud`, a string or a list of strings in the token, always a list here.
    pub audiences: Vec<String>,
    /// `exp`, seconds since the Unix epoch.
    pub expires: Option<i64>,
}

#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
    exp: Option<Value>,
}

/// The claims of `token` when it is a JWT (`header.payload.signature`, the payload a base64url
/// JSON object), else `None`.
pub fn claims(token: &str) -> Option<Claims> {
    let mut parts = token.trim().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let raw: RawClaims = serde_json::from_slice(&bytes).ok()?;
    let audiences = match raw.aud {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(one)) => vec![one],
        Some(Value::Array(list)) => list
            .into_iter()
            .map(|a| match a {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?,
        Some(_) => return None,
    };
    // `exp` is a NumericDate: a JSON number, possibly with a fraction.
    let expires = match raw.exp {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?),
        Some(_) => return None,
    };
    Some(Claims {
        subject: raw.sub,
        audiences,
        expires,
    })
}

/// A JWT with `payload` as its claims (and a dummy header and signature), for tests.
#[doc(hidden)]
pub fn unsigned_for_tests(payload: &Value) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.c2lnbmF0dXJl",
        engine.encode(br#"{"alg":"RS256","kid":"test"}"#),
        engine.encode(payload.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_subject_audiences_and_expiry() {
        let token = unsigned_for_tests(&json!({
            "aud": ["roster:member-1"],
            "exp": 1_795_000_000,
            "sub": "system:serviceaccount:team-a:deployer",
            "kubernetes.io": {"namespace": "team-a"},
        }));
        assert_eq!(
            claims(&token),
            Some(Claims {
                subject: Some("system:serviceaccount:team-a:deployer".into()),
                audiences: vec!["roster:member-1".into()],
                expires: Some(1_795_000_000),
            })
        );
    }

    #[test]
    fn a_single_audience_string_and_a_fractional_expiry() {
        let token = unsigned_for_tests(&json!({"aud": "a", "exp": 12.5}));
        let found = claims(&token).unwrap();
        assert_eq!(found.audiences, vec!["a".to_owned()]);
        assert_eq!(found.expires, Some(12));
        assert_eq!(found.subject, None);
        // A trailing newline (as in a mounted file) and padding are tolerated.
        assert!(claims(&format!("{token}\n")).is_some());
    }

    #[test]
    fn not_jwts() {
        let payload =
            |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        for token in [
            String::new(),
            "opaque-token".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "a.!!!.c".into(),
            format!("h.{}.s", payload(json!(["not", "an", "object"]))),
            format!("h.{}.s", payload(json!({"aud": 7}))),
            format!("h.{}.s", payload(json!({"aud": ["a", 7]}))),
            format!("h.{}.s", payload(json!({"exp": "tomorrow"}))),
        ] {
            assert_eq!(claims(&token), None, "{token}");
        }
    }
}
