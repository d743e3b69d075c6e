//! Telling API errors apart: which ones a retry may cure, and how to print them in one line.

/// Whether a retry may cure `error`: the server could not be reached, or answered that it is
/// busy or broken (429, 5xx). Refusals (401, 403, 404, 422…) are not transient.
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Whether `error` refuses a write because its namespace is being deleted: it will be gone
/// soon, and then the write can create it again, so a retry cures this one too.
pub fn is_namespace_terminating(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            status.code == 403 && status.message.contains("because it is being terminated")
        }
        _ => false,
    }
}

/// The HTTP status of an API error, if the server answered.
pub fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// `error` and its sources, joined by `: `, for a log line or a status message.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // Wrappers often repeat their source's text; print each piece once.
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(Status::failure("x", "y").with_code(code).boxed())
    }

    #[test]
    fn transient_errors() {
        for code in [429, 500, 503, 504] {
            assert!(is_transient(&api(code)), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!is_transient(&api(code)), "{code}");
        }
        assert_eq!(status_code(&api(401)), Some(401));
        let terminating = kube::Error::Api(
            Status::failure(
                "serviceaccounts \"x\" is forbidden: unable to create new content in namespace \
                 roster-remote because it is being terminated",
                "Forbidden",
            )
            .with_code(403)
            .boxed(),
        );
        assert!(is_namespace_terminating(&terminating));
        assert!(!is_namespace_terminating(&api(403)));
        let service = kube::Error::Service("connection refused".into());
        assert!(is_transient(&service));
        assert_eq!(status_code(&service), None);
    }

    #[test]
    fn chain_prints_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&error), "outer: inner");
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Repeating(#[source] std::io::Error);
        assert_eq!(
            chain(&Repeating(std::io::Error::other("inner"))),
            "outer: inner"
        );
    }
}
