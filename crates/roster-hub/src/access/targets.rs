//! Which member clusters a RemoteServiceAccount targets: its names, or its selector over
//! MemberCluster labels.

use std::collections::BTreeMap;

use roster_api::{MemberCluster, remote_service_account::ClusterSelection};

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
            if let Some(problem) = selector.problem() {
                return Err(problem);
            }
            let empty = BTreeMap::new();
            by_name
                .iter()
                .filter(|(_, m)| selector.matches(m.metadata.labels.as_ref().unwrap_or(&empty)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use roster_api::selector::{MemberSelector, MemberSelectorRequirement};
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
        let err = select(&selector(&[("bad key", "x")], &[]), &[]).unwrap_err();
        assert!(err.contains("\"bad key\""), "{err}");
    }
}
