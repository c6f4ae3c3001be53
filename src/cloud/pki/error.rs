//! The one error type of the bench PKI. Every message names the file, thing or
//! host concerned and says what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "PKI directory {} {reason}: the bench's private keys and admin socket need a directory only this user can open; pass one of your own (e.g. --dir {}/otarig-pki)",
        path.display(), path.display()
    )]
    NotPrivate { path: PathBuf, reason: String },
    #[error("thing name `{name}` is not valid: AWS IoT allows 1 to 128 of [a-zA-Z0-9:_-]")]
    InvalidThingName { name: String },
    #[error("host `{host}` is neither an IP address nor a DNS name (labels of letters, digits and '-', separated by dots)")]
    InvalidHost { host: String },
    #[error("cannot issue the {what} certificate: {source}")]
    Issue {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("{}: {reason}; remove it (and its key) to have it issued again", path.display())]
    BadFile { path: PathBuf, reason: String },
    #[error(
        "{} exists but {} does not; restore {}, or remove {} to have a new pair issued",
        present.display(), missing.display(), missing.display(), present.display()
    )]
    HalfPair { present: PathBuf, missing: PathBuf },
    #[error(
        "{} does not hold the private key of {}; remove both to have a new pair issued",
        key.display(), cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error(
        "{} was not issued by {}; remove it and its key to have it issued by this CA",
        cert.display(), ca.display()
    )]
    NotIssuedByCa { cert: PathBuf, ca: PathBuf },
    #[error(
        "{} does not cover host `{host}` (it covers {}); remove {} and {} to have it issued again, or pass --reissue-endpoint",
        cert.display(), covered.join(", "), cert.display(), key.display()
    )]
    EndpointMissingHost {
        cert: PathBuf,
        key: PathBuf,
        host: String,
        covered: Vec<String>,
    },
    #[error(
        "no certificate for thing `{thing}` in {}; run `otarig pki init --dir {} --things {thing}`",
        dir.display(), dir.display()
    )]
    UnknownThing { thing: String, dir: PathBuf },
    #[error("cannot build the {what} TLS configuration from {}: {source}", dir.display())]
    Tls {
        what: &'static str,
        dir: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
