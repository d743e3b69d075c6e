//! One member reconcile: observe (the agent's report and heartbeats, the inventories and the
//! member's published profiles, from the hub's caches),
//! decide ([`plan::decide`], pure), write ([`writes::apply_plan`]), and make failed writes
//! visible ([`failures`]).

use std::sync::Arc;

use kube::{
    Resource, ResourceExt,
    runtime::{controller::Action, reflector::ObjectRef},
};
use roster_api::{MemberCluster, member_report::REPORT_NAME, names};
use tracing::instrument;

use super::{context::Context, failures, plan, writes};
use crate::error::Error;

/// Reconciles one MemberCluster.
#[instrument(skip_all, fields(member = %member.name_any()))]
pub async fn reconcile(member: Arc<MemberCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.caches_ready().await;
    let member = ctx.member_writes.latest(&member.name_any(), member);
    let name = member.name_any();
    let report = ctx
        .stores
        .reports
        .get(&ObjectRef::new(REPORT_NAME).within(&names::member_namespace(&name)));
    let inventories = ctx.stores.inventories.state();
    let copies = ctx.profiles.copies(&name);
    let observed = plan::Observed {
        report: report.as_ref().map(|r| &r.spec),
        last_heartbeat: ctx.heartbeats.last_seen(&name),
        inventories: &inventories,
        copies: &copies,
        now: ctx.clock.now(),
    };
    let plan = plan::decide(&member, &observed);
    let result = writes::apply_plan(&ctx, &member, plan).await;
    record(&ctx, &member, result.as_ref().err()).await;
    result
}

/// Counts a failed write and, when due, publishes it as an Event on the member; a success
/// clears what was reported.
async fn record(ctx: &Context, member: &MemberCluster, error: Option<&Error>) {
    let name = member.name_any();
    let Some(error) = error else {
        return ctx.failures.clear(&name);
    };
    let Some((kind, event)) = failures::judge(&ctx.failures, &name, error, ctx.clock.now()) else {
        return;
    };
    ctx.metrics.write_failed(kind, error.category());
    if let Some(event) = event {
        crate::events::publish(&ctx.recorder, &member.object_ref(&()), vec![event]).await;
    }
}
