//! Reaching the hub: the kubeconfig in use, found the way kubectl finds it.

use anyhow::Context;
use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};

use crate::cli::HubOptions;

/// The hub's client configuration: `--kubeconfig`/`--context` when given, else kube's usual
/// inference (`$KUBECONFIG`, `~/.kube/config`, in-cluster).
pub async fn config(opts: &HubOptions) -> anyhow::Result<Config> {
    let options = KubeConfigOptions {
        context: opts.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match (&opts.kubeconfig, &opts.context) {
        (Some(path), _) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        (None, Some(_)) => Config::from_kubeconfig(&options).await?,
        (None, None) => Config::infer().await?,
    };
    Ok(config)
}

/// A client of the hub.
pub fn client(config: Config) -> anyhow::Result<Client> {
    Client::try_from(config).context("building the hub client")
}
