//! Talking to the hub for credentials: reading the bootstrap kubeconfig and the TokenRequest.

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

use super::{CredentialError, Settings, Token, error::classify};
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
