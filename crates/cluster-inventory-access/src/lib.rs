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
//! - A builder parses a profile's server and decodes its CA (PEM to DER) once, and reuses
//!   them for that profile (namespace and name) while its server and CA bytes stay the same; a
//!   changed CA is decoded again. What the provider file fixes of a plugin is prepared when the
//!   builder is made. Profiles no build has asked for in ten to twenty minutes are forgotten.
//! - A client from `client_for_*` runs the plugin on its first request, not when it is built,
//!   as client-go does. It keeps the token until a minute before its `expirationTimestamp` (or
//!   halfway through a shorter life), runs the plugin again after a 401, and has concurrent
//!   requests wait for one run. The plugin is a Tokio child process, checked like client-go
//!   checks it (the `ExecCredential` kind, the configured `apiVersion`, a token or a certificate
//!   and key); when it fails, the request fails with an [`ExecPluginError`] naming the provider
//!   and the command, and the next request runs it again. Runs are counted in
//!   [`PLUGIN_RUNS_TOTAL`]. A plugin answering with a client certificate cannot be deferred,
//!   since TLS is set up when the client is built: its first such answer switches that client
//!   to kube's own, built then from the full config (kube runs the plugin again, on Tokio's
//!   blocking pool). `kube::Client::try_from(config)` on a config from `config_for_*` is kube's
//!   eager path for every plugin: it runs it three times while building the client.
//!
//! ```no_run
//! # async fn example(profile: cluster_inventory::v1alpha2::ClusterProfile) -> Result<(), Box<dyn std::error::Error>> {
//! use cluster_inventory_access::{ConfigBuilder, ProviderFile};
//!
//! let registry = prometheus::Registry::new();
//! let builder = ConfigBuilder::new(ProviderFile::from_path("provider-file.json")?)
//!     .with_metrics(&registry)?;
//! let config: kube::Config = builder.config_for_v1alpha2(&profile)?;
//! // Runs no plugin yet: the first request does.
//! let client: kube::Client = builder.client_for_v1alpha2(&profile)?;
//! # let _ = (config, client);
//! # Ok(())
//! # }
//! ```
//!
//! For workloads given credentials as files (a mounted Secret), [`from_directory`] and
//! [`from_directory_or_infer`] build the config from the directory, falling back to a
//! kubeconfig and then in-cluster credentials.

mod builder;
mod client;
mod config;
mod credentials;
mod directory;
mod error;
mod exec;
mod extensions;
mod metrics;
mod parsed;
mod provider_file;
mod select;

#[cfg(test)]
mod tests;

pub use builder::ConfigBuilder;
pub use directory::{
    CA_FILE, DirectoryError, KUBECONFIG_FILE, NAMESPACE_FILE, SERVER_FILE, TOKEN_FILE,
    from_directory, from_directory_or_infer,
};
pub use error::{AccessError, ExecPluginError, ExecProblem};
pub use metrics::{
    AccessMetrics, BUILD_DURATION_SECONDS, BUILDS_TOTAL, PLUGIN_DURATION_SECONDS, PLUGIN_RUNS_TOTAL,
};
pub use provider_file::{
    DEFAULT_PROVIDER_FILE, EXEC_API_VERSIONS, ExecConfig, ExecEnvVar, PROVIDER_FILE_FLAG,
    ProfileSourcedCliArgsPolicy, ProfileSourcedEnvVarsPolicy, Provider, ProviderFile,
    ProviderFileError,
};
