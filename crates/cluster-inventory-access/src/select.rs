//! Choosing the access provider: the first provider, in provider-file order, that the profile
//! offers. Both API versions are reduced to one view of the chosen cluster.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{AccessError, Provider, ProviderFile};
use cluster_inventory::{v1alpha1, v1alpha2};

/// The provider chosen for a profile and the connection details the profile gives for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selection<'a> {
    pub provider: &'a Provider,
    pub cluster: ClusterView<'a>,
    /// The entry came from the deprecated v1alpha1 `credentialProviders`.
    pub deprecated_field: bool,
}

/// The fields of a profile's `Cluster` that a config is built from, shared by both versions.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClusterView<'a> {
    pub server: &'a str,
    pub tls_server_name: Option<&'a str>,
    pub insecure_skip_tls_verify: Option<bool>,
    pub certificate_authority_data: Option<&'a [u8]>,
    pub proxy_url: Option<&'a str>,
    pub disable_compression: Option<bool>,
    pub extensions: Vec<(&'a str, &'a Value)>,
}

/// Chooses for a v1alpha1 profile; for a name in both `accessProviders` and the deprecated
/// `credentialProviders`, the `accessProviders` entry wins.
pub(crate) fn v1alpha1<'a>(
    file: &'a ProviderFile,
    profile: &'a v1alpha1::ClusterProfile,
) -> Result<Selection<'a>, AccessError> {
    let mut offered: BTreeMap<&str, (Option<&v1alpha1::Cluster>, bool)> = BTreeMap::new();
    if let Some(status) = &profile.status {
        for entry in &status.credential_providers {
            offered.insert(&entry.name, (entry.cluster.as_ref(), true));
        }
        for entry in &status.access_providers {
            offered.insert(&entry.name, (entry.cluster.as_ref(), false));
        }
    }
    let found = file.providers().iter().find_map(|provider| {
        offered
            .get(provider.name.as_str())
            .map(|(cluster, deprecated)| (provider, *cluster, *deprecated))
    });
    let Some((provider, cluster, deprecated_field)) = found else {
        return Err(no_match(
            file,
            &profile.metadata,
            offered.keys().map(|n| n.to_string()),
        ));
    };
    Ok(Selection {
        provider,
        cluster: cluster.map(view_v1alpha1).unwrap_or_default(),
        deprecated_field,
    })
}

/// Chooses for a v1alpha2 profile.
pub(crate) fn v1alpha2<'a>(
    file: &'a ProviderFile,
    profile: &'a v1alpha2::ClusterProfile,
) -> Result<Selection<'a>, AccessError> {
    let offered: &[v1alpha2::AccessProvider] = profile
        .status
        .as_ref()
        .map(|status| status.access_providers.as_slice())
        .unwrap_or_default();
    let found = file.providers().iter().find_map(|provider| {
        offered
            .iter()
            .find(|entry| entry.name == provider.name)
            .map(|entry| (provider, &entry.cluster))
    });
    let Some((provider, cluster)) = found else {
        let mut names: Vec<String> = offered.iter().map(|e| e.name.clone()).collect();
        names.sort();
        names.dedup();
        return Err(no_match(file, &profile.metadata, names));
    };
    Ok(Selection {
        provider,
        cluster: view_v1alpha2(cluster),
        deprecated_field: false,
    })
}

fn view_v1alpha1(cluster: &v1alpha1::Cluster) -> ClusterView<'_> {
    ClusterView {
        server: &cluster.server,
        tls_server_name: cluster.tls_server_name.as_deref(),
        insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
        certificate_authority_data: cluster
            .certificate_authority_data
            .as_ref()
            .map(|b| &b.0[..]),
        proxy_url: cluster.proxy_url.as_deref(),
        disable_compression: cluster.disable_compression,
        extensions: cluster
            .extensions
            .iter()
            .map(|e| (e.name.as_str(), &e.extension))
            .collect(),
    }
}

fn view_v1alpha2(cluster: &v1alpha2::Cluster) -> ClusterView<'_> {
    ClusterView {
        server: &cluster.server,
        tls_server_name: cluster.tls_server_name.as_deref(),
        insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
        certificate_authority_data: cluster
            .certificate_authority_data
            .as_ref()
            .map(|b| &b.0[..]),
        proxy_url: cluster.proxy_url.as_deref(),
        disable_compression: cluster.disable_compression,
        extensions: cluster
            .extensions
            .iter()
            .map(|e| (e.name.as_str(), &e.extension))
            .collect(),
    }
}

fn no_match(
    file: &ProviderFile,
    meta: &kube::api::ObjectMeta,
    offered: impl IntoIterator<Item = String>,
) -> AccessError {
    let name = meta.name.as_deref().unwrap_or_default();
    let profile = match meta.namespace.as_deref() {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    };
    AccessError::NoMatchingProvider {
        profile,
        offered: offered.into_iter().collect(),
        configured: file.names(),
    }
}
