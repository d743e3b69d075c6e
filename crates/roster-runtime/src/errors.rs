//! Errors as a person reads them and as the loops decide on them: one bounded [`Category`] per
//! failure (a metric label, and whether a retry soon may help), and one line of text (the API
//! server's answer once, as kubectl shows it, never a `Debug` dump of a `Status`).
//!
//! Display rule, for every error type of Roster: a message never repeats its `#[source]`.
//! Either `#[error("doing x")]` with the cause as `#[source]`/`#[from]`, or
//! `#[error("doing x: {0}")]` with the cause as a plain field; so joining a chain of causes
//! ([`chain`], [`one_line`]) prints each of Roster's pieces once. Only errors from other crates
//! (kube's print their source in their own text) need the check for repeats.

mod category;

pub use category::Category;

/// The API server's answer once — `<message> (<reason>, <code>)` — or the transport error.
pub fn brief(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(s) => format!("{} ({}, {})", s.message, s.reason, s.code),
        other => format!("Kubernetes API request failed: {other}"),
    }
}

/// `error` and its causes, outermost first, joined by `: ` on one line, for a log line or a
/// status message. An API server's answer is printed as [`brief`] says and ends the chain.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    join(error, |e| match e {
        kube::Error::Api(_) => Some(brief(e)),
        _ => None,
    })
}

/// `error` and its causes on one line, for a person: what was being done, then the API
/// server's answer once (as [`brief`] says), which ends the line: what lies below a kube error
/// only repeats it.
pub fn one_line(error: &anyhow::Error) -> String {
    join(error.as_ref(), |e| Some(brief(e)))
}

/// Joins the chain from `error`. A kube error for which `last` gives a text ends it with that
/// text. Roster's errors follow the Display rule; kube's print their source in their own text
/// (at every level of their nesting), so a cause the text before it already holds is skipped.
fn join(
    error: &(dyn std::error::Error + 'static),
    last: impl Fn(&kube::Error) -> Option<String>,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let end = cause.downcast_ref::<kube::Error>().and_then(&last);
        let text = end.clone().unwrap_or_else(|| cause.to_string());
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        if end.is_some() {
            break;
        }
        next = cause.source();
    }
    parts.join(": ").replace(['\n', '\r'], " ")
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
        let error = Outer(std::io::Error::other("inner\nsecond line"));
        assert_eq!(chain(&error), "outer: inner second line");
        assert_eq!(
            one_line(&anyhow::Error::new(error).context("doing it")),
            "doing it: outer: inner second line"
        );
    }

    #[test]
    fn kube_errors_are_printed_once_and_their_causes_kept_in_a_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the lease")]
        struct Reading(#[source] kube::Error);
        let refused = std::io::Error::other("connection refused");
        let error = Reading(kube::Error::Service(Box::new(Outer(refused))));
        // kube's text holds its source's ("outer"), not what lies below it.
        assert_eq!(
            chain(&error),
            "reading the lease: ServiceError: outer: connection refused"
        );
        assert_eq!(
            one_line(&anyhow::Error::new(error)),
            "reading the lease: Kubernetes API request failed: ServiceError: outer"
        );
        let answer = Reading(invalid());
        assert!(chain(&answer).ends_with("Invalid value (Invalid, 422)"));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);
}
