//! The pod automount webhook (flow 5): a mutating admission webhook that mounts the token
//! Secrets of the RemoteServiceAccounts a pod names in `roster.dev/remote-service-accounts`
//! into every container and init container, served over TLS from a certificate it loads from
//! files or generates and rotates itself.
//!
//! | piece | file |
//! |---|---|
//! | annotation parsing | `annotation.rs` (pure) |
//! | which clusters each account mounts | `resolve.rs` (pure, over the caches) |
//! | the JSON patch | `mutate.rs` (pure) |
//! | AdmissionReview in and out, routes | `review.rs` |
//! | HTTPS | `server.rs` |
//! | certificates: files, self-generated CA and rotation rules | `tls/` |
//! | when the MutatingWebhookConfiguration needs putting back | `configuration.rs` (pure) |
//! | RemoteServiceAccounts under the RemoteAccessPolicies (deny only) | `policy.rs` |

pub mod annotation;
pub mod configuration;
pub mod mutate;
pub mod policy;
pub mod resolve;
pub mod review;
pub mod server;
pub mod tls;

#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use futures::{FutureExt, future::BoxFuture};
use kube::{Api, Client};
use roster_api::{MemberCluster, RemoteServiceAccount};
use tokio::net::TcpListener;
use tracing::{error, info};

use crate::{cli::WebhookOptions, clock::Clock, metrics::Metrics, shared_cache::SharedCache};
use roster_runtime::admin::{Condition, Readiness};
use tls::{CurrentCert, files, rotation::Lifetimes, selfsigned};

/// Sets the webhook up as `options` say: binds its address and loads (or arranges) its
/// certificate, so a bad address or unreadable certificate files stop the hub at start-up.
/// Returns the task serving it, which ends on SIGINT/SIGTERM; a task that ends at once when the
/// webhook is disabled (an empty `--webhook-address`).
///
/// Members are read from the hub's shared cache (`members`, whose watch the caller drives).
/// Answers are counted in `metrics`; the `webhook` readiness condition is met once the caches
/// hold their first lists and a certificate is served.
pub async fn start(
    client: Client,
    options: &WebhookOptions,
    ca_namespace: String,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    members: SharedCache<MemberCluster>,
    readiness: &Readiness,
) -> anyhow::Result<BoxFuture<'static, ()>> {
    let Some(address) = options.webhook_address else {
        info!("webhook disabled (empty --webhook-address)");
        return Ok(async {}.boxed());
    };
    let current = Arc::new(CurrentCert::default());
    let certificates = match &options.webhook_cert_dir {
        Some(dir) => {
            let loaded = files::load(dir, &current)
                .await
                .context("loading the webhook certificate (--webhook-cert-dir)")?;
            info!(dir = %dir.display(), "webhook certificate loaded; watching for changes");
            files::watch(dir.clone(), current.clone(), loaded, files::POLL).boxed()
        }
        None => {
            let settings = selfsigned::Settings {
                namespace: ca_namespace,
                configuration: options.webhook_configuration.clone(),
                endpoint: options.endpoint(),
                names: options.webhook_dns_names.clone(),
                lifetimes: Lifetimes::new(Duration::from_secs(options.webhook_cert_validity)),
            };
            info!(namespace = %settings.namespace, secret = selfsigned::CA_SECRET,
                configuration = %settings.configuration, endpoint = %settings.endpoint,
                names = ?settings.names, "webhook certificates self-generated");
            selfsigned::run(client.clone(), settings, current.clone(), clock).boxed()
        }
    };
    let tls = Arc::new(tls::server_config(current.clone()).context("webhook TLS configuration")?);
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the webhook to {address} (--webhook-address)"))?;
    info!(address = %listener.local_addr()?, path = review::PATH, "webhook listening (HTTPS)");
    let (policy_stores, policy_caches) = policy::Stores::start(client.clone(), members.clone());
    let (stores, caches) = caches(client, members);
    let ready = ready(stores.clone(), current, readiness.condition("webhook"));
    let router = review::router(stores, Some(metrics)).merge(policy::router(policy_stores));
    Ok(async move {
        // Only the signal ends this: the other tasks loop forever.
        tokio::select! {
            () = server::serve(listener, tls, router) => error!("webhook server ended"),
            () = certificates => error!("webhook certificate task ended"),
            () = caches => error!("webhook caches ended"),
            () = policy_caches => error!("webhook policy caches ended"),
            () = ready.then(|()| std::future::pending()) => {}
            () = roster_runtime::shutdown_signal() => info!("webhook stopped"),
        }
    }
    .boxed())
}

/// Meets `condition` once the caches are loaded and a certificate is served.
async fn ready(stores: review::Stores, current: Arc<CurrentCert>, condition: Condition) {
    while !stores.ready().await {}
    while current.get().is_none() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    condition.set(true);
}

/// The caches reviews read: the webhook's own RemoteServiceAccount cache, with the task filling
/// it, and the shared `members`.
pub fn caches(
    client: Client,
    members: SharedCache<MemberCluster>,
) -> (review::Stores, BoxFuture<'static, ()>) {
    let (rsas, rsa_watch) = SharedCache::start(
        Api::<RemoteServiceAccount>::all(client),
        crate::watch::config(),
    );
    (review::Stores { rsas, members }, rsa_watch)
}
