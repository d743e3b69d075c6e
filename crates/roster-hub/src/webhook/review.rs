//! The AdmissionReview exchange: `POST /mutate-pods` takes the API server's review and answers
//! with allowed (and the automount patch), or denied with a reason the user reads in the API
//! server's error. A body that is not an AdmissionReview is a 400; nothing here panics.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    core::{
        DynamicObject,
        admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation},
    },
    runtime::reflector::ObjectRef,
};
use roster_api::{MemberCluster, RemoteServiceAccount, names};
use tracing::{debug, info};

use super::{annotation, mutate, resolve};
use crate::{metrics::Metrics, shared_cache::SharedCache};

/// The path the API server posts pod reviews to.
pub const PATH: &str = "/mutate-pods";

/// Largest review body read: a pod is at most about 1.5 MiB in etcd.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// How long a review waits for the first lists of RemoteServiceAccounts and MemberClusters
/// (only right after start-up) before it is denied with a "retry" message.
const CACHE_WAIT: Duration = Duration::from_secs(3);

/// How long a review waits for the RemoteServiceAccounts a pod names to reach the cache: one
/// created a moment before the pod (`kubectl apply -f` of both) may not have arrived yet. Only a
/// pod naming one that does not exist waits this long, before it is refused.
const RECENT_WAIT: Duration = Duration::from_secs(2);

/// What a review needs to know about the hub.
pub trait Lookup {
    /// The RemoteServiceAccount `namespace/name`.
    fn remote_service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<RemoteServiceAccount>>;
    /// Every MemberCluster.
    fn members(&self) -> Vec<Arc<MemberCluster>>;
}

/// The watch-backed caches reviews read: no API call per admission.
#[derive(Clone, Debug)]
pub struct Stores {
    /// Every RemoteServiceAccount on the hub.
    pub rsas: SharedCache<RemoteServiceAccount>,
    /// Every MemberCluster: the hub's shared cache.
    pub members: SharedCache<MemberCluster>,
}

impl Stores {
    /// Whether both caches hold their first list, waiting a little for them (every review
    /// waits at once right after start-up, which `SharedCache::ready` allows).
    pub async fn ready(&self) -> bool {
        let both = async { self.rsas.ready().await && self.members.ready().await };
        tokio::time::timeout(CACHE_WAIT, both)
            .await
            .unwrap_or(false)
    }
}

impl Lookup for Stores {
    fn remote_service_account(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<RemoteServiceAccount>> {
        self.rsas
            .store()
            .get(&ObjectRef::new(name).within(namespace))
    }

    fn members(&self) -> Vec<Arc<MemberCluster>> {
        self.members.store().state()
    }
}

/// What the routes share.
#[derive(Clone, Debug)]
struct Shared {
    stores: Stores,
    metrics: Option<Arc<Metrics>>,
}

/// The webhook's HTTP routes (TLS is the server's business); answers are counted and timed in
/// `metrics` when given.
pub fn router(stores: Stores, metrics: Option<Arc<Metrics>>) -> Router {
    Router::new()
        .route(PATH, post(mutate_pods))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Shared { stores, metrics })
}

async fn mutate_pods(State(shared): State<Shared>, body: Bytes) -> Response {
    let started = std::time::Instant::now();
    let (result, response) = answer(&shared.stores, &body).await;
    if let Some(metrics) = &shared.metrics {
        metrics.observe_admission(result, started.elapsed());
    }
    response
}

/// The response and its bounded result label: `allowed`, `patched`, `denied` or `invalid`.
async fn answer(stores: &Stores, body: &[u8]) -> (&'static str, Response) {
    let started = std::time::Instant::now();
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(e) => return bad_request(format!("the body is not an AdmissionReview: {e}")),
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(request) => request,
        Err(_) => return bad_request("the AdmissionReview has no request".into()),
    };
    let response = if stores.ready().await {
        wait_for_named(stores, &request).await;
        decide(&request, stores)
    } else {
        AdmissionResponse::from(&request).deny(
            "roster-hub has not loaded the RemoteServiceAccounts and MemberClusters yet; retry \
             in a few seconds",
        )
    };
    log(&request, &response, started.elapsed());
    let result = match (response.allowed, response.patch.is_some()) {
        (false, _) => "denied",
        (true, true) => "patched",
        (true, false) => "allowed",
    };
    match serde_json::to_vec(&response.into_review()) {
        Ok(json) => (
            result,
            ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        ),
        Err(e) => (
            "invalid",
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding the AdmissionReview: {e}"),
            )
                .into_response(),
        ),
    }
}

/// Waits (up to [`RECENT_WAIT`]) until every RemoteServiceAccount the pod names is cached.
async fn wait_for_named(stores: &Stores, request: &AdmissionRequest<DynamicObject>) {
    let named = request.object.as_ref().and_then(|pod| {
        let value = pod
            .metadata
            .annotations
            .as_ref()?
            .get(names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS)?;
        let namespace = request
            .namespace
            .clone()
            .or_else(|| pod.metadata.namespace.clone())?;
        Some((namespace, annotation::parse(value).ok()?))
    });
    let Some((namespace, rsas)) = named else {
        return;
    };
    let deadline = tokio::time::Instant::now() + RECENT_WAIT;
    while rsas
        .iter()
        .any(|name| stores.remote_service_account(&namespace, name).is_none())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn bad_request(message: String) -> (&'static str, Response) {
    debug!(%message, "malformed admission request");
    (
        "invalid",
        (StatusCode::BAD_REQUEST, message).into_response(),
    )
}

fn log(request: &AdmissionRequest<DynamicObject>, response: &AdmissionResponse, took: Duration) {
    let pod = if request.name.is_empty() {
        request
            .object
            .as_ref()
            .and_then(|o| o.metadata.generate_name.clone())
            .map(|g| format!("{g}*"))
            .unwrap_or_default()
    } else {
        request.name.clone()
    };
    let namespace = request.namespace.as_deref().unwrap_or_default();
    let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    if response.allowed {
        debug!(
            namespace,
            pod,
            patched = response.patch.is_some(),
            micros,
            "pod admitted"
        );
    } else {
        info!(namespace, pod, reason = %response.result.message, micros, "pod refused");
    }
}

/// The answer to one review: pure over `lookup`.
pub fn decide(
    request: &AdmissionRequest<DynamicObject>,
    lookup: &impl Lookup,
) -> AdmissionResponse {
    let allow = AdmissionResponse::from(request);
    // Only pod creation is ours: volumes cannot be added to an existing pod.
    let is_pod = request.resource.group.is_empty() && request.resource.resource == "pods";
    if !is_pod || request.sub_resource.is_some() || request.operation != Operation::Create {
        return allow;
    }
    let Some(object) = request.object.as_ref() else {
        return allow.deny("the review carries no pod");
    };
    let Some(value) = object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(names::ANNOTATION_REMOTE_SERVICE_ACCOUNTS))
    else {
        return allow;
    };
    let rsas = match annotation::parse(value) {
        Ok(rsas) if rsas.is_empty() => return allow,
        Ok(rsas) => rsas,
        Err(e) => return allow.deny(e),
    };
    // A pod created with generateName has no name yet; the request always has the namespace.
    let Some(namespace) = request
        .namespace
        .clone()
        .or_else(|| object.metadata.namespace.clone())
    else {
        return allow.deny("the review names no namespace for the pod");
    };
    let pod: Pod = match serde_json::to_value(object).and_then(serde_json::from_value) {
        Ok(pod) => pod,
        Err(e) => return allow.deny(format!("the pod in the review cannot be read: {e}")),
    };
    // The ServiceAccount admission plugin, which runs before webhooks, sets `default` when the
    // pod names none.
    let pod_account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|a| !a.is_empty())
        .unwrap_or("default");
    let (mounts, warnings) = match resolve::mounts(
        &rsas,
        &namespace,
        pod_account,
        |name| lookup.remote_service_account(&namespace, name),
        &lookup.members(),
    ) {
        Ok(found) => found,
        Err(e) => return allow.deny(e),
    };
    let patch = match mutate::patch(&pod, &mounts) {
        Ok(patch) => patch,
        Err(e) => return allow.deny(e),
    };
    let mut response = if patch.0.is_empty() {
        allow
    } else {
        match allow.clone().with_patch(patch) {
            Ok(patched) => patched,
            Err(e) => return allow.deny(e),
        }
    };
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    response
}
