//! Whether a flash preset can serve a board, from the facts in [`PRESETS`]: the chips it
//! programs, the programmers it drives, how it picks one of several. Run when a rig
//! loads, so `otarig validate` and `otarig doctor` refuse a board before a run.

use super::flash_presets::{
    mplab_tool, placeholders, select, Arg, Pic32, PresetSpec, Selector, PRESETS,
};

/// What a rig says about one command flasher, as far as the checks need it.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlasherFields<'a> {
    pub part: Option<&'a str>,
    /// After the preset's default.
    pub tool: Option<&'a str>,
    pub serial: Option<&'a str>,
    pub device: Option<&'a str>,
    /// The rig gives its own `args:`: the preset's command line is not used.
    pub own_args: bool,
}

impl FlasherFields<'_> {
    fn get(&self, field: &str) -> Option<&str> {
        match field {
            "part" => self.part,
            "tool" => self.tool,
            "serial" => self.serial,
            "device" => self.device,
            _ => None,
        }
    }
}

/// A reason a preset cannot serve a board, and the flasher field it is about (`""`: the
/// flasher as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: String) -> Refusal {
    Refusal { field, message }
}

/// The board fields a preset's command lines can name.
const FIELDS: [&str; 4] = ["part", "tool", "serial", "device"];

/// Everything that keeps `spec` from serving the board `f` describes, each with the way out.
pub fn refusals(spec: &PresetSpec, f: &FlasherFields<'_>) -> Vec<Refusal> {
    let mut out = Vec::new();
    if let Some(tool) = f.tool {
        out.extend(tool_refusal(spec, tool, f.part));
    }
    if let Some(part) = f.part {
        out.extend(part_refusal(spec, part));
    }
    if !f.own_args {
        out.extend(selector_refusals(spec, f));
        out.extend(missing_fields(spec, f));
    }
    out
}

fn tool_refusal(spec: &PresetSpec, tool: &str, part: Option<&str>) -> Option<Refusal> {
    let name = spec.name;
    if let (Some((ipe_name, what)), false) = (mplab_tool(tool), spec.drives_mplab) {
        let mplab = PRESETS
            .iter()
            .find(|p| p.drives_mplab)
            .map_or("ipecmd", |p| p.name);
        return Some(refuse(
            "tool",
            format!("{name} cannot drive {what}; use preset {mplab} with tool {ipe_name}"),
        ));
    }
    let Some(meaning) = spec.tool.meaning else {
        return Some(refuse(
            "tool",
            format!(
                "{name} takes no `tool:`: it finds its adapter itself ({}), or uses the one `device:` names; remove `tool:`",
                spec.drives
            ),
        ));
    };
    let values = spec.tool.values;
    if !values.is_empty() && !values.iter().any(|v| v.eq_ignore_ascii_case(tool)) {
        return Some(refuse(
            "tool",
            format!(
                "`{tool}` is not {meaning}: write one of {}",
                values.join(", ")
            ),
        ));
    }
    let family = part.and_then(Pic32::of)?;
    let (_, why) = spec
        .tool
        .not_for_pic32
        .iter()
        .find(|(v, _)| v.eq_ignore_ascii_case(tool))?;
    let usable: Vec<&str> = values
        .iter()
        .copied()
        .filter(|v| !spec.tool.not_for_pic32.iter().any(|(n, _)| n == v))
        .collect();
    let fix = match spec.default_tool(part) {
        Some(default) => format!("set `tool: {default}` or leave `tool:` out"),
        None => "set another `tool:`".to_owned(),
    };
    Some(refuse(
        "tool",
        format!(
            "{why}: {} reaches a {} over {}; {fix}",
            spec.title,
            family.name(),
            or_list(&usable),
        ),
    ))
}

fn part_refusal(spec: &PresetSpec, part: &str) -> Option<Refusal> {
    match Pic32::of(part) {
        Some(family) if !spec.pic32.contains(&family) => {
            let instead: Vec<&str> = PRESETS
                .iter()
                .filter(|p| p.pic32.contains(&family))
                .map(|p| p.name)
                .collect();
            Some(refuse(
                "part",
                format!(
                    "{} cannot program {} parts (`{part}`): {}; use preset {} instead",
                    spec.title,
                    family.name(),
                    spec.pic32_gap,
                    or_list(&instead)
                ),
            ))
        }
        None if spec.others.is_none() => {
            let families: Vec<&str> = spec.pic32.iter().map(|f| f.name()).collect();
            Some(refuse(
                "part",
                format!(
                    "{} programs {} parts only, not `{part}`; use another preset (docs/hardware.md, Presets) or `flash: {{ probe-rs: ... }}`",
                    spec.title,
                    families.join("/"),
                ),
            ))
        }
        _ => None,
    }
}

fn selector_refusals(spec: &PresetSpec, f: &FlasherFields<'_>) -> Vec<Refusal> {
    let mut out = Vec::new();
    match spec.selector {
        Selector::Device => {
            if let Some(serial) = f.serial {
                out.push(refuse(
                    "serial",
                    format!(
                        "{} cannot pick an adapter by serial number alone (`{serial}`): set `device:` (its `-d`) instead, {PIC32PROG_DEVICE_FORMS}",
                        spec.name
                    ),
                ));
            }
            if let Some(device) = f.device {
                if let Err(e) = check_pic32prog_device(device) {
                    out.push(refuse("device", e));
                }
            }
        }
        Selector::Serial => {
            if f.device.is_some() {
                out.push(refuse(
                    "device",
                    format!(
                        "`device:` is pic32prog's `-d`; {} picks one of several programmers by `serial:`",
                        spec.name
                    ),
                ));
            }
        }
    }
    out
}

/// Board fields the preset's command lines always use but the board does not set.
fn missing_fields(spec: &PresetSpec, f: &FlasherFields<'_>) -> Vec<Refusal> {
    let always = |args: &[Arg]| select(args, |n| !FIELDS.contains(&n) || f.get(n).is_some());
    let mut templates = always(spec.flash);
    templates.extend(spec.reset.map(always).unwrap_or_default());
    let mut out = Vec::new();
    let mut named = Vec::new();
    for t in templates {
        for name in placeholders(t) {
            let Some(&field) = FIELDS.iter().find(|&&n| n == name) else {
                continue;
            };
            if f.get(field).is_some() || named.contains(&field) {
                continue;
            }
            named.push(field);
            let meaning = match field {
                "part" => spec.part,
                "tool" => spec.tool.meaning,
                _ => None,
            };
            let what = match meaning {
                Some(m) => format!(": {m}"),
                None => format!(" for `{t}`"),
            };
            out.push(refuse(
                "",
                format!("preset {} needs `{field}:`{what}", spec.name),
            ));
        }
    }
    out
}

const PIC32PROG_DEVICE_FORMS: &str = "a serial port (`/dev/ttyUSB0` for the stk500v2 bootloader, `an1388:/dev/ttyUSB0` for the AN1388 UART bootloader, `ascii:/dev/ttyUSB0` for an Arduino ICSP bridge) or a USB adapter as KIND:VID:PID[:SERIAL] (`pickit2:04d8:0033:SERIAL`; kinds pickit2, pickit3, hidboot, an1388, uhb)";

/// pic32prog's `-d` forms (its `target.c`): a serial port, optionally after `stk500:`,
/// `an1388:` or `ascii:`; or a USB adapter `KIND:VID:PID[:SERIAL]`.
pub fn check_pic32prog_device(device: &str) -> Result<(), String> {
    const SERIAL_KINDS: [&str; 3] = ["stk500", "an1388", "ascii"];
    const USB_KINDS: [&str; 5] = ["pickit2", "pickit3", "hidboot", "an1388", "uhb"];
    let is_port = |p: &str| {
        p.starts_with('/')
            || p.len() > 3
                && p[..3].eq_ignore_ascii_case("COM")
                && p[3..].bytes().all(|b| b.is_ascii_digit())
    };
    let is_hex = |s: &str| (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    let wrong = |why: &str| {
        Err(format!(
            "`{device}` is not a pic32prog `-d` device ({why}): write {PIC32PROG_DEVICE_FORMS}"
        ))
    };
    let parts: Vec<&str> = device.splitn(4, ':').collect();
    match parts[..] {
        [port] if is_port(port) => Ok(()),
        [port] => wrong(&format!("pic32prog would open a serial port named `{port}`")),
        [kind, port] if SERIAL_KINDS.contains(&kind) && is_port(port) => Ok(()),
        [kind, vid, pid] | [kind, vid, pid, _] if USB_KINDS.contains(&kind) && is_hex(vid) && is_hex(pid) => {
            match parts.get(3) {
                Some(serial) if serial.is_empty() || serial.contains(':') => {
                    wrong("the serial number after VID:PID is empty or has a `:`")
                }
                _ => Ok(()),
            }
        }
        [first, ..] if first.starts_with('/') => wrong(
            "pic32prog reads a `:` in a path as KIND:…; name the port by a path without `:`, e.g. /dev/serial/by-id/…",
        ),
        _ => wrong("unknown kind or VID:PID"),
    }
}

fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// One line for `otarig doctor`: what the preset drives and programs for this board.
pub fn describe(spec: &PresetSpec, f: &FlasherFields<'_>) -> String {
    let mut line = format!("{} ({})", spec.name, spec.title);
    if let Some(part) = f.part {
        let family = Pic32::of(part).map(|p| format!(" ({})", p.name()));
        line.push_str(&format!(" programs {part}{}", family.unwrap_or_default()));
    }
    if let Some(tool) = f.tool {
        line.push_str(&format!(" through {tool}"));
    }
    match (spec.selector, f.serial, f.device) {
        (Selector::Serial, Some(s), _) => line.push_str(&format!(", serial {s}")),
        (Selector::Device, _, Some(d)) => line.push_str(&format!(", -d {d}")),
        _ => {}
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rig::FlashPreset;

    fn check(preset: FlashPreset, f: FlasherFields<'_>) -> Vec<Refusal> {
        let spec = preset.spec();
        let tool = f.tool.or_else(|| spec.default_tool(f.part));
        refusals(spec, &FlasherFields { tool, ..f })
    }

    fn one(preset: FlashPreset, f: FlasherFields<'_>) -> Refusal {
        let r = check(preset, f);
        assert_eq!(r.len(), 1, "{r:#?}");
        r.into_iter().next().unwrap()
    }

    const CURIOSITY: FlasherFields<'static> = FlasherFields {
        part: Some("32MZ2048EFM100"),
        tool: Some("PKOB"),
        serial: Some("BUR000000001"),
        device: None,
        own_args: false,
    };

    #[test]
    fn each_preset_serves_its_representative_board() {
        let boards = [
            (FlashPreset::Ipecmd, CURIOSITY),
            (
                FlashPreset::Pic32prog,
                FlasherFields {
                    device: Some("pickit2:04d8:0033:PK2-1"),
                    ..Default::default()
                },
            ),
            (
                FlashPreset::Jlink,
                FlasherFields {
                    part: Some("PIC32MZ2048EFM144"),
                    serial: Some("000123456789"),
                    ..Default::default()
                },
            ),
            (
                FlashPreset::Openocd,
                FlasherFields {
                    part: Some("pic32mx"),
                    tool: Some("ftdi/olimex-arm-usb-ocd-h"),
                    ..Default::default()
                },
            ),
        ];
        for spec in &PRESETS {
            let (_, f) = boards.iter().find(|(p, _)| *p == spec.preset).unwrap();
            assert_eq!(check(spec.preset, *f), [], "{}", spec.name);
        }
    }

    #[test]
    fn pic32prog_refuses_the_curiosity_on_board_programmer_and_says_what_to_use() {
        let r = one(
            FlashPreset::Pic32prog,
            FlasherFields {
                tool: Some("PKOB4"),
                ..Default::default()
            },
        );
        assert_eq!(r.field, "tool");
        assert_eq!(
            r.message,
            "pic32prog cannot drive the on-board PKOB4 programmer of Curiosity boards; use preset ipecmd with tool PKOB4"
        );
        let r = one(
            FlashPreset::Pic32prog,
            FlasherFields {
                tool: Some("pk4"),
                ..Default::default()
            },
        );
        assert!(
            r.message.contains("use preset ipecmd with tool PK4"),
            "{r:?}"
        );
        let r = one(
            FlashPreset::Pic32prog,
            FlasherFields {
                tool: Some("pickit2"),
                ..Default::default()
            },
        );
        assert!(r.message.contains("takes no `tool:`"), "{r:?}");
    }

    #[test]
    fn pic32prog_takes_a_device_not_a_bare_serial_number() {
        let r = one(
            FlashPreset::Pic32prog,
            FlasherFields {
                serial: Some("BUR123"),
                ..Default::default()
            },
        );
        assert_eq!(r.field, "serial");
        assert!(r.message.contains("set `device:`"), "{r:?}");
        for good in [
            "/dev/ttyUSB0",
            "COM5",
            "an1388:/dev/ttyACM0",
            "ascii:/dev/ttyUSB1",
            "pickit2:04d8:0033",
            "pickit3:4d8:900a:BUR1234",
            "hidboot:04d8:003c",
        ] {
            assert_eq!(check_pic32prog_device(good), Ok(()), "{good}");
        }
        for bad in [
            "BUR123",
            "pickit4:04d8:9012",
            "pickit2:xyz:1",
            "/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0",
        ] {
            assert!(check_pic32prog_device(bad).is_err(), "{bad}");
        }
        let r = one(
            FlashPreset::Ipecmd,
            FlasherFields {
                device: Some("/dev/ttyUSB0"),
                ..CURIOSITY
            },
        );
        assert_eq!(r.field, "device");
    }

    #[test]
    fn jlink_reaches_a_pic32_over_jtag_not_swd() {
        let pic32 = FlasherFields {
            part: Some("PIC32MZ2048EFM144"),
            ..Default::default()
        };
        assert_eq!(
            FlashPreset::Jlink.spec().default_tool(pic32.part),
            Some("JTAG")
        );
        assert_eq!(
            FlashPreset::Jlink.spec().default_tool(Some("STM32U585AI")),
            Some("SWD")
        );
        let r = one(
            FlashPreset::Jlink,
            FlasherFields {
                tool: Some("SWD"),
                ..pic32
            },
        );
        assert_eq!(r.field, "tool");
        assert!(
            r.message.starts_with("PIC32 (MIPS) parts have no SWD port")
                && r.message.contains("set `tool: JTAG`"),
            "{r:?}"
        );
        let r = one(
            FlashPreset::Jlink,
            FlasherFields {
                tool: Some("PKOB4"),
                ..pic32
            },
        );
        assert!(
            r.message.contains("use preset ipecmd with tool PKOB4"),
            "{r:?}"
        );
        let r = one(
            FlashPreset::Jlink,
            FlasherFields {
                tool: Some("swo"),
                ..pic32
            },
        );
        assert!(r.message.contains("JTAG, SWD, ICSP"), "{r:?}");
    }

    #[test]
    fn openocd_refuses_a_pic32mz_it_has_no_target_for() {
        let r = one(
            FlashPreset::Openocd,
            FlasherFields {
                part: Some("pic32mz"),
                tool: Some("cmsis-dap"),
                ..Default::default()
            },
        );
        assert_eq!(r.field, "part");
        assert!(
            r.message.contains("no PIC32MZ")
                && r.message
                    .contains("use preset ipecmd, pic32prog or jlink instead"),
            "{r:?}"
        );
        let r = one(
            FlashPreset::Openocd,
            FlasherFields {
                part: Some("pic32mx"),
                tool: Some("PKOB"),
                ..Default::default()
            },
        );
        assert!(
            r.message
                .starts_with("openocd cannot drive the on-board PKOB"),
            "{r:?}"
        );
    }

    #[test]
    fn pic32prog_programs_pic32_only() {
        let r = one(
            FlashPreset::Pic32prog,
            FlasherFields {
                part: Some("STM32U585AI"),
                ..Default::default()
            },
        );
        assert_eq!(r.field, "part");
        assert!(
            r.message
                .contains("PIC32MX/PIC32MZ/PIC32MM/PIC32MK parts only"),
            "{r:?}"
        );
    }

    #[test]
    fn fields_the_command_line_needs_are_named_once() {
        let r = check(FlashPreset::Openocd, FlasherFields::default());
        let messages: Vec<&str> = r.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(
            messages[0].starts_with("preset openocd needs `tool:`"),
            "{messages:#?}"
        );
        assert!(
            messages[1].starts_with("preset openocd needs `part:`"),
            "{messages:#?}"
        );
        // With its own args the rig's command line is not the preset's.
        let own = FlasherFields {
            own_args: true,
            ..Default::default()
        };
        assert_eq!(check(FlashPreset::Openocd, own), []);
    }
}
