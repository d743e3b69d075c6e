//! The member API server as the hub's consumers should reach it: URL and CA bundle (PEM), from
//! the agent's flags or else the member's client configuration.

use std::path::Path;

use anyhow::Context;

/// URL and CA of the member API server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// The API server URL, without a trailing `/`.
    pub server: String,
    /// PEM bundle of the CAs that sign its serving certificate.
    pub ca_pem: Option<Vec<u8>>,
}

/// The endpoint to report: `server` and `ca_pem` (the flags) win over `config`'s.
pub fn resolve(config: &kube::Config, server: Option<&str>, ca_pem: Option<Vec<u8>>) -> Endpoint {
    let server = server.map_or_else(|| config.cluster_url.to_string(), str::to_owned);
    let from_config = || {
        config
            .root_cert
            .as_deref()
            .filter(|certs| !certs.is_empty())
            .map(der_to_pem)
    };
    Endpoint {
        server: server.trim_end_matches('/').to_owned(),
        ca_pem: ca_pem.or_else(from_config),
    }
}

/// DER certificates (what kube keeps) as one PEM bundle (what kubeconfigs carry).
pub fn der_to_pem(certs: &[Vec<u8>]) -> Vec<u8> {
    roster_runtime::pem::certificates(certs).into_bytes()
}

/// Reads `--api-server-ca-file`: a PEM bundle with at least one certificate.
pub fn read_ca_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("reading the API server CA file {}", path.display()))?;
    let text = String::from_utf8_lossy(&pem);
    anyhow::ensure!(
        text.contains("-----BEGIN CERTIFICATE-----"),
        "the API server CA file {} holds no PEM certificate",
        path.display()
    );
    Ok(pem)
}

/// Checks `--api-server-url`: an https URL with a host.
pub fn check_server_url(url: &str) -> anyhow::Result<()> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--api-server-url {url:?} is not a URL"))?;
    anyhow::ensure!(
        uri.scheme_str() == Some("https") && uri.host().is_some_and(|h| !h.is_empty()),
        "--api-server-url {url:?} must be an https:// URL with a host"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, certs: Option<Vec<Vec<u8>>>) -> kube::Config {
        let mut c = kube::Config::new(url.parse().unwrap());
        c.root_cert = certs;
        c
    }

    #[test]
    fn the_config_gives_url_and_ca_unless_overridden() {
        let c = config("https://127.0.0.1:6443", Some(vec![vec![1, 2, 3]]));
        let e = resolve(&c, None, None);
        assert_eq!(e.server, "https://127.0.0.1:6443");
        assert_eq!(
            String::from_utf8(e.ca_pem.unwrap()).unwrap(),
            "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"
        );
        let e = resolve(&c, Some("https://lb.example.com/"), Some(b"pem".to_vec()));
        assert_eq!(e.server, "https://lb.example.com");
        assert_eq!(e.ca_pem.as_deref(), Some(&b"pem"[..]));
        let none = resolve(&config("https://a", Some(vec![])), None, None);
        assert_eq!(none.ca_pem, None);
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let pem = String::from_utf8(der_to_pem(&[vec![0u8; 100], vec![7u8; 3]])).unwrap();
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 64);
        assert_eq!(lines[3].len(), 136 - 128);
        assert_eq!(lines[4], "-----END CERTIFICATE-----");
        assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
    }

    #[test]
    fn server_url_must_be_https_with_a_host() {
        assert!(check_server_url("https://member-1.example.com:6443").is_ok());
        for bad in ["http://a", "member-1:6443", "https://", "::"] {
            assert!(check_server_url(bad).is_err(), "{bad}");
        }
    }
}
