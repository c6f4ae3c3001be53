//! The `afr_ota` job document (docs/protocol.md §2) for one image, signed as the
//! agents check it (§7), with the deliberate faults the scenario catalog
//! needs, and the stream-name budget of §9 (a data message that does not fit
//! the device's receive buffer is dropped silently and the download never ends).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::pki::PkiLayout;
use super::signing::{self, SigningError, SigningKey};
use super::streams::is_valid_stream_id;
pub use crate::config::scenario::JobDocument;

/// The signature key both the PIC32MZ and the POSIX PAL look for.
pub const SIGNATURE_KEY: &str = "sig-sha256-ecdsa";
/// The key of the `incorrect-signing-algorithm` scenario.
pub const SHA1_RSA_KEY: &str = "sig-sha1-rsa";
/// `files[0].filepath` when a job names none: where a POSIX PAL writes the image.
pub const DEFAULT_FILE_PATH: &str = "otarig-image.bin";
/// `files[0].certfile` when a job names none: `codesign.pem` of the bench PKI.
pub const DEFAULT_CERT_FILE: &str = "codesign.pem";
/// The v3 POSIX demo's MQTT receive buffer (docs/protocol.md §9).
pub const V3_DEMO_RECEIVE_LIMIT: usize = 4224;
/// The v3 agents' default block size (`otaconfigLOG2_FILE_BLOCK_SIZE` 12).
pub const V3_BLOCK_SIZE: usize = 4096;
/// v3 agents refuse files of more blocks (`otaconfigMAX_BLOCK_BITMAP_SIZE` 128 × 8).
pub const V3_MAX_BLOCKS: usize = 1024;

pub use crate::model::ImageFault;

/// Checks that the block messages of a stream fit the devices' receive buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiveCheck {
    /// The things the job targets (each name is part of the data topic).
    pub things: Vec<String>,
    /// The block size the devices ask for.
    pub block_size: usize,
    /// The devices' MQTT receive buffer, whole packet included.
    pub device_receive_limit: usize,
}

/// How to build one job document.
#[derive(Clone, Debug)]
pub struct JobDocOptions {
    /// The stream the image is served on (see [`short_stream_name`]).
    pub stream_name: String,
    /// `files[0].filepath`: a label on PIC32MZ, where the POSIX PAL writes the image.
    pub file_path: String,
    /// `files[0].certfile`: the code-signer certificate's label or path on the device.
    pub cert_file: String,
    /// `files[0].fileid`, also the stream file id.
    pub file_id: u8,
    /// The document's signature field (the algorithm the device is told it was signed with).
    pub signature_field: String,
    /// The trusted code-signing key.
    pub signing_key: SigningKey,
    /// Needed only for [`ImageFault::UntrustedKey`].
    pub untrusted_key: Option<SigningKey>,
    pub receive_check: Option<ReceiveCheck>,
}

impl JobDocOptions {
    pub fn new(stream_name: impl Into<String>, signing_key: SigningKey) -> Self {
        Self {
            stream_name: stream_name.into(),
            file_path: DEFAULT_FILE_PATH.into(),
            cert_file: DEFAULT_CERT_FILE.into(),
            file_id: 0,
            signature_field: SIGNATURE_KEY.into(),
            signing_key,
            untrusted_key: None,
            receive_check: None,
        }
    }

    /// The options of job `job_id` for `targets`: the document settings where given,
    /// else the defaults (an AWS-like stream id, the PKI's code-signing key); warns when
    /// a v3 agent's receive buffer cannot take a block message for one of the targets.
    pub fn for_job(
        layout: &PkiLayout,
        job_id: &str,
        targets: &[String],
        settings: &JobDocument,
    ) -> Result<Self, JobDocError> {
        let stream = settings
            .stream
            .clone()
            .unwrap_or_else(|| aws_stream_name(job_id));
        let mut opts = Self::from_pki(layout, stream)?;
        if let Some(key) = &settings.key {
            opts.signing_key = signing::load_signing_key(key)?;
        }
        if let Some(path) = &settings.filepath {
            opts.file_path = path.clone();
        }
        if let Some(cert) = &settings.certfile {
            // A POSIX PAL reads the certificate from this path: `{codesign_cert}` names
            // the bench's own, wherever the PKI is.
            let abs = std::path::absolute(layout.codesign_cert()).unwrap_or(layout.codesign_cert());
            opts.cert_file = cert.replace("{codesign_cert}", &abs.display().to_string());
        }
        if let Some(field) = &settings.signature {
            opts.signature_field = field.clone();
        }
        opts.receive_check = Some(ReceiveCheck {
            things: targets.to_vec(),
            block_size: V3_BLOCK_SIZE,
            device_receive_limit: V3_DEMO_RECEIVE_LIMIT,
        });
        Ok(opts)
    }

    /// Options with both code-signing keys of a bench PKI (codesign.key,
    /// untrusted-codesign.key).
    pub fn from_pki(
        layout: &PkiLayout,
        stream_name: impl Into<String>,
    ) -> Result<Self, JobDocError> {
        let mut opts = Self::new(
            stream_name,
            signing::load_signing_key(&layout.codesign_key())?,
        );
        opts.untrusted_key = Some(signing::load_signing_key(&layout.untrusted_codesign_key())?);
        Ok(opts)
    }
}

/// A built job document and what goes with it.
#[derive(Clone, Debug, PartialEq)]
pub struct BuiltJobDoc {
    /// The job document (`{"afr_ota": {...}}`), a JSON object.
    pub document: Value,
    /// The bytes to stream (after faults): the OTA file as the device receives it.
    pub payload: Vec<u8>,
    pub stream_id: String,
    pub file_id: u8,
    /// The base64 signature as it stands in the document, if any.
    pub signature: Option<String>,
    /// The faults applied, sorted, without duplicates.
    pub faults: Vec<ImageFault>,
    /// Things worth telling the user; none of them stops the job.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobDocError {
    #[error("stream name `{0}` is not a valid AWS stream id: 1 to 128 of [a-zA-Z0-9_-]")]
    InvalidStreamName(String),
    #[error("the file path is empty; give one, or use the missing_filepath fault to leave it out")]
    EmptyFilePath,
    #[error("the untrusted_key fault needs the untrusted code-signing key (untrusted-codesign.key of `otarig pki init`)")]
    MissingUntrustedKey,
    #[error("the altered_after_signing fault needs an image of at least one byte")]
    NothingToAlter,
    #[error(transparent)]
    Key(#[from] SigningError),
}

/// Builds the `afr_ota` document for `image` (the OTA file exactly as it will
/// be streamed) with `faults` applied.
pub fn build(
    image: &[u8],
    opts: &JobDocOptions,
    faults: &[ImageFault],
) -> Result<BuiltJobDoc, JobDocError> {
    let mut faults = faults.to_vec();
    faults.sort();
    faults.dedup();
    let has = |f: ImageFault| faults.contains(&f);

    if !is_valid_stream_id(&opts.stream_name) {
        return Err(JobDocError::InvalidStreamName(opts.stream_name.clone()));
    }
    if opts.file_path.is_empty() && !has(ImageFault::MissingFilepath) {
        return Err(JobDocError::EmptyFilePath);
    }
    let mut warnings = Vec::new();

    let signature = if has(ImageFault::Unsigned) {
        for f in [
            ImageFault::UntrustedKey,
            ImageFault::CorruptSignature,
            ImageFault::Sha1RsaKey,
        ] {
            if has(f) {
                warnings.push(format!(
                    "fault {} has no effect on an unsigned document",
                    f.name()
                ));
            }
        }
        None
    } else {
        let key = if has(ImageFault::UntrustedKey) {
            opts.untrusted_key
                .as_ref()
                .ok_or(JobDocError::MissingUntrustedKey)?
        } else {
            &opts.signing_key
        };
        let mut der = signing::sign_der(key, image);
        if has(ImageFault::CorruptSignature) {
            corrupt_der_signature(&mut der);
        }
        Some(base64_encode(&der))
    };

    let mut payload = image.to_vec();
    if has(ImageFault::AlteredAfterSigning) {
        let middle = payload.len() / 2;
        *payload.get_mut(middle).ok_or(JobDocError::NothingToAlter)? ^= 0xFF;
    }

    let streamed = payload.len() as u64;
    let filesize = if has(ImageFault::WrongFilesize) {
        if streamed > 1 {
            streamed - 1
        } else {
            streamed + 1
        }
    } else {
        streamed
    };
    if filesize == 0 {
        warnings.push("the image is empty: agents reject a job with a zero file size".into());
    }

    let mut file = Map::new();
    if !has(ImageFault::MissingFilepath) {
        file.insert("filepath".into(), json!(opts.file_path));
    }
    file.insert("filesize".into(), json!(filesize));
    file.insert("fileid".into(), json!(opts.file_id));
    file.insert("certfile".into(), json!(opts.cert_file));
    if let Some(sig) = &signature {
        let key = if has(ImageFault::Sha1RsaKey) {
            SHA1_RSA_KEY
        } else {
            &opts.signature_field
        };
        file.insert(key.into(), json!(sig));
    }
    let document = json!({
        "afr_ota": {
            "protocols": ["MQTT"],
            "streamname": opts.stream_name,
            "files": [Value::Object(file)],
        }
    });

    if let Some(check) = &opts.receive_check {
        warnings.extend(receive_warnings(check, &opts.stream_name, payload.len()));
    }

    Ok(BuiltJobDoc {
        document,
        payload,
        stream_id: opts.stream_name.clone(),
        file_id: opts.file_id,
        signature,
        faults,
        warnings,
    })
}

fn receive_warnings(check: &ReceiveCheck, stream: &str, size: usize) -> Vec<String> {
    let mut warnings: Vec<String> = check
        .things
        .iter()
        .filter_map(|thing| {
            check_stream_budget(thing, stream, check.block_size, check.device_receive_limit)
                .err()
                .map(|e| e.to_string())
        })
        .collect();
    let blocks = size.div_ceil(check.block_size.max(1));
    if blocks > V3_MAX_BLOCKS {
        warnings.push(format!(
            "the image is {blocks} blocks of {} bytes; v3 agents refuse files of more than {V3_MAX_BLOCKS} blocks",
            check.block_size
        ));
    }
    warnings
}

/// Flips the low bit of the last byte of `r` in a DER `SEQUENCE { r, s }`:
/// the encoding stays valid DER (only leading bytes matter for minimality).
fn corrupt_der_signature(der: &mut [u8]) {
    // 30 len 02 rlen r... (P-256 signatures are < 128 bytes: short lengths).
    let r_len = usize::from(der[3]);
    der[3 + r_len] ^= 0x01;
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The stream id AWS's OTA service would give the job: `AFR_OTA-` and a UUID (44
/// characters), derived from the job id so it is the same in every run. Stream names as
/// long as the field's keep the bench's block messages the size of the field's.
pub fn aws_stream_name(job_id: &str) -> String {
    let d = Sha256::digest(job_id.as_bytes());
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "AFR_OTA-{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A short, deterministic stream name for a job: up to 8 characters of the
/// job id (stream-id characters only), a dash, and 6 hex digits of its
/// SHA-256, so distinct jobs get distinct streams. At most 15 characters.
pub fn short_stream_name(job_id: &str) -> String {
    let prefix: String = job_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(8)
        .collect();
    let digest = Sha256::digest(job_id.as_bytes());
    let hash: String = digest[..3].iter().map(|b| format!("{b:02x}")).collect();
    if prefix.is_empty() {
        format!("s-{hash}")
    } else {
        format!("{prefix}-{hash}")
    }
}

/// The size in bytes of the MQTT PUBLISH (QoS 0, as agents subscribe) that
/// carries one full `block_size` block to `thing` on `stream`: fixed header,
/// topic and the CBOR map `c,f,l,i,p`. An upper bound for the bench's stream
/// service: it assumes the agents' client token `"rdy"`, a file id above 23
/// and a block index above 255 (both cost an extra CBOR byte).
pub fn block_message_size(thing: &str, stream: &str, block_size: usize) -> usize {
    let topic =
        "$aws/things/".len() + thing.len() + "/streams/".len() + stream.len() + "/data/cbor".len();
    let key = 2; // a one-letter text string
    let cbor = 1 // map of 5
        + key + 1 + "rdy".len()
        + key + cbor_head_len(255)
        + key + cbor_head_len(block_size as u64)
        + key + cbor_head_len(u16::MAX as u64)
        + key + cbor_head_len(block_size as u64) + block_size;
    let remaining = 2 + topic + cbor;
    1 + varint_len(remaining) + remaining
}

/// The longest thing name + stream name whose block messages fit `limit`.
/// `None` when even empty names would not fit.
pub fn stream_name_budget(block_size: usize, limit: usize) -> Option<usize> {
    let base = block_message_size("", "", block_size);
    let mut budget = limit.checked_sub(base)?;
    // The remaining-length varint may grow by a byte as names get longer.
    while budget > 0 && block_message_size(&"x".repeat(budget), "", block_size) > limit {
        budget -= 1;
    }
    Some(budget)
}

/// A data message that would not fit a device's receive buffer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a {block_size}-byte block for thing `{thing}` on stream `{stream}` is a {size}-byte MQTT message, over the device's {limit}-byte receive buffer, which drops it silently (the download would never finish); {advice}"
)]
pub struct BudgetExceeded {
    pub thing: String,
    pub stream: String,
    pub block_size: usize,
    pub size: usize,
    pub limit: usize,
    advice: String,
}

/// Checks one thing's block messages on `stream` against the device's receive limit.
pub fn check_stream_budget(
    thing: &str,
    stream: &str,
    block_size: usize,
    limit: usize,
) -> Result<(), BudgetExceeded> {
    let size = block_message_size(thing, stream, block_size);
    if size <= limit {
        return Ok(());
    }
    let advice = match stream_name_budget(block_size, limit) {
        Some(budget) => format!(
            "keep thing + stream name within {budget} characters (now {}), e.g. with a shorter stream name",
            thing.len() + stream.len()
        ),
        None => "use a smaller block size or a larger receive buffer".into(),
    };
    Err(BudgetExceeded {
        thing: thing.to_owned(),
        stream: stream.to_owned(),
        block_size,
        size,
        limit,
        advice,
    })
}

fn cbor_head_len(value: u64) -> usize {
    match value {
        0..=23 => 1,
        24..=0xFF => 2,
        0x100..=0xFFFF => 3,
        0x1_0000..=0xFFFF_FFFF => 5,
        _ => 9,
    }
}

fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests;
