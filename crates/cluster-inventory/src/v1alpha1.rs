//! `multicluster.x-k8s.io/v1alpha1`: the storage version. Its status carries both
//! `accessProviders` and the deprecated `credentialProviders` (same shape).

use k8s_openapi::{ByteString, apimachinery::pkg::apis::meta::v1::Condition};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

pub use crate::v1alpha2::ClusterVersion;

/// ClusterProfileSpec defines the desired state of ClusterProfile.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "multicluster.x-k8s.io",
    version = "v1alpha1",
    kind = "ClusterProfile",
    namespaced,
    status = "ClusterProfileStatus",
    category = "multicluster",
    derive = "PartialEq",
    derive = "Default",
    doc = "ClusterProfile represents a single cluster in a multi-cluster deployment."
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterProfileSpec {
    /// DisplayName defines a human-readable name of the ClusterProfile
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,

    /// ClusterManager defines which cluster manager owns this ClusterProfile resource
    pub cluster_manager: ClusterManager,
}

/// ClusterManager defines which cluster manager owns this ClusterProfile resource. This field is
/// immutable.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[x_kube(validation = Rule::new("self == oldSelf").message("ClusterManager is immutable"))]
pub struct ClusterManager {
    /// Name defines the name of the cluster manager
    pub name: String,
}

/// ClusterProfileStatus defines the observed state of ClusterProfile.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterProfileStatus {
    /// Conditions contains the different condition statuses for this cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,

    /// Version defines the version information of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<ClusterVersion>,

    /// Properties defines cluster characteristics through a list of Property objects: the
    /// ClusterProperty resources of KEP-2149 and custom information from cluster managers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub properties: Vec<Property>,

    /// CredentialProviders is a list of cluster access providers that can provide access
    /// information for clusters. Deprecated: use AccessProviders instead. If both are provided,
    /// both are used; for a name in both, the one in AccessProviders is preferred.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub credential_providers: Vec<AccessProvider>,

    /// AccessProviders is a list of cluster access providers that can provide access
    /// information for clusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub access_providers: Vec<AccessProvider>,
}

/// AccessProvider defines how to access the cluster: a provider name (matched against the
/// consumer's provider file) and the cluster connection details.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AccessProvider {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Cluster>,
}

/// The deprecated name of [`AccessProvider`].
pub type CredentialProvider = AccessProvider;

/// Cluster contains information about how to communicate with a kubernetes cluster
/// (client-go's `clientcmd/api/v1.Cluster`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// Server is the address of the kubernetes cluster (https://hostname:port).
    pub server: String,

    /// TLSServerName is used to check server certificate. If TLSServerName is empty, the
    /// hostname used to contact the server is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,

    /// InsecureSkipTLSVerify skips the validity check for the server's certificate. This will
    /// make your HTTPS connections insecure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,

    /// CertificateAuthority is the path to a cert file for the certificate authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,

    /// CertificateAuthorityData contains PEM-encoded certificate authority certificates.
    /// Overrides CertificateAuthority
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::byte_string")]
    pub certificate_authority_data: Option<ByteString>,

    /// ProxyURL is the URL to the proxy to be used for all requests made by this client.
    /// URLs with "http", "https", and "socks5" schemes are supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,

    /// DisableCompression allows client to opt-out of response compression for all requests
    /// to the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_compression: Option<bool>,

    /// Extensions holds additional information. This is useful for extenders so that reads
    /// and writes don't clobber unknown fields
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<NamedExtension>,
}

/// NamedExtension relates nicknames to extension information
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NamedExtension {
    /// Name is the nickname for this Extension
    pub name: String,
    /// Extension holds the extension information
    #[schemars(schema_with = "crate::schema::raw_extension")]
    pub extension: serde_json::Value,
}

/// Property defines the data structure to represent a property of a cluster: a name/value pair
/// and the last observed time of the property on the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    /// Name is the name of a property resource on cluster. It's a well-known or customized
    /// name to identify the property.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// Value is a property-dependent string
    #[schemars(length(min = 1, max = 1024))]
    pub value: String,

    /// LastObservedTime is the last time the property was observed on the corresponding
    /// cluster, not the time when the property was updated in the cluster-profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}
