//! Remote service accounts on the member: the agent watches the RemoteAccountGrants the hub
//! puts in its member namespace, provisions each one's service account and RBAC on the member,
//! mints its token with the TokenRequest API and delivers it into the grant's Secret on the
//! hub, refreshing at a fraction (default 80%) of the life the member granted. A sweeper
//! deletes what grants that no longer exist left on the member, which revokes their tokens.
//! Watches of those member objects provision a grant again when one of its objects is deleted
//! or edited ([`repair`], deciding with [`drift`]); a recreated service account gets a fresh
//! token at once (its old tokens died with it). A failure that keeps coming back is counted in
//! `roster_agent_grant_errors_total{category}` and reported in the grant's status, naming the
//! object and the error.
//!
//! A federated grant (`spec.federatedUser`, issue 17) gets only its RBAC, bound to the member
//! User the hub's service account becomes: no service account, no token, no delivery Secret.
//! Its status says it is bound; narrowing its spec removes the dropped bindings at once, and
//! deleting it lets the sweeper remove the rest, which is its revocation.

pub mod ceiling;
pub mod desired;
pub mod drift;
pub mod hub;
pub mod member;
pub mod refresh;
pub mod repair;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

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

use roster_runtime::errors::{self, Category};

use crate::{clients::Clients, metrics::Metrics, timing};
use member::ProvisionError;

/// How often the sweeper looks for leftovers even without a deletion event.
const SWEEP_PERIOD: Duration = Duration::from_secs(60);

/// How long to wait before retrying a grant that cannot be served as it stands.
const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// How often a federated grant, which has no token to refresh, is provisioned again anyway (the
/// repair watches and the grant's own watch do the real work; this is the safety net).
const FEDERATED_RESYNC: Duration = Duration::from_secs(600);

/// How long to wait before retrying after a failure a retry may cure.
const TRANSIENT_RETRY: Duration = Duration::from_secs(3);

/// Consecutive failures a retry may cure after which the grant's status reports the error
/// (a single blip of the member's API server does not turn a working grant not ready).
const REPORT_AFTER: u32 = 3;

/// Settings of the grant loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The member's namespace on the hub.
    pub namespace: String,
    /// Point of a token's granted life at which it is refreshed.
    pub refresh_fraction: f64,
    /// What this agent may grant on its member (see [`ceiling`]).
    pub ceiling: roster_api::ceiling::Ceiling,
}

/// What each grant reconcile shares.
pub struct Context {
    hub: Client,
    member: Client,
    settings: Settings,
    grants: Store<RemoteAccountGrant>,
    metrics: Arc<Metrics>,
    /// Consecutive failed attempts per grant name.
    failures: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("grants::Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Whether the grant `uid` is in the cache of the hub's grants, as of now.
    fn is_live(&self, uid: &str) -> bool {
        self.grants
            .state()
            .iter()
            .any(|g| g.metadata.uid.as_deref() == Some(uid))
    }

    /// Tells the metrics which grants are served now; forgets failures of deleted grants.
    fn count_grants(&self) {
        let names: HashSet<String> = self.grants.state().iter().map(|g| g.name_any()).collect();
        self.metrics.grants(&names);
        self.failures().retain(|name, _| names.contains(name));
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the agent was doing on the hub when serving a grant failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubStep {
    /// Reading or filling the delivery Secret.
    Secret,
    /// Writing the grant's status.
    Status,
}

/// Why serving a grant failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// On the member (names the object).
    #[error(transparent)]
    Member(#[from] ProvisionError),
    /// The hub could not be reached or refused a write.
    #[error("{what} on the hub: {}", errors::brief(.error))]
    Hub {
        /// What was being done.
        step: HubStep,
        /// The action and the object.
        what: String,
        /// The hub's error.
        error: kube::Error,
    },
}

impl Error {
    fn hub(step: HubStep, what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        move |error| Error::Hub {
            step,
            what: what.into(),
            error,
        }
    }

    /// What kind of failure it is: the `category` of `roster_agent_grant_errors_total`.
    pub fn category(&self) -> Category {
        match self {
            Error::Member(e) => e.category(),
            Error::Hub { error, .. } => Category::of(error),
        }
    }

    /// Whether retrying soon may cure it (else the grant cannot be served as it stands).
    fn is_transient(&self) -> bool {
        match self {
            Error::Member(ProvisionError::Refused { .. }) => false,
            Error::Member(ProvisionError::Transient { .. }) => true,
            Error::Hub { error, .. } => Category::of(error).is_transient(),
        }
    }
}

/// The message to put in the grant's status after `attempts` consecutive failures, the last
/// one `error`: at once when the grant cannot be served as it stands, from the
/// [`REPORT_AFTER`]th attempt when a retry may cure it, never for a failed status write.
pub fn failure_message(error: &Error, attempts: u32) -> Option<String> {
    match error {
        Error::Hub {
            step: HubStep::Status,
            ..
        } => None,
        e if !e.is_transient() => Some(e.to_string()),
        e if attempts >= REPORT_AFTER => Some(format!("{e} (retrying)")),
        _ => None,
    }
}

/// Serves one grant; a failure is counted, reported in the grant's status when it persists
/// (see [`failure_message`]), and retried.
#[instrument(skip_all, fields(grant = %grant.name_any()))]
pub async fn reconcile(grant: Arc<RemoteAccountGrant>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.count_grants();
    let refusal = desired::federated_user_refusal(&grant)
        .or_else(|| ctx.settings.ceiling.refusal(&grant.spec));
    if let Some(message) = refusal {
        ctx.metrics.grant_refused();
        ceiling::refuse(&grant, (&ctx.hub, &ctx.member), &message).await;
        return Ok(Action::requeue(REFUSED_RETRY));
    }
    let name = grant.name_any();
    let error = match serve(&grant, &ctx).await {
        Ok(action) => {
            ctx.failures().remove(&name);
            return Ok(action);
        }
        Err(error) => error,
    };
    ctx.metrics.grant_error(error.category());
    let attempts = {
        let mut failures = ctx.failures();
        let n = failures.entry(name).or_default();
        *n = n.saturating_add(1);
        *n
    };
    if let Some(message) = failure_message(&error, attempts) {
        let status = hub::refused(&grant, &message);
        if grant.status.as_ref() != Some(&status) {
            warn!(%message, attempts, "cannot serve the grant; reporting it in its status");
            if let Err(e) = hub::report(&ctx.hub, &grant, &status).await {
                warn!(error = %errors::chain(&e), "cannot report the failure in the grant's status");
            }
        }
    }
    if error.is_transient() {
        Err(error)
    } else {
        warn!(%error, "cannot serve the grant as it stands");
        Ok(Action::requeue(REFUSED_RETRY))
    }
}

/// Provisions the grant on the member and mints and delivers its token when due; a federated
/// grant only gets its bindings (see [`serve_federated`]).
async fn serve(grant: &RemoteAccountGrant, ctx: &Context) -> Result<Action, Error> {
    let provisioned = member::provision(&ctx.member, grant, &|uid| ctx.is_live(uid)).await?;
    if let Some(user) = &grant.spec.federated_user {
        return serve_federated(grant, user, ctx).await;
    }
    let sa_uid = provisioned.unwrap_or_default();
    let now = timing::now();
    let secret = format!(
        "{}/{}",
        grant.namespace().unwrap_or_default(),
        grant.name_any()
    );
    let in_secret = hub::delivered_expiry(&ctx.hub, grant)
        .await
        .map_err(Error::hub(
            HubStep::Secret,
            format!("reading the delivery Secret {secret}"),
        ))?;
    let fraction = ctx.settings.refresh_fraction;
    if let refresh::Refresh::At(at) = refresh::decide(grant, &sa_uid, in_secret, now, fraction) {
        if let Some(expires) = in_secret {
            ctx.metrics.token_delivered(&grant.name_any(), expires);
        }
        return Ok(Action::requeue(wait(now, at)));
    }
    let minted = member::mint(&ctx.member, grant).await?;
    hub::deliver(&ctx.hub, grant, &minted)
        .await
        .map_err(Error::hub(
            HubStep::Secret,
            format!("delivering the token into Secret {secret}"),
        ))?;
    ctx.metrics.token_minted(&grant.name_any(), minted.expires);
    hub::report(&ctx.hub, grant, &hub::ready(grant, &sa_uid, &minted, now))
        .await
        .map_err(Error::hub(HubStep::Status, "writing the grant's status"))?;
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

/// After a federated grant's bindings are in place: says so in its status (when it does not
/// already) and comes back only for the periodic check. No token is minted and no Secret read
/// or written; a deleted or edited binding wakes the grant through the repair watches, and a
/// narrowed spec through the grant's own watch (the provisioning prunes what it dropped).
async fn serve_federated(
    grant: &RemoteAccountGrant,
    user: &str,
    ctx: &Context,
) -> Result<Action, Error> {
    let status = hub::bound(grant, user);
    if grant.status.as_ref() != Some(&status) {
        hub::report(&ctx.hub, grant, &status)
            .await
            .map_err(Error::hub(HubStep::Status, "writing the grant's status"))?;
        info!(%user, "federated grant bound");
    }
    Ok(Action::requeue(FEDERATED_RESYNC))
}

fn wait(now: k8s_openapi::jiff::Timestamp, at: k8s_openapi::jiff::Timestamp) -> Duration {
    timing::until(at, now).max(Duration::from_secs(1))
}

/// Retries soon: the hub may not have created the delivery Secret yet, or a server was away.
pub fn error_policy(grant: Arc<RemoteAccountGrant>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(grant = %grant.name_any(), %error, "grant not served yet; retrying");
    Action::requeue(TRANSIENT_RETRY)
}

/// Serves grants until the process stops.
pub async fn run(
    hub: Clients,
    member: Clients,
    settings: Settings,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    let api: Api<RemoteAccountGrant> = Api::namespaced(hub.watches, &settings.namespace);
    let (grants, writer) = reflector::store();
    let (deleted_tx, deleted_rx) = watch::channel(0u64);
    let events = reflector::reflector(writer, watcher(api, roster_runtime::watch::config()))
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
    let repairs = repair::repairs(member.watches, grants.clone(), metrics.clone());
    let ctx = Arc::new(Context {
        hub: hub.requests,
        member: member.requests,
        settings,
        grants: grants.clone(),
        metrics,
        failures: Mutex::default(),
    });
    let sweeper = sweep_loop(ctx.clone(), deleted_rx);
    let controller = Controller::for_stream(events, grants)
        .reconcile_on(repairs)
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
        match member::sweep(&ctx.member, member::Sweep::Revoked(&ctx.grants)).await {
            Ok(0) => {}
            Ok(n) => info!(
                revoked = n,
                "revoked what deleted grants held on the member"
            ),
            Err(e) => warn!(error = %errors::chain(&e), "cannot sweep revoked grants; retrying"),
        }
        tokio::select! {
            changed = deleted.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(SWEEP_PERIOD) => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kube::core::Status;

    /// The API server's answer `code`/`reason` with `message`.
    pub(crate) fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    #[test]
    fn persisting_failures_are_reported_naming_the_object() {
        let unreachable = Error::Member(ProvisionError::Transient {
            what: "binding ClusterRole view (ClusterRoleBinding roster:r:ci:view)".into(),
            error: api(503, "ServiceUnavailable", "etcd is away"),
        });
        assert_eq!(unreachable.category(), Category::Unavailable);
        assert_eq!(
            failure_message(&unreachable, 1),
            None,
            "one blip is not reported"
        );
        assert_eq!(failure_message(&unreachable, REPORT_AFTER - 1), None);
        let message = failure_message(&unreachable, REPORT_AFTER).unwrap();
        assert_eq!(
            message,
            "binding ClusterRole view (ClusterRoleBinding roster:r:ci:view): etcd is away \
             (ServiceUnavailable, 503) (retrying)"
        );

        let refused = Error::Member(ProvisionError::Refused {
            category: Category::Forbidden,
            message: "binding ClusterRole edit in namespace apps (RoleBinding apps/x): \
                      rolebindings is forbidden"
                .into(),
        });
        assert_eq!(refused.category(), Category::Forbidden);
        assert_eq!(
            failure_message(&refused, 1).as_deref(),
            Some(
                "binding ClusterRole edit in namespace apps (RoleBinding apps/x): rolebindings \
                 is forbidden"
            ),
            "a refusal is reported at once"
        );

        let secret = Error::hub(HubStep::Secret, "delivering the token into Secret m/ns.x")(api(
            404,
            "NotFound",
            "secrets \"ns.x\" not found",
        ));
        assert_eq!(secret.category(), Category::NotFound);
        assert_eq!(failure_message(&secret, 1), None);
        assert!(
            failure_message(&secret, REPORT_AFTER)
                .unwrap()
                .contains("Secret m/ns.x")
        );
        let status =
            Error::hub(HubStep::Status, "writing the grant's status")(api(403, "Forbidden", "no"));
        assert_eq!(status.category(), Category::Forbidden);
        assert_eq!(
            failure_message(&status, 10),
            None,
            "cannot report through what fails"
        );
    }
}
