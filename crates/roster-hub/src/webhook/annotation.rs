//! The pod annotation `roster.dev/remote-service-accounts`: RemoteServiceAccount names,
//! separated by commas.

use roster_api::{names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS, validation::is_dns_subdomain};

/// The RemoteServiceAccount names listed in the annotation's `value`, in order, each once.
/// Whitespace around names is ignored and a blank value lists none; an empty entry (`a,,b`,
/// `a,`) or a name that cannot be a RemoteServiceAccount's is an error naming every bad entry.
pub fn parse(value: &str) -> Result<Vec<String>, String> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for entry in value.split(',').map(str::trim) {
        if entry.is_empty() {
            problems.push(format!(
                "{value:?} has an empty entry (list RemoteServiceAccount names separated by \
                 commas)"
            ));
        } else if !is_dns_subdomain(entry) {
            problems.push(format!(
                "{entry:?} is not a valid RemoteServiceAccount name (a DNS subdomain: lowercase \
                 letters, digits, '-' and '.', starting and ending with a letter or digit, at \
                 most 253 characters)"
            ));
        } else if !names.iter().any(|n| n == entry) {
            names.push(entry.to_owned());
        }
    }
    problems.dedup();
    if problems.is_empty() {
        Ok(names)
    } else {
        Err(format!(
            "invalid annotation {ANNOTATION_REMOTE_SERVICE_ACCOUNTS}: {}",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_deduplicated_and_kept_in_order() {
        assert_eq!(
            parse(" deployer , reader,deployer,\treader ").unwrap(),
            ["deployer", "reader"]
        );
        assert_eq!(parse("a.b-c").unwrap(), ["a.b-c"]);
        assert_eq!(parse("").unwrap(), Vec::<String>::new());
        assert_eq!(parse("  ").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn empty_entries_are_refused() {
        for value in ["a,,b", "a,", ",a", "a, ,b"] {
            let err = parse(value).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "invalid annotation roster.dev/remote-service-accounts: {value:?} has an \
                     empty entry (list RemoteServiceAccount names separated by commas)"
                )
            );
        }
    }

    #[test]
    fn invalid_names_are_refused_all_at_once() {
        let err = parse("Deployer,ok,under_score").unwrap_err();
        assert_eq!(
            err,
            "invalid annotation roster.dev/remote-service-accounts: \"Deployer\" is not a valid \
             RemoteServiceAccount name (a DNS subdomain: lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters); \
             \"under_score\" is not a valid RemoteServiceAccount name (a DNS subdomain: \
             lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, \
             at most 253 characters)"
        );
    }

    #[test]
    fn dns_subdomains() {
        for ok in ["a", "a-b", "a.b", "0", &"a".repeat(253)] {
            assert!(is_dns_subdomain(ok), "{ok:?} refused");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "A",
            "a_b",
            "a b",
            "a/b",
            &"a".repeat(254),
        ] {
            assert!(!is_dns_subdomain(bad), "{bad:?} accepted");
        }
    }
}
