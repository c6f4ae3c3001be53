//! Board parts that drive command-line tools: a flasher for vendor programmers (MPLAB
//! IPE's ipecmd, pic32prog, SEGGER J-Link, OpenOCD) and power through relays or USB hubs
//! (usbrelay, uhubctl, any command).
//!
//! Every tool runs in its own process group with a timeout; a hung tool is killed with
//! its whole group. Each output line and the outcome become timeline events, so a failed
//! nightly flash can be read from the report without re-running it.

mod flasher;
mod power;
mod presets;
mod tool;

pub use flasher::{render_args, CommandFlasher, CommandFlasherOptions};
pub use power::{CommandPower, CommandPowerOptions};
pub use presets::FlashPreset;
pub use tool::{split_command, ToolCommand};
