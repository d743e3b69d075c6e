//! Start-up plumbing shared by Roster's binaries: the rustls crypto provider, logging, and the
//! flags every binary takes.

pub mod logging;

/// Installs ring as the process-wide rustls crypto provider. Call once, first thing in `main`.
pub fn install_crypto_provider() {
    // A second install (tests calling this twice) is harmless: the first provider stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
