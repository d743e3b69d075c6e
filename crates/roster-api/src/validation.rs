//! Kubernetes' own rules for names and label values, as Roster's components check them before
//! the API server would (to give a clearer error, or to avoid a request that cannot succeed).

/// Whether `name` is a DNS-1123 subdomain (at most 253 characters of dot-separated labels of
/// lower-case letters, digits and `-`, each starting and ending with a letter or digit): the
/// rule for most object names.
pub fn is_dns_subdomain(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            match (bytes.first(), bytes.last()) {
                (Some(&first), Some(&last)) => {
                    alnum(first) && alnum(last) && bytes.iter().all(|&b| alnum(b) || b == b'-')
                }
                _ => false,
            }
        })
}

/// Whether `value` can be a label value: empty, or at most 63 letters, digits, `-`, `_` and
/// `.`, starting and ending with a letter or digit.
pub fn is_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    value.len() <= 63
        && (value.is_empty()
            || (bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))))
}

/// Why `key` is not a valid label key: `[prefix/]name`, prefix a DNS subdomain of at most 253
/// characters, name at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
pub fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let subdomain = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !subdomain {
            return Some(
                "the prefix must be a DNS subdomain (lowercase, at most 253 characters)".into(),
            );
        }
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alnum(name.chars().next())
        && alnum(name.chars().last());
    (!name_ok).then(|| {
        "the name must be at most 63 characters of letters, digits, '-', '_' or '.', starting \
         and ending with a letter or digit"
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys() {
        for key in ["", "-a", "a b", "Example.com/x", "x/", &"a".repeat(64)] {
            assert!(label_key_problem(key).is_some(), "{key:?} accepted");
        }
        for key in ["env", "topology.kubernetes.io/region", "a_b.c-d", "x.io/A1"] {
            assert_eq!(label_key_problem(key), None, "{key:?}");
        }
    }

    #[test]
    fn subdomains() {
        for ok in ["a", "a.b-c", "deployer", "x1.y2", &"a".repeat(253)] {
            assert!(is_dns_subdomain(ok), "{ok:?}");
        }
        for bad in [
            "",
            "A",
            "a_b",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            &"a".repeat(254),
        ] {
            assert!(!is_dns_subdomain(bad), "{bad:?}");
        }
    }

    #[test]
    fn label_values() {
        for ok in ["", "a", "0b6f2c1e-5d2a", "A_b.c", &"a".repeat(63)] {
            assert!(is_label_value(ok), "{ok:?}");
        }
        for bad in ["-a", "a-", "a b", "a/b", &"a".repeat(64)] {
            assert!(!is_label_value(bad), "{bad:?}");
        }
    }
}
