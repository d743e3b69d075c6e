//! A client's credential: obtained from the exec plugin on first use, kept until shortly before
//! it expires (or until the server rejects it), and obtained by one plugin run however many
//! requests wait for it.

use std::{
    sync::{Mutex, PoisonError},
    time::Instant,
};

use http::HeaderValue;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::{
    AccessMetrics, ExecPluginError,
    exec::{Credential, ExecPlugin},
};

/// How long before its expiry a token is replaced, at most: as kube's own exec refresh.
pub(crate) const REFRESH_MARGIN: SignedDuration = SignedDuration::from_secs(60);

/// What a request should authenticate with.
#[derive(Clone, Debug)]
pub(crate) enum Grant {
    /// This `Authorization` value; `id` names the credential, for [`Credentials::rejected`].
    Bearer { authorization: HeaderValue, id: u64 },
    /// The plugin gives client certificates, which only kube's own client can present.
    Certificate,
}

/// The credential cache of one client.
#[derive(Debug)]
pub(crate) struct Credentials {
    plugin: ExecPlugin,
    metrics: Option<AccessMetrics>,
    cached: Mutex<Cached>,
    /// Held while the plugin runs, so that concurrent requests wait for one run.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Cached {
    current: Option<Current>,
    /// The id of the last token obtained.
    last_id: u64,
}

#[derive(Debug)]
enum Current {
    Token {
        authorization: HeaderValue,
        id: u64,
        refresh_at: Option<Timestamp>,
        expires: Option<Timestamp>,
    },
    Certificate,
}

impl Credentials {
    /// An empty cache for `plugin`: nothing runs until the first [`Credentials::get`].
    pub(crate) fn new(plugin: ExecPlugin, metrics: Option<AccessMetrics>) -> Self {
        Self {
            plugin,
            metrics,
            cached: Mutex::default(),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The credential to use now: the cached one while it is fresh, else a new one from the
    /// plugin. A failed run is not cached: the next call runs the plugin again. While the run
    /// that should have renewed a token fails, the token is still used until it expires.
    pub(crate) async fn get(&self) -> Result<Grant, ExecPluginError> {
        if let Some(grant) = self.fresh() {
            return Ok(grant);
        }
        let _running = self.refreshing.lock().await;
        // Whoever held the lock before may have just refreshed it.
        if let Some(grant) = self.fresh() {
            return Ok(grant);
        }
        let credential = match self.run().await {
            Ok(credential) => credential,
            Err(error) => return self.unexpired().ok_or(error),
        };
        let mut cached = self.lock();
        let (current, grant) = match credential {
            Credential::Certificate => (Current::Certificate, Grant::Certificate),
            Credential::Token {
                authorization,
                expires,
            } => {
                cached.last_id += 1;
                let id = cached.last_id;
                let refresh_at = expires.map(|expires| refresh_at(Timestamp::now(), expires));
                let grant = Grant::Bearer {
                    authorization: authorization.clone(),
                    id,
                };
                let current = Current::Token {
                    authorization,
                    id,
                    refresh_at,
                    expires,
                };
                (current, grant)
            }
        };
        cached.current = Some(current);
        Ok(grant)
    }

    /// The server answered 401 to token `id`: unless a newer token already replaced it, the
    /// next request runs the plugin again (client-go does the same).
    pub(crate) fn rejected(&self, id: u64) {
        let mut cached = self.lock();
        if matches!(cached.current, Some(Current::Token { id: current, .. }) if current == id) {
            tracing::debug!(provider = %self.plugin.provider(), "credential rejected with 401, it will be renewed");
            cached.current = None;
        }
    }

    fn fresh(&self) -> Option<Grant> {
        match &self.lock().current {
            Some(Current::Certificate) => Some(Grant::Certificate),
            Some(Current::Token {
                authorization,
                id,
                refresh_at,
                ..
            }) if refresh_at.is_none_or(|at| Timestamp::now() < at) => Some(Grant::Bearer {
                authorization: authorization.clone(),
                id: *id,
            }),
            _ => None,
        }
    }

    /// The cached token if it is due for renewal but has not expired yet.
    fn unexpired(&self) -> Option<Grant> {
        match &self.lock().current {
            Some(Current::Token {
                authorization,
                id,
                expires: Some(expires),
                ..
            }) if Timestamp::now() < *expires => {
                tracing::warn!(
                    provider = %self.plugin.provider(),
                    "exec plugin failed to renew the token; using it until it expires"
                );
                Some(Grant::Bearer {
                    authorization: authorization.clone(),
                    id: *id,
                })
            }
            _ => None,
        }
    }

    async fn run(&self) -> Result<Credential, ExecPluginError> {
        let started = Instant::now();
        let result = self.plugin.run().await;
        if let Some(metrics) = &self.metrics {
            metrics.observe_plugin_run(self.plugin.provider(), result.is_ok(), started.elapsed());
        }
        match &result {
            Ok(_) => {
                tracing::debug!(provider = %self.plugin.provider(), elapsed = ?started.elapsed(), "exec plugin ran")
            }
            Err(error) => tracing::debug!(%error, "exec plugin failed"),
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        // The cache holds no invariant a panic could break halfway.
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// When a token obtained at `now` that expires at `expires` is to be replaced: [`REFRESH_MARGIN`]
/// before it expires, or halfway through its remaining life when that is shorter (so that a
/// plugin handing out short-lived tokens is not run for every request). A token that has
/// already expired is used once and replaced by the next request.
pub(crate) fn refresh_at(now: Timestamp, expires: Timestamp) -> Timestamp {
    let remaining = expires.duration_since(now);
    if remaining <= SignedDuration::ZERO {
        return expires;
    }
    let margin = REFRESH_MARGIN.min(remaining / 2);
    expires.checked_sub(margin).unwrap_or(expires)
}
