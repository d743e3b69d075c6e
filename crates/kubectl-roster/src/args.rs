//! `KEY=VALUE` flags (`--label`, `--property`), checked before anything is sent to the hub.

use std::{collections::BTreeMap, fmt, str::FromStr};

use roster_api::member_cluster::StaticProperty;

/// One `KEY=VALUE` flag value; the value may itself contain `=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// Text before the first `=`.
    pub key: String,
    /// Text after the first `=`.
    pub value: String,
}

/// Why a flag value is not `KEY=VALUE`.
#[derive(Debug, PartialEq, Eq)]
pub struct NotKeyValue(String);

impl fmt::Display for NotKeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected KEY=VALUE with a non-empty KEY, got {:?}",
            self.0
        )
    }
}

impl std::error::Error for NotKeyValue {}

impl FromStr for KeyValue {
    type Err = NotKeyValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok(Self {
                key: key.trim().to_owned(),
                value: value.to_owned(),
            }),
            _ => Err(NotKeyValue(s.to_owned())),
        }
    }
}

/// The labels as a map; a key given twice is an error rather than a silent overwrite.
pub fn labels(pairs: &[KeyValue]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for pair in pairs {
        if map.insert(pair.key.clone(), pair.value.clone()).is_some() {
            anyhow::bail!("--label {} is given more than once", pair.key);
        }
    }
    Ok(map)
}

/// The static properties, in the order given; a name given twice is an error.
pub fn properties(pairs: &[KeyValue]) -> anyhow::Result<Vec<StaticProperty>> {
    let mut seen = std::collections::BTreeSet::new();
    pairs
        .iter()
        .map(|pair| {
            if !seen.insert(pair.key.as_str()) {
                anyhow::bail!("--property {} is given more than once", pair.key);
            }
            Ok(StaticProperty {
                name: pair.key.clone(),
                value: pair.value.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &str) -> KeyValue {
        s.parse().expect("valid KEY=VALUE")
    }

    #[test]
    fn parses_key_value() {
        assert_eq!(
            kv("topology.kubernetes.io/region=eu=west"),
            KeyValue {
                key: "topology.kubernetes.io/region".into(),
                value: "eu=west".into()
            }
        );
        assert_eq!(kv("env=").value, "");
        for bad in ["novalue", "=x", " =x", ""] {
            let err = bad.parse::<KeyValue>().expect_err(bad);
            assert!(err.to_string().contains("KEY=VALUE"), "{err}");
        }
    }

    #[test]
    fn duplicates_are_refused() {
        let map = labels(&[kv("a=1"), kv("b=2")]).expect("distinct");
        assert_eq!(map.get("b").map(String::as_str), Some("2"));
        let err = labels(&[kv("a=1"), kv("a=2")]).expect_err("duplicate");
        assert!(err.to_string().contains("--label a"), "{err}");

        let props = properties(&[kv("p=1"), kv("q=2")]).expect("distinct");
        assert_eq!(props[1].name, "q");
        assert!(properties(&[kv("p=1"), kv("p=1")]).is_err());
    }
}
