//! The one classification of failures that the hub and the agent share: a bounded metric
//! label and the one decision of which failures a retry soon may cure.

use kube::core::{Status, response::reason};

/// What kind of failure an error is. Bounded: [`Category::as_str`] is the `category` label of
/// the hub's and the agent's error metrics.
///
/// Which ones are transient ([`Category::is_transient`]) is decided here once, for a
/// controller that retries on its own (the hub's reconciles, the agent's loops):
///
/// | category | API answer | transient | why |
/// |---|---|---|---|
/// | `conflict` | 409 Conflict or AlreadyExists, 410 Gone/Expired | yes | what the request was based on changed: re-read and retry |
/// | `not_found` | 404 | yes | a cache that lags, an object or namespace being created, a deletion racing the write: the next look differs |
/// | `terminating` | 403 "… because it is being terminated" | yes | the namespace is going; once gone, the write recreates it |
/// | `unavailable` | 429, 5xx, timeouts | yes | the server is busy or broken, not refusing |
/// | `transport` | no answer (connection, TLS, a broken stream) | yes | the server may be back soon |
/// | `unauthorized` | 401 | no | the credential is wrong or revoked: a person must issue another |
/// | `forbidden` | 403 | no | RBAC refuses: a person must grant the rights |
/// | `invalid` | 400, 422 | no | the object as it stands is refused: its spec must change |
/// | `api` | any other answer (405, 413, …) | no | the same request gets the same answer |
/// | `serialize` | — | no | an object cannot be encoded or an answer decoded |
/// | `finalizer` | — | no | kube's finalizer helper refused the object (no name, a bad finalizer) |
///
/// Not transient does not mean never retried: the hub retries those after a minute and the
/// agent reports them in the grant's status at once and retries after 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// 409 Conflict or AlreadyExists, 410 Gone or Expired.
    Conflict,
    /// 404 NotFound.
    NotFound,
    /// 403 because the namespace is being deleted.
    Terminating,
    /// 429, 5xx, timeouts.
    Unavailable,
    /// No answer from the server.
    Transport,
    /// 401 Unauthorized.
    Unauthorized,
    /// 403 Forbidden (other than [`Category::Terminating`]).
    Forbidden,
    /// 400 BadRequest, 422 Invalid.
    Invalid,
    /// Any other answer of the API server.
    Api,
    /// Encoding an object or decoding an answer failed.
    Serialize,
    /// kube's finalizer helper failed outside an API call.
    Finalizer,
}

impl Category {
    /// Every category, in the order of the table above (to create every metric series).
    pub const ALL: [Category; 11] = [
        Category::Conflict,
        Category::NotFound,
        Category::Terminating,
        Category::Unavailable,
        Category::Transport,
        Category::Unauthorized,
        Category::Forbidden,
        Category::Invalid,
        Category::Api,
        Category::Serialize,
        Category::Finalizer,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Conflict => "conflict",
            Category::NotFound => "not_found",
            Category::Terminating => "terminating",
            Category::Unavailable => "unavailable",
            Category::Transport => "transport",
            Category::Unauthorized => "unauthorized",
            Category::Forbidden => "forbidden",
            Category::Invalid => "invalid",
            Category::Api => "api",
            Category::Serialize => "serialize",
            Category::Finalizer => "finalizer",
        }
    }

    /// Whether retrying soon may cure it, without anyone changing anything (see the table).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Category::Conflict
                | Category::NotFound
                | Category::Terminating
                | Category::Unavailable
                | Category::Transport
        )
    }

    /// The category of a failed request.
    pub fn of(error: &kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => Self::of_status(status),
            kube::Error::SerdeError(_) => Category::Serialize,
            _ => Category::Transport,
        }
    }

    /// The category of an API server's answer: by its reason, and by its code when the reason
    /// is not one Kubernetes defines (as client-go's `errors.IsNotFound` and friends do).
    pub fn of_status(status: &Status) -> Self {
        if status.is_forbidden() && status.message.contains("because it is being terminated") {
            return Category::Terminating;
        }
        match status.reason.as_str() {
            reason::CONFLICT | reason::ALREADY_EXISTS | reason::GONE | reason::EXPIRED => {
                Category::Conflict
            }
            reason::NOT_FOUND => Category::NotFound,
            reason::UNAUTHORIZED => Category::Unauthorized,
            reason::FORBIDDEN => Category::Forbidden,
            reason::INVALID | reason::BAD_REQUEST => Category::Invalid,
            reason::TOO_MANY_REQUESTS
            | reason::SERVER_TIMEOUT
            | reason::TIMEOUT
            | reason::INTERNAL_ERROR
            | reason::SERVICE_UNAVAILABLE
            | reason::STORAGE_READ_ERROR => Category::Unavailable,
            known if reason::is_known(known) => Category::Api,
            _ => match status.code {
                409 | 410 => Category::Conflict,
                404 => Category::NotFound,
                401 => Category::Unauthorized,
                403 if status.message.contains("because it is being terminated") => {
                    Category::Terminating
                }
                403 => Category::Forbidden,
                400 | 422 => Category::Invalid,
                429 | 500.. => Category::Unavailable,
                _ => Category::Api,
            },
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    #[test]
    fn answers_by_reason_and_code() {
        for (code, reason, category) in [
            (409, "Conflict", Category::Conflict),
            (409, "AlreadyExists", Category::Conflict),
            (410, "Expired", Category::Conflict),
            (404, "NotFound", Category::NotFound),
            (401, "Unauthorized", Category::Unauthorized),
            (403, "Forbidden", Category::Forbidden),
            (422, "Invalid", Category::Invalid),
            (400, "BadRequest", Category::Invalid),
            (429, "TooManyRequests", Category::Unavailable),
            (503, "ServiceUnavailable", Category::Unavailable),
            (504, "Timeout", Category::Unavailable),
            (405, "MethodNotAllowed", Category::Api),
            // No reason (a proxy in front of the API server): the code decides.
            (404, "", Category::NotFound),
            (403, "", Category::Forbidden),
            (502, "", Category::Unavailable),
            (418, "", Category::Api),
        ] {
            assert_eq!(
                Category::of(&answer(code, reason, "x")),
                category,
                "{code} {reason}"
            );
        }
        let terminating = answer(
            403,
            "Forbidden",
            "serviceaccounts \"x\" is forbidden: unable to create new content in namespace \
             roster-remote because it is being terminated",
        );
        assert_eq!(Category::of(&terminating), Category::Terminating);
    }

    #[test]
    fn no_answer_and_undecodable_answers() {
        let refused = kube::Error::Service("connection refused".into());
        assert_eq!(Category::of(&refused), Category::Transport);
        let garbled = serde_json::from_str::<u8>("x").unwrap_err();
        assert_eq!(
            Category::of(&kube::Error::SerdeError(garbled)),
            Category::Serialize
        );
    }

    #[test]
    fn the_transient_decision() {
        let transient: Vec<&str> = Category::ALL
            .into_iter()
            .filter(|c| c.is_transient())
            .map(Category::as_str)
            .collect();
        assert_eq!(
            transient,
            [
                "conflict",
                "not_found",
                "terminating",
                "unavailable",
                "transport"
            ]
        );
        assert_eq!(Category::Forbidden.to_string(), "forbidden");
    }
}
