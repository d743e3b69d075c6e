//! Making certificates (rcgen) and reading their validity back (x509-parser).

use std::net::IpAddr;

use k8s_openapi::jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use super::{TlsError, rotation::Validity};

/// A CA: certificate and key, PEM, and when it is valid.
#[derive(Clone, PartialEq, Eq)]
pub struct Ca {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// When it is valid.
    pub validity: Validity,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

fn datetime(t: Timestamp) -> Result<OffsetDateTime, TlsError> {
    OffsetDateTime::from_unix_timestamp(t.as_second()).map_err(|e| TlsError::Time {
        time: t,
        detail: e.to_string(),
    })
}

/// A new self-signed CA valid `validity`.
pub fn new_ca(validity: Validity) -> Result<Ca, TlsError> {
    let key = KeyPair::generate().map_err(TlsError::issue("generating a CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CommonName,
        format!(
            "roster-hub webhook CA {}",
            validity.not_before.strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = datetime(validity.not_before)?;
    params.not_after = datetime(validity.not_after)?;
    let cert = params
        .self_signed(&key)
        .map_err(TlsError::issue("signing the CA"))?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        validity,
    })
}

/// A CA read back from PEM, with the validity its certificate states.
pub fn read_ca(cert_pem: &str, key_pem: &str) -> Result<Ca, TlsError> {
    Ok(Ca {
        validity: validity(cert_pem.as_bytes())?,
        cert_pem: cert_pem.to_owned(),
        key_pem: key_pem.to_owned(),
    })
}

/// When the first certificate in `pem` is valid.
pub fn validity(pem: &[u8]) -> Result<Validity, TlsError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(TlsError::parse("reading a certificate PEM"))?;
    let cert = pem
        .parse_x509()
        .map_err(TlsError::parse("reading a certificate"))?;
    let time = |t: x509_parser::time::ASN1Time| {
        Timestamp::from_second(t.timestamp()).map_err(TlsError::parse("certificate time"))
    };
    Ok(Validity {
        not_before: time(cert.validity().not_before)?,
        not_after: time(cert.validity().not_after)?,
    })
}

/// A serving certificate for `names` (DNS names or IP addresses) signed by `ca`, valid
/// `validity`: the certificate PEM (the leaf alone: clients trust the CA through the caBundle)
/// and the key PEM.
pub fn serving(
    ca: &Ca,
    names: &[String],
    validity: Validity,
) -> Result<(String, String), TlsError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(TlsError::issue("reading the CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)
        .map_err(TlsError::issue("reading the CA certificate"))?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "roster-hub webhook");
    for name in names {
        let san = match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.clone().try_into().map_err(TlsError::issue(
                format!("{name:?} cannot be a certificate DNS name"),
            ))?),
        };
        params.subject_alt_names.push(san);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = datetime(validity.not_before)?;
    params.not_after = datetime(validity.not_after)?;
    let key = KeyPair::generate().map_err(TlsError::issue("generating a serving key"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(TlsError::issue("signing the serving certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}
