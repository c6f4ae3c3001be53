//! What the runner can do to a board, composed from parts chosen in the rig file:
//! flash, console, power, provision. The runner drives a board only through these
//! traits; which parts a board has is decided once, when `scenario::bench` builds it.

pub mod command;
pub mod discovery;
mod error;
pub mod fake;
pub mod identity;
pub mod native;
pub mod network_serial;
pub mod probe;
pub mod probe_power;
pub mod pty;
pub mod serial;

pub use error::BoardError;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::timeline::{EventKind, EventSink, Source};

/// Where console parts deliver complete lines (without line endings).
pub type LineTx = mpsc::UnboundedSender<String>;

/// Reports what a part did (tool output, retries) onto the current timeline.
#[derive(Clone)]
pub struct PartEvents {
    pub board: String,
    pub sink: Arc<dyn EventSink>,
}

impl PartEvents {
    pub fn emit(&self, kind: EventKind) {
        self.sink.emit(Source::board(&self.board), kind);
    }
}

/// A firmware image as handed to a flasher.
#[derive(Clone, Debug)]
pub struct FlashImage {
    /// The fixture it came from.
    pub fixture: String,
    pub path: PathBuf,
    pub format: ImageFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Elf,
    Hex,
    Bin {
        base: u64,
    },
    /// A simulated board's whole flash file.
    SimFlash,
}

#[async_trait]
pub trait Flasher: Send + Sync {
    /// Programs `image` and leaves the board running it (or powered as it was).
    async fn flash(&self, image: &FlashImage, events: &PartEvents) -> Result<(), BoardError>;
    /// Resets the target through the flashing tool/probe, if it can.
    async fn reset(&self, _events: &PartEvents) -> Result<(), BoardError> {
        Err(BoardError::Unsupported("reset through the flasher".into()))
    }
}

#[async_trait]
pub trait Console: Send + Sync {
    /// Starts delivering lines to `tx`, until `detach`. A port that vanishes
    /// (board lost power) is re-opened when it comes back, without losing the run.
    async fn attach(&self, tx: LineTx) -> Result<(), BoardError>;
    async fn detach(&self);
    /// Where the part reports what happens to the port (vanished, re-opened).
    fn set_events(&self, _events: PartEvents) {}
}

/// How a board learns who it is and where its cloud is, before a scenario powers it: a
/// simulated board from its NVS, a native program from placeholders and `OTARIG_*`
/// variables, a chip not at all (its firmware has it built in: [`BakedIn`]).
#[async_trait]
pub trait Provision: Send + Sync {
    async fn provision(&self, identity: &identity::Identity) -> Result<(), BoardError>;
    /// Before a scenario: a board whose state should not carry over starts fresh.
    async fn start_fresh(&self) -> Result<(), BoardError> {
        Ok(())
    }
    /// A job tells the board's agent to write its image at `filepath`.
    fn receives_image_at(&self, _filepath: &str) {}
}

/// A chip: its identity is built into its firmware; nothing to tell it.
pub struct BakedIn;

#[async_trait]
impl Provision for BakedIn {
    async fn provision(&self, _identity: &identity::Identity) -> Result<(), BoardError> {
        Ok(())
    }
}

#[async_trait]
pub trait Power: Send + Sync {
    async fn on(&self, events: &PartEvents) -> Result<(), BoardError>;
    async fn off(&self, events: &PartEvents) -> Result<(), BoardError>;
    /// A software/debugger reset (not a power cycle).
    async fn reset(&self, events: &PartEvents) -> Result<(), BoardError>;
    /// Whether `off`/`on` really remove power (a relay, a USB hub port, a process kill).
    fn can_power_cycle(&self) -> bool;
    async fn cycle(&self, off_for: Duration, events: &PartEvents) -> Result<(), BoardError> {
        self.off(events).await?;
        tokio::time::sleep(off_for).await;
        self.on(events).await
    }
}
