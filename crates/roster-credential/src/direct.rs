//! The hub through the plugin's own HTTPS client ([`crate::https`]): the Secret GET, and
//! federated mode's SelfSubjectReview and TokenRequest; each answer turned into its object or
//! into exactly the error kube's client would give.

use k8s_openapi::api::{
    authentication::v1::{SelfSubjectReview, TokenRequest},
    core::v1::Secret,
};

use crate::{
    error::{Error, one_line},
    https, hub,
    secret::SecretRef,
    target::ServiceAccountRef,
};

/// Reads the Secret `at` with one GET on a new connection of the plugin's own HTTPS client, or
/// `None` when the settings need kube's client ([`https::Connection::for_config`]).
pub fn get_secret(config: &kube::Config, at: &SecretRef) -> Option<Result<Secret, Error>> {
    let connection = connection(config)?;
    Some(connection.and_then(|(connection, server)| {
        let path = format!(
            "/api/v1/namespaces/{}/secrets/{}",
            path_segment(&at.namespace),
            path_segment(&at.name)
        );
        let answer = send(&connection, &server, "GET", &path, None)?;
        secret_answer(at, &server, answer)
    }))
}

/// The plugin's own HTTPS client for `config` and the hub's URL, `None` when the settings need
/// kube's client.
pub fn connection(config: &kube::Config) -> Option<Result<(https::Connection, String), Error>> {
    let connection =
        https::Connection::for_config(config, hub::CONNECT_TIMEOUT, hub::READ_TIMEOUT)?;
    let server = hub::server_url(config);
    Some(
        connection
            .map(|c| (c, server))
            .map_err(|failure| Error::HubConfig(one_line(failure_text(&failure)))),
    )
}

/// Sends one request; a transport failure is the hub being unreachable.
fn send(
    connection: &https::Connection,
    server: &str,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<https::Response, Error> {
    connection
        .send(method, path, body)
        .map_err(|failure| match failure {
            https::Failure::Settings(cause) => Error::HubConfig(one_line(&cause)),
            https::Failure::Transport(cause) => Error::Unreachable {
                server: server.to_owned(),
                cause: one_line(&cause),
            },
        })
}

fn failure_text(failure: &https::Failure) -> &str {
    match failure {
        https::Failure::Settings(text) | https::Failure::Transport(text) => text,
    }
}

/// Who the hub says the plugin is (a SelfSubjectReview): its username.
pub fn who_am_i(connection: &https::Connection, server: &str) -> Result<String, Error> {
    let what = hub::WHO_AM_I;
    let body = br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#;
    let path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    let answer = send(connection, server, "POST", path, Some(body))?;
    let review: SelfSubjectReview =
        decode(answer).map_err(|e| hub::federated_error(what, server, e))?;
    hub::username(review, server)
}

/// Creates `request` for the service account `account` (TokenRequest).
pub fn request_token(
    connection: &https::Connection,
    server: &str,
    account: &ServiceAccountRef,
    request: &TokenRequest,
) -> Result<TokenRequest, Error> {
    let path = format!(
        "/api/v1/namespaces/{}/serviceaccounts/{}/token",
        path_segment(&account.namespace),
        path_segment(&account.name)
    );
    let body = serde_json::to_vec(request).map_err(|e| Error::FederatedApi {
        what: hub::token_request_what(account),
        server: server.to_owned(),
        cause: e.to_string(),
    })?;
    let answer = send(connection, server, "POST", &path, Some(&body))?;
    decode(answer).map_err(|e| hub::token_request_error(account, server, e))
}

/// The object a successful answer holds, or the failure as kube's client would report it.
fn decode<T: serde::de::DeserializeOwned>(answer: https::Response) -> Result<T, kube::Error> {
    if (200..300).contains(&answer.status) {
        return serde_json::from_slice(&answer.body).map_err(|e| {
            // Reported through the same mapping as any other unexpected answer.
            let message = format!("the answer is not what was asked for: {e}");
            kube::Error::Api(
                kube::core::Status::failure(&message, "")
                    .with_code(answer.status)
                    .boxed(),
            )
        });
    }
    Err(kube::Error::Api(failure_status(&answer).boxed()))
}

/// The API's `Status` of a failed answer, or one made of its code and text.
fn failure_status(answer: &https::Response) -> kube::core::Status {
    match serde_json::from_slice::<kube::core::Status>(&answer.body) {
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
    Err(hub::api_error(
        at,
        server,
        kube::Error::Api(failure_status(&answer).boxed()),
    ))
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

    #[test]
    fn federated_answers() {
        let account = ServiceAccountRef {
            namespace: "team-a".into(),
            name: "deployer".into(),
        };
        let forbidden = serde_json::json!({"kind": "Status", "apiVersion": "v1",
            "status": "Failure", "reason": "Forbidden", "code": 403,
            "message": "serviceaccounts \"deployer\" is forbidden: User \"system:serviceaccount:team-a:deployer\" cannot create resource"})
        .to_string();
        let denied = decode::<TokenRequest>(answer(403, &forbidden))
            .map_err(|e| hub::token_request_error(&account, SERVER, e));
        assert!(matches!(denied, Err(Error::TokenRequestForbidden { .. })));
        let created: TokenRequest = decode(answer(
            201,
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","status":{"token":"t","expirationTimestamp":"2026-11-22T21:00:00Z"}}"#,
        ))
        .unwrap();
        assert_eq!(created.status.unwrap().token.as_deref(), Some("t"));
        let review: SelfSubjectReview = decode(answer(
            201,
            r#"{"status":{"userInfo":{"username":"kubernetes-admin"}}}"#,
        ))
        .unwrap();
        assert_eq!(hub::username(review, SERVER).unwrap(), "kubernetes-admin");
        let garbled = decode::<TokenRequest>(answer(201, "<html>"))
            .map_err(|e| hub::token_request_error(&account, SERVER, e));
        assert!(matches!(
            garbled,
            Err(Error::FederatedApi { cause, .. }) if cause.contains("not what was asked for")
        ));
    }
}
