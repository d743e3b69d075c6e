//! JSON round-trip checks shared by the serialization tests of `cluster-inventory` and
//! `roster-api` (each includes this file with `#[path]`: test code, no crate of its own).

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

/// Deserializes `input`, serializes the result back, asserts nothing changed, returns it.
pub fn round_trip<T: Serialize + DeserializeOwned>(input: &Value) -> T {
    let typed: T = serde_json::from_value(input.clone()).expect("deserializes");
    let output = serde_json::to_value(&typed).unwrap();
    assert_eq!(&output, input, "serializing back changed the document");
    typed
}

/// Paths of every `null` in a JSON document.
fn nulls(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Null => found.push(path.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nulls(item, &format!("{path}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                nulls(v, &format!("{path}.{k}"), found);
            }
        }
        _ => {}
    }
}

/// Asserts `value` holds no `null` (Roster omits unset fields instead).
pub fn assert_no_nulls(value: &Value) {
    let mut found = Vec::new();
    nulls(value, "", &mut found);
    assert!(found.is_empty(), "null at {found:?} in {value}");
}
