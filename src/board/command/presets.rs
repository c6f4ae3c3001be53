//! The vendor tools the rig knows by name, and their command lines.

use std::fmt;
use std::str::FromStr;

use super::CommandFlasherOptions;

/// A vendor tool the rig knows how to call, so a rig names it instead of a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashPreset {
    /// MPLAB IPE command line (`ipecmd.sh`), PIC32MX/MZ through PICkit, ICD or the
    /// Curiosity board's on-board programmer (`tool: PKOB`).
    Ipecmd,
    /// pic32prog (PICkit2/3 with its firmware, Microchip bootloaders, FT2232 adapters).
    Pic32prog,
    /// SEGGER J-Link Commander (`JLinkExe`) with a generated command file.
    Jlink,
    /// OpenOCD: `interface/{tool}.cfg`, `target/{part}.cfg`, `program ... verify reset exit`.
    Openocd,
}

impl From<crate::config::rig::FlashPreset> for FlashPreset {
    fn from(preset: crate::config::rig::FlashPreset) -> Self {
        use crate::config::rig::FlashPreset as Rig;
        match preset {
            Rig::Ipecmd => FlashPreset::Ipecmd,
            Rig::Pic32prog => FlashPreset::Pic32prog,
            Rig::Jlink => FlashPreset::Jlink,
            Rig::Openocd => FlashPreset::Openocd,
        }
    }
}

impl FromStr for FlashPreset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ipecmd" => Ok(FlashPreset::Ipecmd),
            "pic32prog" => Ok(FlashPreset::Pic32prog),
            "jlink" => Ok(FlashPreset::Jlink),
            "openocd" => Ok(FlashPreset::Openocd),
            other => Err(format!(
                "unknown flash preset `{other}` (expected ipecmd, pic32prog, jlink or openocd)"
            )),
        }
    }
}

impl fmt::Display for FlashPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlashPreset::Ipecmd => "ipecmd",
            FlashPreset::Pic32prog => "pic32prog",
            FlashPreset::Jlink => "jlink",
            FlashPreset::Openocd => "openocd",
        })
    }
}

impl FlashPreset {
    /// The program run when the rig names the preset but no `program:`.
    pub fn default_program(self) -> &'static str {
        match self {
            FlashPreset::Ipecmd => "ipecmd.sh",
            FlashPreset::Pic32prog => "pic32prog",
            FlashPreset::Jlink => "JLinkExe",
            FlashPreset::Openocd => "openocd",
        }
    }

    /// The argument that makes the tool print its version, for `otarig doctor`.
    pub fn version_args(self) -> &'static [&'static str] {
        match self {
            // ipecmd prints its banner and usage when called with `-?`.
            FlashPreset::Ipecmd => &["-?"],
            // pic32prog prints its version line on any run; `-h` keeps it from probing.
            FlashPreset::Pic32prog => &["-h"],
            FlashPreset::Jlink => &["-NoGui", "1", "-CommandFile", "/dev/null"],
            FlashPreset::Openocd => &["--version"],
        }
    }

    pub(super) fn flash_args(self, o: &CommandFlasherOptions) -> Vec<String> {
        let mut args: Vec<&str> = Vec::new();
        match self {
            FlashPreset::Ipecmd => {
                args.push("-TP{tool}");
                if o.serial.is_some() {
                    args.push("-TS{serial}");
                }
                // -M program all memories, -Y verify, -OL release the part from reset.
                args.extend(["-P{part}", "-F{image}", "-M", "-Y", "-OL"]);
            }
            FlashPreset::Pic32prog => {
                if o.serial.is_some() {
                    args.extend(["-d", "{serial}"]);
                }
                args.push("{image}");
            }
            FlashPreset::Jlink => return jlink_args(o),
            FlashPreset::Openocd => {
                args.extend(["-f", "interface/{tool}.cfg"]);
                if o.serial.is_some() {
                    args.extend(["-c", "adapter serial {serial}"]);
                }
                args.extend([
                    "-f",
                    "target/{part}.cfg",
                    "-c",
                    "program {image} verify reset exit",
                ]);
            }
        }
        args.into_iter().map(str::to_owned).collect()
    }

    pub(super) fn reset_args(self, o: &CommandFlasherOptions) -> Option<Vec<String>> {
        let args: Vec<&str> = match self {
            // Without -F/-M ipecmd only connects; -OL then releases the part from reset.
            FlashPreset::Ipecmd if o.serial.is_some() => {
                vec!["-TP{tool}", "-TS{serial}", "-P{part}", "-OL"]
            }
            FlashPreset::Ipecmd => vec!["-TP{tool}", "-P{part}", "-OL"],
            // pic32prog has no reset-only operation.
            FlashPreset::Pic32prog => return None,
            FlashPreset::Jlink => return Some(jlink_args(o)),
            FlashPreset::Openocd => {
                let mut a = vec!["-f", "interface/{tool}.cfg"];
                if o.serial.is_some() {
                    a.extend(["-c", "adapter serial {serial}"]);
                }
                a.extend([
                    "-f",
                    "target/{part}.cfg",
                    "-c",
                    "init",
                    "-c",
                    "reset run",
                    "-c",
                    "shutdown",
                ]);
                a
            }
        };
        Some(args.into_iter().map(str::to_owned).collect())
    }

    /// Output that means failure even when the exit status says success.
    pub(super) fn failure_marker(self) -> Option<&'static str> {
        match self {
            // MPLAB IPE reports "Operation Failed"/"Program Failed"/"Verify Failed" in its
            // output; the exit status is not trusted alone.
            FlashPreset::Ipecmd => Some("Failed"),
            _ => None,
        }
    }
}

fn jlink_args(o: &CommandFlasherOptions) -> Vec<String> {
    let mut args = vec!["-NoGui", "1", "-ExitOnError", "1"];
    if o.serial.is_some() {
        args.extend(["-SelectEmuBySN", "{serial}"]);
    }
    args.extend(["-CommandFile", "{script}"]);
    args.into_iter().map(str::to_owned).collect()
}

/// The J-Link Commander script: connect over SWD, load (only when flashing), reset, run, quit.
pub fn jlink_script(part: &str, speed_khz: u32, load: Option<(&str, Option<u64>)>) -> String {
    let mut s = format!("device {part}\nsi SWD\nspeed {speed_khz}\nconnect\n");
    if let Some((image, base)) = load {
        match base {
            Some(base) => s.push_str(&format!("loadfile \"{image}\" {base:#010x}\n")),
            None => s.push_str(&format!("loadfile \"{image}\"\n")),
        }
    }
    s.push_str("r\ng\nq\n");
    s
}
