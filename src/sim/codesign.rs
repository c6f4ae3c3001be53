//! Code-signing keys as the board holds them: ECDSA P-256 over SHA-256, DER signatures
//! (docs/protocol.md §7). Only the public key of a certificate matters; no chain or expiry
//! checks, as on the device.

use std::path::Path;

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a P-256 certificate or public key in PEM ({why}); use the bench PKI's code-signing certificate")]
    Public { path: String, why: String },
    #[error("{path}: not a P-256 private key in PKCS#8 PEM ({why})")]
    Private { path: String, why: String },
}

/// Reads a P-256 public key from a PEM certificate or a PEM `PUBLIC KEY`.
pub fn load_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    public_from_pem(&pem).map_err(|why| KeyError::Public {
        path: path.display().to_string(),
        why,
    })
}

pub fn public_from_pem(pem: &str) -> Result<VerifyingKey, String> {
    if pem.contains("BEGIN PUBLIC KEY") {
        return VerifyingKey::from_public_key_pem(pem).map_err(|e| e.to_string());
    }
    let (_, doc) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let cert = doc.parse_x509().map_err(|e| e.to_string())?;
    VerifyingKey::from_public_key_der(cert.public_key().raw).map_err(|e| e.to_string())
}

/// Reads a P-256 private key (PKCS#8 PEM, `BEGIN PRIVATE KEY`).
pub fn load_private(path: &Path) -> Result<SigningKey, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| KeyError::Private {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

/// Signs `data`; returns the DER `Ecdsa-Sig-Value`. Deterministic (RFC 6979).
pub fn sign(key: &SigningKey, data: &[u8]) -> Vec<u8> {
    let sig: Signature = key.sign(data);
    sig.to_der().as_bytes().to_vec()
}

/// Verifies a DER signature over `data`.
pub fn verify(key: &VerifyingKey, data: &[u8], der: &[u8]) -> bool {
    match DerSignature::try_from(der) {
        Ok(sig) => key.verify(data, &sig).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_matching_key_and_data() {
        let k = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
        let sig = sign(&k, b"image");
        assert_eq!(sig[0], 0x30, "DER sequence");
        assert!(verify(k.verifying_key(), b"image", &sig));
        assert!(!verify(k.verifying_key(), b"imagf", &sig));
        assert!(!verify(other.verifying_key(), b"image", &sig));
        assert!(!verify(k.verifying_key(), b"image", &sig[1..]));
    }

    #[test]
    fn public_keys_load_from_a_certificate() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["codesign".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let signing = SigningKey::from_pkcs8_pem(&key.serialize_pem()).unwrap();
        let vk = public_from_pem(&cert.pem()).unwrap();
        assert_eq!(&vk, signing.verifying_key());
        let vk2 = public_from_pem(&key.public_key_pem()).unwrap();
        assert_eq!(vk, vk2);
    }
}
