//! rustls configurations from the PKI files, for the gateway (server side) and
//! for test clients. The rustls types are rumqttc's, so versions match.

use std::path::Path;
use std::sync::Arc;

use rumqttc::tokio_rustls::rustls::{
    self,
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
    ClientConfig, RootCertStore, ServerConfig,
};

use super::{validate_thing_name, PkiError, PkiLayout};

/// Whether the gateway demands a client certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// As AWS IoT: no certificate from the bench CA, no connection.
    Required,
    /// A certificate, if presented, must verify; anonymous TLS clients are allowed.
    Optional,
}

/// The gateway's TLS: presents endpoint.pem, verifies client certificates against ca.pem.
pub fn server_config(layout: &PkiLayout, auth: ClientAuth) -> Result<Arc<ServerConfig>, PkiError> {
    let tls_err = |source: Box<dyn std::error::Error + Send + Sync>| PkiError::Tls {
        what: "gateway",
        dir: layout.dir().to_owned(),
        source,
    };
    let provider = provider();
    let roots = Arc::new(roots(layout)?);
    let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
    if auth == ClientAuth::Optional {
        verifier = verifier.allow_unauthenticated();
    }
    let verifier = verifier.build().map_err(|e| tls_err(e.into()))?;
    let cert = read_cert(&layout.endpoint_cert())?;
    let key = read_key(&layout.endpoint_key())?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.into()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .map_err(|e| tls_err(e.into()))?;
    Ok(Arc::new(config))
}

/// A client that trusts ca.pem and presents `thing`'s certificate, as a board does.
pub fn client_config(layout: &PkiLayout, thing: &str) -> Result<Arc<ClientConfig>, PkiError> {
    validate_thing_name(thing)?;
    let cert_path = layout.thing_cert(thing);
    if !cert_path.exists() {
        return Err(PkiError::UnknownThing {
            thing: thing.to_owned(),
            dir: layout.dir().to_owned(),
        });
    }
    let cert = read_cert(&cert_path)?;
    let key = read_key(&layout.thing_key(thing))?;
    let roots = roots(layout)?;
    let tls_err = |source: rustls::Error| PkiError::Tls {
        what: "client",
        dir: layout.dir().to_owned(),
        source: Box::new(source),
    };
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert], key)
        .map_err(tls_err)?;
    Ok(Arc::new(config))
}

/// A client that trusts ca.pem and presents no certificate.
pub fn anonymous_client_config(layout: &PkiLayout) -> Result<Arc<ClientConfig>, PkiError> {
    let roots = roots(layout)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls {
            what: "anonymous client",
            dir: layout.dir().to_owned(),
            source: Box::new(e),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// *ring*, the only provider the build has (no C crypto library to compile).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(layout: &PkiLayout) -> Result<RootCertStore, PkiError> {
    let path = layout.ca_cert();
    let mut roots = RootCertStore::empty();
    roots
        .add(read_cert(&path)?)
        .map_err(|e| PkiError::BadFile {
            path,
            reason: format!("not usable as a trust anchor ({e})"),
        })?;
    Ok(roots)
}

fn read_cert(path: &Path) -> Result<CertificateDer<'static>, PkiError> {
    let bytes = read(path)?;
    CertificateDer::from_pem_slice(&bytes).map_err(|e| PkiError::BadFile {
        path: path.to_owned(),
        reason: format!("not a PEM certificate ({e})"),
    })
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| PkiError::BadFile {
        path: path.to_owned(),
        reason: format!("not a PEM private key ({e})"),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|source| PkiError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })
}
