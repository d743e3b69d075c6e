//! The remote access controller's writes: each only when the watched object differs.

use std::sync::Arc;

use k8s_openapi::{
    api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Condition, jiff::Timestamp,
};
use kube::{Api, Resource, ResourceExt, api::Patch, runtime::reflector::ObjectRef};
use roster_api::{
    RemoteAccountGrant, RemoteServiceAccount, RemoteServiceAccountStatus, names,
    remote_service_account::ClusterTokenStatus,
};
use serde_json::json;
use tracing::info;

use super::{Context, desired};
use crate::{apply, clock::whole_seconds, conditions, error::Error};

/// Applies the grant for `member` (and its empty delivery Secret) unless the watched ones
/// already say it; returns the grant as stored.
pub async fn grant(
    ctx: &Context,
    rsa: &RemoteServiceAccount,
    member: &str,
) -> Result<Arc<RemoteAccountGrant>, Error> {
    let wanted = desired::grant(rsa, member);
    let namespace = names::member_namespace(member);
    let name = wanted.name_any();
    let observed = ctx
        .stores
        .grants
        .get(&ObjectRef::new(&name).within(&namespace));
    let grant = match observed {
        Some(g) if g.spec == wanted.spec && labels_hold(g.as_ref(), &wanted) => g,
        _ => {
            info!(%member, "handing the grant to the member's agent");
            let api = Api::namespaced(ctx.client.clone(), &namespace);
            Arc::new(apply::apply(api, &wanted).await?)
        }
    };
    if ctx.secret(&namespace, &name).is_none() {
        let shell = desired::delivery_secret(&grant);
        apply::apply(
            Api::<Secret>::namespaced(ctx.client.clone(), &namespace),
            &shell,
        )
        .await?;
        if grant.status.is_some() {
            // The agent delivered into a Secret that is gone: wake it to deliver again (it
            // watches grants, not Secrets).
            info!(%member, "delivery Secret was deleted; asking the agent to deliver again");
            let patch = json!({"metadata": {"annotations": {
                names::ANNOTATION_DELIVERY_REQUESTED: whole_seconds(ctx.clock.now()),
            }}});
            Api::<RemoteAccountGrant>::namespaced(ctx.client.clone(), &namespace)
                .patch(&name, &apply::update_params(), &Patch::Merge(patch))
                .await?;
        }
    }
    Ok(grant)
}

fn labels_hold<K: Resource>(observed: &K, wanted: &K) -> bool {
    let have = observed.meta().labels.clone().unwrap_or_default();
    wanted
        .meta()
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| have.get(k) == Some(v))
}

/// Applies the consumer's token Secret unless the watched one already holds this content.
pub async fn consumer_secret(ctx: &Context, wanted: Secret) -> Result<(), Error> {
    let namespace = wanted.namespace().unwrap_or_default();
    let name = wanted.name_any();
    let observed = ctx.secret(&namespace, &name);
    if let Some(observed) = &observed
        && observed.data == wanted.data
        && labels_hold(observed.as_ref(), &wanted)
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

/// Writes the RemoteServiceAccount's status if it differs.
pub async fn status(
    ctx: &Context,
    rsa: &RemoteServiceAccount,
    clusters: Vec<ClusterTokenStatus>,
    ready: conditions::Desired,
    now: Timestamp,
) -> Result<(), Error> {
    let previous: &[Condition] = rsa
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let generation = rsa.metadata.generation;
    let wanted = RemoteServiceAccountStatus {
        conditions: conditions::build_all(&[ready], previous, &whole_seconds(now), generation),
        ready_clusters: Some(
            i32::try_from(clusters.iter().filter(|c| c.ready).count()).unwrap_or(i32::MAX),
        ),
        clusters,
        observed_generation: generation,
    };
    if rsa.status.as_ref() == Some(&wanted) {
        return Ok(());
    }
    let transitions = crate::events::transitions(previous, &wanted.conditions);
    let patch = json!({
        "apiVersion": RemoteServiceAccount::api_version(&()),
        "kind": RemoteServiceAccount::kind(&()),
        "status": wanted,
    });
    Api::<RemoteServiceAccount>::namespaced(
        ctx.client.clone(),
        &rsa.namespace().unwrap_or_default(),
    )
    .patch_status(&rsa.name_any(), &apply::params(), &Patch::Apply(patch))
    .await?;
    crate::events::publish(&ctx.recorder, &rsa.object_ref(&()), transitions).await;
    Ok(())
}
