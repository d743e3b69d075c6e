//! The webhook's serving certificate: one slot every new TLS handshake reads, filled either from
//! mounted files (`files`) or by the hub's own CA (`selfsigned`), and swapped without a restart.

mod error;
pub mod files;
pub mod issue;
pub mod rotation;
pub mod selfsigned;

use std::sync::{Arc, RwLock};

pub use error::TlsError;

use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

/// The certificate the next handshake presents; empty until the first one is loaded (a
/// handshake then fails, and the API server applies the webhook's failure policy).
#[derive(Debug, Default)]
pub struct CurrentCert {
    slot: RwLock<Option<Arc<CertifiedKey>>>,
}

impl CurrentCert {
    /// Serves `key` from the next handshake on; connections already open keep theirs.
    pub fn set(&self, key: CertifiedKey) {
        *self.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(key));
    }

    /// The certificate served now.
    pub fn get(&self) -> Option<Arc<CertifiedKey>> {
        self.slot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.get()
    }
}

/// The crypto provider of the webhook's TLS: ring, as everywhere in Roster.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server configuration presenting whatever `current` holds at each handshake, speaking
/// HTTP/1.1.
pub fn server_config(current: Arc<CurrentCert>) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(current);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A serving certificate from PEM: the chain (leaf first) and its private key, which must
/// match the leaf.
pub fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsError::parse("reading the certificate PEM"))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(TlsError::parse("reading the private key PEM"))?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(TlsError::KeyMismatch)
}
