//! JSON Web Tokens signed with a test cluster's own service-account key, for tests that present
//! tokens the cluster's API server never issued: real key, claims of the test's choosing.

use anyhow::Context;
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use serde_json::Value;

/// The header (`part` 0) or claims (`part` 1) of `token`, unverified.
pub fn decode(token: &str, part: usize) -> anyhow::Result<Value> {
    let segment = token
        .split('.')
        .nth(part)
        .with_context(|| format!("the token has no part {part}"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .context("a token part is not base64url")?;
    serde_json::from_slice(&bytes).context("a token part is not JSON")
}

/// `header.claims.signature`, signed ES256 with `key_pem` (PKCS#8 PEM of a P-256 key, as the
/// test bed's `sa.key`); `alg` in `header` is set to `ES256`.
pub fn sign_es256(key_pem: &str, header: &Value, claims: &Value) -> anyhow::Result<String> {
    let der: String = key_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(der.trim()).context("the key is not PEM")?;
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
        .map_err(|e| anyhow::anyhow!("the key is not a P-256 PKCS#8 key: {e}"))?;
    let mut header = header.clone();
    header["alg"] = "ES256".into();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let signature = key
        .sign(&rng, signing_input.as_bytes())
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, KeyPair, UnparsedPublicKey};
    use serde_json::json;

    #[test]
    fn signed_tokens_verify_with_the_public_key_and_decode_back() {
        let key = rcgen::KeyPair::generate().unwrap();
        let token = sign_es256(
            &key.serialize_pem(),
            &json!({"kid": "k1", "alg": "RS256"}),
            &json!({"sub": "admin"}),
        )
        .unwrap();
        assert_eq!(
            decode(&token, 0).unwrap(),
            json!({"kid": "k1", "alg": "ES256"})
        );
        assert_eq!(decode(&token, 1).unwrap()["sub"], "admin");

        let (input, signature) = token.rsplit_once('.').unwrap();
        let der = STANDARD
            .decode(
                key.serialize_pem()
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
                .unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
            .verify(
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .expect("the signature verifies");
    }
}
