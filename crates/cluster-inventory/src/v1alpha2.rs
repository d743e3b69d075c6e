//! `multicluster.x-k8s.io/v1alpha2`: served beside v1alpha1, without the deprecated
//! `credentialProviders` and with stricter validation.

use k8s_openapi::{
    ByteString,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// ClusterProfileSpec defines the desired state of ClusterProfile.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "multicluster.x-k8s.io",
    version = "v1alpha2",
    kind = "ClusterProfile",
    namespaced,
    status = "ClusterProfileStatus",
    category = "multicluster",
    derive = "PartialEq",
    derive = "Default",
    doc = "ClusterProfile represents a single cluster in a multi-cluster deployment.",
    printcolumn(
        name = "Display Name",
        type_ = "string",
        json_path = ".spec.displayName"
    ),
    printcolumn(
        name = "Manager",
        type_ = "string",
        json_path = ".spec.clusterManager.name"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.version.kubernetes"
    ),
    printcolumn(
        name = "Healthy",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"ControlPlaneHealthy\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
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
/// immutable; its name should also be the value of the `x-k8s.io/cluster-manager` label.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[x_kube(validation = Rule::new("self == oldSelf").message("ClusterManager is immutable"))]
pub struct ClusterManager {
    /// Name defines the name of the cluster manager. It must be a valid Kubernetes label value.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("!format.labelValue().validate(self).hasValue()").message("must be a valid Kubernetes label value"))]
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

    /// AccessProviders is a list of cluster access providers that can provide access
    /// information for clusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub access_providers: Vec<AccessProvider>,
}

/// AccessProvider describes one way a consumer can connect to the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AccessProvider {
    /// Name matches one of the consumer's configured access provider names.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// Cluster contains the cluster connection details, such as the server address and
    /// certificate authority data.
    pub cluster: Cluster,
}

/// Cluster contains the connection information a consumer uses to reach the Kubernetes API
/// server.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// Server is the URL of the Kubernetes API server, for example,
    /// "https://api.example.com:6443".
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getHost() != ''").message("server must be a valid absolute URL with a host"))]
    pub server: String,

    /// TLSServerName is the server name used to verify the server certificate. If empty, the
    /// hostname in Server is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub tls_server_name: Option<String>,

    /// InsecureSkipTLSVerify disables server certificate verification. Enabling this field
    /// makes HTTPS connections insecure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,

    /// CertificateAuthorityData contains PEM-encoded CA certificate bytes. In YAML or JSON,
    /// these bytes must be base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::byte_string")]
    pub certificate_authority_data: Option<ByteString>,

    /// ProxyURL is the proxy URL used for requests to the cluster. Supported schemes are
    /// "http", "https", and "socks5". If empty, the ClusterProfile does not specify a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new("self == '' || (isURL(self) && url(self).getScheme() in ['http', 'https', 'socks5'] && url(self).getHost() != '')").message("proxy-url must be a valid URL with scheme http, https, or socks5 and a host"))]
    pub proxy_url: Option<String>,

    /// DisableCompression disables response compression for requests to the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_compression: Option<bool>,

    /// Extensions contains provider-specific cluster configuration. For example, an extension
    /// named "client.authentication.k8s.io/exec" supplies configuration to an exec credential
    /// plugin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub extensions: Vec<NamedExtension>,
}

/// NamedExtension associates a name with provider-specific configuration.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NamedExtension {
    /// Name identifies the extension, for example, "client.authentication.k8s.io/exec".
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// Extension contains the provider-specific configuration.
    #[schemars(schema_with = "crate::schema::raw_extension")]
    pub extension: serde_json::Value,
}

/// ClusterVersion represents version information about the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterVersion {
    /// Kubernetes is the kubernetes version of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<String>,
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
    pub last_observed_time: Option<Time>,
}
