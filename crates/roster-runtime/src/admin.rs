//! The admin server every Roster daemon runs beside its work, on a port of its own:
//!
//! - `/metrics`: the process's Prometheus registry, in the text exposition format;
//! - `/healthz`: `200 ok` while the process is up (its loops run in the same process);
//! - `/readyz`: `200 ok` once every [`Readiness`] condition is met, else `503` naming the
//!   conditions still awaited.

use std::{
    collections::BTreeMap,
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use anyhow::Context as _;
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus::{Encoder, Registry, TextEncoder};

/// Whether the process is ready, as a set of named conditions that must all be met.
///
/// Each part of a daemon that must be up before it serves (caches synced, webhook listening,
/// a credential obtained…) registers a [`Condition`] and sets it; `/readyz` answers 200 only
/// when every registered condition is met. With no condition registered the process is ready.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    conditions: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Readiness {
    /// Readiness with no condition yet (ready until one is registered).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the condition `name`, not met yet, and returns its handle. Registering a name
    /// twice returns a second handle to the same condition, reset to not met.
    pub fn condition(&self, name: impl Into<String>) -> Condition {
        let name = name.into();
        self.lock().insert(name.clone(), false);
        Condition {
            name,
            readiness: self.clone(),
        }
    }

    /// `Ok` when every condition is met, else the names of those still awaited.
    pub fn check(&self) -> Result<(), NotReady> {
        let waiting: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, met)| !**met)
            .map(|(name, _)| name.clone())
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(NotReady(waiting))
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        self.conditions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One named condition of a [`Readiness`].
#[derive(Clone, Debug)]
pub struct Condition {
    name: String,
    readiness: Readiness,
}

impl Condition {
    /// Marks the condition met (or no longer met).
    pub fn set(&self, met: bool) {
        let changed = self.readiness.lock().insert(self.name.clone(), met) != Some(met);
        if changed {
            tracing::debug!(condition = %self.name, met, "readiness condition changed");
        }
    }

    /// Whether the condition is met.
    pub fn is_met(&self) -> bool {
        self.readiness.lock().get(&self.name) == Some(&true)
    }
}

#[derive(Clone)]
struct AdminState {
    registry: Registry,
    readiness: Readiness,
}

/// The admin routes over `registry` and `readiness`, for serving or for in-process tests.
pub fn router(registry: Registry, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AdminState {
            registry,
            readiness,
        })
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode the metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the metrics: {e}\n"),
            )
                .into_response()
        }
    }
}

async fn readyz(State(state): State<AdminState>) -> Response {
    match state.readiness.check() {
        Ok(()) => "ok\n".into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}

/// The readiness conditions not met yet, by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not ready: waiting for {}", .0.join(", "))]
pub struct NotReady(pub Vec<String>);

/// The admin server, bound and not serving yet.
#[derive(Debug)]
pub struct AdminServer {
    listener: tokio::net::TcpListener,
    address: SocketAddr,
    router: Router,
}

impl AdminServer {
    /// Binds `address` (port 0 picks a free port; see [`AdminServer::local_addr`]).
    pub async fn bind(
        address: SocketAddr,
        registry: Registry,
        readiness: Readiness,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("binding the admin server to {address}"))?;
        let address = listener.local_addr()?;
        Ok(Self {
            listener,
            address,
            router: router(registry, readiness),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.address, "admin server listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving the admin endpoints")?;
        tracing::debug!(addr = %self.address, "admin server stopped");
        Ok(())
    }
}

/// Binds the admin server on `address` and serves it on a task until `shutdown` completes;
/// returns the bound address and the task.
pub async fn spawn(
    address: SocketAddr,
    registry: Registry,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    let server = AdminServer::bind(address, registry, readiness).await?;
    let bound = server.local_addr();
    Ok((bound, tokio::spawn(server.serve(shutdown))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::Request};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt;

    async fn call(router: Router, path: &str) -> (StatusCode, String, Option<String>) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            String::from_utf8(body.to_vec()).unwrap(),
            content_type,
        )
    }

    fn registry() -> Registry {
        let registry = Registry::new();
        let counter = prometheus::IntCounter::new("roster_test_total", "A test counter.").unwrap();
        counter.inc_by(3);
        registry.register(Box::new(counter)).unwrap();
        registry
    }

    #[tokio::test]
    async fn metrics_are_served_in_the_text_format() {
        let (status, body, content_type) =
            call(router(registry(), Readiness::new()), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(prometheus::TEXT_FORMAT));
        assert!(body.contains("# TYPE roster_test_total counter"), "{body}");
        assert!(body.contains("roster_test_total 3"), "{body}");
    }

    #[tokio::test]
    async fn healthz_is_ok_and_unknown_paths_are_not_found() {
        let readiness = Readiness::new();
        let _waiting = readiness.condition("caches");
        let (status, body, _) = call(router(registry(), readiness.clone()), "/healthz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
        let (status, _, _) = call(router(registry(), readiness), "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn readyz_waits_for_every_condition() {
        let readiness = Readiness::new();
        let app = || router(Registry::new(), readiness.clone());
        assert_eq!(
            call(app(), "/readyz").await.0,
            StatusCode::OK,
            "no condition"
        );

        let caches = readiness.condition("caches");
        let webhook = readiness.condition("webhook");
        let (status, body, _) = call(app(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: waiting for caches, webhook\n");

        caches.set(true);
        assert!(caches.is_met() && !webhook.is_met());
        let (status, body, _) = call(app(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: waiting for webhook\n");

        webhook.set(true);
        assert_eq!(call(app(), "/readyz").await.0, StatusCode::OK);
        caches.set(false);
        assert_eq!(readiness.check(), Err(NotReady(vec!["caches".into()])));
    }

    async fn get(address: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn serves_on_loopback_until_shut_down() {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (address, task) = spawn(
            "127.0.0.1:0".parse().unwrap(),
            registry(),
            Readiness::new(),
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
        assert_ne!(address.port(), 0, "the bound port is returned");
        let answer = get(address, "/metrics").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("roster_test_total 3"), "{answer}");
        assert!(get(address, "/healthz").await.ends_with("\r\n\r\nok\n"));

        stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("the server stops when told")
            .unwrap()
            .unwrap();
        assert!(tokio::net::TcpStream::connect(address).await.is_err());
    }

    #[tokio::test]
    async fn a_busy_address_is_a_clear_error() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = taken.local_addr().unwrap();
        let error = AdminServer::bind(address, Registry::new(), Readiness::new())
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains(&format!("binding the admin server to {address}")),
            "{error:#}"
        );
    }
}
