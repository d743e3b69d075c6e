//! Helpers shared by the end-to-end tests.

use kube::{
    Api,
    api::{DynamicObject, PostParams},
};
use serde_json::Value;

/// Creates `object` and returns the API server's rejection message; fails the test if the
/// object was accepted.
pub async fn rejected(api: &Api<DynamicObject>, object: Value) -> String {
    let object: DynamicObject = serde_json::from_value(object).expect("object is well-formed JSON");
    let name = object.metadata.name.clone().unwrap_or_default();
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => panic!("{name}: the API server accepted an invalid object"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{name}: expected Invalid, got {status:?}");
            status.message
        }
        Err(other) => panic!("{name}: unexpected error {other:?}"),
    }
}

/// Creates `object`, failing the test with the API server's message if it is rejected.
pub async fn accepted(api: &Api<DynamicObject>, object: Value) -> DynamicObject {
    let object: DynamicObject = serde_json::from_value(object).expect("object is well-formed JSON");
    let name = object.metadata.name.clone().unwrap_or_default();
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => created,
        Err(e) => panic!("{name}: the API server rejected a valid object: {e}"),
    }
}

/// Asserts that `message` contains every one of `parts`.
pub fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "expected {part:?} in: {message}");
    }
}
