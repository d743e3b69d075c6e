//! Remote service accounts on the member: the agent watches the RemoteAccountGrants the hub
//! puts in its member namespace, provisions each one's service account and RBAC on the member,
//! mints its token with the TokenRequest API and delivers it into the grant's Secret on the
//! hub, refreshing at a fraction (default 80%) of the life the member granted. A sweeper
//! deletes what grants that no longer exist left on the member, which revokes their tokens.

pub mod desired;
pub mod hub;
pub mod member;
pub mod refresh;

use std::{collections::HashSet, sync::Arc, time::Duration};

use futures::StreamExt;
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        reflector::{self, Store},
        watcher,
    },
};
use roster_api::RemoteAccountGrant;
use tokio::sync::watch;
use tracing::{info, instrument, warn};

use crate::{errors, metrics::Metrics, timing};
use member::ProvisionError;

/// How often the sweeper looks for leftovers even without a deletion event.
const SWEEP_PERIOD: Duration = Duration::from_secs(60);

/// How long to wait before retrying a grant that cannot be served as it stands.
const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// Settings of the grant loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The member's namespace on the hub.
    pub namespace: String,
    /// Point of a token's granted life at which it is refreshed.
    pub refresh_fraction: f64,
}

/// What each grant reconcile shares.
pub struct Context {
    hub: Client,
    member: Client,
    settings: Settings,
    grants: Store<RemoteAccountGrant>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("grants::Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    fn live_uids(&self) -> HashSet<String> {
        self.grants
            .state()
            .iter()
            .filter_map(|g| g.metadata.uid.clone())
            .collect()
    }

    /// Tells the metrics which grants are served now.
    fn count_grants(&self) {
        let names = self.grants.state().iter().map(|g| g.name_any()).collect();
        self.metrics.grants(&names);
    }
}

/// Why a grant reconcile must be retried soon.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The member could not be reached.
    #[error(transparent)]
    Member(#[from] ProvisionError),
    /// The hub could not be reached or refused a write.
    #[error("hub API: {}", errors::chain(.0))]
    Hub(#[from] kube::Error),
}

/// Serves one grant.
#[instrument(skip_all, fields(grant = %grant.name_any()))]
pub async fn reconcile(grant: Arc<RemoteAccountGrant>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.count_grants();
    let live = ctx.live_uids();
    let sa_uid = match member::provision(&ctx.member, &grant, &live).await {
        Ok(uid) => uid,
        Err(ProvisionError::Refused(message)) => {
            warn!(%message, "cannot serve the grant");
            let status = hub::refused(&grant, &message);
            if grant.status.as_ref() != Some(&status) {
                hub::report(&ctx.hub, &grant, &status).await?;
            }
            return Ok(Action::requeue(REFUSED_RETRY));
        }
        Err(e) => return Err(e.into()),
    };
    let now = timing::now();
    let in_secret = hub::delivered_expiry(&ctx.hub, &grant).await?;
    let fraction = ctx.settings.refresh_fraction;
    if let refresh::Refresh::At(at) = refresh::decide(&grant, &sa_uid, in_secret, now, fraction) {
        if let Some(expires) = in_secret {
            ctx.metrics.token_delivered(&grant.name_any(), expires);
        }
        return Ok(Action::requeue(wait(now, at)));
    }
    let minted = match member::mint(&ctx.member, &grant).await {
        Ok(m) => m,
        Err(ProvisionError::Refused(message)) => {
            hub::report(&ctx.hub, &grant, &hub::refused(&grant, &message)).await?;
            return Ok(Action::requeue(REFUSED_RETRY));
        }
        Err(e) => return Err(e.into()),
    };
    hub::deliver(&ctx.hub, &grant, &minted).await?;
    ctx.metrics.token_minted(&grant.name_any(), minted.expires);
    hub::report(&ctx.hub, &grant, &hub::ready(&grant, &sa_uid, &minted, now)).await?;
    let next = refresh::refresh_point(
        refresh::Delivered {
            minted: now,
            expires: minted.expires,
        },
        fraction,
    );
    info!(expires = %hub::rfc3339(minted.expires), refresh_at = %hub::rfc3339(next), "token delivered");
    Ok(Action::requeue(wait(now, next)))
}

fn wait(now: k8s_openapi::jiff::Timestamp, at: k8s_openapi::jiff::Timestamp) -> Duration {
    timing::until(at, now).max(Duration::from_secs(1))
}

/// Retries soon: the hub may not have created the delivery Secret yet, or a server was away.
pub fn error_policy(grant: Arc<RemoteAccountGrant>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(grant = %grant.name_any(), %error, "grant not served yet; retrying");
    Action::requeue(Duration::from_secs(3))
}

/// Serves grants until the process stops.
pub async fn run(
    hub: Client,
    member: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    let api: Api<RemoteAccountGrant> = Api::namespaced(hub.clone(), &settings.namespace);
    let (grants, writer) = reflector::store();
    let (deleted_tx, deleted_rx) = watch::channel(0u64);
    let events = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .inspect(move |event| {
            if matches!(
                event,
                Ok(watcher::Event::Delete(_) | watcher::Event::InitDone)
            ) {
                deleted_tx.send_modify(|n| *n += 1);
            }
        })
        .default_backoff()
        .touched_objects();
    let ctx = Arc::new(Context {
        hub,
        member,
        settings,
        grants: grants.clone(),
        metrics,
    });
    let sweeper = sweep_loop(ctx.clone(), deleted_rx);
    let controller = Controller::for_stream(events, grants)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    tokio::join!(sweeper, controller);
    Ok(())
}

/// Deletes leftovers of deleted grants: after every deletion the watch shows, and every
/// [`SWEEP_PERIOD`]. Never before the first complete list of grants, so a slow start cannot
/// revoke what is still granted.
async fn sweep_loop(ctx: Arc<Context>, mut deleted: watch::Receiver<u64>) {
    if ctx.grants.wait_until_ready().await.is_err() {
        return;
    }
    loop {
        ctx.count_grants();
        let live = ctx.live_uids();
        match member::sweep(&ctx.member, &live).await {
            Ok(0) => {}
            Ok(n) => info!(revoked = n, "revoked service accounts of deleted grants"),
            Err(e) => warn!(error = %errors::chain(&e), "cannot sweep revoked grants; retrying"),
        }
        tokio::select! {
            changed = deleted.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(SWEEP_PERIOD) => {}
        }
    }
}
