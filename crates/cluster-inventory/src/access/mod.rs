//! The access-provider library (KEP-4322 / KEP-5339): build a `kube::Config` or `kube::Client`
//! for the cluster a `ClusterProfile` describes, authenticated by the exec plugin the
//! consumer's provider file names. It follows `sigs.k8s.io/cluster-inventory-api/pkg/access`.
//!
//! - The chosen provider is the first one, in provider-file order, that the profile offers
//!   (v1alpha1 also looks at the deprecated `credentialProviders`; `accessProviders` wins for a
//!   name in both).
//! - The plugin runs the file's command and arguments, never interactively. The profile's
//!   `clusterprofiles.multicluster.x-k8s.io/exec/additional-args` and `.../additional-envs`
//!   extensions are added as the provider's `profileSourcedCLIArgsPolicy` and
//!   `profileSourcedEnvVarsPolicy` allow, on a fresh copy for every call, with a deterministic
//!   variable order (the file's, then the profile's new names sorted).
//! - With `provideClusterInfo`, the plugin receives the cluster in
//!   `KUBERNETES_EXEC_INFO.spec.cluster`, with the `client.authentication.k8s.io/exec`
//!   extension as its `config`.
//! - The config honours the cluster's `server`, `certificate-authority-data`,
//!   `tls-server-name`, `insecure-skip-tls-verify`, `proxy-url` and `disable-compression`. An
//!   empty `proxy-url` means no proxy (`HTTPS_PROXY` is not consulted), and a v1alpha1
//!   `certificate-authority` path is ignored, both as upstream. Using a proxy needs kube's
//!   `http-proxy` or `socks5` feature in the consumer's build.
//!
//! ```no_run
//! # async fn example(profile: cluster_inventory::v1alpha2::ClusterProfile) -> Result<(), Box<dyn std::error::Error>> {
//! use cluster_inventory::access::{ConfigBuilder, ProviderFile};
//!
//! let registry = prometheus::Registry::new();
//! let builder = ConfigBuilder::new(ProviderFile::from_path("provider-file.json")?)
//!     .with_metrics(&registry)?;
//! let config: kube::Config = builder.config_for_v1alpha2(&profile)?;
//! let client = kube::Client::try_from(config)?; // or builder.client_for_v1alpha2(&profile)?
//! # let _ = client;
//! # Ok(())
//! # }
//! ```
//!
//! For workloads given credentials as files (a mounted Secret), [`from_directory`] and
//! [`from_directory_or_infer`] build the config from the directory, falling back to a
//! kubeconfig and then in-cluster credentials.

mod builder;
mod config;
mod directory;
mod error;
mod extensions;
mod metrics;
mod provider_file;
mod select;

#[cfg(test)]
mod tests;

pub use builder::ConfigBuilder;
pub use directory::{
    CA_FILE, DirectoryError, KUBECONFIG_FILE, NAMESPACE_FILE, SERVER_FILE, TOKEN_FILE,
    from_directory, from_directory_or_infer,
};
pub use error::AccessError;
pub use metrics::{AccessMetrics, BUILD_DURATION_SECONDS, BUILDS_TOTAL};
pub use provider_file::{
    DEFAULT_PROVIDER_FILE, EXEC_API_VERSIONS, ExecConfig, ExecEnvVar, PROVIDER_FILE_FLAG,
    ProfileSourcedCliArgsPolicy, ProfileSourcedEnvVarsPolicy, Provider, ProviderFile,
    ProviderFileError,
};
