//! Whether the member's API server trusts the hub's service-account issuer (federated access,
//! see `roster_api::federation`): the agent asks the hub for a token of its own hub service
//! account bound to the member's audience and presents it to its member in a
//! SelfSubjectReview. The member either maps it to the agent's federated user (trusted), refuses
//! it (401: not configured, or configured for another issuer or audience), or maps it to
//! someone else (configured differently from what `kubectl roster join` emits). The verdict
//! goes into the MemberReport; the hub turns it into the MemberCluster's FederationTrusted
//! condition.
//!
//! The probe token is requested with the shortest lifetime the hub allows and reused until 80%
//! of it has passed, so a fleet of agents adds one TokenRequest per member every few minutes.
//! It is never written anywhere.

use k8s_openapi::{
    api::{
        authentication::v1::{SelfSubjectReview, TokenRequest, TokenRequestSpec},
        core::v1::ServiceAccount,
    },
    jiff::{SignedDuration, Timestamp},
};
use kube::{Api, api::PostParams, config::AuthInfo};
use roster_api::{federation, member_report::FederationTrust, names};
use roster_runtime::errors::{self, Category};
use secrecy::SecretString;

use crate::{clients, timing};

/// Lifetime asked for the probe token: the API server's minimum.
const PROBE_TOKEN_SECONDS: i64 = names::MIN_TOKEN_EXPIRATION_SECONDS;

/// What the member answered to the probe token.
#[derive(Debug)]
pub enum Answer {
    /// It authenticated the token as this user.
    User(String),
    /// It failed with this error.
    Failed(kube::Error),
}

/// The verdict on `answer` for a member that should map the agent's probe token to
/// `expected`, or `None` when the answer says nothing about trust (the member or the network
/// was away: the previous verdict stands).
pub fn verdict(answer: &Answer, expected: &str, audience: &str) -> Option<FederationTrust> {
    match answer {
        Answer::User(user) if user == expected => Some(FederationTrust {
            trusted: true,
            message: format!(
                "the member's API server accepts hub service-account tokens for audience \
                 {audience} (the agent's token authenticated as {user})"
            ),
        }),
        Answer::User(user) => Some(FederationTrust {
            trusted: false,
            message: format!(
                "the member's API server maps hub tokens for audience {audience} to {user:?}, \
                 not {expected:?}: its authentication configuration differs from the one \
                 `kubectl roster join --federation-config` writes"
            ),
        }),
        Answer::Failed(error) => match Category::of(error) {
            Category::Unauthorized => Some(FederationTrust {
                trusted: false,
                message: format!(
                    "the member's API server does not accept hub service-account tokens for \
                     audience {audience} (401): add the authentication configuration \
                     `kubectl roster join --federation-config` writes to its \
                     --authentication-config, and check that it can fetch the hub's discovery \
                     document and keys (the hub binds system:service-account-issuer-discovery \
                     to system:unauthenticated)"
                ),
            }),
            _ => None,
        },
    }
}

/// The agent's periodic trust check.
pub struct TrustCheck {
    hub: kube::Client,
    member: kube::Config,
    namespace: String,
    audience: String,
    expected: String,
    /// The probe token's client of the member, and when to request a new token.
    probe: Option<(kube::Client, Timestamp)>,
}

impl std::fmt::Debug for TrustCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustCheck")
            .field("namespace", &self.namespace)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TrustCheck {
    /// A check for `member` (the MemberCluster name) whose agent identity lives in
    /// `namespace` on `hub`, probing the member API server `member_config` points at.
    pub fn new(
        hub: kube::Client,
        member_config: kube::Config,
        member: &str,
        namespace: &str,
    ) -> Self {
        Self {
            hub,
            member: member_config,
            namespace: namespace.to_owned(),
            audience: federation::audience(member),
            expected: federation::federated_user(namespace, names::AGENT_SERVICE_ACCOUNT),
            probe: None,
        }
    }

    /// Checks once; `None` when neither the hub nor the member gave an answer that says
    /// anything about trust.
    pub async fn check(&mut self) -> Option<FederationTrust> {
        let client = match self.probe_client().await {
            Ok(client) => client,
            Err(e) => {
                tracing::info!(error = %errors::chain(&e), "cannot get a probe token for the federation check");
                return None;
            }
        };
        let answer = match review(client).await {
            Ok(user) => Answer::User(user),
            Err(e) => Answer::Failed(e),
        };
        if let Answer::Failed(e) = &answer
            && Category::of(e) != Category::Unauthorized
        {
            tracing::info!(error = %errors::chain(e), "federation check got no answer");
        }
        verdict(&answer, &self.expected, &self.audience)
    }

    /// A client of the member presenting the probe token, which is requested again once 80% of
    /// its life has passed.
    async fn probe_client(&mut self) -> Result<kube::Client, kube::Error> {
        let now = timing::now();
        if let Some((client, refresh_at)) = &self.probe
            && now < *refresh_at
        {
            return Ok(client.clone());
        }
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(vec![self.audience.clone()]),
                expiration_seconds: Some(PROBE_TOKEN_SECONDS),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let answer = Api::<ServiceAccount>::namespaced(self.hub.clone(), &self.namespace)
            .create_token_request(
                names::AGENT_SERVICE_ACCOUNT,
                &PostParams::default(),
                &request,
            )
            .await?;
        let status = answer.status.unwrap_or_default();
        let life = status
            .expiration_timestamp
            .map_or(SignedDuration::from_secs(PROBE_TOKEN_SECONDS), |t| {
                t.0.duration_since(now)
            });
        let mut config = clients::tuned(self.member.clone(), clients::REQUEST_TIMEOUT);
        config.auth_info = AuthInfo {
            token: Some(SecretString::from(status.token.unwrap_or_default())),
            ..AuthInfo::default()
        };
        let client = kube::Client::try_from(config)?;
        let refresh_at = now + life.mul_f64(0.8).max(SignedDuration::from_secs(1));
        self.probe = Some((client.clone(), refresh_at));
        Ok(client)
    }
}

/// The member's SelfSubjectReview through `client`: the username it authenticates it as.
async fn review(client: kube::Client) -> Result<String, kube::Error> {
    let review = Api::<SelfSubjectReview>::all(client)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    Ok(review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn failed(code: u16, reason: &str) -> Answer {
        Answer::Failed(kube::Error::Api(
            Status::failure("no", reason).with_code(code).boxed(),
        ))
    }

    const EXPECTED: &str = "roster-hub:system:serviceaccount:roster-member-m1:roster-agent";

    #[test]
    fn the_expected_user_means_trusted() {
        let v = verdict(&Answer::User(EXPECTED.into()), EXPECTED, "roster:m1").unwrap();
        assert!(v.trusted);
        assert!(v.message.contains("roster:m1"), "{}", v.message);
    }

    #[test]
    fn a_refusal_or_another_user_means_not_trusted_and_says_what_to_do() {
        let refused = verdict(&failed(401, "Unauthorized"), EXPECTED, "roster:m1").unwrap();
        assert!(!refused.trusted);
        assert!(
            refused.message.contains("--federation-config"),
            "{}",
            refused.message
        );
        let other = verdict(
            &Answer::User("system:serviceaccount:roster-member-m1:roster-agent".into()),
            EXPECTED,
            "roster:m1",
        )
        .unwrap();
        assert!(
            !other.trusted,
            "a mapping without the prefix is not the federation"
        );
        assert!(
            other.message.contains("maps hub tokens"),
            "{}",
            other.message
        );
    }

    #[test]
    fn outages_leave_the_previous_verdict() {
        for (code, reason) in [
            (503, "ServiceUnavailable"),
            (500, "InternalError"),
            (429, "TooManyRequests"),
        ] {
            assert!(verdict(&failed(code, reason), EXPECTED, "roster:m1").is_none());
        }
    }
}
