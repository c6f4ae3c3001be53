//! Reading facts back out of certificates: common name, covered hosts, issuer,
//! whether a key belongs to a certificate. Pure functions over PEM/DER.

use rcgen::KeyPair;
use rumqttc::tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::Host;

/// The first certificate of a PEM text, as DER.
pub fn pem_cert_der(pem: &str) -> Result<CertificateDer<'static>, String> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate ({e})"))
}

fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    x509_parser::parse_x509_certificate(der)
        .ok()
        .map(|(_, cert)| cert)
}

/// The subject's common name; for a thing's certificate, the thing name.
pub fn cert_common_name(der: &[u8]) -> Option<String> {
    let cert = parse(der)?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// The DNS names and IP addresses in the certificate's subjectAltName.
pub fn cert_hosts(der: &[u8]) -> Option<Vec<Host>> {
    let cert = parse(der)?;
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Some(Vec::new());
    };
    let hosts = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(Host::Dns(dns.to_ascii_lowercase())),
            GeneralName::IPAddress(bytes) => ip_from_bytes(bytes).map(Host::Ip),
            _ => None,
        })
        .collect();
    Some(hosts)
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => Some(<[u8; 4]>::try_from(bytes).ok()?.into()),
        16 => Some(<[u8; 16]>::try_from(bytes).ok()?.into()),
        _ => None,
    }
}

/// Whether the certificate is a CA (basicConstraints cA = true).
pub fn is_ca(der: &[u8]) -> bool {
    parse(der).is_some_and(|c| c.is_ca())
}

/// Whether `cert` names `ca` as its issuer: the issuer name equals the CA's
/// subject and the authority key id equals the CA's subject key id. (A
/// bookkeeping check for reusing files, not a signature verification.)
pub fn is_issued_by(cert: &[u8], ca: &[u8]) -> bool {
    let (Some(cert), Some(ca)) = (parse(cert), parse(ca)) else {
        return false;
    };
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return false;
    }
    let aki = cert
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        });
    let ski = ca
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0),
            _ => None,
        });
    match (aki, ski) {
        (Some(aki), Some(ski)) => aki == ski,
        // Without key ids, the name match is all there is to compare.
        _ => true,
    }
}

/// Whether the PKCS#8 PEM key is the private half of the certificate's key.
/// Errors when the key does not parse.
pub fn key_matches_cert(key_pem: &str, cert_der: &[u8]) -> Result<bool, String> {
    let key =
        KeyPair::from_pem(key_pem).map_err(|e| format!("not a PKCS#8 PEM private key ({e})"))?;
    let cert = parse(cert_der).ok_or_else(|| "not an X.509 certificate".to_owned())?;
    Ok(cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw())
}
