//! [`ConfigBuilder`]: the entry point that turns ClusterProfiles into configs and clients.

use std::{sync::Arc, time::Instant};

use kube::config::ExecConfig as KubeExecConfig;
use prometheus::Registry;

use super::{
    AccessError, AccessMetrics, ProviderFile, client, config,
    parsed::{ParsedClusters, Source},
    select::{self, Selection},
};
use cluster_inventory::{v1alpha1, v1alpha2};

/// Builds `kube::Config`s and `kube::Client`s for ClusterProfiles from a provider file.
///
/// Every call starts again from the provider file, so calls may run concurrently and never see
/// each other's profile-sourced arguments or variables. The builder keeps, per profile, its
/// server and CA as last parsed, and reuses them while the profile holds the same bytes (clones
/// of a builder share them); each client it builds caches its own credential.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    file: ProviderFile,
    /// Each provider's exec plugin config as the file fixes it, in file order.
    exec_templates: Arc<[KubeExecConfig]>,
    parsed: Arc<ParsedClusters>,
    metrics: Option<AccessMetrics>,
}

impl ConfigBuilder {
    /// A builder for the providers of `file`, without metrics.
    pub fn new(file: ProviderFile) -> Self {
        let exec_templates = file.providers().iter().map(config::exec_template).collect();
        Self {
            file,
            exec_templates,
            parsed: Arc::new(ParsedClusters::new(Instant::now())),
            metrics: None,
        }
    }

    /// Registers the build metrics in `registry` and records into them.
    pub fn with_metrics(self, registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(self.with_access_metrics(AccessMetrics::register(registry)?))
    }

    /// Records into metrics already registered (for sharing them between builders).
    pub fn with_access_metrics(mut self, metrics: AccessMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// How many profiles' parsed server and CA the builder (and its clones) keep.
    #[cfg(test)]
    pub(crate) fn parsed_profiles(&self) -> usize {
        self.parsed.len()
    }

    /// The provider file this builder uses.
    pub fn provider_file(&self) -> &ProviderFile {
        &self.file
    }

    /// Builds the config to reach the cluster of a v1alpha1 profile.
    pub fn config_for_v1alpha1(
        &self,
        profile: &v1alpha1::ClusterProfile,
    ) -> Result<kube::Config, AccessError> {
        let started = Instant::now();
        let selection = select::v1alpha1(&self.file, profile);
        let provider = provider_name(&selection);
        let result = selection.and_then(|selection| self.build(&selection, started));
        self.record(provider, result.is_ok(), started);
        result
    }

    /// Builds the config to reach the cluster of a v1alpha2 profile.
    pub fn config_for_v1alpha2(
        &self,
        profile: &v1alpha2::ClusterProfile,
    ) -> Result<kube::Config, AccessError> {
        let started = Instant::now();
        let selection = select::v1alpha2(&self.file, profile);
        let provider = provider_name(&selection);
        let result = selection.and_then(|selection| self.build(&selection, started));
        self.record(provider, result.is_ok(), started);
        result
    }

    /// Builds a client for the cluster of a v1alpha1 profile (call it inside a Tokio runtime).
    ///
    /// The exec plugin does not run here: the client runs it on its first request, keeps the
    /// credential until shortly before it expires or the server rejects it, and fails a request
    /// with [`ExecPluginError`](super::ExecPluginError) when the plugin fails.
    pub fn client_for_v1alpha1(
        &self,
        profile: &v1alpha1::ClusterProfile,
    ) -> Result<kube::Client, AccessError> {
        let started = Instant::now();
        let selection = select::v1alpha1(&self.file, profile);
        let provider = provider_name(&selection);
        let result = selection
            .and_then(|selection| self.build(&selection, started))
            .and_then(|config| self.client(config, provider));
        self.record(provider, result.is_ok(), started);
        result
    }

    /// Builds a client for the cluster of a v1alpha2 profile (call it inside a Tokio runtime),
    /// running the exec plugin lazily as [`ConfigBuilder::client_for_v1alpha1`] does.
    pub fn client_for_v1alpha2(
        &self,
        profile: &v1alpha2::ClusterProfile,
    ) -> Result<kube::Client, AccessError> {
        let started = Instant::now();
        let selection = select::v1alpha2(&self.file, profile);
        let provider = provider_name(&selection);
        let result = selection
            .and_then(|selection| self.build(&selection, started))
            .and_then(|config| self.client(config, provider));
        self.record(provider, result.is_ok(), started);
        result
    }

    fn client(&self, config: kube::Config, provider: &str) -> Result<kube::Client, AccessError> {
        client::build(config, provider, self.metrics.clone()).map_err(|error| AccessError::Client {
            provider: provider.to_owned(),
            error,
        })
    }

    /// The config for a selection, with its server and CA parsed once per profile.
    fn build(&self, selection: &Selection<'_>, now: Instant) -> Result<kube::Config, AccessError> {
        if selection.deprecated_field {
            tracing::warn!(
                provider = %selection.provider.name,
                "ClusterProfile offers this provider only in the deprecated credentialProviders; it should move to accessProviders"
            );
        }
        let source = Source {
            namespace: selection.namespace,
            name: selection.name,
            server: selection.cluster.server,
            ca_pem: selection
                .cluster
                .certificate_authority_data
                .unwrap_or_default(),
        };
        let parsed = self
            .parsed
            .get_or_parse(source, now, || config::parse_cluster(selection))?;
        config::build(selection, &self.exec_templates[selection.index], parsed)
    }

    /// Records a build for `provider` (empty when none matched), when metrics are on.
    fn record(&self, provider: &str, ok: bool, started: Instant) {
        if let Some(metrics) = &self.metrics {
            metrics.observe(provider, ok, started.elapsed());
        }
    }
}

/// The chosen provider's name, or empty when none matched.
fn provider_name<'a>(selection: &Result<Selection<'a>, AccessError>) -> &'a str {
    selection.as_ref().map_or("", |s| s.provider.name.as_str())
}
