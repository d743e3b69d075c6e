//! The agent's current hub credentials: the first token obtained at start-up (saved, kept or
//! bootstrap), written to the state folder and renewed before it expires.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use k8s_openapi::jiff::Timestamp;
use kube::config::AuthInfo;
use secrecy::ExposeSecret;

use roster_runtime::{backoff::Backoff, errors};

use super::{
    error::CredentialError,
    hub,
    settings::Settings,
    state,
    token::{Token, candidates, refresh_at},
};
use crate::{clients, timing};

/// The agent's hub credentials: the current token, kept in the state folder.
#[derive(Debug)]
pub struct Credentials {
    settings: Settings,
    hub: kube::Config,
    token_path: PathBuf,
    current: Token,
    refresh_at: Timestamp,
}

impl Credentials {
    /// Obtains the first agent token, retrying while the hub is unreachable. Fails on a
    /// credential problem no retry can fix.
    pub async fn start(settings: Settings) -> Result<Self, CredentialError> {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            match Self::obtain(settings.clone()).await {
                Err(e) if e.is_transient() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %errors::chain(&e), retry_in = ?delay,
                        "cannot obtain a hub token yet; retrying");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// One attempt at obtaining an agent token from the saved token or the bootstrap
    /// credential, writing it to the state folder.
    pub async fn obtain(settings: Settings) -> Result<Self, CredentialError> {
        let (hub, bootstrap) = hub::load_bootstrap(&settings.bootstrap_kubeconfig).await?;
        let token_path = state::state_file(&settings.state_dir)?;
        let saved = std::fs::read_to_string(&token_path)
            .ok()
            .map(|t| Token::new(&t, "saved agent token"))
            .filter(|t| !t.secret.expose_secret().is_empty());
        let kept = match &settings.kept {
            Some(kept) => kept.load().await.unwrap_or_else(|e| {
                tracing::warn!(secret = %kept.credential, error = %errors::chain(&e),
                    "cannot read the kept agent token on the member");
                None
            }),
            None => None,
        };
        let held = saved.into_iter().chain(kept);
        let tokens = candidates(held, bootstrap, timing::now(), &settings.member)?;
        let mut tokens = tokens.into_iter().peekable();
        while let Some(token) = tokens.next() {
            match hub::mint(&hub, &token, &settings).await {
                Ok(minted) => {
                    tracing::info!(using = token.origin, namespace = %settings.namespace,
                        "obtained an agent token from the hub");
                    let mut credentials = Self {
                        settings,
                        hub,
                        token_path,
                        current: minted.clone(),
                        refresh_at: timing::now(),
                    };
                    if credentials.adopt(minted).await? {
                        credentials.clear_bootstrap().await;
                    }
                    return Ok(credentials);
                }
                Err(CredentialError::Refused { .. }) if tokens.peek().is_some() => {
                    tracing::info!(
                        refused = token.origin,
                        "the hub refused a token; trying the next"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Err(CredentialError::Bootstrap {
            path: settings.bootstrap_kubeconfig.clone(),
            message: "its current user has no token".into(),
        })
    }

    /// A hub client configuration that reads the agent token from the state folder, so
    /// renewed tokens are picked up.
    pub fn hub_config(&self) -> kube::Config {
        let mut config = clients::tuned(self.hub.clone(), clients::REQUEST_TIMEOUT);
        config.default_namespace = self.settings.namespace.clone();
        config.auth_info = AuthInfo {
            token_file: Some(self.token_path.to_string_lossy().into_owned()),
            ..AuthInfo::default()
        };
        config
    }

    /// Path of the token file.
    pub fn token_path(&self) -> &Path {
        &self.token_path
    }

    /// When the current token expires.
    pub fn expires(&self) -> Option<Timestamp> {
        self.current.expires
    }

    /// When the current token is due for renewal.
    pub fn refresh_at(&self) -> Timestamp {
        self.refresh_at
    }

    /// Mints the next token with the current one; if that is expired or refused, starts
    /// over from the bootstrap credential (re-read: an admin may have replaced it).
    pub async fn refresh(&mut self) -> Result<(), CredentialError> {
        if self.current.expired(timing::now()) {
            tracing::warn!("the agent's hub token expired before it was renewed");
        } else {
            match hub::mint(&self.hub, &self.current, &self.settings).await {
                Ok(token) => return self.adopt(token).await.map(|_| ()),
                Err(CredentialError::Refused { .. }) => {
                    tracing::warn!("the hub refused the agent's own token");
                }
                Err(e) => return Err(e),
            }
        }
        *self = Self::obtain(self.settings.clone()).await?;
        Ok(())
    }

    /// Renews the token until a renewal fails for good; retries while the hub is unreachable.
    pub async fn keep_fresh(mut self) -> anyhow::Result<()> {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            timing::sleep_until(self.refresh_at).await;
            match self.refresh().await {
                Ok(()) => {
                    backoff.reset();
                    tracing::info!(expires = ?self.current.expires, next = %self.refresh_at,
                        "renewed the agent's hub token");
                }
                Err(e) if e.is_transient() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %errors::chain(&e), retry_in = ?delay,
                        "cannot renew the agent's hub token yet; retrying");
                    self.refresh_at = timing::now() + delay;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Makes `token` current: written to the state folder first, then kept on the member (if
    /// so configured), then scheduled for renewal. Returns whether it was kept on the member;
    /// failing to keep it is logged, not fatal (the next renewal tries again).
    async fn adopt(&mut self, token: Token) -> Result<bool, CredentialError> {
        state::write_atomically(&self.token_path, token.secret.expose_secret()).map_err(
            |source| CredentialError::State {
                path: self.token_path.clone(),
                source,
            },
        )?;
        let kept = match &self.settings.kept {
            Some(kept) => match kept.save(&token).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(secret = %kept.credential, error = %errors::chain(&e),
                        "cannot keep the agent token on the member; a replacement pod would need the bootstrap credential");
                    false
                }
            },
            None => false,
        };
        let now = timing::now();
        self.refresh_at = refresh_at(now, token.expires.unwrap_or(now));
        self.current = token;
        Ok(kept)
    }

    /// Removes the bootstrap credential from its Secret once the agent's own token is kept:
    /// nothing long-lived is left behind.
    async fn clear_bootstrap(&self) {
        let Some(kept) = &self.settings.kept else {
            return;
        };
        match kept.clear_bootstrap().await {
            Ok(true) => tracing::info!(secret = ?kept.bootstrap.as_ref().map(ToString::to_string),
                "removed the bootstrap credential: the agent's own token is kept on the member"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %errors::chain(&e),
                "cannot remove the bootstrap credential from its Secret"),
        }
    }
}
