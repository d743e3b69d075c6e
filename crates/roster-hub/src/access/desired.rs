//! What the hub writes for a RemoteServiceAccount: one grant (and its empty token Secret) per
//! target member, and one token Secret per ready cluster in the consumer's namespace.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::core::v1::{ConfigMap, Secret},
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
    jiff::Timestamp,
};
use kube::{Resource, ResourceExt};
use roster_api::{
    RemoteAccountGrant, RemoteAccountGrantSpec, RemoteServiceAccount,
    names::{self, token_secret},
    remote_account_grant::{GrantOwner, GrantServiceAccount},
};

/// Labels tying hub objects to the RemoteServiceAccount `namespace/name`.
pub fn labels(namespace: &str, name: &str, member: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            names::LABEL_MANAGED_BY.to_owned(),
            names::MANAGED_BY.to_owned(),
        ),
        (
            names::LABEL_CONSUMER_NAMESPACE.to_owned(),
            namespace.to_owned(),
        ),
        (
            token_secret::LABEL_REMOTE_SERVICE_ACCOUNT.to_owned(),
            name.to_owned(),
        ),
        (names::LABEL_MEMBER.to_owned(), member.to_owned()),
    ])
}

/// The grant asking `member`'s agent to provision `rsa`.
pub fn grant(rsa: &RemoteServiceAccount, member: &str) -> RemoteAccountGrant {
    let namespace = rsa.namespace().unwrap_or_default();
    let name = rsa.name_any();
    let federated_user = rsa.federated_user();
    // Federated access creates no member service account.
    let service_account = if federated_user.is_some() {
        GrantServiceAccount::default()
    } else {
        let (namespace, name) = rsa.remote_service_account();
        GrantServiceAccount { namespace, name }
    };
    let mut grant = RemoteAccountGrant::new(
        &names::grant_name(&namespace, &name),
        RemoteAccountGrantSpec {
            remote_service_account: GrantOwner {
                namespace: namespace.clone(),
                name: name.clone(),
                uid: rsa.uid().unwrap_or_default(),
            },
            service_account,
            federated_user,
            cluster_roles: rsa.spec.cluster_roles.clone(),
            roles: rsa.spec.roles.clone(),
            rules: rsa.spec.rules.clone(),
            token: rsa.spec.token.clone().unwrap_or_default(),
        },
    );
    grant.metadata.namespace = Some(names::member_namespace(member));
    grant.metadata.labels = Some(labels(&namespace, &name, member));
    grant
}

/// The empty Secret the agent fills with the grant's token, owned by the grant.
pub fn delivery_secret(grant: &RemoteAccountGrant) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: grant.metadata.name.clone(),
            namespace: grant.metadata.namespace.clone(),
            labels: grant.metadata.labels.clone(),
            owner_references: owner(grant).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some(token_secret::TYPE.to_owned()),
        ..Secret::default()
    }
}

/// A token an agent delivered, read from its grant's Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The bearer token.
    pub token: String,
    /// When it expires.
    pub expiry: Timestamp,
}

/// The token in a delivery Secret, if it holds a well-formed one.
pub fn delivered(secret: &Secret) -> Option<Delivered> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .filter(|s| !s.is_empty())
    };
    Some(Delivered {
        token: text(token_secret::TOKEN)?,
        expiry: token_secret::parse_expiry(&text(token_secret::EXPIRATION)?)?,
    })
}

/// How the consumer reaches a member's API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// URL.
    pub server: String,
    /// PEM CA bundle.
    pub ca: Vec<u8>,
}

/// The `<rsa>-<cluster>` Secret in the consumer's namespace.
pub fn consumer_secret(
    rsa: &RemoteServiceAccount,
    cluster: &str,
    endpoint: &Endpoint,
    token: &Delivered,
) -> Secret {
    let name = rsa.name_any();
    let (sa_namespace, _) = rsa.remote_service_account();
    let expiry = token_secret::format_expiry(token.expiry);
    let data = BTreeMap::from([
        (token_secret::TOKEN, token.token.clone().into_bytes()),
        (token_secret::CA, endpoint.ca.clone()),
        (token_secret::SERVER, endpoint.server.clone().into_bytes()),
        (token_secret::NAMESPACE, sa_namespace.clone().into_bytes()),
        (
            token_secret::KUBECONFIG,
            kubeconfig(&name, cluster, &endpoint.server, &sa_namespace).into_bytes(),
        ),
        (token_secret::EXPIRATION, expiry.into_bytes()),
    ]);
    Secret {
        metadata: consumer_meta(rsa, cluster),
        type_: Some(token_secret::TYPE.to_owned()),
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k.to_owned(), ByteString(v)))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// Name, namespace, labels and owner of the consumer's `<rsa>-<cluster>` object (the token
/// Secret, or the federated-access ConfigMap).
fn consumer_meta(rsa: &RemoteServiceAccount, cluster: &str) -> ObjectMeta {
    let namespace = rsa.namespace().unwrap_or_default();
    let name = rsa.name_any();
    ObjectMeta {
        name: Some(names::token_secret_name(&name, cluster)),
        labels: Some(labels(&namespace, &name, cluster)),
        namespace: Some(namespace),
        owner_references: owner(rsa).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// The namespace a federated consumer's kubeconfig starts in (there is no member service
/// account whose namespace it could be).
pub const FEDERATED_NAMESPACE: &str = "default";

/// Federated access: the `<rsa>-<cluster>` ConfigMap in the consumer's namespace holding what a
/// pod needs besides its projected token (server, CA, namespace and a kubeconfig reading the
/// token from the automount folder). It holds nothing secret, so it is not a Secret; the pod
/// webhook projects it with the token.
pub fn consumer_config_map(
    rsa: &RemoteServiceAccount,
    cluster: &str,
    endpoint: &Endpoint,
) -> ConfigMap {
    let name = rsa.name_any();
    let text = |k: &str, v: String| (k.to_owned(), v);
    ConfigMap {
        metadata: consumer_meta(rsa, cluster),
        data: Some(BTreeMap::from([
            text(
                token_secret::CA,
                String::from_utf8_lossy(&endpoint.ca).into_owned(),
            ),
            text(token_secret::SERVER, endpoint.server.clone()),
            text(token_secret::NAMESPACE, FEDERATED_NAMESPACE.to_owned()),
            text(
                token_secret::KUBECONFIG,
                kubeconfig(&name, cluster, &endpoint.server, FEDERATED_NAMESPACE),
            ),
        ])),
        ..ConfigMap::default()
    }
}

/// The folder a pod finds `rsa`'s credentials for `cluster` in when they are automounted.
pub fn mount_dir(rsa: &str, cluster: &str) -> String {
    format!("{}/{rsa}/{cluster}", names::AUTOMOUNT_ROOT)
}

/// A kubeconfig reading the token and CA from the automount folder, so a client that re-reads
/// its token file keeps working across refreshes. It holds no secret.
pub fn kubeconfig(rsa: &str, cluster: &str, server: &str, namespace: &str) -> String {
    let dir = mount_dir(rsa, cluster);
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "server": server,
            "certificate-authority": format!("{dir}/{}", token_secret::CA),
        }}],
        "users": [{"name": rsa, "user": {"tokenFile": format!("{dir}/{}", token_secret::TOKEN)}}],
        "contexts": [{"name": cluster, "context": {
            "cluster": cluster, "user": rsa, "namespace": namespace,
        }}],
        "current-context": cluster,
    });
    // JSON is YAML; every kubeconfig loader reads it.
    format!("{config:#}\n")
}

fn owner<K: Resource<DynamicType = ()>>(object: &K) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: object.meta().name.clone()?,
        uid: object.meta().uid.clone()?,
        controller: Some(true),
        block_owner_deletion: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_api::RemoteServiceAccountSpec;

    fn rsa() -> RemoteServiceAccount {
        let mut rsa = RemoteServiceAccount::new(
            "deployer",
            RemoteServiceAccountSpec {
                cluster_roles: vec!["view".into()],
                ..Default::default()
            },
        );
        rsa.metadata.namespace = Some("team-a".into());
        rsa.metadata.uid = Some("rsa-uid".into());
        rsa
    }

    #[test]
    fn grant_names_its_owner_and_defaults() {
        let g = grant(&rsa(), "member-1");
        assert_eq!(g.metadata.name.as_deref(), Some("team-a.deployer"));
        assert_eq!(
            g.metadata.namespace.as_deref(),
            Some("roster-member-member-1")
        );
        assert_eq!(g.spec.remote_service_account.uid, "rsa-uid");
        assert_eq!(g.spec.service_account.namespace, "roster-remote");
        assert_eq!(g.spec.service_account.name, "team-a-deployer");
        assert_eq!(g.spec.token.expiration_seconds, 3600);
        assert_eq!(g.spec.cluster_roles, ["view"]);
        let labels = g.metadata.labels.unwrap();
        assert_eq!(labels[names::LABEL_CONSUMER_NAMESPACE], "team-a");
        assert_eq!(labels[names::LABEL_MEMBER], "member-1");
    }

    #[test]
    fn delivery_secret_is_an_owned_empty_shell() {
        let mut g = grant(&rsa(), "member-1");
        g.metadata.uid = Some("grant-uid".into());
        let s = delivery_secret(&g);
        assert_eq!(s.type_.as_deref(), Some(token_secret::TYPE));
        assert!(s.data.is_none() && s.string_data.is_none());
        assert_eq!(s.metadata.owner_references.unwrap()[0].uid, "grant-uid");
    }

    #[test]
    fn delivered_needs_a_token_and_a_valid_expiry() {
        let mut s = Secret::default();
        assert_eq!(delivered(&s), None);
        let put = |s: &mut Secret, k: &str, v: &str| {
            s.data
                .get_or_insert_with(Default::default)
                .insert(k.into(), ByteString(v.as_bytes().to_vec()));
        };
        put(&mut s, "token", "abc");
        assert_eq!(delivered(&s), None);
        put(&mut s, "expirationTimestamp", "not a time");
        assert_eq!(delivered(&s), None);
        put(&mut s, "expirationTimestamp", "2026-11-22T21:00:00Z");
        let d = delivered(&s).unwrap();
        assert_eq!(d.token, "abc");
        assert_eq!(d.expiry.as_second(), 1795381200);
    }

    #[test]
    fn consumer_secret_carries_every_key_and_a_tokenless_kubeconfig() {
        let endpoint = Endpoint {
            server: "https://127.0.0.1:6443".into(),
            ca: b"PEM".to_vec(),
        };
        let token = Delivered {
            token: "secret-token".into(),
            expiry: "2026-11-22T21:00:00Z".parse().unwrap(),
        };
        let s = consumer_secret(&rsa(), "member-1", &endpoint, &token);
        assert_eq!(s.metadata.name.as_deref(), Some("deployer-member-1"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            s.metadata.owner_references.as_ref().unwrap()[0].uid,
            "rsa-uid"
        );
        let data = s.data.unwrap();
        let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
        assert_eq!(text("token"), "secret-token");
        assert_eq!(text("ca.crt"), "PEM");
        assert_eq!(text("server"), "https://127.0.0.1:6443");
        assert_eq!(text("namespace"), "roster-remote");
        assert_eq!(text("expirationTimestamp"), "2026-11-22T21:00:00Z");
        let kubeconfig: serde_json::Value = serde_json::from_str(&text("kubeconfig")).unwrap();
        assert_eq!(
            kubeconfig["users"][0]["user"]["tokenFile"],
            "/var/run/secrets/roster.dev/deployer/member-1/token"
        );
        assert_eq!(
            kubeconfig["clusters"][0]["cluster"]["certificate-authority"],
            "/var/run/secrets/roster.dev/deployer/member-1/ca.crt"
        );
        assert!(!text("kubeconfig").contains("secret-token"));
    }
}
