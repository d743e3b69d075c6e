//! [`ConfigBuilder`]: the entry point that turns ClusterProfiles into configs and clients.

use std::time::Instant;

use prometheus::Registry;

use super::{AccessError, AccessMetrics, ProviderFile, client, config, select};
use cluster_inventory::{v1alpha1, v1alpha2};

/// Builds `kube::Config`s and `kube::Client`s for ClusterProfiles from a provider file.
///
/// It holds no mutable state: every call starts again from the provider file, so calls may run
/// concurrently and never see each other's profile-sourced arguments or variables. Each client
/// it builds caches its own credential.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    file: ProviderFile,
    metrics: Option<AccessMetrics>,
}

impl ConfigBuilder {
    /// A builder for the providers of `file`, without metrics.
    pub fn new(file: ProviderFile) -> Self {
        Self {
            file,
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
        self.finish(started, select::v1alpha1(&self.file, profile), Ok)
    }

    /// Builds the config to reach the cluster of a v1alpha2 profile.
    pub fn config_for_v1alpha2(
        &self,
        profile: &v1alpha2::ClusterProfile,
    ) -> Result<kube::Config, AccessError> {
        let started = Instant::now();
        self.finish(started, select::v1alpha2(&self.file, profile), Ok)
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
        self.finish(started, selection, |config| self.client(config, &provider))
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
        self.finish(started, selection, |config| self.client(config, &provider))
    }

    fn client(&self, config: kube::Config, provider: &str) -> Result<kube::Client, AccessError> {
        client::build(config, provider, self.metrics.clone()).map_err(|error| AccessError::Client {
            provider: provider.to_owned(),
            error,
        })
    }

    /// Builds the config for a selection, turns it into the result and records the build.
    fn finish<T>(
        &self,
        started: Instant,
        selection: Result<select::Selection<'_>, AccessError>,
        then: impl FnOnce(kube::Config) -> Result<T, AccessError>,
    ) -> Result<T, AccessError> {
        let provider = provider_name(&selection);
        if let Ok(selection) = &selection
            && selection.deprecated_field
        {
            tracing::warn!(
                provider = %selection.provider.name,
                "ClusterProfile offers this provider only in the deprecated credentialProviders; it should move to accessProviders"
            );
        }
        let result = selection.and_then(|s| config::build(&s)).and_then(then);
        if let Some(metrics) = &self.metrics {
            metrics.observe(&provider, result.is_ok(), started.elapsed());
        }
        result
    }
}

fn provider_name(selection: &Result<select::Selection<'_>, AccessError>) -> String {
    selection
        .as_ref()
        .map(|s| s.provider.name.clone())
        .unwrap_or_default()
}
