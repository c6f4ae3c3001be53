//! The vendor flash tools a rig names by `preset:`, in one table: the single source of
//! their command lines (built by `board::command`), of what each can serve (checked when
//! the rig loads, `flash_checks`) and of the preset tables in docs/hardware.md.
//!
//! The command lines come from each tool's own documentation (links in `sources`); none
//! was run against real hardware (docs/hardware.md, "What was verified").

use std::fmt;
use std::str::FromStr;

pub use super::rig_raw::FlashPreset;

/// One argument (or command-file line) of a preset, as a template (`-TP{tool}`).
#[derive(Clone, Copy, Debug)]
pub enum Arg {
    /// Always passed.
    Is(&'static str),
    /// Passed only when every placeholder in them has a value: `-TS{serial}` only when the
    /// board sets `serial:`.
    Opt(&'static [&'static str]),
    /// The first when every placeholder in it has a value, else the second (J-Link's
    /// `loadfile` takes an address only for `.bin` images).
    Either(&'static str, &'static str),
}

/// The PIC32 families with a MIPS core, which the tools serve differently. The Arm
/// PIC32C parts (PIC32CX/CM/CZ/CK) are not among them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pic32 {
    Mx,
    Mz,
    Mm,
    Mk,
}

impl Pic32 {
    pub const ALL: [Pic32; 4] = [Pic32::Mx, Pic32::Mz, Pic32::Mm, Pic32::Mk];

    /// The family of a part in any tool's spelling: `32MZ2048EFM100` (ipecmd),
    /// `PIC32MZ2048EFM144` (J-Link), `pic32mx` (an OpenOCD target). `None`: not a PIC32
    /// with a MIPS core.
    pub fn of(part: &str) -> Option<Pic32> {
        let upper = part.trim().to_ascii_uppercase();
        let name = upper.strip_prefix("PIC").unwrap_or(&upper);
        Pic32::ALL
            .into_iter()
            .find(|f| name.starts_with(&f.name()["PIC".len()..]))
    }

    pub fn name(self) -> &'static str {
        match self {
            Pic32::Mx => "PIC32MX",
            Pic32::Mz => "PIC32MZ",
            Pic32::Mm => "PIC32MM",
            Pic32::Mk => "PIC32MK",
        }
    }
}

/// How a preset picks one of several programmers attached to one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `serial:`, the programmer's serial number.
    Serial,
    /// `device:`, pic32prog's `-d`: a serial port, or a USB adapter as `KIND:VID:PID[:SERIAL]`.
    Device,
}

/// What the board's `tool:` means to a preset.
#[derive(Clone, Copy, Debug)]
pub struct ToolField {
    /// `None`: the preset takes no `tool:` (it finds its adapter itself).
    pub meaning: Option<&'static str>,
    /// `tool:` when the board names none: (for PIC32 parts, for other parts).
    pub default: Option<(&'static str, &'static str)>,
    /// The only values it takes (empty: any).
    pub values: &'static [&'static str],
    /// Values through which no PIC32 can be reached, and why.
    pub not_for_pic32: &'static [(&'static str, &'static str)],
}

/// One preset: its command lines and what it can serve.
#[derive(Debug)]
pub struct PresetSpec {
    pub preset: FlashPreset,
    /// As written in a rig (`preset: ipecmd`).
    pub name: &'static str,
    pub title: &'static str,
    /// Run when the rig names no `program:`.
    pub program: &'static str,
    pub flash: &'static [Arg],
    /// `None`: the tool has no reset-only operation.
    pub reset: Option<&'static [Arg]>,
    /// The command file the flasher writes for `{script}`: (lines when flashing, when resetting).
    pub script: Option<(&'static [Arg], &'static [Arg])>,
    /// Makes the tool print its version without touching the bench (`otarig doctor`).
    pub version_args: &'static [&'static str],
    /// Output that means failure even when the exit status says success.
    pub failure_marker: Option<&'static str>,
    /// What `part:` means; `None`: the tool finds the part itself (`part:` is then optional).
    pub part: Option<&'static str>,
    pub tool: ToolField,
    pub selector: Selector,
    /// The PIC32 (MIPS) families it programs.
    pub pic32: &'static [Pic32],
    /// Why it cannot program the other PIC32 families.
    pub pic32_gap: &'static str,
    /// The other parts it programs; `None`: PIC32 only.
    pub others: Option<&'static str>,
    /// The programmers and adapters it drives.
    pub drives: &'static str,
    /// Whether it drives Microchip's MPLAB programmers (PKOB, PKOB4, PICkit 4, ICD …).
    pub drives_mplab: bool,
    /// Where the command line comes from (Markdown).
    pub sources: &'static str,
}

/// Microchip's programmers by their MPLAB IPE names (`-TP`): only MPLAB's own tools
/// drive them, so the other presets refuse these names.
pub const MPLAB_TOOLS: [(&str, &str); 12] = [
    ("PKOB", "the on-board PKOB programmer of Curiosity boards"),
    ("PKOB4", "the on-board PKOB4 programmer of Curiosity boards"),
    ("PK3", "an MPLAB PICkit 3 with MPLAB's firmware (PK3)"),
    ("PK4", "an MPLAB PICkit 4 (PK4)"),
    ("PK5", "an MPLAB PICkit 5 (PK5)"),
    ("ICD3", "an MPLAB ICD 3"),
    ("ICD4", "an MPLAB ICD 4"),
    ("ICD5", "an MPLAB ICD 5"),
    ("ICE4", "an MPLAB ICE 4"),
    ("RICE", "an MPLAB REAL ICE (RICE)"),
    ("SNAP", "an MPLAB Snap (SNAP)"),
    ("PM3", "an MPLAB PM3"),
];

/// The MPLAB programmer `tool` names, if it names one: (its IPE name, what it is).
pub fn mplab_tool(tool: &str) -> Option<(&'static str, &'static str)> {
    MPLAB_TOOLS
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(tool.trim()))
}

use Arg::{Either, Is, Opt};

const IPECMD_FLASH: &[Arg] = &[
    Is("-TP{tool}"),
    Opt(&["-TS{serial}"]),
    Is("-P{part}"),
    Is("-F{image}"),
    // Program all memories, verify, release the part from reset so it boots.
    Is("-M"),
    Is("-Y"),
    Is("-OL"),
];
// No operation: connect (-OK), then release from reset (-OL).
const IPECMD_RESET: &[Arg] = &[
    Is("-TP{tool}"),
    Opt(&["-TS{serial}"]),
    Is("-P{part}"),
    Is("-OK"),
    Is("-OL"),
];
const PIC32PROG_FLASH: &[Arg] = &[Opt(&["-d", "{device}"]), Is("{image}")];
// Device, interface and speed on the command line; the command file only loads and runs.
const JLINK_ARGS: &[Arg] = &[
    Is("-NoGui"),
    Is("1"),
    Is("-ExitOnError"),
    Is("1"),
    Is("-device"),
    Is("{part}"),
    Is("-if"),
    Is("{tool}"),
    Is("-speed"),
    Is("{speed}"),
    Is("-autoconnect"),
    Is("1"),
    Opt(&["-SelectEmuBySN", "{serial}"]),
    Is("-CommandFile"),
    Is("{script}"),
];
const JLINK_LOAD: &[Arg] = &[
    Either("loadfile \"{image}\" {base}", "loadfile \"{image}\""),
    Is("r"),
    Is("g"),
    Is("q"),
];
const JLINK_RESET: &[Arg] = &[Is("r"), Is("g"), Is("q")];
const OPENOCD_FLASH: &[Arg] = &[
    Is("-f"),
    Is("interface/{tool}.cfg"),
    Opt(&["-c", "adapter serial {serial}"]),
    Is("-f"),
    Is("target/{part}.cfg"),
    Is("-c"),
    Is("program {image} verify reset exit"),
];
const OPENOCD_RESET: &[Arg] = &[
    Is("-f"),
    Is("interface/{tool}.cfg"),
    Opt(&["-c", "adapter serial {serial}"]),
    Is("-f"),
    Is("target/{part}.cfg"),
    Is("-c"),
    Is("init"),
    Is("-c"),
    Is("reset run"),
    Is("-c"),
    Is("shutdown"),
];

/// Every preset, in the order the docs list them.
pub const PRESETS: [PresetSpec; 4] = [
    PresetSpec {
        preset: FlashPreset::Ipecmd,
        name: "ipecmd",
        title: "MPLAB IPE command line",
        program: "ipecmd.sh",
        flash: IPECMD_FLASH,
        reset: Some(IPECMD_RESET),
        script: None,
        // ipecmd prints its banner and usage.
        version_args: &["-?"],
        // "Program Failed", "Verify Failed", "Operation Failed": the exit status is not
        // trusted alone.
        failure_marker: Some("Failed"),
        part: Some("the part as MPLAB names it, without `PIC` (`32MZ2048EFM100`)"),
        tool: ToolField {
            meaning: Some("the MPLAB programmer (`-TP`): `PKOB`, `PKOB4`, `PK4`, `PK5`, `ICD4`, `SNAP`, …"),
            default: Some(("PKOB", "PKOB")),
            values: &[],
            not_for_pic32: &[],
        },
        selector: Selector::Serial,
        pic32: &Pic32::ALL,
        pic32_gap: "",
        others: Some("the other Microchip parts MPLAB IPE lists (PIC, dsPIC, AVR, SAM)"),
        drives: "Microchip's programmers: the Curiosity boards' on-board PKOB and PKOB4, PICkit 3/4/5, ICD 3/4/5, ICE 4, REAL ICE, Snap, PM3",
        drives_mplab: true,
        sources: "[MPLAB IPE user's guide](https://onlinedocs.microchip.com/oxy/GUID-B611433A-00AE-481A-93FF-EE796652926C-en-US-5/GUID-0095BF0E-0957-48D3-B8E6-49EC2D09674F.html); `Readme for IPECMD.htm` in MPLAB X's `docs` folder",
    },
    PresetSpec {
        preset: FlashPreset::Pic32prog,
        name: "pic32prog",
        title: "pic32prog",
        program: "pic32prog",
        flash: PIC32PROG_FLASH,
        reset: None,
        script: None,
        // -h prints the version line and usage without looking for an adapter.
        version_args: &["-h"],
        failure_marker: None,
        part: None,
        tool: ToolField {
            meaning: None,
            default: None,
            values: &[],
            not_for_pic32: &[],
        },
        selector: Selector::Device,
        pic32: &Pic32::ALL,
        pic32_gap: "",
        others: None,
        drives: "PICkit2; PICkit3 with the PICkit 3 scripting firmware; FT2232 JTAG adapters (Olimex ARM-USB-Tiny/-H, ARM-USB-OCD-H, MIPS-USB-OCD-H, Bus Blaster, Flyswatter; found only without `device:`); the HID, AN1388 (USB or UART), UHB and stk500v2 bootloaders; an Arduino as ICSP bridge (`ascii:`)",
        drives_mplab: false,
        sources: "[pic32prog](https://github.com/sergev/pic32prog): README, `pic32prog -h`, the `-d` forms in `target.c`",
    },
    PresetSpec {
        preset: FlashPreset::Jlink,
        name: "jlink",
        title: "SEGGER J-Link Commander",
        program: "JLinkExe",
        flash: JLINK_ARGS,
        reset: Some(JLINK_ARGS),
        script: Some((JLINK_LOAD, JLINK_RESET)),
        // An empty command file: prints the banner, connects to nothing.
        version_args: &["-NoGui", "1", "-CommandFile", "/dev/null"],
        failure_marker: None,
        part: Some("the device as SEGGER names it (`PIC32MZ2048EFM144`, `STM32U585AI`)"),
        tool: ToolField {
            meaning: Some("the J-Link target interface (`-if`)"),
            default: Some(("JTAG", "SWD")),
            values: &["JTAG", "SWD", "ICSP"],
            not_for_pic32: &[("SWD", "PIC32 (MIPS) parts have no SWD port")],
        },
        selector: Selector::Serial,
        pic32: &Pic32::ALL,
        pic32_gap: "",
        others: Some("Arm, RISC-V and the other parts in SEGGER's device list"),
        drives: "SEGGER J-Link probes; for a PIC32, a model with PIC32 support cabled to the board's JTAG (or ICSP) header",
        drives_mplab: false,
        sources: "[J-Link Commander](https://kb.segger.com/J-Link_Commander): command line options and commands",
    },
    PresetSpec {
        preset: FlashPreset::Openocd,
        name: "openocd",
        title: "OpenOCD",
        program: "openocd",
        flash: OPENOCD_FLASH,
        reset: Some(OPENOCD_RESET),
        script: None,
        version_args: &["--version"],
        failure_marker: None,
        part: Some("the target config name (`target/{part}.cfg`: `pic32mx`, `stm32u5x`)"),
        tool: ToolField {
            meaning: Some("the interface config name (`interface/{tool}.cfg`: `cmsis-dap`, `stlink`, `jlink`, `ftdi/olimex-arm-usb-ocd-h`)"),
            default: None,
            values: &[],
            not_for_pic32: &[],
        },
        selector: Selector::Serial,
        pic32: &[Pic32::Mx],
        pic32_gap: "OpenOCD has no PIC32MZ, PIC32MM or PIC32MK target config or flash driver upstream, only `target/pic32mx.cfg`",
        others: Some("the parts with a `target/*.cfg` in OpenOCD's scripts (Arm, RISC-V, …)"),
        drives: "the adapters with an `interface/*.cfg`: CMSIS-DAP, ST-LINK, J-Link, FT2232 JTAG adapters, …",
        drives_mplab: false,
        sources: "[OpenOCD manual](https://openocd.org/doc/html/Flash-Programming.html) (`program`), `tcl/target/` in [OpenOCD's sources](https://github.com/openocd-org/openocd)",
    },
];

impl FlashPreset {
    /// This preset's row of [`PRESETS`].
    pub fn spec(self) -> &'static PresetSpec {
        PRESETS
            .iter()
            .find(|s| s.preset == self)
            .expect("every preset has a row in PRESETS")
    }
}

impl FromStr for FlashPreset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PRESETS
            .iter()
            .find(|p| p.name == s)
            .map(|p| p.preset)
            .ok_or_else(|| {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
                format!("unknown flash preset `{s}` (expected {})", names.join(", "))
            })
    }
}

impl fmt::Display for FlashPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().name)
    }
}

impl PresetSpec {
    /// `tool:` for a board that names none.
    pub fn default_tool(&self, part: Option<&str>) -> Option<&'static str> {
        let (pic32, other) = self.tool.default?;
        Some(if part.and_then(Pic32::of).is_some() {
            pic32
        } else {
            other
        })
    }
}

/// The templates a board gets from `args`: an `Opt` group only when every placeholder in
/// it has a value (`is_set`), `Either` by the same test.
pub fn select(args: &[Arg], is_set: impl Fn(&str) -> bool) -> Vec<&'static str> {
    let all_set = |templates: &[&str]| {
        templates
            .iter()
            .all(|t| placeholders(t).iter().all(|n| is_set(n)))
    };
    let mut out = Vec::new();
    for arg in args {
        match *arg {
            Is(t) => out.push(t),
            Opt(group) if all_set(group) => out.extend_from_slice(group),
            Opt(_) => {}
            Either(first, _) if all_set(&[first]) => out.push(first),
            Either(_, second) => out.push(second),
        }
    }
    out
}

/// Names inside `{…}` in a template; `{{` and `}}` are literal braces.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            rest = &tail[2..];
            continue;
        }
        match tail.find('}').filter(|_| tail.starts_with('{')) {
            Some(close) => {
                out.push(tail[1..close].to_owned());
                rest = &tail[close + 1..];
            }
            None => rest = &tail[1..],
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_one_row_named_as_a_rig_writes_it() {
        for spec in &PRESETS {
            let yaml = format!("{}\n", spec.name);
            let parsed: FlashPreset = yaml_serde::from_str(&yaml).unwrap();
            assert_eq!(parsed, spec.preset);
            assert_eq!(spec.preset.spec().name, spec.name);
            assert_eq!(spec.name.parse::<FlashPreset>(), Ok(spec.preset));
        }
        let err = "mplab".parse::<FlashPreset>().unwrap_err();
        assert!(
            err.contains("expected ipecmd, pic32prog, jlink, openocd"),
            "{err}"
        );
    }

    #[test]
    fn pic32_families_are_read_from_every_tools_spelling() {
        assert_eq!(Pic32::of("32MZ2048EFM100"), Some(Pic32::Mz));
        assert_eq!(Pic32::of("PIC32MZ2048EFM144"), Some(Pic32::Mz));
        assert_eq!(Pic32::of("pic32mx"), Some(Pic32::Mx));
        assert_eq!(Pic32::of("32MM0064GPL028"), Some(Pic32::Mm));
        assert_eq!(Pic32::of("PIC32MK1024MCF100"), Some(Pic32::Mk));
        for arm in ["PIC32CX1025SG41128", "STM32U585AI", "stm32u5x", "32"] {
            assert_eq!(Pic32::of(arm), None, "{arm}");
        }
    }

    #[test]
    fn optional_groups_follow_the_fields_they_name() {
        let with = |set: &'static [&'static str]| move |n: &str| set.contains(&n);
        assert_eq!(
            select(IPECMD_FLASH, with(&["tool", "part", "image"])),
            ["-TP{tool}", "-P{part}", "-F{image}", "-M", "-Y", "-OL"]
        );
        assert_eq!(
            select(PIC32PROG_FLASH, with(&["device", "image"])),
            ["-d", "{device}", "{image}"]
        );
        assert_eq!(
            select(JLINK_LOAD, with(&["image"]))[0],
            "loadfile \"{image}\""
        );
        assert_eq!(
            select(JLINK_LOAD, with(&["image", "base"]))[0],
            "loadfile \"{image}\" {base}"
        );
        assert_eq!(placeholders("{{x}} -F{image} {a}{b"), ["image", "a"]);
    }
}
