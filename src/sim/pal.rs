//! The platform abstraction layer the agents call (docs/protocol.md §6.3 PAL).
//! Contract between `sim::agent` (caller) and the sim platform (implementer).

use std::fmt;

/// PAL platform image state (`OTA_PAL_ImageState_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PalImageState {
    Unknown,
    PendingCommit,
    Valid,
    Invalid,
}

/// Agent image state (`OTA_ImageState_t`) as passed to `set_image_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageState {
    Testing,
    Accepted,
    Rejected,
    Aborted,
}

/// What the agent knows about the file it is receiving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileContext {
    pub filepath: String,
    pub filesize: u32,
    pub fileid: u32,
    pub certfile: String,
    /// Decoded (DER) signature, if the job document had one under the PAL's key.
    pub signature: Option<Vec<u8>>,
}

/// A PAL failure: main code (v1: agent code in bits 31..24) and PAL sub-code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PalError {
    pub code: u32,
    pub sub: u32,
}

impl fmt::Display for PalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}: 0x{:08x}", self.code, self.sub)
    }
}

/// The platform layer. Every call prints its own PAL log lines on the console.
pub trait Pal {
    fn platform_image_state(&mut self) -> PalImageState;
    /// Erases the other bank and prepares to receive `file`.
    fn create_file(&mut self, file: &FileContext) -> Result<(), PalError>;
    fn write_block(&mut self, offset: u32, data: &[u8]) -> Result<(), PalError>;
    /// Writes header and trailer, verifies the signature with the certificate `certfile` names.
    fn close_file(&mut self, file: &FileContext) -> Result<(), PalError>;
    fn abort(&mut self, file: &FileContext) -> Result<(), PalError>;
    fn set_image_state(&mut self, state: ImageState) -> Result<(), PalError>;
    /// Prints a console line (agents log through the PAL so lines interleave truthfully).
    fn log(&mut self, line: &str);
}
