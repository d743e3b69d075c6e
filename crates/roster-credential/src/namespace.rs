//! Which namespace holds the token Secrets: the flag, else the pod's, else the kubeconfig's.

use crate::error::Error;

/// Where a pod's own namespace is mounted.
pub const SERVICE_ACCOUNT_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The first non-blank of: `flag` (`--namespace`/`POD_NAMESPACE`), the pod's namespace file, the
/// kubeconfig context's namespace. The later sources are only asked when needed.
pub fn resolve(
    flag: Option<&str>,
    pod_namespace: impl FnOnce() -> Option<String>,
    kubeconfig_namespace: impl FnOnce() -> Option<String>,
) -> Result<String, Error> {
    let usable = |ns: Option<String>| ns.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    usable(flag.map(str::to_owned))
        .or_else(|| usable(pod_namespace()))
        .or_else(|| usable(kubeconfig_namespace()))
        .ok_or(Error::NoNamespace)
}

/// The namespace of the pod this runs in, if any.
pub fn pod_namespace() -> Option<String> {
    std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE_FILE).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> Option<String> {
        panic!("asked for a later source although an earlier one answered")
    }

    #[test]
    fn first_source_wins() {
        assert_eq!(resolve(Some("team-a"), never, never).unwrap(), "team-a");
        assert_eq!(
            resolve(None, || Some("pod-ns\n".into()), never).unwrap(),
            "pod-ns"
        );
        assert_eq!(
            resolve(Some(" "), || None, || Some("ctx-ns".into())).unwrap(),
            "ctx-ns"
        );
        assert_eq!(
            resolve(None, || Some(String::new()), || Some("ctx-ns".into())).unwrap(),
            "ctx-ns"
        );
    }

    #[test]
    fn none_found() {
        assert!(matches!(
            resolve(None, || None, || None),
            Err(Error::NoNamespace)
        ));
    }
}
