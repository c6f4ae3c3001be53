//! The simulated PIC32MZ board: flash banks in a file, the reference bootloader,
//! the platform layer, the OTA agent (1.0.x or v3) speaking MQTT over TLS to the
//! gateway, and the firmware personality read from the booted image.
//!
//! A board folder holds `nvs.json` (identity, written by [`provision`]) and `flash.bin`
//! (both banks, written by [`write_factory_flash`], the native flasher's job); `otarig sim
//! --dir FOLDER` runs the board.

pub mod agent;
pub mod bootloader;
pub mod codesign;
pub mod console;
pub mod fixture;
pub mod flash;
pub mod image;
pub mod mqtt;
pub mod nvs;
pub mod pal;
pub mod platform;
pub mod runtime;
pub mod uart;
pub mod wiring;

use std::path::Path;

pub use fixture::BuiltFixture;
pub use nvs::{Endpoint, Nvs, NvsError};

/// The flash file in a board folder (the same name as `board::native::SIM_FLASH_FILE`).
pub const FLASH_FILE: &str = "flash.bin";

/// Writes the board's identity (`nvs.json`), creating the folder.
pub fn provision(board_dir: &Path, nvs: &Nvs) -> Result<(), NvsError> {
    nvs.store(board_dir)
}

/// What the native flasher does: the whole flash file, factory image in the lower bank.
pub fn write_factory_flash(board_dir: &Path, built: &BuiltFixture) -> std::io::Result<()> {
    std::fs::create_dir_all(board_dir)?;
    let path = board_dir.join(FLASH_FILE);
    let tmp = board_dir.join(format!(".{FLASH_FILE}.tmp"));
    std::fs::write(&tmp, &built.factory)?;
    std::fs::rename(&tmp, &path)
}
