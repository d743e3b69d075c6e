//! What a request is for, as the plugin's messages name it: the ExecCredential version the
//! client speaks and the Secret holding the token. Plain data: the parsing and the checks live
//! in `exec_info` and `secret`, the errors that name these in `error`.

/// The environment variable a client passes its ExecCredential request in.
pub const EXEC_INFO_ENV: &str = "KUBERNETES_EXEC_INFO";

/// An ExecCredential version the plugin speaks; the answer uses the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `client.authentication.k8s.io/v1`.
    V1,
    /// `client.authentication.k8s.io/v1beta1`.
    V1Beta1,
}

impl ApiVersion {
    /// The `apiVersion` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "client.authentication.k8s.io/v1",
            Self::V1Beta1 => "client.authentication.k8s.io/v1beta1",
        }
    }

    /// The version `text` names, if the plugin speaks it.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::V1, Self::V1Beta1]
            .into_iter()
            .find(|v| v.as_str() == text)
    }
}

/// The Secret holding a RemoteServiceAccount's token for one cluster, and what it is for (the
/// error messages name all of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Namespace of the RemoteServiceAccount and the Secret.
    pub namespace: String,
    /// The Secret's name, `<rsa>-<cluster>`.
    pub name: String,
    /// The RemoteServiceAccount.
    pub remote_service_account: String,
    /// The member cluster.
    pub cluster: String,
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl SecretRef {
    /// The same Secret in `namespace`.
    pub fn in_namespace(self, namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            ..self
        }
    }
}

/// A hub service account, the identity a federated token is requested for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for ServiceAccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
