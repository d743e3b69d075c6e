//! The agent's API clients: the member cluster's from its kubeconfig (or inference), and the
//! timeouts and retry policy every client of the agent shares.

use std::{path::Path, time::Duration};

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// How long a member or hub request may take before the loop that made it tries again.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a watch may stay silent before its client gives up on the connection: longer than
/// the API server holds a watch open (kube's watcher asks for 290 s, and the server sends a
/// bookmark before closing it). With [`REQUEST_TIMEOUT`] an idle watch broke every 30 s and
/// resumed from an ever older version until the server answered "too old" and the watch listed
/// everything anew.
pub const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a TCP/TLS connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `config` with the agent's timeouts and without kube's built-in retry: every loop of the
/// agent retries on its own schedule, and a probe must see a 503 rather than wait it out.
pub fn tuned(mut config: kube::Config, read_timeout: Duration) -> kube::Config {
    config.default_retry = false;
    config.read_timeout = Some(read_timeout);
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config
}

/// A cluster's two clients: requests time out after [`REQUEST_TIMEOUT`], watches after
/// [`WATCH_READ_TIMEOUT`] of silence. Both share the configuration (and so the credentials).
#[derive(Clone)]
pub struct Clients {
    /// For gets, writes and lists.
    pub requests: kube::Client,
    /// For long-running watches.
    pub watches: kube::Client,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").finish_non_exhaustive()
    }
}

impl Clients {
    /// Both clients of `config`.
    pub fn new(config: &kube::Config) -> Result<Self, kube::Error> {
        Ok(Self {
            requests: kube::Client::try_from(tuned(config.clone(), REQUEST_TIMEOUT))?,
            watches: kube::Client::try_from(tuned(config.clone(), WATCH_READ_TIMEOUT))?,
        })
    }
}

/// The member cluster's client configuration: from `kubeconfig` when given, else inferred
/// ($KUBECONFIG, ~/.kube/config, in-cluster).
pub async fn member_config(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Config> {
    match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("reading the member kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("loading the member kubeconfig {}", path.display()))
        }
        None => kube::Config::infer().await.context(
            "finding the member cluster's configuration (no --member-kubeconfig, no usable \
             $KUBECONFIG or ~/.kube/config, and not running in a pod)",
        ),
    }
}
