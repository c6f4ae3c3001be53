//! Faults built into a job on purpose (the catalog's bad-image scenarios).

use serde::{Deserialize, Serialize};

/// What a job gets wrong on purpose in its image, signature or document.
/// Several may combine; scenario files name them in snake_case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFault {
    /// No signature field at all (`unsigned-image`).
    Unsigned,
    /// Signed with the untrusted code-signing key (`untrusted-certificate`).
    UntrustedKey,
    /// The DER signature with bits of `r` flipped: still valid base64 and DER,
    /// but it does not verify (`corrupt-signature`).
    CorruptSignature,
    /// The (valid ECDSA) signature under `sig-sha1-rsa` instead of
    /// `sig-sha256-ecdsa` (`incorrect-signing-algorithm`).
    Sha1RsaKey,
    /// No `filepath` in the file entry (`missing-filename`).
    MissingFilepath,
    /// `filesize` is one byte short of the streamed size (one byte over for a
    /// one-byte image), so the last block's length never matches and agents
    /// fail at once instead of waiting for a block that does not exist (`wrong-file-size`).
    WrongFilesize,
    /// One byte of the streamed payload differs from the signed image
    /// (`corrupt-image-after-signing`).
    AlteredAfterSigning,
}

impl ImageFault {
    pub const ALL: [ImageFault; 7] = [
        ImageFault::Unsigned,
        ImageFault::UntrustedKey,
        ImageFault::CorruptSignature,
        ImageFault::Sha1RsaKey,
        ImageFault::MissingFilepath,
        ImageFault::WrongFilesize,
        ImageFault::AlteredAfterSigning,
    ];

    /// The name scenario files use.
    pub fn name(self) -> &'static str {
        match self {
            ImageFault::Unsigned => "unsigned",
            ImageFault::UntrustedKey => "untrusted_key",
            ImageFault::CorruptSignature => "corrupt_signature",
            ImageFault::Sha1RsaKey => "sha1_rsa_key",
            ImageFault::MissingFilepath => "missing_filepath",
            ImageFault::WrongFilesize => "wrong_filesize",
            ImageFault::AlteredAfterSigning => "altered_after_signing",
        }
    }
}
