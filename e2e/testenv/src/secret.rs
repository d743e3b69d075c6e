//! Reading the Secrets the tests look into.

use k8s_openapi::api::core::v1::Secret;

/// The value of `key` in `secret`'s data as text; empty when the key is missing.
pub fn text(secret: &Secret, key: &str) -> String {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        .unwrap_or_default()
}
