//! The agent's side of a grant on the hub: reading and filling the delivery Secret the hub
//! pre-created (token grants only), and reporting in the grant's status.

use base64::Engine;
use k8s_openapi::{
    api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use roster_api::{
    RemoteAccountGrant, RemoteAccountGrantStatus,
    names::{self, token_secret},
};
use serde_json::json;

use super::member::Minted;

/// RFC 3339 in UTC to the second, the format of the Secret's expiry.
pub fn rfc3339(t: Timestamp) -> String {
    token_secret::format_expiry(t)
}

/// The expiry of the token the delivery Secret holds; None when it holds none (or is missing).
pub async fn delivered_expiry(
    hub: &Client,
    grant: &RemoteAccountGrant,
) -> Result<Option<Timestamp>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(hub.clone(), &grant.namespace().unwrap_or_default());
    let Some(secret) = api.get_opt(&grant.name_any()).await? else {
        return Ok(None);
    };
    let data = secret.data.unwrap_or_default();
    let has_token = data
        .get(token_secret::TOKEN)
        .is_some_and(|t| !t.0.is_empty());
    Ok(data
        .get(token_secret::EXPIRATION)
        .filter(|_| has_token)
        .and_then(|v| token_secret::parse_expiry(std::str::from_utf8(&v.0).ok()?)))
}

/// Puts the minted token into the delivery Secret.
pub async fn deliver(
    hub: &Client,
    grant: &RemoteAccountGrant,
    minted: &Minted,
) -> Result<(), kube::Error> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let patch = json!({"data": {
        token_secret::TOKEN: b64(&minted.token),
        token_secret::EXPIRATION: b64(&rfc3339(minted.expires)),
    }});
    Api::<Secret>::namespaced(hub.clone(), &grant.namespace().unwrap_or_default())
        .patch(
            &grant.name_any(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    Ok(())
}

/// Writes the grant's status (never a token).
pub async fn report(
    hub: &Client,
    grant: &RemoteAccountGrant,
    status: &RemoteAccountGrantStatus,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": RemoteAccountGrant::api_version(&()),
        "kind": RemoteAccountGrant::kind(&()),
        "status": status,
    });
    Api::<RemoteAccountGrant>::namespaced(hub.clone(), &grant.namespace().unwrap_or_default())
        .patch_status(
            &grant.name_any(),
            &PatchParams::apply(names::AGENT_FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
    Ok(())
}

/// The status after delivering `minted`.
pub fn ready(
    grant: &RemoteAccountGrant,
    sa_uid: &str,
    minted: &Minted,
    now: Timestamp,
) -> RemoteAccountGrantStatus {
    RemoteAccountGrantStatus {
        ready: true,
        message: format!("token delivered; expires {}", rfc3339(minted.expires)),
        observed_generation: grant.metadata.generation,
        service_account_uid: sa_uid.to_owned(),
        token_expiry: Some(Time(minted.expires)),
        last_refresh: Some(Time(now)),
    }
}

/// The status of a federated grant whose bindings are in place: nothing was minted or
/// delivered, so no token fields.
pub fn bound(grant: &RemoteAccountGrant, user: &str) -> RemoteAccountGrantStatus {
    RemoteAccountGrantStatus {
        ready: true,
        message: format!("bound to {user}"),
        observed_generation: grant.metadata.generation,
        ..RemoteAccountGrantStatus::default()
    }
}

/// The status when the grant cannot be served; keeps what was delivered before.
pub fn refused(grant: &RemoteAccountGrant, message: &str) -> RemoteAccountGrantStatus {
    let previous = grant.status.clone().unwrap_or_default();
    RemoteAccountGrantStatus {
        ready: false,
        message: message.chars().take(1024).collect(),
        observed_generation: grant.metadata.generation,
        ..previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::desired::tests::federated;

    #[test]
    fn a_bound_federated_grant_reports_no_token() {
        let mut grant = federated("u", "deployer");
        grant.metadata.generation = Some(3);
        let status = bound(&grant, "roster-hub:system:serviceaccount:team-a:deployer");
        assert!(status.ready);
        assert_eq!(
            status.message,
            "bound to roster-hub:system:serviceaccount:team-a:deployer"
        );
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({
                "ready": true,
                "message": "bound to roster-hub:system:serviceaccount:team-a:deployer",
                "observedGeneration": 3,
            }),
            "no serviceAccountUid, tokenExpiry or lastRefresh"
        );
    }
}
