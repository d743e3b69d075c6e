//! The member reconcile's writes: what a [`Plan`] wants, by server-side apply, and only what
//! differs from what the hub knows is there.

use std::time::Duration;

use cluster_inventory::v1alpha1::ClusterProfile;
use futures::FutureExt;
use k8s_openapi::{
    api::{
        coordination::v1::Lease,
        core::v1::{Namespace, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    },
    jiff::Timestamp,
};
use kube::{Api, Resource, ResourceExt, api::Patch, runtime::controller::Action};
use roster_api::{
    MemberCluster, MemberClusterStatus,
    conditions::{CONDITION_CONTROL_PLANE_HEALTHY, CONDITION_JOINED},
    names,
};
use serde_json::json;
use tracing::{debug, info};

use super::{
    context::Context,
    desired_profile::DesiredProfile,
    drift::Owned,
    objects::{self, MemberObjects},
    observed_profiles,
    plan::Plan,
};
use crate::{
    apply::{self, apply, params as apply_params},
    error::Error,
};

/// Without events, each member is looked at again this often.
pub const RESYNC: Duration = Duration::from_secs(300);

/// Writes what `plan` wants for `member`, each object only where it differs from what is known
/// to be there: the hub-side objects, then the status (and its Events), then the profile within
/// its write budget. Says when to look at the member again.
pub async fn apply_plan(
    ctx: &Context,
    member: &MemberCluster,
    plan: Plan,
) -> Result<Action, Error> {
    if let Some(objects) = &plan.objects {
        prepare(ctx, member, objects).await?;
    }
    let (joined, health) = (
        plan.reason(CONDITION_JOINED).to_owned(),
        plan.reason(CONDITION_CONTROL_PLANE_HEALTHY).to_owned(),
    );
    if member_status(ctx, member, plan.status).await? {
        info!(joined, health, "member status updated");
        crate::events::publish(&ctx.recorder, &member.object_ref(&()), plan.events).await;
    }
    // Heartbeats that stop are noticed by the sweep (see `heartbeats`), not by a timer here.
    let mut requeue = RESYNC;
    let now = ctx.clock.now();
    for (namespace, desired) in plan.profiles {
        if let ProfileWrite::Deferred(wait) = profile(ctx, member, &namespace, desired, now).await?
        {
            // Routine while a member joins (its profile changes several times in a row): the
            // write happens when the budget allows, with the content of that moment.
            debug!(wait = ?wait, %namespace, "ClusterProfile write budget exhausted; deferring");
            requeue = requeue.min(wait);
        }
    }
    for namespace in plan.remove_profiles {
        let name = member.name_any();
        info!(%namespace, "removing the ClusterProfile: no inventory there selects the member");
        apply::delete(
            Api::<ClusterProfile>::namespaced(ctx.client.clone(), &namespace),
            &name,
        )
        .await
        .map_err(|e| Error::writing("ClusterProfile", format!("{namespace}/{name}"), e))?;
    }
    Ok(Action::requeue(requeue))
}

/// Applies the member's namespace, identities, RBAC and Lease, unless they are known to be in
/// place for this (uid, generation) and none drifted since (see `prepared` and `drift`).
async fn prepare(ctx: &Context, member: &MemberCluster, o: &MemberObjects) -> Result<(), Error> {
    let name = member.name_any();
    let version = (
        member.uid().unwrap_or_default(),
        member.metadata.generation.unwrap_or_default(),
    );
    if ctx.prepared.is_current(&name, &version) {
        return Ok(());
    }
    let ticket = ctx.prepared.begin(&name);
    let c = &ctx.client;
    let ns = names::member_namespace(&name);
    // Three rounds, each waiting for the one before: the namespace; what lives in it and the
    // roles; then the bindings, which the API server only accepts from an identity without
    // `bind` once their role exists. Within a round the applies go at once (at most
    // PREPARE_REQUESTS in flight across all members, so a joining fleet does not flood the API
    // server) and all finish even if one fails: a failure must not cancel a sibling mid-request.
    put(ctx, Api::<Namespace>::all(c.clone()), &o.namespace).await?;
    let sas = Api::<ServiceAccount>::namespaced(c.clone(), &ns);
    let roles = Api::<Role>::namespaced(c.clone(), &ns);
    let bindings = Api::<RoleBinding>::namespaced(c.clone(), &ns);
    round(
        o.service_accounts
            .iter()
            .map(|sa| put(ctx, sas.clone(), sa).boxed())
            .chain(o.roles.iter().map(|r| put(ctx, roles.clone(), r).boxed()))
            .chain([
                put(ctx, Api::<ClusterRole>::all(c.clone()), &o.cluster_role).boxed(),
                put(ctx, Api::<Lease>::namespaced(c.clone(), &ns), &o.lease).boxed(),
            ]),
    )
    .await?;
    round(
        o.role_bindings
            .iter()
            .map(|b| put(ctx, bindings.clone(), b).boxed())
            .chain([put(
                ctx,
                Api::<ClusterRoleBinding>::all(c.clone()),
                &o.cluster_role_binding,
            )
            .boxed()]),
    )
    .await?;
    ctx.prepared.finish(&name, version, ticket);
    Ok(())
}

/// Runs `applies` together to the end; the first error, if any.
async fn round<'a>(
    applies: impl IntoIterator<Item = futures::future::BoxFuture<'a, Result<(), Error>>>,
) -> Result<(), Error> {
    futures::future::join_all(applies)
        .await
        .into_iter()
        .collect()
}

/// Applies one of a member's hub-side objects, within [`PREPARE_REQUESTS`](super::context::PREPARE_REQUESTS).
async fn put<K>(ctx: &Context, api: Api<K>, object: &K) -> Result<(), Error>
where
    K: Owned + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let _permit = ctx.prepare_requests.acquire().await;
    apply(api, object).await.map(|_| ()).map_err(|e| {
        let name = object.name_any();
        let path = match object.namespace() {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        };
        Error::writing(K::KIND.as_str(), path, e)
    })
}

/// Writes the MemberCluster status if it differs from what is there. `member` carries the
/// status the hub last wrote when the watch has not shown it yet (the reconcile starts from
/// [`WriteCache::latest`](crate::write_cache::WriteCache::latest)).
async fn member_status(
    ctx: &Context,
    member: &MemberCluster,
    desired: MemberClusterStatus,
) -> Result<bool, Error> {
    if member.status.as_ref() == Some(&desired) {
        return Ok(false);
    }
    let name = member.name_any();
    let patch = json!({
        "apiVersion": MemberCluster::api_version(&()),
        "kind": MemberCluster::kind(&()),
        "status": desired,
    });
    let api: Api<MemberCluster> = Api::all(ctx.client.clone());
    let written = api
        .patch_status(&name, &apply_params(), &Patch::Apply(patch))
        .await
        .map_err(|e| Error::writing("MemberCluster status", &name, e))?;
    ctx.member_writes
        .record(&name, written.resource_version().as_deref(), desired);
    ctx.metrics.member_status_written();
    Ok(true)
}

/// What a profile write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProfileWrite {
    /// Nothing differed.
    Unchanged,
    /// Written.
    Written,
    /// Over budget: try again after this long.
    Deferred(Duration),
}

/// Writes the member's ClusterProfile (metadata and spec, then status) where it differs, within
/// the profile's write budget.
async fn profile(
    ctx: &Context,
    member: &MemberCluster,
    ns: &str,
    desired: DesiredProfile,
    now: Timestamp,
) -> Result<ProfileWrite, Error> {
    let name = member.name_any();
    let key = format!("{ns}/{name}");
    let observed = ctx.profiles.get(ns, &name);
    let owned = observed
        .as_ref()
        .is_some_and(|p| p.owned_by(member.uid().as_deref()));
    let rv = observed.as_ref().and_then(|p| p.resource_version.clone());
    let current = ctx
        .profile_writes
        .current(&key, rv.as_deref(), observed.map(|p| p.content));
    let wanted = observed_profiles::desired(&desired);
    let DesiredProfile { meta, status } = desired;
    let meta_ok = owned && current.is_some_and(|(m, _)| m == wanted.0);
    let status_ok = current.is_some_and(|(_, s)| s == wanted.1);
    if meta_ok && status_ok {
        return Ok(ProfileWrite::Unchanged);
    }
    if let Err(wait) = ctx.take_write(&key, now) {
        return Ok(ProfileWrite::Deferred(wait));
    }
    let api: Api<ClusterProfile> = Api::namespaced(ctx.client.clone(), ns);
    let mut written_rv = None;
    if !meta_ok {
        let object = json!({
            "apiVersion": ClusterProfile::api_version(&()),
            "kind": ClusterProfile::kind(&()),
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": meta.labels,
                "ownerReferences": objects::owner(member).into_iter().collect::<Vec<_>>(),
            },
            "spec": meta.spec,
        });
        let written = api
            .patch(&name, &apply_params(), &Patch::Apply(object))
            .await
            .map_err(|e| Error::writing("ClusterProfile", &key, e))?;
        written_rv = written.resource_version();
    }
    if !status_ok {
        let object = json!({
            "apiVersion": ClusterProfile::api_version(&()),
            "kind": ClusterProfile::kind(&()),
            "status": status,
        });
        let written = api
            .patch_status(&name, &apply_params(), &Patch::Apply(object))
            .await
            .map_err(|e| Error::writing("ClusterProfile status", &key, e))?;
        written_rv = written.resource_version();
    }
    ctx.profile_writes
        .record(&key, written_rv.as_deref(), wanted);
    ctx.metrics.profile_written();
    Ok(ProfileWrite::Written)
}
