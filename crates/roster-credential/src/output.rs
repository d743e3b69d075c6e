//! The ExecCredential printed on stdout.

use secrecy::ExposeSecret;
use serde::Serialize;

use crate::{
    error::Error,
    exec_info::ApiVersion,
    secret::{Credential, rfc3339},
};

// Structs rather than `json!`, so the keys come out in the documented order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential<'a> {
    api_version: &'static str,
    kind: &'static str,
    status: Status<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    token: &'a str,
    expiration_timestamp: String,
}

/// The ExecCredential for `credential` in `api_version`, compact JSON with a trailing newline.
pub fn render(api_version: ApiVersion, credential: &Credential) -> Result<String, Error> {
    let answer = ExecCredential {
        api_version: api_version.as_str(),
        kind: "ExecCredential",
        status: Status {
            token: credential.token.expose_secret(),
            expiration_timestamp: rfc3339(credential.expiration),
        },
    };
    let mut text = serde_json::to_string(&answer).map_err(|e| Error::Output(e.into()))?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn renders_the_documented_shape() {
        let credential = Credential {
            token: "tok\"en".to_owned().into(),
            expiration: "2026-11-22T21:00:00Z".parse().unwrap(),
        };
        let text = render(ApiVersion::V1Beta1, &credential).unwrap();
        assert!(text.ends_with("}\n") && !text.trim_end().contains('\n'));
        assert!(text.starts_with(r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind""#));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            json!({
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "kind": "ExecCredential",
                "status": {"token": "tok\"en", "expirationTimestamp": "2026-11-22T21:00:00Z"},
            })
        );
    }
}
