//! The resolved rig: the bench the runner drives. Defaults are merged into each
//! board, regexes compiled, durations parsed, presets expanded into commands.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

pub use super::rig_raw::{FlashPreset, Parity, Policy, PowerPreset, ProbeRsFormat};
pub use super::scenario_raw::Capability;
pub use crate::model::UsbId;

/// The platform of a board that runs the simulator (natively or behind hardware parts):
/// fixtures' simulator images are its platform files.
pub const SIM_PLATFORM: &str = "sim";

#[derive(Clone, Debug)]
pub struct Rig {
    pub name: String,
    pub file: PathBuf,
    /// The rig file's directory's parent (the repository root); relative paths start here.
    pub root: PathBuf,
    pub cloud: Cloud,
    /// Fixture flashed before a scenario that names none, and onto bricked boards.
    pub baseline: Option<String>,
    /// In file order; binding follows it. Boards of `labgrid` requests come last, as
    /// templates until a run has locked their places.
    pub boards: Vec<Board>,
    /// Boards taken from a labgrid coordinator (docs/labgrid.md).
    pub labgrid: Option<super::labgrid::Labgrid>,
}

impl Rig {
    /// Where otarig keeps this rig's state (simulated boards, built fixtures, and the PKI
    /// unless the rig names its own): `dir`, else `.otarig/` at the repository root.
    /// Every command that takes `--state-dir` resolves it here, so they read one PKI.
    pub fn use_state_dir(&mut self, dir: Option<&std::path::Path>) -> PathBuf {
        match dir {
            Some(dir) => {
                if !self.cloud.pki_explicit {
                    self.cloud.pki = dir.join("pki");
                }
                dir.to_path_buf()
            }
            None => self.root.join(".otarig"),
        }
    }

    pub fn board(&self, name: &str) -> Option<&Board> {
        self.boards.iter().find(|b| b.name == name)
    }

    /// The labgrid request `board` comes from, if it is a labgrid board.
    pub fn labgrid_request(&self, board: &str) -> Option<&super::labgrid::BoardRequest> {
        self.labgrid.as_ref().and_then(|l| l.request_of(board))
    }
}

#[derive(Clone, Debug)]
pub struct Cloud {
    pub endpoint: Endpoint,
    /// The PKI directory (absolute, or relative to the working directory if the rig path was).
    pub pki: PathBuf,
    /// The rig file names `pki:` itself (`--state-dir` then leaves it where it is).
    pub pki_explicit: bool,
    /// A run may create a missing PKI: `create_pki:` in the rig, by default when every
    /// board is told its identity at start (simulated and native boards). A physical
    /// bench's PKI is made once, by `otarig pki init`.
    pub create_pki: bool,
    /// Client mode: attach to this broker instead of running the gateway.
    pub client: Option<ClientMode>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub bind: SocketAddr,
    /// The address boards are told to connect to.
    pub host: String,
    pub tls: bool,
    pub policy: Policy,
    /// Extra subject alternative names for the endpoint certificate.
    pub hosts: Vec<String>,
    pub max_message_size: usize,
    /// Gap between stream data messages to one connection.
    pub pace: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMode {
    /// `host:port` of the external broker.
    pub broker: String,
    /// Also publish replies on `notify-next` (a work-around for v3 agents).
    pub mirror_notify_next: bool,
}

/// Regexes that recognise a healthy board on its console.
#[derive(Clone, Debug)]
pub struct Profile {
    pub banner: Regex,
    /// Has a capture group named `version`.
    pub version: Regex,
    pub connected: Regex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub boot: Duration,
    pub recovery: Duration,
    pub flash: Duration,
}

#[derive(Clone, Debug)]
pub struct Board {
    pub name: String,
    pub thing_name: String,
    pub platform: String,
    pub parts: BoardParts,
    /// Effective values: the board's own, else the rig's defaults, else built-in defaults.
    pub profile: Profile,
    pub timeouts: Timeouts,
    pub flash_retries: u32,
}

impl Board {
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut caps = vec![Capability::Reset];
        if self.can_power_cycle() {
            caps.insert(0, Capability::PowerCycle);
        }
        caps
    }

    pub fn has(&self, cap: Capability) -> bool {
        match cap {
            Capability::Reset => true,
            Capability::PowerCycle => self.can_power_cycle(),
        }
    }

    /// Simulated boards and native programs are given their credentials at each start;
    /// a chip has them built into its firmware.
    pub fn is_told_its_identity(&self) -> bool {
        matches!(self.parts, BoardParts::Native(_)) || self.platform == SIM_PLATFORM
    }

    /// Native boards (process kill) and command power parts (relays, hubs) remove power.
    pub fn can_power_cycle(&self) -> bool {
        match &self.parts {
            BoardParts::Native(_) => true,
            BoardParts::Hardware { power, .. } => matches!(power, Some(PowerConfig::Command(_))),
        }
    }
}

// A rig holds a few dozen boards, resolved once: their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum BoardParts {
    Native(NativeKind),
    Hardware {
        flash: FlashConfig,
        console: ConsoleConfig,
        power: Option<PowerConfig>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NativeKind {
    /// otarig's simulated board (`otarig sim`).
    Sim,
    /// A POSIX build of the firmware.
    Program {
        path: PathBuf,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        /// Keep the board folder from one scenario to the next (default: fresh).
        persist: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlashConfig {
    Command(CommandFlasher),
    ProbeRs(ProbeRsFlasher),
}

/// A vendor tool run as a process. `args` may contain the placeholders
/// `{image}`, `{part}`, `{tool}`, `{serial}`, `{device}` (and `{script}` for the jlink
/// preset: a J-Link command file the flasher writes: loadfile, reset, go, exit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandFlasher {
    pub preset: Option<FlashPreset>,
    /// `None`: the preset's program (board::command owns the presets).
    pub program: Option<String>,
    /// `None`: the preset's arguments.
    pub args: Option<Vec<String>>,
    pub part: Option<String>,
    /// With the preset's default (ipecmd: `PKOB`; jlink: `JTAG` for PIC32, else `SWD`).
    pub tool: Option<String>,
    pub serial: Option<String>,
    /// pic32prog's `-d`.
    pub device: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRsFlasher {
    pub chip: String,
    pub probe: Option<UsbId>,
    /// `None`: from the image file's extension.
    pub format: Option<ProbeRsFormat>,
    pub base: Option<u64>,
    pub verify: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleConfig {
    Serial(SerialConsole),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialConsole {
    pub port: SerialPortRef,
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerialPortRef {
    Path(PathBuf),
    /// Found by USB identity (stable across re-enumeration).
    Usb(UsbId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PowerConfig {
    /// Shell command lines (presets already expanded).
    Command(CommandPower),
    /// Reset through the flasher/probe; cannot power-cycle.
    Probe,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandPower {
    pub preset: Option<PowerPreset>,
    pub on: String,
    pub off: String,
    pub reset: Option<String>,
    pub timeout: Duration,
}
