//! Certificates and keys of one test cluster, generated fresh for every run.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// A PEM certificate and its PEM private key.
#[derive(Clone, Debug)]
pub struct CertKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
}

/// One cluster's PKI: a CA that signs the API server's serving certificate and client
/// certificates, and the service-account token signing key.
#[derive(Debug)]
pub struct Pki {
    /// The cluster CA certificate, PEM: what clients trust.
    pub ca_pem: String,
    ca: Issuer<'static, KeyPair>,
    /// The API server's serving certificate.
    pub serving: CertKey,
    /// Service-account token signing key, PEM (PKCS#8).
    pub service_account_key_pem: String,
    /// Its public half, PEM.
    pub service_account_public_pem: String,
}

impl Pki {
    /// Generates a CA, a serving certificate for loopback and the in-cluster service names,
    /// and a service-account signing key.
    pub fn generate(cluster: &str) -> anyhow::Result<Self> {
        Self::generate_for(cluster, &[])
    }

    /// Like [`Pki::generate`], with the serving certificate also valid for `ips` (a node's
    /// address, the `kubernetes` Service's ClusterIP).
    pub fn generate_for(cluster: &str, ips: &[IpAddr]) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("roster-test-ca-{cluster}"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_pem = ca_params.self_signed(&ca_key)?.pem();
        let ca = Issuer::new(ca_params, ca_key);

        let serving_key = KeyPair::generate()?;
        let mut serving = CertificateParams::new(vec![
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
            "kubernetes.default.svc.cluster.local".to_owned(),
        ])?;
        serving
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        serving
            .subject_alt_names
            .extend(ips.iter().copied().map(SanType::IpAddress));
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving = CertKey {
            cert_pem: serving.signed_by(&serving_key, &ca)?.pem(),
            key_pem: serving_key.serialize_pem(),
        };

        let sa_key = KeyPair::generate().context("service-account key")?;
        Ok(Self {
            ca_pem,
            ca,
            serving,
            service_account_key_pem: sa_key.serialize_pem(),
            service_account_public_pem: sa_key.public_key_pem(),
        })
    }

    /// A client certificate for `user`, optionally in `group` (the certificate's organization),
    /// trusted by the API server.
    pub fn client_cert(&self, user: &str, group: Option<&str>) -> anyhow::Result<CertKey> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        if let Some(group) = group {
            params
                .distinguished_name
                .push(DnType::OrganizationName, group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        Ok(CertKey {
            cert_pem: params.signed_by(&key, &self.ca)?.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}
