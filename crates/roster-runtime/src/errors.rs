//! Errors as a person reads them: one line, the API server's answer once (its message, reason
//! and code, as kubectl shows it), never a `Debug` dump of a `Status`.

/// The API server's answer once — `<message> (<reason>, <code>)` — or the transport error.
pub fn brief(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(s) => format!("{} ({}, {})", s.message, s.reason, s.code),
        other => format!("Kubernetes API request failed: {other}"),
    }
}

/// `error` and its causes on one line, outermost first, each piece once: a cause whose text
/// the piece before it already carries is skipped, and an API error ends the chain (its own
/// sources only repeat it).
pub fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let api = cause.downcast_ref::<kube::Error>();
        let text = api.map_or_else(|| cause.to_string(), brief);
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        if api.is_some() {
            break;
        }
    }
    parts.join(": ").replace('\n', " ")
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
        assert!(!format!("{error:#}").is_empty());
    }

    #[test]
    fn repeated_causes_are_printed_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Repeating(#[source] std::io::Error);
        let error = anyhow::Error::new(Repeating(std::io::Error::other("inner\nsecond line")));
        assert_eq!(one_line(&error), "outer: inner second line");
    }
}
