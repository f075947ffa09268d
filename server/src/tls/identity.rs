//! Who a verified client certificate names: its Subject CN, else its first DNS
//! subjectAltName. That name is the principal of an mTLS connection.
//!
//! This file only reads a certificate that rustls has already verified against the client
//! CAs; it must never be used to decide whether a certificate is trustworthy.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

/// The principal name of the client certificate a finished handshake verified (its leaf's),
/// `None` without one; a certificate naming nothing is logged.
pub fn of_peer(certificates: Option<&[CertificateDer<'_>]>, addr: SocketAddr) -> Option<Arc<str>> {
    let leaf = certificates.and_then(|c| c.first())?;
    let name = principal_name(leaf);
    if name.is_none() {
        tracing::warn!(
            peer = %addr,
            "the client certificate has neither a Subject CN nor a DNS name: it names no principal"
        );
    }
    name.map(Arc::from)
}

/// The principal name of a DER certificate, `None` if it has neither a CN nor a DNS SAN (or
/// does not parse).
pub fn principal_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .filter(|s| !s.is_empty());
    if let Some(cn) = cn {
        return Some(cn.to_owned());
    }
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::DNSName(d) if !d.is_empty() => Some((*d).to_owned()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn cert(cn: Option<&str>, sans: &[&str]) -> Vec<u8> {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .expect("params");
        let mut dn = DistinguishedName::new();
        if let Some(cn) = cn {
            dn.push(DnType::CommonName, cn);
        }
        params.distinguished_name = dn;
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn the_common_name_wins_then_the_first_dns_name() {
        assert_eq!(
            principal_name(&cert(Some("loader"), &["a.example"])).as_deref(),
            Some("loader")
        );
        assert_eq!(
            principal_name(&cert(None, &["first.example", "second.example"])).as_deref(),
            Some("first.example")
        );
        assert_eq!(principal_name(&cert(None, &[])), None);
        assert_eq!(principal_name(b"not a certificate"), None);
    }
}
