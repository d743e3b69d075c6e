//! Errors as a person reads them and as the loops decide on them: one bounded [`Category`] per
//! failure (a metric label, and whether a retry soon may help), and one line of text (the API
//! server's answer once, as kubectl shows it, never a `Debug` dump of a `Status`).
//!
//! Display rule, for every error type of Roster: a message never repeats its `#[source]`.
//! Either `#[error("doing x")]` with the cause as `#[source]`/`#[from]`, or
//! `#[error("doing x: {0}")]` with the cause as a plain field; so joining a chain of causes
//! ([`chain`], [`one_line`]) prints each piece once without having to look for repeats. kube's
//! own errors carry their sources in their text, so a chain ends at the first of them.

mod category;

pub use category::Category;

/// The API server's answer once — `<message> (<reason>, <code>)` — or the transport error.
pub fn brief(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(s) => format!("{} ({}, {})", s.message, s.reason, s.code),
        other => format!("Kubernetes API request failed: {other}"),
    }
}

/// `error` and its causes, outermost first, joined by `: ` on one line. A kube error ends the
/// chain (its text already holds its own sources); a request's is printed as [`brief`] says.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        if let Some(api) = cause.downcast_ref::<kube::Error>() {
            parts.push(brief(api));
            break;
        }
        parts.push(cause.to_string());
        if cause.is::<kube::config::KubeconfigError>()
            || cause.is::<kube::config::InferConfigError>()
        {
            break;
        }
        next = cause.source();
    }
    parts.join(": ").replace(['\n', '\r'], " ")
}

/// [`chain`] for an `anyhow` error (its contexts first).
pub fn one_line(error: &anyhow::Error) -> String {
    chain(error.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid() -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            message:
                r#"MemberCluster.roster.dev "bad_name" is invalid: metadata.name: Invalid value"#
                    .into(),
            reason: "Invalid".into(),
            code: 422,
            ..Default::default()
        }))
    }

    #[test]
    fn an_api_refusal_reads_like_kubectl_once() {
        let error = anyhow::Error::new(invalid()).context("creating MemberCluster bad_name");
        assert_eq!(
            one_line(&error),
            r#"creating MemberCluster bad_name: MemberCluster.roster.dev "bad_name" is invalid: metadata.name: Invalid value (Invalid, 422)"#
        );
    }

    #[test]
    fn a_chain_prints_each_cause_after_its_wrapper_on_one_line() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::other("inner\nsecond line"));
        assert_eq!(chain(&error), "outer: inner second line");
        assert_eq!(
            one_line(&anyhow::Error::new(error).context("doing it")),
            "doing it: outer: inner second line"
        );
    }

    #[test]
    fn a_kube_error_ends_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the lease")]
        struct Reading(#[source] kube::Error);
        let error = Reading(kube::Error::Service("connection refused".into()));
        assert_eq!(
            chain(&error),
            "reading the lease: Kubernetes API request failed: ServiceError: connection refused"
        );
    }
}
