//! The serde shape of `rigs/*.yaml`, strict: unknown fields are errors.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRig<B = RawBoard, L = RawLabgrid> {
    pub name: Option<String>,
    #[serde(default)]
    pub cloud: RawCloud,
    #[serde(default)]
    pub defaults: RawDefaults,
    /// May be empty when `labgrid:` provides the boards.
    #[serde(default)]
    pub boards: Vec<B>,
    pub labgrid: Option<L>,
}

/// Boards taken from a labgrid coordinator for each run (docs/labgrid.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabgrid<R = RawLabgridBoards> {
    /// `HOST:PORT`; default: labgrid's own (`LG_COORDINATOR`, else 127.0.0.1:20408).
    pub coordinator: Option<String>,
    /// The `labgrid-client` program.
    pub client: Option<String>,
    /// How long a run waits for its places.
    pub wait: Option<String>,
    /// Reservation priority: higher is served first.
    pub priority: Option<i32>,
    pub boards: Vec<R>,
}

/// `count` boards from places whose tags match.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabgridBoards {
    pub name: String,
    /// `key=value` pairs, as `labgrid-client reserve` takes them.
    #[serde(rename = "match")]
    pub tags: String,
    pub count: Option<usize>,
    pub thing_names: Option<Vec<String>>,
    pub platform: Option<String>,
    /// The NetworkSerialPort's resource name, when a place has several.
    pub console: Option<String>,
    pub power: Option<LabgridPower>,
    pub reset: Option<String>,
    pub flash: RawFlasher,
    #[serde(default)]
    pub profile: RawProfile,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    pub flash_retries: Option<u32>,
}

/// How a labgrid board's power is switched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabgridPower {
    /// `labgrid-client power on|off`: the place's power resource.
    Labgrid,
    /// No power control (resets through `reset:` or the flasher).
    None,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCloud {
    #[serde(default)]
    pub endpoint: RawEndpoint,
    pub pki: Option<String>,
    pub create_pki: Option<bool>,
    pub client: Option<RawClient>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub bind: Option<String>,
    pub host: Option<String>,
    pub tls: Option<bool>,
    pub policy: Option<Policy>,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub max_message_size: Option<usize>,
    pub pace: Option<String>,
}

/// What a connection may do at the gateway (also `otarig cloud --policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Any connection may use any topic (a fleet whose policy did not pin topics).
    Permissive,
    /// A connection may only use its own thing's `$aws/things/{thing}/` topics,
    /// and its client id must equal its certificate's CN.
    ThingScoped,
}

impl Policy {
    /// The name rig files and `--policy` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Permissive => "permissive",
            Policy::ThingScoped => "thing-scoped",
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub broker: String,
    #[serde(default)]
    pub mirror_notify_next: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    #[serde(default)]
    pub profile: RawProfile,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    pub flash_retries: Option<u32>,
    pub baseline: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub banner: Option<String>,
    pub version: Option<String>,
    pub connected: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub boot: Option<String>,
    pub recovery: Option<String>,
    pub flash: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBoard {
    pub name: String,
    pub thing_name: String,
    pub platform: Option<String>,
    pub native: Option<RawNative>,
    pub flash: Option<RawFlasher>,
    pub console: Option<RawConsole>,
    pub power: Option<RawPower>,
    #[serde(default)]
    pub profile: RawProfile,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    pub flash_retries: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawNative {
    Sim(RawSim),
    Program(RawProgram),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSim {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProgram {
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub persist: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum RawFlasher {
    #[serde(rename = "command")]
    Command(RawCommandFlasher),
    #[serde(rename = "probe-rs")]
    ProbeRs(RawProbeRs),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommandFlasher {
    pub preset: Option<FlashPreset>,
    pub program: Option<String>,
    pub args: Option<Vec<String>>,
    pub part: Option<String>,
    pub tool: Option<String>,
    pub serial: Option<String>,
    /// pic32prog's `-d`: a serial port or `KIND:VID:PID[:SERIAL]`.
    pub device: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
}

/// Known flashing tools; their command lines and what they serve are in
/// `flash_presets::PRESETS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashPreset {
    /// MPLAB IPE's command line (`ipecmd.sh`): Microchip's programmers (PKOB, PKOB4, PICkit, ICD).
    Ipecmd,
    /// pic32prog: PICkit2/3, FT2232 JTAG adapters, PIC32 bootloaders.
    Pic32prog,
    /// SEGGER J-Link Commander (`JLinkExe`) with a generated command file.
    Jlink,
    /// OpenOCD: `interface/{tool}.cfg`, `target/{part}.cfg`.
    Openocd,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbeRs {
    pub chip: String,
    pub probe: Option<String>,
    pub format: Option<ProbeRsFormat>,
    pub base: Option<u64>,
    #[serde(default)]
    pub verify: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeRsFormat {
    Elf,
    Hex,
    Bin,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawConsole {
    Serial(RawSerial),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSerial {
    pub port: Option<String>,
    pub usb: Option<String>,
    pub baud: Option<u32>,
    pub data_bits: Option<u8>,
    pub parity: Option<Parity>,
    pub stop_bits: Option<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    None,
    Odd,
    Even,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawPower {
    Command(RawCommandPower),
    Probe(RawProbePower),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbePower {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommandPower {
    pub preset: Option<PowerPreset>,
    pub on: Option<String>,
    pub off: Option<String>,
    /// A reset-line command (a relay on MCLR/nRST), if the bench has one.
    pub reset: Option<String>,
    pub hub: Option<String>,
    pub port: Option<u32>,
    pub relay: Option<String>,
    pub timeout: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerPreset {
    Uhubctl,
    Usbrelay,
}
