//! What the hub's controllers share: how a failed reconcile is retried, and how a controller is
//! run (its reconciles timed and counted, triggers backed off, stopped on shutdown).

use std::{fmt::Debug, future::Future, hash::Hash, sync::Arc, time::Duration};

use futures::StreamExt;
use kube::{
    Resource, ResourceExt,
    runtime::{Controller, controller::Action},
};
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::{backoff::WatchBackoff, error::Error, metrics::Metrics};

/// A failure a retry may cure is retried after this long.
pub const RETRY_TRANSIENT: Duration = Duration::from_secs(5);
/// Any other failure after this long (a person or another controller must act first).
pub const RETRY_PERMANENT: Duration = Duration::from_secs(60);

/// When to retry the reconcile that failed with `error`.
pub fn retry_after(error: &Error) -> Duration {
    if error.is_transient() {
        RETRY_TRANSIENT
    } else {
        RETRY_PERMANENT
    }
}

/// The requeue policy of every controller: logs the failure once, then retries.
pub fn error_policy<K: Resource, C>(object: Arc<K>, error: &Error, _ctx: Arc<C>) -> Action {
    warn!(name = %object.name_any(), namespace = object.namespace().unwrap_or_default(),
        category = %error.category(), %error, "reconcile failed");
    Action::requeue(retry_after(error))
}

/// The parts of a controller's context the runner needs.
pub trait Shared: Send + Sync + 'static {
    /// The hub's metrics.
    fn metrics(&self) -> &Metrics;
}

/// Runs `controller` until shutdown: every reconcile of `reconcile` is timed and counted under
/// `name`, failures are retried by [`error_policy`], triggers are backed off like watches.
pub async fn run<K, C, F, Fut>(
    controller: Controller<K>,
    name: &'static str,
    reconcile: F,
    ctx: Arc<C>,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
    C: Shared,
    F: Fn(Arc<K>, Arc<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let reconcile = Arc::new(reconcile);
    controller
        .trigger_backoff(WatchBackoff::default())
        .shutdown_on_signal()
        .run(
            move |object, ctx: Arc<C>| {
                let reconcile = reconcile.clone();
                async move {
                    let run = reconcile(object, ctx.clone());
                    ctx.metrics().observe_reconcile(name, run).await
                }
            },
            error_policy,
            ctx,
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_retried_sooner() {
        let invalid = Error::Kube(kube::Error::Api(
            kube::core::Status::failure("bad", "Invalid")
                .with_code(422)
                .boxed(),
        ));
        let unavailable = Error::Kube(kube::Error::Api(
            kube::core::Status::failure("down", "ServiceUnavailable")
                .with_code(503)
                .boxed(),
        ));
        assert_eq!(retry_after(&invalid), RETRY_PERMANENT);
        assert_eq!(retry_after(&unavailable), RETRY_TRANSIENT);
    }
}
