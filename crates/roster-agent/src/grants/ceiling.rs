//! The member's ceiling in the grant loop: a grant asking for more than the member's admin let
//! this agent grant (`--grantable-cluster-roles`, `--allow-rules`; the decision is
//! [`roster_api::ceiling::Ceiling::refusal`], pure) is not provisioned, whatever the hub asks;
//! nor is a federated grant naming a user that is not a hub service account's
//! ([`super::desired::federated_user_refusal`]). Anything an earlier, allowed spec of it left
//! on the member is revoked (its service account deleted, so its tokens die; a federated
//! grant's bindings deleted), and the refusal goes into the grant's status, which the hub
//! shows on the RemoteServiceAccount.

use kube::{Client, ResourceExt};
use roster_api::RemoteAccountGrant;
use tracing::warn;

use super::{hub, member};
use roster_runtime::errors;

/// Refuses `grant` with `message`: revokes what it holds on the member (the Roster objects
/// labelled with its UID) and reports it in the grant's status on the hub.
pub async fn refuse(grant: &RemoteAccountGrant, clients: (&Client, &Client), message: &str) {
    let (hub_client, member_client) = clients;
    let uid = grant.uid().unwrap_or_default();
    match member::sweep(member_client, member::Sweep::Grant(&uid)).await {
        Ok(0) => {}
        Ok(n) => warn!(
            revoked = n,
            "revoked a grant now beyond the member's ceiling"
        ),
        Err(e) => warn!(error = %errors::chain(&e), "cannot revoke a grant beyond the ceiling"),
    }
    let status = hub::refused(grant, message);
    if grant.status.as_ref() != Some(&status) {
        warn!(%message, "refusing a grant beyond the member's ceiling");
        if let Err(e) = hub::report(hub_client, grant, &status).await {
            warn!(error = %errors::chain(&e), "cannot report the refusal in the grant's status");
        }
    }
}
