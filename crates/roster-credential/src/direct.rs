//! The Secret GET through the plugin's own HTTPS client ([`crate::https`]): the request, and
//! its answer turned into the Secret or into exactly the errors kube's client would give.

use k8s_openapi::api::core::v1::Secret;

use crate::{
    error::{Error, one_line},
    https, hub,
    secret::SecretRef,
};

/// Reads the Secret `at` with one GET on a new connection of the plugin's own HTTPS client, or
/// `None` when the settings need kube's client ([`https::Connection::for_config`]).
pub fn get_secret(config: &kube::Config, at: &SecretRef) -> Option<Result<Secret, Error>> {
    let connection =
        https::Connection::for_config(config, hub::CONNECT_TIMEOUT, hub::READ_TIMEOUT)?;
    let server = hub::server_url(config);
    Some(connection.map_err(settings_error).and_then(|connection| {
        let path = format!(
            "/api/v1/namespaces/{}/secrets/{}",
            path_segment(&at.namespace),
            path_segment(&at.name)
        );
        let answer = connection
            .send("GET", &path, None)
            .map_err(|failure| match failure {
                https::Failure::Settings(cause) => Error::HubConfig(one_line(&cause)),
                https::Failure::Transport(cause) => Error::Unreachable {
                    server: server.clone(),
                    cause: one_line(&cause),
                },
            })?;
        secret_answer(at, &server, answer)
    }))
}

fn settings_error(failure: https::Failure) -> Error {
    match failure {
        https::Failure::Settings(cause) | https::Failure::Transport(cause) => {
            Error::HubConfig(one_line(&cause))
        }
    }
}

/// The Secret an answer to its GET holds, or the plugin's error for it: a failure status is
/// read as the API's `Status` and named exactly as when kube's client reads it.
pub fn secret_answer(
    at: &SecretRef,
    server: &str,
    answer: https::Response,
) -> Result<Secret, Error> {
    if (200..300).contains(&answer.status) {
        return serde_json::from_slice(&answer.body).map_err(|e| Error::Api {
            secret: Box::new(at.clone()),
            server: server.to_owned(),
            cause: format!("the answer is not a Secret: {e}"),
        });
    }
    let status = match serde_json::from_slice::<kube::core::Status>(&answer.body) {
        Ok(mut status) if status.is_failure() || status.code != 0 => {
            if status.code == 0 {
                status.code = answer.status;
            }
            status
        }
        _ => {
            let text = String::from_utf8_lossy(&answer.body);
            let reason = http_reason(answer.status);
            kube::core::Status::failure(text.trim(), reason).with_code(answer.status)
        }
    };
    Err(hub::api_error(at, server, kube::Error::Api(status.boxed())))
}

/// The standard reason phrase the API server uses for `code`, for answers without a Status.
fn http_reason(code: u16) -> &'static str {
    match code {
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "",
    }
}

/// `text` as one URL path segment: object names are DNS names already; anything else (a
/// namespace given on the command line) is percent-encoded so it cannot reach another path.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = "https://hub.example.com:6443";

    fn at() -> SecretRef {
        SecretRef::new("deployer", "member-1")
            .unwrap()
            .in_namespace("team-a")
    }

    fn answer(status: u16, body: &str) -> https::Response {
        https::Response {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_of_the_direct_get() {
        let secret = secret_answer(
            &at(),
            SERVER,
            answer(
                200,
                r#"{"apiVersion":"v1","kind":"Secret","type":"Opaque","data":{"a":"Yg=="}}"#,
            ),
        )
        .unwrap();
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        // Failures read exactly as through kube's client.
        let status = |code: u16, reason: &str, message: &str| {
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": message, "reason": reason, "code": code})
            .to_string()
        };
        let not_found = status(404, "NotFound", "secrets \"deployer-member-1\" not found");
        assert!(matches!(
            secret_answer(&at(), SERVER, answer(404, &not_found)),
            Err(Error::SecretNotFound { .. })
        ));
        let forbidden = status(
            403,
            "Forbidden",
            "secrets \"x\" is forbidden: User \"system:serviceaccount:o:p\" cannot get",
        );
        assert!(matches!(
            secret_answer(&at(), SERVER, answer(403, &forbidden)),
            Err(Error::Forbidden { identity, .. }) if identity == "User \"system:serviceaccount:o:p\""
        ));
        assert!(matches!(
            secret_answer(&at(), SERVER, answer(401, "Unauthorized")),
            Err(Error::Unauthorized { .. })
        ));
        match secret_answer(&at(), SERVER, answer(502, "bad gateway\n")) {
            Err(Error::Api { cause, .. }) => assert_eq!(cause, "502 : bad gateway"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            secret_answer(&at(), SERVER, answer(200, "[]")),
            Err(Error::Api { cause, .. }) if cause.starts_with("the answer is not a Secret")
        ));
    }

    #[test]
    fn path_segments_stay_segments() {
        assert_eq!(path_segment("team-a"), "team-a");
        assert_eq!(path_segment("a/../b c"), "a%2F..%2Fb%20c");
    }
}
