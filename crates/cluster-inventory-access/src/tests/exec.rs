//! Reading a plugin's `ExecCredential` (client-go's checks) and when a token is renewed.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::*;
use crate::{
    credentials::{REFRESH_MARGIN, refresh_at},
    exec::{Credential, parse_credential, stderr_excerpt},
};

fn parse(api_version: &str, output: &str) -> Result<Credential, String> {
    parse_credential(api_version, output.as_bytes())
}

fn token_of(credential: Credential) -> (String, Option<Timestamp>) {
    match credential {
        Credential::Token {
            authorization,
            expires,
        } => {
            assert!(authorization.is_sensitive());
            (authorization.to_str().unwrap().to_owned(), expires)
        }
        Credential::Certificate => panic!("a certificate, not a token"),
    }
}

#[test]
fn a_token_and_its_expiry_are_read_in_both_versions() {
    for api_version in [API_V1, API_V1BETA1] {
        let output = json!({
            "apiVersion": api_version,
            "kind": "ExecCredential",
            "status": {"token": "secret", "expirationTimestamp": "2030-01-02T03:04:05Z"},
        });
        let (authorization, expires) = token_of(parse(api_version, &output.to_string()).unwrap());
        assert_eq!(authorization, "Bearer secret");
        assert_eq!(expires, Some("2030-01-02T03:04:05Z".parse().unwrap()));
    }
}

#[test]
fn yaml_output_and_a_token_without_expiry_are_accepted() {
    let output = "apiVersion: client.authentication.k8s.io/v1\nkind: ExecCredential\nstatus:\n  token: secret\n";
    let (authorization, expires) = token_of(parse(API_V1, output).unwrap());
    assert_eq!(authorization, "Bearer secret");
    assert_eq!(expires, None);
}

#[test]
fn a_certificate_and_key_are_recognised() {
    let output = json!({
        "apiVersion": API_V1, "kind": "ExecCredential",
        "status": {"clientCertificateData": "cert", "clientKeyData": "key"},
    });
    assert!(matches!(
        parse(API_V1, &output.to_string()),
        Ok(Credential::Certificate)
    ));
}

#[test]
fn invalid_credentials_are_refused_with_the_reason() {
    let cases = [
        (
            json!({"kind": "ExecCredential", "apiVersion": API_V1BETA1, "status": {"token": "t"}}),
            "it returned \"client.authentication.k8s.io/v1beta1\"",
        ),
        (
            json!({"kind": "ExecCredential", "status": {"token": "t"}}),
            "configured to use API version \"client.authentication.k8s.io/v1\"",
        ),
        (
            json!({"kind": "Secret", "apiVersion": API_V1, "status": {"token": "t"}}),
            "kind is \"Secret\"",
        ),
        (
            json!({"kind": "ExecCredential", "apiVersion": API_V1}),
            "no status",
        ),
        (
            json!({"kind": "ExecCredential", "apiVersion": API_V1, "status": {}}),
            "neither a token",
        ),
        (
            json!({"kind": "ExecCredential", "apiVersion": API_V1, "status": {"clientKeyData": "k"}}),
            "not both",
        ),
        (
            json!({"kind": "ExecCredential", "apiVersion": API_V1, "status": {"token": "t", "expirationTimestamp": "tomorrow"}}),
            "expirationTimestamp \"tomorrow\"",
        ),
        (
            json!({"kind": "ExecCredential", "apiVersion": API_V1, "status": {"token": "t\nx"}}),
            "not valid in an HTTP header",
        ),
    ];
    for (output, expected) in cases {
        let reason = parse(API_V1, &output.to_string()).unwrap_err();
        assert!(reason.contains(expected), "{output}: {reason}");
    }
    assert!(parse(API_V1, "not: [valid").is_err());
    assert!(parse(API_V1, "").is_err());
}

#[test]
fn tokens_are_renewed_a_minute_before_expiry() {
    let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    let hour = now + SignedDuration::from_hours(1);
    assert_eq!(refresh_at(now, hour), hour - REFRESH_MARGIN);
}

#[test]
fn short_lived_tokens_are_renewed_halfway() {
    let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    let soon = now + SignedDuration::from_secs(30);
    assert_eq!(refresh_at(now, soon), now + SignedDuration::from_secs(15));
}

#[test]
fn expired_tokens_are_renewed_at_once() {
    let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    for expires in [now, now - SignedDuration::from_hours(1)] {
        assert_eq!(refresh_at(now, expires), expires);
        assert!(refresh_at(now, expires) <= now);
    }
}

#[test]
fn errors_quote_the_end_of_stderr() {
    assert_eq!(stderr_excerpt(b"  forbidden\n"), "forbidden");
    let exact = "x".repeat(1024);
    assert_eq!(stderr_excerpt(exact.as_bytes()), exact);
    let long = format!("{}é{}", "a".repeat(2000), "z".repeat(1023));
    let excerpt = stderr_excerpt(long.as_bytes());
    assert_eq!(excerpt, format!("…é{}", "z".repeat(1023)));
}
