//! Server-side apply the way every hub write does it: one field manager, forced, with
//! `apiVersion` and `kind` taken from the type.

use kube::{
    Api, Resource,
    api::{Patch, PatchParams},
};
use roster_api::names;
use serde::Serialize;
use serde_json::json;

use crate::error::Error;

/// Patch parameters of every hub apply.
pub fn params() -> PatchParams {
    PatchParams::apply(names::HUB_FIELD_MANAGER).force()
}

/// Patch parameters of the hub's few non-apply patches (merge patches of one field).
pub fn update_params() -> PatchParams {
    PatchParams {
        field_manager: Some(names::HUB_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// A fully specified object for server-side apply: `apiVersion` and `kind` from the type.
pub fn applied<K: Resource<DynamicType = ()> + Serialize>(
    object: &K,
) -> Result<serde_json::Value, Error> {
    let mut value = serde_json::to_value(object)?;
    value["apiVersion"] = json!(K::api_version(&()));
    value["kind"] = json!(K::kind(&()));
    Ok(value)
}

/// Applies `object` through `api`; returns what the API server stored.
pub async fn apply<K>(api: Api<K>, object: &K) -> Result<K, Error>
where
    K: Resource<DynamicType = ()>
        + Serialize
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let name = object.meta().name.clone().unwrap_or_default();
    Ok(api
        .patch(&name, &params(), &Patch::Apply(applied(object)?))
        .await?)
}

/// Deletes `name` through `api`; an object already gone is fine.
pub async fn delete<K>(api: Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    match api.delete(name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}
