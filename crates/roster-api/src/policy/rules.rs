//! Whether one RBAC rule fits inside another: what a RemoteAccessPolicy's `rules` allow. The
//! comparison is by sets, with Kubernetes' own wildcards: a `*` in the allowing rule stands for
//! anything at its place, a `*` in the asking rule is only covered by a `*` there (so wildcard
//! rules need a policy that lists them).

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::remote_access_policy::ANY;

/// Whether every request `asked` allows is allowed by `allowed` too.
pub fn covers(allowed: &PolicyRule, asked: &PolicyRule) -> bool {
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    let verbs_ok = subset(&asked.verbs, &allowed.verbs, |a, b| a == b);
    let resources = list(&asked.resources);
    let urls = list(&asked.non_resource_urls);
    let resources_ok = resources.is_empty()
        || (subset(
            &list(&asked.api_groups),
            &list(&allowed.api_groups),
            |a, b| a == b,
        ) && subset(&resources, &list(&allowed.resources), resource_matches)
            && names_ok(&list(&allowed.resource_names), &list(&asked.resource_names)));
    let urls_ok = urls.is_empty() || subset(&urls, &list(&allowed.non_resource_urls), url_matches);
    verbs_ok && resources_ok && urls_ok
}

/// Every item of `asked` is matched by some item of `allowed` (or `allowed` holds `*`).
fn subset(asked: &[String], allowed: &[String], matches: impl Fn(&str, &str) -> bool) -> bool {
    asked
        .iter()
        .all(|a| allowed.iter().any(|b| b == ANY || matches(b, a)))
}

/// `allowed` (a resource of the policy's rule) matches `asked` as the API server matches a
/// resource: exactly, or `*/sub` for any resource's subresource `sub`.
fn resource_matches(allowed: &str, asked: &str) -> bool {
    allowed == asked
        || allowed.strip_prefix("*/").is_some_and(|sub| {
            asked
                .split_once('/')
                .is_some_and(|(_, asked_sub)| asked_sub == sub)
        })
}

/// `allowed` matches the non-resource URL `asked` exactly, or as a prefix ending in `*`.
fn url_matches(allowed: &str, asked: &str) -> bool {
    allowed == asked
        || allowed
            .strip_suffix('*')
            .is_some_and(|prefix| asked.starts_with(prefix))
}

/// No resource names in the policy's rule: any; else the request must name some, all listed.
fn names_ok(allowed: &[String], asked: &[String]) -> bool {
    allowed.is_empty() || (!asked.is_empty() && asked.iter().all(|a| allowed.contains(a)))
}

/// The rule in one line, for messages: `verbs [get list] on pods, services in "" and apps`.
pub fn describe(rule: &PolicyRule) -> String {
    let join = |v: &Option<Vec<String>>| {
        v.iter()
            .flatten()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut text = format!("rule verbs [{}]", rule.verbs.join(","));
    if rule.resources.as_ref().is_some_and(|r| !r.is_empty()) {
        text.push_str(&format!(
            " resources [{}] apiGroups [{}]",
            join(&rule.resources),
            join(&rule.api_groups)
        ));
    }
    if rule.resource_names.as_ref().is_some_and(|r| !r.is_empty()) {
        text.push_str(&format!(" resourceNames [{}]", join(&rule.resource_names)));
    }
    if rule
        .non_resource_urls
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        text.push_str(&format!(
            " nonResourceURLs [{}]",
            join(&rule.non_resource_urls)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        PolicyRule {
            api_groups: Some(v(groups)),
            resources: Some(v(resources)),
            verbs: v(verbs),
            ..Default::default()
        }
    }

    fn urls(urls: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            non_resource_urls: Some(urls.iter().map(|x| (*x).to_owned()).collect()),
            verbs: verbs.iter().map(|x| (*x).to_owned()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn subsets_are_covered_and_supersets_are_not() {
        let allowed = rule(&["", "apps"], &["pods", "deployments"], &["get", "list"]);
        assert!(covers(&allowed, &rule(&[""], &["pods"], &["get"])));
        assert!(covers(
            &allowed,
            &rule(&["apps", ""], &["deployments", "pods"], &["list", "get"])
        ));
        assert!(!covers(&allowed, &rule(&[""], &["pods"], &["delete"])));
        assert!(!covers(&allowed, &rule(&[""], &["secrets"], &["get"])));
        assert!(!covers(&allowed, &rule(&["batch"], &["pods"], &["get"])));
        assert!(!covers(&allowed, &rule(&[""], &["pods/log"], &["get"])));
    }

    #[test]
    fn wildcards_are_covered_only_by_wildcards() {
        let bounded = rule(&[""], &["pods"], &["get"]);
        assert!(!covers(&bounded, &rule(&["*"], &["pods"], &["get"])));
        assert!(!covers(&bounded, &rule(&[""], &["*"], &["get"])));
        assert!(!covers(&bounded, &rule(&[""], &["pods"], &["*"])));
        let everything = rule(&["*"], &["*"], &["*"]);
        assert!(covers(&everything, &rule(&["*"], &["*"], &["*"])));
        assert!(covers(&everything, &rule(&["x.io"], &["a/b"], &["patch"])));
        // Resources and URLs are separate: a resource wildcard allows no URL.
        assert!(!covers(&everything, &urls(&["/healthz"], &["get"])));
        assert!(covers(
            &urls(&["*"], &["*"]),
            &urls(&["/metrics"], &["get"])
        ));
    }

    #[test]
    fn subresource_wildcards_match_as_the_api_server_does() {
        let scale = rule(&["apps"], &["*/scale"], &["update"]);
        assert!(covers(
            &scale,
            &rule(&["apps"], &["deployments/scale"], &["update"])
        ));
        assert!(covers(&scale, &rule(&["apps"], &["*/scale"], &["update"])));
        assert!(!covers(
            &scale,
            &rule(&["apps"], &["deployments"], &["update"])
        ));
        assert!(!covers(&scale, &rule(&["apps"], &["*"], &["update"])));
    }

    #[test]
    fn resource_names_narrow() {
        let mut named = rule(&[""], &["configmaps"], &["get"]);
        named.resource_names = Some(vec!["a".into(), "b".into()]);
        let mut asked = rule(&[""], &["configmaps"], &["get"]);
        assert!(!covers(&named, &asked), "no names asks for every object");
        asked.resource_names = Some(vec!["a".into()]);
        assert!(covers(&named, &asked));
        asked.resource_names = Some(vec!["a".into(), "c".into()]);
        assert!(!covers(&named, &asked));
        assert!(covers(&rule(&[""], &["configmaps"], &["get"]), &asked));
    }

    #[test]
    fn url_prefixes() {
        let allowed = urls(&["/healthz", "/metrics/*"], &["get"]);
        assert!(covers(&allowed, &urls(&["/healthz"], &["get"])));
        assert!(covers(
            &allowed,
            &urls(&["/metrics/cadvisor", "/metrics/*"], &["get"])
        ));
        assert!(!covers(&allowed, &urls(&["/metrics"], &["get"])));
        assert!(!covers(&allowed, &urls(&["/*"], &["get"])));
        assert!(!covers(&allowed, &urls(&["/healthz"], &["post"])));
    }

    #[test]
    fn descriptions_name_every_part() {
        let mut r = rule(&["*"], &["*"], &["*"]);
        r.resource_names = Some(vec!["x".into()]);
        assert_eq!(
            describe(&r),
            "rule verbs [*] resources [\"*\"] apiGroups [\"*\"] resourceNames [\"x\"]"
        );
        assert_eq!(
            describe(&urls(&["/healthz"], &["get"])),
            "rule verbs [get] nonResourceURLs [\"/healthz\"]"
        );
    }
}
