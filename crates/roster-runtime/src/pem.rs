//! PEM encoding of DER certificates (what kube keeps) for kubeconfigs and reports.

use base64::{Engine, engine::general_purpose::STANDARD};

/// DER certificates as one PEM bundle, base64 in 64-character lines.
pub fn certificates(ders: &[Vec<u8>]) -> String {
    let mut pem = String::new();
    for der in ders {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = STANDARD.encode(der);
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_base64_in_certificate_lines_of_64() {
        let pem = certificates(&[vec![0u8; 100], vec![7u8; 3]]);
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert!(pem.lines().all(|l| l.len() <= 64), "{pem}");
        assert!(pem.contains("BwcH\n"), "{pem}");
    }
}
