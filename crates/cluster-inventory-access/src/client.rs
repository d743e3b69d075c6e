//! Clients whose exec plugin runs on the first request rather than at build time.
//!
//! kube's `Client::try_from` runs a config's exec plugin while it builds the client, three
//! times over and on the calling thread (for the auth layer, for a client certificate to put in
//! the TLS config, and for the client's expiry). Here the client is built by kube from the
//! config without its plugin, and a service around it adds `Authorization: Bearer` from a
//! [`Credentials`] cache that runs the plugin when a request needs it, as client-go does.
//!
//! A plugin that answers with a client certificate instead of a token cannot be served this
//! way, since the TLS config is fixed when the client is built: the first such answer switches
//! the client, for good, to one kube builds from the full config (which runs the plugin again,
//! on the blocking pool), and every request goes there.

use std::{future::Future, pin::Pin, sync::Arc, task::Poll};

use http::{Request, Response, StatusCode, header::AUTHORIZATION};
use kube::client::{Body, ClientBuilder};
use tokio::sync::OnceCell;
use tower::BoxError;

use super::{
    AccessMetrics,
    credentials::{Credentials, Grant},
    exec::ExecPlugin,
};

/// Builds a client for `config` that runs its exec plugin lazily (kube's client when the config
/// has no plugin). Nothing is run and no request is made here.
pub(crate) fn build(
    config: kube::Config,
    provider: &str,
    metrics: Option<AccessMetrics>,
) -> Result<kube::Client, kube::Error> {
    let mut without_plugin = config.clone();
    let Some(exec) = without_plugin.auth_info.exec.take() else {
        return kube::Client::try_from(config);
    };
    let default_namespace = without_plugin.default_namespace.clone();
    let service = ExecAuth {
        inner: kube::Client::try_from(without_plugin)?,
        credentials: Arc::new(Credentials::new(ExecPlugin::new(provider, &exec), metrics)),
        certificate_client: Arc::new(CertificateClient {
            config,
            client: OnceCell::new(),
        }),
    };
    Ok(kube::Client::new(service, default_namespace))
}

/// The service around kube's client that authenticates each request.
#[derive(Clone)]
struct ExecAuth {
    inner: kube::Client,
    credentials: Arc<Credentials>,
    certificate_client: Arc<CertificateClient>,
}

/// kube's own client for the full config, built once a plugin has answered with a certificate.
struct CertificateClient {
    config: kube::Config,
    client: OnceCell<kube::Client>,
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

impl tower::Service<Request<Body>> for ExecAuth {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        // kube's client waits for its own capacity when it sends.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        Box::pin(self.clone().send(request))
    }
}

impl ExecAuth {
    async fn send(self, mut request: Request<Body>) -> Result<Response<Body>, BoxError> {
        let (authorization, id) = match self.credentials.get().await? {
            Grant::Bearer { authorization, id } => (authorization, id),
            Grant::Certificate => {
                let client = self.certificate_client.get().await?;
                return Ok(client.send(request).await?);
            }
        };
        request.headers_mut().insert(AUTHORIZATION, authorization);
        let response = self.inner.send(request).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            self.credentials.rejected(id);
        }
        Ok(response)
    }
}

impl CertificateClient {
    async fn get(&self) -> Result<kube::Client, BoxError> {
        let client = self
            .client
            .get_or_try_init(|| async {
                tracing::info!(
                    "the exec plugin returned a client certificate: using kube's client, which runs it again"
                );
                let config = self.config.clone();
                // kube runs the plugin synchronously while it builds the client's stack.
                let builder = tokio::task::spawn_blocking(move || ClientBuilder::try_from(config))
                    .await??;
                Ok::<_, BoxError>(builder.build())
            })
            .await?;
        Ok(client.clone())
    }
}
