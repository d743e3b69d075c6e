//! Which member clusters a RemoteServiceAccount targets: its names, or its selector over
//! MemberCluster labels.

use std::collections::BTreeMap;

use roster_api::{
    MemberCluster,
    remote_service_account::{ClusterSelection, MemberSelector},
};

/// One target cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Target<'a> {
    /// The MemberCluster's name.
    pub name: String,
    /// The MemberCluster, when it exists.
    pub member: Option<&'a MemberCluster>,
}

/// The targets of `selection` among `members`, sorted by name; named clusters that do not exist
/// are targets without a member (reported as not ready). Errs on a selector that cannot be
/// evaluated.
pub fn select<'a>(
    selection: &ClusterSelection,
    members: &'a [std::sync::Arc<MemberCluster>],
) -> Result<Vec<Target<'a>>, String> {
    let by_name: BTreeMap<&str, &MemberCluster> = members
        .iter()
        .filter(|m| m.metadata.deletion_timestamp.is_none())
        .filter_map(|m| Some((m.metadata.name.as_deref()?, m.as_ref())))
        .collect();
    let mut targets: Vec<Target<'a>> = match (&selection.names, &selection.selector) {
        (Some(names), _) => names
            .iter()
            .map(|n| Target {
                name: n.clone(),
                member: by_name.get(n.as_str()).copied(),
            })
            .collect(),
        (None, Some(selector)) => {
            validate(selector)?;
            let empty = BTreeMap::new();
            by_name
                .iter()
                .filter(|(_, m)| matches(selector, m.metadata.labels.as_ref().unwrap_or(&empty)))
                .map(|(n, m)| Target {
                    name: (*n).to_owned(),
                    member: Some(*m),
                })
                .collect()
        }
        (None, None) => Vec::new(),
    };
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    targets.dedup_by(|a, b| a.name == b.name);
    Ok(targets)
}

/// Whether `labels` satisfy `selector` (which [`validate`] accepted).
pub fn matches(selector: &MemberSelector, labels: &BTreeMap<String, String>) -> bool {
    selector.matches(labels)
}

/// Why `selector` cannot be evaluated: a label key that is not a valid Kubernetes label key
/// (the CRD checks values and operators; keys are checked here, see `MemberSelector`).
pub fn validate(selector: &MemberSelector) -> Result<(), String> {
    let keys = selector
        .match_labels
        .iter()
        .flat_map(|m| m.keys())
        .chain(selector.match_expressions.iter().flatten().map(|e| &e.key));
    for key in keys {
        if let Some(problem) = label_key_problem(key) {
            return Err(format!("selector label key {key:?}: {problem}"));
        }
    }
    Ok(())
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
    use roster_api::remote_service_account::MemberSelectorRequirement;
    use std::sync::Arc;

    fn member(name: &str, labels: &[(&str, &str)]) -> Arc<MemberCluster> {
        let mut m = MemberCluster::new(name, Default::default());
        m.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        Arc::new(m)
    }

    fn selector(labels: &[(&str, &str)], exprs: &[(&str, &str, &[&str])]) -> ClusterSelection {
        ClusterSelection {
            names: None,
            selector: Some(MemberSelector {
                match_labels: (!labels.is_empty()).then(|| {
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect()
                }),
                match_expressions: (!exprs.is_empty()).then(|| {
                    exprs
                        .iter()
                        .map(|(k, op, vs)| MemberSelectorRequirement {
                            key: (*k).to_owned(),
                            operator: (*op).to_owned(),
                            values: (!vs.is_empty())
                                .then(|| vs.iter().map(|v| (*v).to_owned()).collect()),
                        })
                        .collect()
                }),
            }),
        }
    }

    fn names(targets: &[Target<'_>]) -> Vec<(String, bool)> {
        targets
            .iter()
            .map(|t| (t.name.clone(), t.member.is_some()))
            .collect()
    }

    #[test]
    fn names_select_existing_and_missing_members_sorted_once() {
        let members = vec![member("b", &[]), member("a", &[])];
        let selection = ClusterSelection {
            names: Some(vec!["b".into(), "zz".into(), "a".into(), "b".into()]),
            selector: None,
        };
        let t = select(&selection, &members).unwrap();
        assert_eq!(
            names(&t),
            [("a".into(), true), ("b".into(), true), ("zz".into(), false)]
        );
    }

    #[test]
    fn selectors_follow_labels_and_operators() {
        let members = vec![
            member("prod-eu", &[("env", "prod"), ("region", "eu")]),
            member("prod-us", &[("env", "prod"), ("region", "us")]),
            member("dev", &[("env", "dev")]),
        ];
        let pick = |s: ClusterSelection| -> Vec<String> {
            select(&s, &members)
                .unwrap()
                .into_iter()
                .map(|t| t.name)
                .collect()
        };
        assert_eq!(
            pick(selector(&[("env", "prod")], &[])),
            ["prod-eu", "prod-us"]
        );
        assert_eq!(
            pick(selector(
                &[("env", "prod")],
                &[("region", "NotIn", &["us"])]
            )),
            ["prod-eu"]
        );
        assert_eq!(
            pick(selector(&[], &[("region", "Exists", &[])])),
            ["prod-eu", "prod-us"]
        );
        assert_eq!(
            pick(selector(&[], &[("region", "DoesNotExist", &[])])),
            ["dev"]
        );
        assert_eq!(
            pick(selector(&[], &[("env", "In", &["dev", "qa"])])),
            ["dev"]
        );
        // An empty selector selects every member, as in Kubernetes.
        assert_eq!(pick(selector(&[], &[])), ["dev", "prod-eu", "prod-us"]);
    }

    #[test]
    fn members_being_deleted_are_not_targets() {
        let mut leaving = MemberCluster::new("leaving", Default::default());
        leaving.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        let members = vec![Arc::new(leaving)];
        let t = select(&selector(&[], &[]), &members).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn bad_label_keys_are_reported() {
        for key in ["", "-a", "a b", "Example.com/x", "x/", &"a".repeat(64)] {
            assert!(label_key_problem(key).is_some(), "{key:?} accepted");
        }
        for key in ["env", "topology.kubernetes.io/region", "a_b.c-d", "x.io/A1"] {
            assert_eq!(label_key_problem(key), None, "{key:?}");
        }
        let err = select(&selector(&[("bad key", "x")], &[]), &[]).unwrap_err();
        assert!(err.contains("\"bad key\""), "{err}");
    }
}
