//! Code signing as the OTA agents check it (docs/protocol.md §7): ECDSA P-256 over
//! SHA-256 of the exact bytes streamed, the signature ASN.1 DER encoded, and
//! base64 in the job document. Keys are PKCS#8 PEM (as `otarig pki init`
//! writes them); verification takes the public key of a PEM certificate.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::Signature;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rumqttc::tokio_rustls::rustls::pki_types::{
    pem::PemObject, CertificateDer, SubjectPublicKeyInfoDer,
};

pub use p256::ecdsa::{SigningKey, VerifyingKey};

/// Where a key or certificate came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Text,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Text => f.write_str("the PEM text given"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin} is not a PKCS#8 PEM P-256 private key ({reason}); use codesign.key from `otarig pki init`")]
    BadKey { origin: Origin, reason: String },
    #[error("{origin} is not a PEM certificate or public key with a P-256 key ({reason}); use codesign.pem from `otarig pki init`")]
    BadCert { origin: Origin, reason: String },
    #[error("the signature is not valid base64 ({0})")]
    BadBase64(#[from] base64::DecodeError),
}

/// Signs `data` (SHA-256, ECDSA P-256; RFC 6979 nonces, so the same key and
/// data always give the same signature) and returns the DER signature.
pub fn sign_der(key: &SigningKey, data: &[u8]) -> Vec<u8> {
    let signature: Signature = key.sign(data);
    signature.to_der().as_bytes().to_vec()
}

/// The DER signature as base64 text, as it goes in the job document.
pub fn sign_base64(key: &SigningKey, data: &[u8]) -> String {
    BASE64.encode(sign_der(key, data))
}

/// Whether `signature_der` is a valid signature of `data` by `key`. A
/// signature that is not even DER is simply not valid.
pub fn verify_der(key: &VerifyingKey, data: &[u8], signature_der: &[u8]) -> bool {
    Signature::from_der(signature_der).is_ok_and(|sig| key.verify(data, &sig).is_ok())
}

/// As [`verify_der`], with the base64 text of the job document.
pub fn verify_base64(
    key: &VerifyingKey,
    data: &[u8],
    signature_b64: &str,
) -> Result<bool, SigningError> {
    Ok(verify_der(key, data, &decode_signature(signature_b64)?))
}

/// Whether `signature_der` verifies with the public key of the PEM certificate
/// (only the key matters, as on the device: no chain or expiry check).
pub fn verify_with_cert_pem(
    cert_pem: &str,
    data: &[u8],
    signature_der: &[u8],
) -> Result<bool, SigningError> {
    Ok(verify_der(
        &verifying_key_from_pem(cert_pem)?,
        data,
        signature_der,
    ))
}

pub fn decode_signature(signature_b64: &str) -> Result<Vec<u8>, SigningError> {
    Ok(BASE64.decode(signature_b64.trim())?)
}

/// A P-256 private key from PKCS#8 PEM text.
pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey, SigningError> {
    signing_key(pem, Origin::Text)
}

/// A P-256 private key from a PKCS#8 PEM file; errors name the file.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, SigningError> {
    signing_key(&read(path)?, Origin::File(path.to_owned()))
}

/// The public key of a PEM certificate (or a PEM `PUBLIC KEY`).
pub fn verifying_key_from_pem(pem: &str) -> Result<VerifyingKey, SigningError> {
    verifying_key(pem, Origin::Text)
}

/// As [`verifying_key_from_pem`], from a file; errors name the file.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, SigningError> {
    verifying_key(&read(path)?, Origin::File(path.to_owned()))
}

fn signing_key(pem: &str, origin: Origin) -> Result<SigningKey, SigningError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| SigningError::BadKey {
        origin,
        reason: e.to_string(),
    })
}

fn verifying_key(pem: &str, origin: Origin) -> Result<VerifyingKey, SigningError> {
    let bad = |reason: String| SigningError::BadCert {
        origin: origin.clone(),
        reason,
    };
    let spki = if let Ok(cert) = CertificateDer::from_pem_slice(pem.as_bytes()) {
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert)
            .map_err(|e| bad(format!("the certificate does not parse: {e}")))?;
        parsed.public_key().raw.to_vec()
    } else {
        SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| bad(format!("no CERTIFICATE or PUBLIC KEY block: {e}")))?
            .to_vec()
    };
    VerifyingKey::from_public_key_der(&spki).map_err(|e| bad(format!("the key is not P-256: {e}")))
}

fn read(path: &Path) -> Result<String, SigningError> {
    std::fs::read_to_string(path).map_err(|source| SigningError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::pki;

    fn signers() -> (pki::Issued, pki::Issued) {
        let ca = pki::issue_ca().unwrap();
        (
            pki::issue_code_signer(&ca).unwrap(),
            pki::issue_untrusted_code_signer().unwrap(),
        )
    }

    #[test]
    fn a_signature_verifies_with_the_signers_certificate_and_not_with_another() {
        let (trusted, untrusted) = signers();
        let key = signing_key_from_pem(&trusted.key_pem).unwrap();
        for len in [0usize, 1, 63, 64, 4096, 10_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let sig = sign_der(&key, &data);
            assert_eq!(sig[0], 0x30, "DER SEQUENCE");
            assert!(
                verify_with_cert_pem(&trusted.cert_pem, &data, &sig).unwrap(),
                "len {len}"
            );
            assert!(
                !verify_with_cert_pem(&untrusted.cert_pem, &data, &sig).unwrap(),
                "len {len}"
            );
        }
    }

    #[test]
    fn changing_one_byte_of_the_data_breaks_the_signature() {
        let (trusted, _) = signers();
        let key = signing_key_from_pem(&trusted.key_pem).unwrap();
        let vk = verifying_key_from_pem(&trusted.cert_pem).unwrap();
        let mut data = b"firmware image bytes".to_vec();
        let sig = sign_base64(&key, &data);
        assert!(verify_base64(&vk, &data, &sig).unwrap());
        data[3] ^= 0x01;
        assert!(!verify_base64(&vk, &data, &sig).unwrap());
    }

    #[test]
    fn signatures_are_deterministic_and_base64_of_der() {
        let (trusted, _) = signers();
        let key = signing_key_from_pem(&trusted.key_pem).unwrap();
        let a = sign_base64(&key, b"x");
        assert_eq!(a, sign_base64(&key, b"x"));
        assert!(a.starts_with("ME"), "base64 of 0x30 0x4x: {a}");
        assert_eq!(decode_signature(&a).unwrap(), sign_der(&key, b"x"));
    }

    #[test]
    fn the_signing_key_matches_the_public_key_in_its_certificate() {
        let (trusted, _) = signers();
        let key = signing_key_from_pem(&trusted.key_pem).unwrap();
        let vk = verifying_key_from_pem(&trusted.cert_pem).unwrap();
        assert_eq!(key.verifying_key(), &vk);
    }

    #[test]
    fn garbage_is_neither_a_signature_nor_a_key() {
        let (trusted, _) = signers();
        let vk = verifying_key_from_pem(&trusted.cert_pem).unwrap();
        assert!(!verify_der(&vk, b"x", b"not der"));
        assert!(matches!(
            decode_signature("***"),
            Err(SigningError::BadBase64(_))
        ));
        assert!(matches!(
            signing_key_from_pem("nope"),
            Err(SigningError::BadKey { .. })
        ));
        assert!(matches!(
            signing_key_from_pem(&trusted.cert_pem),
            Err(SigningError::BadKey { .. })
        ));
        assert!(matches!(
            verifying_key_from_pem(&trusted.key_pem),
            Err(SigningError::BadCert { .. })
        ));
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.key");
        let err = load_signing_key(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.key"), "{err}");
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "not a key").unwrap();
        let err = load_signing_key(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.key") && err.contains("PKCS#8"), "{err}");
        let err = load_verifying_key(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.key"), "{err}");
    }
}
