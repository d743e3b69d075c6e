//! The remote-access reconcile's writes: what a [`Plan`] wants, each only where the cached
//! object differs.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{
    Api, Resource, ResourceExt,
    api::Patch,
    runtime::{controller::Action, events::Event},
};
use roster_api::{RemoteAccountGrant, RemoteServiceAccount, RemoteServiceAccountStatus, names};
use serde_json::json;
use tracing::info;

use super::{
    context::Context,
    desired,
    plan::{GrantPlan, Plan, View as _, labels_hold},
};
use crate::{apply, clock::whole_seconds, error::Error};

/// Writes what `plan` wants for `rsa`, each object only where it differs from the cached one:
/// the grants (and their delivery Secrets), the consumer's token Secrets, the revocations, then
/// the status (and its Events). Says when to look at it again.
pub async fn apply_plan(
    ctx: &Context,
    rsa: &RemoteServiceAccount,
    plan: Plan,
) -> Result<Action, Error> {
    let namespace = rsa.namespace().unwrap_or_default();
    let name = rsa.name_any();
    for grant in &plan.grants {
        self::grant(ctx, grant).await?;
    }
    for token in plan.tokens {
        consumer_secret(ctx, token.secret).await?;
        ctx.metrics
            .token_expiry(&namespace, &name, &token.member, Some(token.expiry));
    }
    for grant in &plan.revoke {
        info!(
            member = grant
                .labels()
                .get(names::LABEL_MEMBER)
                .map_or("?", String::as_str),
            "revoking: cluster left the selection"
        );
        delete_grant(ctx, grant).await?;
    }
    for secret in &plan.delete_secrets {
        delete_secret(ctx, &namespace, secret).await?;
    }
    for config_map in plan.config_maps {
        consumer_config_map(ctx, config_map).await?;
    }
    for config_map in &plan.delete_config_maps {
        info!(config_map = %config_map, "deleting the consumer's federated-access ConfigMap");
        apply::delete(
            Api::<ConfigMap>::namespaced(ctx.client.clone(), &namespace),
            config_map,
        )
        .await?;
    }
    ctx.metrics.forget_tokens(&namespace, &name, &plan.served);
    status(ctx, rsa, plan.status, plan.events).await?;
    Ok(Action::requeue(plan.requeue))
}

/// Applies a member's grant unless the cached one already says it, then its delivery Secret if
/// it has none.
async fn grant(ctx: &Context, plan: &GrantPlan) -> Result<(), Error> {
    let member = &plan.member;
    let namespace = names::member_namespace(member);
    let grant = match &plan.current {
        Some(g) => g.clone(),
        None => {
            info!(%member, "handing the grant to the member's agent");
            let api = Api::namespaced(ctx.client.clone(), &namespace);
            Arc::new(apply::apply(api, &plan.grant).await?)
        }
    };
    if plan.create_delivery {
        apply::apply(
            Api::<Secret>::namespaced(ctx.client.clone(), &namespace),
            &desired::delivery_secret(&grant),
        )
        .await?;
    }
    if plan.request_delivery {
        info!(%member, "delivery Secret was deleted; asking the agent to deliver again");
        let patch = json!({"metadata": {"annotations": {
            names::ANNOTATION_DELIVERY_REQUESTED: whole_seconds(ctx.clock.now()),
        }}});
        Api::<RemoteAccountGrant>::namespaced(ctx.client.clone(), &namespace)
            .patch(
                &grant.name_any(),
                &apply::update_params(),
                &Patch::Merge(patch),
            )
            .await?;
    }
    Ok(())
}

/// Applies the consumer's token Secret unless the watched one already holds this content.
async fn consumer_secret(ctx: &Context, wanted: Secret) -> Result<(), Error> {
    let namespace = wanted.namespace().unwrap_or_default();
    let name = wanted.name_any();
    let observed = ctx.secret(&namespace, &name);
    if let Some(observed) = &observed
        && observed.data == wanted.data
        && labels_hold(observed.labels(), wanted.labels())
        && observed.owner_references() == wanted.owner_references()
    {
        return Ok(());
    }
    info!(secret = %name, "writing the consumer's token Secret");
    apply::apply(
        Api::<Secret>::namespaced(ctx.client.clone(), &namespace),
        &wanted,
    )
    .await?;
    let token = |s: &Secret| {
        s.data
            .as_ref()
            .and_then(|d| d.get(names::token_secret::TOKEN).cloned())
    };
    if observed.as_deref().and_then(token) != token(&wanted) {
        ctx.metrics.token_issued();
    }
    Ok(())
}

/// Applies the consumer's federated-access ConfigMap unless the watched one already holds this
/// content.
async fn consumer_config_map(ctx: &Context, wanted: ConfigMap) -> Result<(), Error> {
    let namespace = wanted.namespace().unwrap_or_default();
    let name = wanted.name_any();
    if let Some(observed) = ctx.config_map(&namespace, &name)
        && observed.data == wanted.data
        && labels_hold(observed.labels(), wanted.labels())
        && observed.owner_references() == wanted.owner_references()
    {
        return Ok(());
    }
    info!(config_map = %name, "writing the consumer's federated-access ConfigMap");
    apply::apply(
        Api::<ConfigMap>::namespaced(ctx.client.clone(), &namespace),
        &wanted,
    )
    .await?;
    Ok(())
}

/// Deletes a grant (its delivery Secret goes with it, by owner reference).
pub async fn delete_grant(ctx: &Context, grant: &RemoteAccountGrant) -> Result<(), Error> {
    let namespace = grant.namespace().unwrap_or_default();
    apply::delete(
        Api::<RemoteAccountGrant>::namespaced(ctx.client.clone(), &namespace),
        &grant.name_any(),
    )
    .await?;
    apply::delete(
        Api::<Secret>::namespaced(ctx.client.clone(), &namespace),
        &grant.name_any(),
    )
    .await
}

/// Deletes a Secret.
pub async fn delete_secret(ctx: &Context, namespace: &str, name: &str) -> Result<(), Error> {
    info!(secret = %name, "deleting the consumer's token Secret");
    apply::delete(
        Api::<Secret>::namespaced(ctx.client.clone(), namespace),
        name,
    )
    .await
}

/// Where the RemoteServiceAccount's last status write is remembered.
pub fn status_key(rsa: &RemoteServiceAccount) -> String {
    format!("{}/{}", rsa.namespace().unwrap_or_default(), rsa.name_any())
}

/// Writes the RemoteServiceAccount's status if it differs, then publishes `events`. `rsa`
/// carries the status the hub last wrote when the watch has not shown it yet (the reconcile
/// starts from [`WriteCache::latest`](crate::write_cache::WriteCache::latest)).
async fn status(
    ctx: &Context,
    rsa: &RemoteServiceAccount,
    wanted: RemoteServiceAccountStatus,
    events: Vec<Event>,
) -> Result<(), Error> {
    if rsa.status.as_ref() == Some(&wanted) {
        return Ok(());
    }
    let key = status_key(rsa);
    let patch = json!({
        "apiVersion": RemoteServiceAccount::api_version(&()),
        "kind": RemoteServiceAccount::kind(&()),
        "status": wanted,
    });
    let written = Api::<RemoteServiceAccount>::namespaced(
        ctx.client.clone(),
        &rsa.namespace().unwrap_or_default(),
    )
    .patch_status(&rsa.name_any(), &apply::params(), &Patch::Apply(patch))
    .await?;
    ctx.status_writes
        .record(&key, written.resource_version().as_deref(), wanted);
    crate::events::publish(&ctx.recorder, &rsa.object_ref(&()), events).await;
    Ok(())
}
