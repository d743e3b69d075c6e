//! Choosing the access provider: the first provider, in provider-file order, that the profile
//! offers. Both API versions are reduced to one view of the chosen cluster.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{AccessError, Provider, ProviderFile};
use cluster_inventory::{v1alpha1, v1alpha2};

/// The provider chosen for a profile and the connection details the profile gives for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selection<'a> {
    pub provider: &'a Provider,
    /// The provider's position in the provider file.
    pub index: usize,
    /// The profile's namespace and name (empty when unset).
    pub namespace: &'a str,
    pub name: &'a str,
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
    pub extensions: Extensions<'a>,
}

/// The cluster's extensions, borrowed from either version's list.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) enum Extensions<'a> {
    #[default]
    None,
    V1alpha1(&'a [v1alpha1::NamedExtension]),
    V1alpha2(&'a [v1alpha2::NamedExtension]),
}

impl<'a> Extensions<'a> {
    /// Each extension's name and data, in the profile's order.
    pub(crate) fn iter(self) -> impl Iterator<Item = (&'a str, &'a Value)> {
        let (first, second): (&[v1alpha1::NamedExtension], &[v1alpha2::NamedExtension]) = match self
        {
            Self::None => (&[], &[]),
            Self::V1alpha1(list) => (list, &[]),
            Self::V1alpha2(list) => (&[], list),
        };
        first
            .iter()
            .map(|e| (e.name.as_str(), &e.extension))
            .chain(second.iter().map(|e| (e.name.as_str(), &e.extension)))
    }

    /// The data of the first extension named `name`.
    pub(crate) fn get(self, name: &str) -> Option<&'a Value> {
        self.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }
}

/// Chooses for a v1alpha1 profile; for a name in both `accessProviders` and the deprecated
/// `credentialProviders`, the `accessProviders` entry wins (and within one list, the last entry
/// of a name).
pub(crate) fn v1alpha1<'a>(
    file: &'a ProviderFile,
    profile: &'a v1alpha1::ClusterProfile,
) -> Result<Selection<'a>, AccessError> {
    let (access, credential): (&[v1alpha1::AccessProvider], &[v1alpha1::AccessProvider]) =
        match &profile.status {
            Some(status) => (&status.access_providers, &status.credential_providers),
            None => (&[], &[]),
        };
    let last_named = |entries: &'a [v1alpha1::AccessProvider], name: &str| {
        entries.iter().rev().find(|entry| entry.name == name)
    };
    let found = file
        .providers()
        .iter()
        .enumerate()
        .find_map(|(index, provider)| {
            let offered = match last_named(access, &provider.name) {
                Some(entry) => (entry, false),
                None => (last_named(credential, &provider.name)?, true),
            };
            Some((index, provider, offered))
        });
    let Some((index, provider, (entry, deprecated_field))) = found else {
        let offered: BTreeSet<&str> = access
            .iter()
            .chain(credential)
            .map(|entry| entry.name.as_str())
            .collect();
        return Err(no_match(
            file,
            &profile.metadata,
            offered.into_iter().map(str::to_owned),
        ));
    };
    Ok(Selection {
        provider,
        index,
        namespace: profile.metadata.namespace.as_deref().unwrap_or_default(),
        name: profile.metadata.name.as_deref().unwrap_or_default(),
        cluster: entry
            .cluster
            .as_ref()
            .map(view_v1alpha1)
            .unwrap_or_default(),
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
    let found = file
        .providers()
        .iter()
        .enumerate()
        .find_map(|(index, provider)| {
            offered
                .iter()
                .find(|entry| entry.name == provider.name)
                .map(|entry| (index, provider, &entry.cluster))
        });
    let Some((index, provider, cluster)) = found else {
        let mut names: Vec<String> = offered.iter().map(|e| e.name.clone()).collect();
        names.sort();
        names.dedup();
        return Err(no_match(file, &profile.metadata, names));
    };
    Ok(Selection {
        provider,
        index,
        namespace: profile.metadata.namespace.as_deref().unwrap_or_default(),
        name: profile.metadata.name.as_deref().unwrap_or_default(),
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
        extensions: Extensions::V1alpha1(&cluster.extensions),
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
        extensions: Extensions::V1alpha2(&cluster.extensions),
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
