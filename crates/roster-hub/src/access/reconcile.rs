//! One remote-access reconcile: behind the RemoteServiceAccount's finalizer, decide
//! ([`plan::decide`], pure) then write ([`writes::apply_plan`]); on deletion, revoke.

use std::sync::Arc;

use kube::{
    Api, ResourceExt,
    runtime::{
        controller::Action,
        finalizer::{self, Event},
    },
};
use roster_api::{RemoteServiceAccount, names};
use tracing::{info, instrument};

use super::{context::Context, plan, writes};
use crate::error::Error;

/// Reconciles one RemoteServiceAccount.
#[instrument(skip_all, fields(namespace = rsa.namespace().unwrap_or_default(), name = %rsa.name_any()))]
pub async fn reconcile(rsa: Arc<RemoteServiceAccount>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.caches_ready().await;
    let api: Api<RemoteServiceAccount> =
        Api::namespaced(ctx.client.clone(), &rsa.namespace().unwrap_or_default());
    finalizer::finalizer(
        &api,
        names::REMOTE_SERVICE_ACCOUNT_FINALIZER,
        rsa,
        |event| async {
            match event {
                Event::Apply(rsa) => {
                    let rsa = ctx.status_writes.latest(&writes::status_key(&rsa), rsa);
                    provision(&rsa, &ctx).await
                }
                Event::Cleanup(rsa) => revoke(&rsa, &ctx).await,
            }
        },
    )
    .await
    .map_err(Error::from_finalizer)
}

async fn provision(rsa: &RemoteServiceAccount, ctx: &Context) -> Result<Action, Error> {
    let plan = plan::decide(rsa, ctx, ctx.clock.now());
    writes::apply_plan(ctx, rsa, plan).await
}

/// Revokes everything a deleted RemoteServiceAccount had: grants (so agents delete the service
/// accounts, invalidating their tokens) and the consumer's Secrets.
async fn revoke(rsa: &RemoteServiceAccount, ctx: &Context) -> Result<Action, Error> {
    use plan::View as _;
    let namespace = rsa.namespace().unwrap_or_default();
    let name = rsa.name_any();
    for grant in ctx.grants_of(&namespace, &name) {
        writes::delete_grant(ctx, &grant).await?;
    }
    for secret in ctx.consumer_secrets(&namespace, &name) {
        writes::delete_secret(ctx, &namespace, &secret.name_any()).await?;
    }
    ctx.metrics.forget_tokens(&namespace, &name, &[]);
    let key = writes::status_key(rsa);
    ctx.status_writes.retain(|k| k != key);
    info!("revoked: RemoteServiceAccount deleted");
    Ok(Action::await_change())
}
