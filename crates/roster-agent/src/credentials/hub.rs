//! Talking to the hub for credentials: reading the bootstrap kubeconfig, the TokenRequest, and
//! what its failures mean.

use std::path::Path;

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
};
use kube::{
    Api,
    api::PostParams,
    config::{AuthInfo, KubeConfigOptions, Kubeconfig},
};
use roster_api::names;
use secrecy::ExposeSecret;

use roster_runtime::errors::Category;

use super::{error::CredentialError, settings::Settings, token::Token};
use crate::clients;

/// The hub's client configuration (no user) and the bootstrap token, from the bootstrap
/// kubeconfig.
pub(super) async fn load_bootstrap(
    path: &Path,
) -> Result<(kube::Config, Option<Token>), CredentialError> {
    let problem = |message: String| CredentialError::Bootstrap {
        path: path.to_owned(),
        message,
    };
    let file = Kubeconfig::read_from(path).map_err(|e| problem(e.to_string()))?;
    let mut config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .map_err(|e| problem(e.to_string()))?;
    let token = match (&config.auth_info.token, &config.auth_info.token_file) {
        (Some(token), _) => Some(token.expose_secret().to_owned()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| problem(format!("reading its token file {file}: {e}")))?,
        ),
        (None, None) => None,
    };
    config.auth_info = AuthInfo::default();
    Ok((
        config,
        token.map(|t| Token::new(&t, "bootstrap credential")),
    ))
}

/// TokenRequest for the agent's service account, presenting `token`.
pub(super) async fn mint(
    hub: &kube::Config,
    token: &Token,
    settings: &Settings,
) -> Result<Token, CredentialError> {
    let mut config = clients::tuned(hub.clone(), clients::REQUEST_TIMEOUT);
    config.auth_info = AuthInfo {
        token: Some(token.secret.clone()),
        ..AuthInfo::default()
    };
    let client = kube::Client::try_from(config).map_err(CredentialError::Rejected)?;
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(settings.ttl_seconds),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let answer = Api::<ServiceAccount>::namespaced(client, &settings.namespace)
        .create_token_request(
            names::AGENT_SERVICE_ACCOUNT,
            &PostParams::default(),
            &request,
        )
        .await
        .map_err(|e| classify(e, settings))?;
    let status = answer.status.unwrap_or_default();
    let secret = status
        .token
        .filter(|t| !t.is_empty())
        .ok_or(CredentialError::NoToken)?;
    let mut minted = Token::new(&secret, "agent token");
    if let Some(exp) = status.expiration_timestamp {
        minted.expires = Some(exp.0);
    }
    Ok(minted)
}

/// The credential problem a failed TokenRequest reveals.
fn classify(error: kube::Error, settings: &Settings) -> CredentialError {
    match (Category::of(&error), &error) {
        (Category::Unauthorized, _) => CredentialError::Refused {
            member: settings.member.clone(),
        },
        (Category::Forbidden, kube::Error::Api(status)) => CredentialError::Forbidden {
            namespace: settings.namespace.clone(),
            message: status.message.clone(),
        },
        (category, _) if category.is_transient() => CredentialError::Unavailable(error),
        _ => CredentialError::Rejected(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_outages_are_told_apart() {
        let settings = Settings {
            member: "m".into(),
            namespace: "ns".into(),
            bootstrap_kubeconfig: "/b".into(),
            state_dir: "/s".into(),
            ttl_seconds: 3600,
            kept: None,
        };
        let api = |code| {
            kube::Error::Api(
                kube::core::Status::failure("no", "x")
                    .with_code(code)
                    .boxed(),
            )
        };
        assert!(matches!(
            classify(api(401), &settings),
            CredentialError::Refused { .. }
        ));
        assert!(matches!(
            classify(api(403), &settings),
            CredentialError::Forbidden { .. }
        ));
        assert!(classify(api(503), &settings).is_transient());
        // The hub may not have prepared the member's service account yet.
        assert!(classify(api(404), &settings).is_transient());
        assert!(!classify(api(422), &settings).is_transient());
        let refused = classify(api(401), &settings).to_string();
        assert!(
            refused.starts_with("the hub refused the credential"),
            "{refused}"
        );
        assert!(refused.contains("kubectl roster join m"), "{refused}");
    }
}
