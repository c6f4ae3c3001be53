//! Issuing certificates: values in, PEM out. No file access here.
//!
//! Every key is ECDSA P-256, serialized as PKCS#8, so the same key files serve
//! rustls (TLS), rcgen (issuing) and p256 (code signing).

use std::fmt;
use std::net::IpAddr;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use super::PkiError;

/// A certificate and its private key, both PEM (the key PKCS#8).
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for Issued {
    // Keeps private keys out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[elided]")
            .finish()
    }
}

/// The hosts every endpoint certificate covers, besides the ones asked for.
pub const DEFAULT_HOSTS: [&str; 2] = ["localhost", "127.0.0.1"];

/// A name the endpoint certificate must cover: a DNS name (lower-cased) or an IP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    Dns(String),
    Ip(IpAddr),
}

impl Host {
    pub fn parse(text: &str) -> Result<Host, PkiError> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if text.len() <= 253 && text.split('.').all(label_ok) {
            Ok(Host::Dns(text.to_ascii_lowercase()))
        } else {
            Err(PkiError::InvalidHost {
                host: text.to_owned(),
            })
        }
    }

    fn san(&self) -> Result<SanType, rcgen::Error> {
        Ok(match self {
            Host::Dns(name) => SanType::DnsName(name.clone().try_into()?),
            Host::Ip(ip) => SanType::IpAddress(*ip),
        })
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Dns(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The default hosts plus `extra`, parsed, without duplicates, in a stable order.
pub fn endpoint_hosts(extra: &[String]) -> Result<Vec<Host>, PkiError> {
    let mut hosts = Vec::new();
    for text in DEFAULT_HOSTS
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        let host = Host::parse(text)?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    Ok(hosts)
}

/// A new self-signed bench CA.
pub fn issue_ca() -> Result<Issued, PkiError> {
    let what = "bench CA";
    let key = new_key(what)?;
    let mut params = base_params("otarig bench CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).map_err(|e| issue_err(what, e))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The gateway's server certificate, covering `hosts`, issued by `ca`.
pub fn issue_endpoint(ca: &Issued, hosts: &[Host]) -> Result<Issued, PkiError> {
    let what = "endpoint";
    let mut params = base_params("otarig endpoint");
    params.subject_alt_names = hosts
        .iter()
        .map(Host::san)
        .collect::<Result<_, _>>()
        .map_err(|e| issue_err(what, e))?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    issue_leaf(what, params, ca)
}

/// A thing's client certificate (CN = thing name, as AWS IoT and the
/// thing-scoped policy expect), issued by `ca`. The name must be valid.
pub fn issue_thing(ca: &Issued, thing: &str) -> Result<Issued, PkiError> {
    let what = format!("client (thing `{thing}`)");
    let mut params = base_params(thing);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    issue_leaf(&what, params, ca)
}

/// The code-signing certificate boards trust, issued by `ca`. Agents only use
/// its public key (docs/protocol.md §7), but a chained certificate reads naturally.
pub fn issue_code_signer(ca: &Issued) -> Result<Issued, PkiError> {
    let what = "code-signing";
    let mut params = base_params("otarig code signer");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    issue_leaf(what, params, ca)
}

/// A self-signed code-signing certificate no board trusts, for the
/// `untrusted-certificate` scenario.
pub fn issue_untrusted_code_signer() -> Result<Issued, PkiError> {
    let what = "untrusted code-signing";
    let key = new_key(what)?;
    let mut params = base_params("otarig untrusted code signer");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let cert = params.self_signed(&key).map_err(|e| issue_err(what, e))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn issue_leaf(what: &str, mut params: CertificateParams, ca: &Issued) -> Result<Issued, PkiError> {
    let key = new_key(what)?;
    params.use_authority_key_identifier_extension = true;
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| issue_err(what, e))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|e| issue_err(what, e))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| issue_err(what, e))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn base_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "otarig bench");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    // Wide, fixed validity: boards without a clock must not see "not yet
    // valid", and 2049 keeps UTCTime, which every embedded X.509 parser reads.
    params.not_before = date_time_ymd(2000, 1, 1);
    params.not_after = date_time_ymd(2049, 12, 31);
    params
}

fn new_key(what: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| issue_err(what, e))
}

fn issue_err(what: &str, source: rcgen::Error) -> PkiError {
    PkiError::Issue {
        what: what.to_owned(),
        source,
    }
}
