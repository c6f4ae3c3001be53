//! Command flashers and command power against the stand-in tools in tests/tools/: the exact
//! command line of every preset, output and outcome on the timeline, retries, a hung tool
//! killed with its process group at the timeout. No real programmer is involved.

use crate::support::events::part_events;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use otarig::board::command::{
    render_args, split_command, CommandFlasher, CommandFlasherOptions, CommandPower,
    CommandPowerOptions, FlashPreset,
};
use otarig::board::{BoardError, FlashImage, Flasher, ImageFormat, PartEvents, Power};
use otarig::config::flash_presets::PRESETS;
use otarig::timeline::{EventKind, PowerState, Timeline};

/// A stand-in tool linked into a fresh folder, so its records are this test's alone.
struct Tool {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tool {
    fn new(script: &str) -> Tool {
        let dir = tempfile::tempdir().unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/tools")
            .join(script);
        let path = dir.path().join(script);
        std::os::unix::fs::symlink(source, &path).unwrap();
        Tool { _dir: dir, path }
    }

    fn program(&self) -> String {
        self.path.display().to_string()
    }

    /// The argv of each call, in order.
    fn calls(&self) -> Vec<Vec<String>> {
        let text = fs::read_to_string(format!("{}.argv", self.program())).unwrap_or_default();
        let mut calls = Vec::new();
        let mut current = Vec::new();
        for line in text.lines() {
            if line == "--" {
                calls.push(std::mem::take(&mut current));
            } else {
                current.push(line.to_owned());
            }
        }
        calls
    }

    fn sidecar(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}.{suffix}", self.program()))
    }
}

fn events() -> (Arc<Timeline>, PartEvents) {
    part_events("pic32-a")
}

fn image(path: &str, format: ImageFormat) -> FlashImage {
    FlashImage {
        fixture: "app-v4".into(),
        path: path.into(),
        format,
    }
}

fn flashes(timeline: &Timeline) -> Vec<(bool, Option<String>)> {
    timeline
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Flash { ok, detail, .. } => Some((ok, detail)),
            _ => None,
        })
        .collect()
}

fn notes(timeline: &Timeline) -> Vec<String> {
    timeline
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Note { text } => Some(text),
            _ => None,
        })
        .collect()
}

fn options(preset: FlashPreset, tool: &Tool) -> CommandFlasherOptions {
    let mut o = CommandFlasherOptions::new("pic32-a");
    o.preset = Some(preset);
    o.program = Some(tool.program());
    o
}

fn ipecmd_options(tool: &Tool) -> CommandFlasherOptions {
    let mut o = options(FlashPreset::Ipecmd, tool);
    o.part = Some("32MZ2048EFM100".into());
    o.tool = Some("PKOB".into());
    o.serial = Some("BUR123".into());
    o
}

#[tokio::test]
async fn ipecmd_preset_programs_verifies_and_releases_the_chosen_pkob_and_logs_its_output() {
    let tool = Tool::new("ipecmd");
    let flasher = CommandFlasher::new(ipecmd_options(&tool)).unwrap();
    let (timeline, events) = events();
    flasher
        .flash(&image("/fw/app-v4.hex", ImageFormat::Hex), &events)
        .await
        .unwrap();
    assert_eq!(
        tool.calls(),
        [[
            "-TPPKOB",
            "-TSBUR123",
            "-P32MZ2048EFM100",
            "-F/fw/app-v4.hex",
            "-M",
            "-Y",
            "-OL"
        ]]
    );
    let notes = notes(&timeline);
    assert!(
        notes.iter().any(|n| n == "ipecmd: Program Succeeded."),
        "{notes:#?}"
    );
    assert_eq!(flashes(&timeline).len(), 1);
    assert!(flashes(&timeline)[0].0);
}

#[tokio::test]
async fn ipecmd_reset_only_connects_and_releases_without_programming() {
    let tool = Tool::new("ipecmd");
    let flasher = CommandFlasher::new(ipecmd_options(&tool)).unwrap();
    flasher.reset(&events().1).await.unwrap();
    let mut without_serial = ipecmd_options(&tool);
    without_serial.serial = None;
    CommandFlasher::new(without_serial)
        .unwrap()
        .reset(&events().1)
        .await
        .unwrap();
    assert_eq!(
        tool.calls(),
        [
            vec!["-TPPKOB", "-TSBUR123", "-P32MZ2048EFM100", "-OK", "-OL"],
            vec!["-TPPKOB", "-P32MZ2048EFM100", "-OK", "-OL"]
        ]
    );
}

#[tokio::test]
async fn ipecmd_output_reporting_failure_fails_the_flash_even_with_exit_status_zero() {
    let tool = Tool::new("ipecmd-fails-exit0");
    let mut o = ipecmd_options(&tool);
    o.retries = 1;
    let flasher = CommandFlasher::new(o).unwrap();
    let (timeline, events) = events();
    let err = flasher
        .flash(&image("/fw/a.hex", ImageFormat::Hex), &events)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Verify Failed.") && text.contains("board pic32-a"),
        "{text}"
    );
    assert_eq!(tool.calls().len(), 2, "one retry");
    assert_eq!(flashes(&timeline), [(false, Some(text))]);
}

/// A representative board for a preset, and the command lines it must get: the preset
/// table (`PRESETS`) builds them; these are written out by hand from the tools' docs.
struct Case {
    preset: FlashPreset,
    board: &'static str,
    fields: [Option<&'static str>; 4],
    image: (&'static str, ImageFormat),
    /// `{script}` stands for the command file's path.
    flash: &'static [&'static str],
    reset: Option<&'static [&'static str]>,
    /// The command file when flashing and when resetting.
    script: Option<(&'static str, &'static str)>,
}

const JLINK_PIC32: &[&str] = &[
    "-NoGui",
    "1",
    "-ExitOnError",
    "1",
    "-device",
    "PIC32MZ2048EFM144",
    "-if",
    "JTAG",
    "-speed",
    "4000",
    "-autoconnect",
    "1",
    "-SelectEmuBySN",
    "000123456789",
    "-CommandFile",
    "{script}",
];
const JLINK_STM32: &[&str] = &[
    "-NoGui",
    "1",
    "-ExitOnError",
    "1",
    "-device",
    "STM32U585AI",
    "-if",
    "SWD",
    "-speed",
    "4000",
    "-autoconnect",
    "1",
    "-CommandFile",
    "{script}",
];

/// `fields`: part, tool, serial, device.
const CASES: &[Case] = &[
    Case {
        preset: FlashPreset::Ipecmd,
        board: "Curiosity PIC32MZ EF, its on-board PKOB picked by serial",
        fields: [
            Some("32MZ2048EFM100"),
            Some("PKOB"),
            Some("BUR000000001"),
            None,
        ],
        image: ("/fw/app.hex", ImageFormat::Hex),
        flash: &[
            "-TPPKOB",
            "-TSBUR000000001",
            "-P32MZ2048EFM100",
            "-F/fw/app.hex",
            "-M",
            "-Y",
            "-OL",
        ],
        reset: Some(&[
            "-TPPKOB",
            "-TSBUR000000001",
            "-P32MZ2048EFM100",
            "-OK",
            "-OL",
        ]),
        script: None,
    },
    Case {
        preset: FlashPreset::Ipecmd,
        board: "Curiosity PIC32MZ EF 2.0, the only PKOB4 attached",
        fields: [Some("32MZ2048EFM144"), Some("PKOB4"), None, None],
        image: ("/fw/app.hex", ImageFormat::Hex),
        flash: &[
            "-TPPKOB4",
            "-P32MZ2048EFM144",
            "-F/fw/app.hex",
            "-M",
            "-Y",
            "-OL",
        ],
        reset: Some(&["-TPPKOB4", "-P32MZ2048EFM144", "-OK", "-OL"]),
        script: None,
    },
    Case {
        preset: FlashPreset::Pic32prog,
        board: "PIC32MX behind a stk500v2 bootloader on a USB-UART",
        fields: [None, None, None, Some("/dev/ttyUSB0")],
        image: ("/fw/app.hex", ImageFormat::Hex),
        flash: &["-d", "/dev/ttyUSB0", "/fw/app.hex"],
        reset: None,
        script: None,
    },
    Case {
        preset: FlashPreset::Pic32prog,
        board: "PIC32MZ on the only PICkit2 or FT2232 adapter attached",
        fields: [None, None, None, None],
        image: ("/fw/app.hex", ImageFormat::Hex),
        flash: &["/fw/app.hex"],
        reset: None,
        script: None,
    },
    Case {
        preset: FlashPreset::Jlink,
        board: "PIC32MZ2048EFM144 on a J-Link over JTAG",
        fields: [
            Some("PIC32MZ2048EFM144"),
            Some("JTAG"),
            Some("000123456789"),
            None,
        ],
        image: ("/fw/app.hex", ImageFormat::Hex),
        flash: JLINK_PIC32,
        reset: Some(JLINK_PIC32),
        script: Some(("loadfile \"/fw/app.hex\"\nr\ng\nq\n", "r\ng\nq\n")),
    },
    Case {
        preset: FlashPreset::Jlink,
        board: "STM32U5 over SWD, a .bin at its base",
        fields: [Some("STM32U585AI"), Some("SWD"), None, None],
        image: ("/fw/app.bin", ImageFormat::Bin { base: 0x0800_0000 }),
        flash: JLINK_STM32,
        reset: Some(JLINK_STM32),
        script: Some((
            "loadfile \"/fw/app.bin\" 0x08000000\nr\ng\nq\n",
            "r\ng\nq\n",
        )),
    },
    Case {
        preset: FlashPreset::Openocd,
        board: "PIC32MX on an Olimex ARM-USB-OCD-H picked by serial",
        fields: [
            Some("pic32mx"),
            Some("ftdi/olimex-arm-usb-ocd-h"),
            Some("OL123"),
            None,
        ],
        image: ("/fw/app.elf", ImageFormat::Elf),
        flash: &[
            "-f",
            "interface/ftdi/olimex-arm-usb-ocd-h.cfg",
            "-c",
            "adapter serial OL123",
            "-f",
            "target/pic32mx.cfg",
            "-c",
            "program /fw/app.elf verify reset exit",
        ],
        reset: Some(&[
            "-f",
            "interface/ftdi/olimex-arm-usb-ocd-h.cfg",
            "-c",
            "adapter serial OL123",
            "-f",
            "target/pic32mx.cfg",
            "-c",
            "init",
            "-c",
            "reset run",
            "-c",
            "shutdown",
        ]),
        script: None,
    },
];

/// The argv of a call with the command file's path replaced by `{script}`; the file
/// must be gone after the run.
fn with_script_placeholder(mut call: Vec<String>) -> Vec<String> {
    if let Some(i) = call.iter().position(|a| a == "-CommandFile") {
        assert!(
            !Path::new(&call[i + 1]).exists(),
            "the command file is removed after the run"
        );
        call[i + 1] = "{script}".into();
    }
    call
}

#[tokio::test]
async fn every_preset_builds_its_command_lines_for_a_representative_board() {
    for spec in &PRESETS {
        assert!(
            CASES.iter().any(|c| c.preset == spec.preset),
            "preset {} has no case here",
            spec.name
        );
    }
    for case in CASES {
        let tool = Tool::new("record");
        let mut o = options(case.preset, &tool);
        let [part, tool_name, serial, device] = case.fields.map(|f| f.map(String::from));
        (o.part, o.tool, o.serial, o.device) = (part, tool_name, serial, device);
        let flasher = CommandFlasher::new(o).unwrap_or_else(|e| panic!("{}: {e}", case.board));
        let (path, format) = case.image;
        flasher
            .flash(&image(path, format), &events().1)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.board));
        let script_after_flash = fs::read_to_string(tool.sidecar("script")).ok();
        let reset = flasher.reset(&events().1).await;
        let mut calls = tool.calls().into_iter().map(with_script_placeholder);
        assert_eq!(calls.next().unwrap(), case.flash, "{}", case.board);
        match case.reset {
            Some(expected) => {
                reset.unwrap_or_else(|e| panic!("{}: {e}", case.board));
                assert_eq!(calls.next().unwrap(), expected, "{}", case.board);
            }
            None => assert!(
                matches!(reset, Err(BoardError::Unsupported(_))),
                "{}: {reset:?}",
                case.board
            ),
        }
        let scripts = script_after_flash.zip(fs::read_to_string(tool.sidecar("script")).ok());
        assert_eq!(
            scripts.as_ref().map(|(f, r)| (f.as_str(), r.as_str())),
            case.script,
            "{}",
            case.board
        );
    }
}

#[tokio::test]
async fn custom_args_fill_every_template_variable() {
    let tool = Tool::new("record");
    let mut o = CommandFlasherOptions::new("pic32-a");
    o.program = Some(tool.program());
    o.args = Some(
        [
            "{board}",
            "{part}",
            "{tool}",
            "{serial}",
            "{image}",
            "{fixture}",
            "{format}",
            "{base}",
            "{{x}}",
        ]
        .map(String::from)
        .to_vec(),
    );
    o.part = Some("P".into());
    o.tool = Some("T".into());
    o.serial = Some("S".into());
    let flasher = CommandFlasher::new(o).unwrap();
    flasher
        .flash(
            &image("/fw/a.bin", ImageFormat::Bin { base: 0x1d00_0000 }),
            &events().1,
        )
        .await
        .unwrap();
    assert_eq!(
        tool.calls(),
        [[
            "pic32-a",
            "P",
            "T",
            "S",
            "/fw/a.bin",
            "app-v4",
            "bin",
            "0x1d000000",
            "{x}"
        ]]
    );
    // {base} of a HEX image is not defined: an error naming it, and the tool never runs.
    let err = flasher
        .flash(&image("/fw/a.hex", ImageFormat::Hex), &events().1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("{base}"), "{err}");
    assert_eq!(tool.calls().len(), 1);
}

#[tokio::test]
async fn a_failing_tool_reports_exit_status_and_its_last_output() {
    let tool = Tool::new("fail");
    let flasher = CommandFlasher::new(ipecmd_options(&tool)).unwrap();
    let (timeline, events) = events();
    let err = flasher
        .flash(&image("/fw/a.hex", ImageFormat::Hex), &events)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("exit status: 3") && text.contains("Error: target not found"),
        "{text}"
    );
    assert!(notes(&timeline).contains(&"fail: Error: target not found".to_owned()));
}

#[tokio::test]
async fn a_flaky_tool_is_retried_until_it_succeeds_and_each_failure_is_noted() {
    let tool = Tool::new("flaky");
    let mut o = CommandFlasherOptions::new("pic32-a");
    o.program = Some(tool.program());
    o.args = Some(vec!["2".into()]);
    o.retries = 2;
    let flasher = CommandFlasher::new(o.clone()).unwrap();
    let (timeline, events) = events();
    flasher
        .flash(&image("/fw/a.hex", ImageFormat::Hex), &events)
        .await
        .unwrap();
    let retries: Vec<String> = notes(&timeline)
        .into_iter()
        .filter(|n| n.contains("retrying"))
        .collect();
    assert_eq!(retries.len(), 2, "{retries:#?}");
    assert!(retries[0].starts_with("attempt 1/3"), "{retries:#?}");
    assert_eq!(
        flashes(&timeline),
        [(true, Some(format!("{} /fw/a.hex", tool.program())))]
    );

    // Not enough retries: the last failure is the error.
    fs::remove_file(tool.sidecar("count")).unwrap();
    o.retries = 1;
    let err = CommandFlasher::new(o)
        .unwrap()
        .flash(&image("/fw/a.hex", ImageFormat::Hex), &events)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("attempt 2: USB transfer failed"),
        "{err}"
    );
}

fn is_gone(pid: i32) -> bool {
    // A killed process may linger as a zombie until its new parent reaps it.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn a_hanging_tool_and_its_children_are_killed_at_the_timeout() {
    let tool = Tool::new("hang");
    let mut o = CommandFlasherOptions::new("pic32-a");
    o.program = Some(tool.program());
    o.args = Some(vec!["-F{image}".into()]);
    o.timeout = Duration::from_millis(500);
    let flasher = CommandFlasher::new(o).unwrap();
    let (timeline, events) = events();
    let err = flasher
        .flash(&image("/fw/a.hex", ImageFormat::Hex), &events)
        .await
        .unwrap_err();
    assert!(matches!(err, BoardError::ToolTimeout { .. }), "{err}");
    assert!(notes(&timeline).contains(&"hang: waiting for the target...".to_owned()));
    let child: i32 = fs::read_to_string(tool.sidecar("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_gone(child) {
        assert!(
            Instant::now() < deadline,
            "the tool's child {child} survived the timeout kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_missing_tool_says_how_to_fix_it() {
    let mut o = CommandFlasherOptions::new("pic32-a");
    o.preset = Some(FlashPreset::Ipecmd);
    o.program = Some("/nonexistent/ipecmd.sh".into());
    o.part = Some("32MZ2048EFM100".into());
    o.tool = Some("PKOB".into());
    let err = CommandFlasher::new(o)
        .unwrap()
        .flash(&image("/fw/a.hex", ImageFormat::Hex), &events().1)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/ipecmd.sh") && text.contains("PATH"),
        "{text}"
    );
}

fn power_events(timeline: &Timeline) -> Vec<(PowerState, String)> {
    timeline
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Power { state, reason } => Some((state, reason)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn usbrelay_preset_switches_the_relay_channel_and_cycles_as_off_then_on() {
    let tool = Tool::new("record");
    let mut o = CommandPowerOptions::usbrelay("pic32-a", "R1_1", Duration::from_secs(10));
    assert_eq!(o.on, ["usbrelay", "R1_1=1"]);
    assert_eq!(o.off, ["usbrelay", "R1_1=0"]);
    o.on[0] = tool.program();
    o.off[0] = tool.program();
    let power = CommandPower::new(o, None);
    let (timeline, events) = events();
    assert!(power.can_power_cycle());
    power
        .cycle(Duration::from_millis(1), &events)
        .await
        .unwrap();
    assert_eq!(tool.calls(), [["R1_1=0"], ["R1_1=1"]]);
    let states: Vec<PowerState> = power_events(&timeline)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(states, [PowerState::Off, PowerState::On]);
    let err = power.reset(&events).await.unwrap_err();
    assert!(matches!(err, BoardError::Unsupported(_)), "{err}");
}

#[tokio::test]
async fn uhubctl_preset_uses_its_own_cycle_with_the_off_time() {
    let tool = Tool::new("record");
    let mut o = CommandPowerOptions::uhubctl("pic32-a", "1-1", 2, Duration::from_secs(10));
    assert_eq!(o.on, ["uhubctl", "-l", "1-1", "-p", "2", "-a", "on"]);
    assert_eq!(o.off, ["uhubctl", "-l", "1-1", "-p", "2", "-a", "off"]);
    for argv in [&mut o.on, &mut o.off, o.cycle.as_mut().unwrap()] {
        argv[0] = tool.program();
    }
    let power = CommandPower::new(o, None);
    let (timeline, events) = events();
    power.off(&events).await.unwrap();
    power
        .cycle(Duration::from_millis(1500), &events)
        .await
        .unwrap();
    assert_eq!(
        tool.calls(),
        [
            vec!["-l", "1-1", "-p", "2", "-a", "off"],
            vec!["-l", "1-1", "-p", "2", "-a", "cycle", "-d", "1.5"]
        ]
    );
    assert_eq!(power_events(&timeline).len(), 3);
}

#[tokio::test]
async fn a_flasher_without_a_reset_names_the_rig_field_that_gives_one() {
    let tool = Tool::new("record");
    let flasher = CommandFlasher::new(options(FlashPreset::Pic32prog, &tool)).unwrap();
    let Err(BoardError::Unsupported(message)) = flasher.reset(&events().1).await else {
        panic!("pic32prog has no reset-only command")
    };
    assert!(!message.contains("reset_args"), "{message}");
    assert!(message.contains("reset: COMMAND"), "{message}");
    // The field it names is one the rig parser takes.
    let rig = "boards:\n  - name: pic32-a\n    thing_name: Thing1\n    flash: { command: { preset: pic32prog } }\n    console: { serial: { port: /dev/ttyUSB0 } }\n    power: { command: { on: 'relay on', off: 'relay off', reset: 'relay pulse' } }\n";
    let rig = otarig::config::load_rig_str(rig, Path::new("rigs/bench.yaml"))
        .unwrap_or_else(|d| panic!("{d}"));
    let otarig::config::rig::BoardParts::Hardware {
        power: Some(otarig::config::rig::PowerConfig::Command(power)),
        ..
    } = &rig.boards[0].parts
    else {
        panic!("{:?}", rig.boards[0].parts)
    };
    assert_eq!(power.reset.as_deref(), Some("relay pulse"));
}

#[tokio::test]
async fn a_reset_line_in_the_rig_is_used_instead_of_the_flasher() {
    let relay = Tool::new("record");
    let ipecmd = Tool::new("ipecmd");
    let on = format!("{} R1_1=1", relay.program());
    let off = format!("{} R1_1=0", relay.program());
    let reset = format!("{} 'R2 1=1'", relay.program());
    let o = CommandPowerOptions::from_commands(
        "pic32-a",
        &on,
        &off,
        Some(&reset),
        Duration::from_secs(5),
    )
    .unwrap();
    let flasher: Arc<dyn Flasher> = Arc::new(CommandFlasher::new(ipecmd_options(&ipecmd)).unwrap());
    CommandPower::new(o, Some(flasher))
        .reset(&events().1)
        .await
        .unwrap();
    assert_eq!(relay.calls(), [["R2 1=1"]]);
    assert!(ipecmd.calls().is_empty());
    let err = CommandPowerOptions::from_commands(
        "pic32-a",
        "x",
        "y",
        Some("relay 'R2"),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("power `reset` command"), "{err}");
}

#[tokio::test]
async fn command_power_from_rig_strings_resets_through_the_flasher() {
    let relay = Tool::new("record");
    let ipecmd = Tool::new("ipecmd");
    let on = format!("{} 'R1 1=1'", relay.program());
    let off = format!("{} R1_1=0", relay.program());
    let o = CommandPowerOptions::from_commands("pic32-a", &on, &off, None, Duration::from_secs(5))
        .unwrap();
    let flasher: Arc<dyn Flasher> = Arc::new(CommandFlasher::new(ipecmd_options(&ipecmd)).unwrap());
    let power = CommandPower::new(o, Some(flasher));
    power.on(&events().1).await.unwrap();
    power.reset(&events().1).await.unwrap();
    assert_eq!(relay.calls(), [["R1 1=1"]]);
    assert_eq!(
        ipecmd.calls(),
        [["-TPPKOB", "-TSBUR123", "-P32MZ2048EFM100", "-OK", "-OL"]]
    );
    let err = CommandPowerOptions::from_commands(
        "pic32-a",
        "usbrelay 'R1",
        "x",
        None,
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("power `on` command"), "{err}");
}

#[tokio::test]
async fn a_hanging_power_command_is_a_timeout_error() {
    let tool = Tool::new("hang");
    let o = CommandPowerOptions {
        board: "pic32-a".into(),
        on: vec![tool.program()],
        off: vec![tool.program()],
        cycle: None,
        reset: None,
        timeout: Duration::from_millis(300),
    };
    let err = CommandPower::new(o, None)
        .off(&events().1)
        .await
        .unwrap_err();
    assert!(matches!(err, BoardError::ToolTimeout { .. }), "{err}");
}

// Pure helpers: templates, command splitting, the J-Link script.

fn vars() -> BTreeMap<&'static str, Option<String>> {
    BTreeMap::from([("image", Some("a.hex".to_owned())), ("serial", None)])
}

#[test]
fn templates_substitute_escape_and_name_what_is_missing() {
    let r = |t: &str| render_args(&[t.to_owned()], &vars()).map(|mut v| v.remove(0));
    assert_eq!(r("-F{image}").unwrap(), "-Fa.hex");
    assert_eq!(r("{{literal}} {image}").unwrap(), "{literal} a.hex");
    assert!(r("-TS{serial}").unwrap_err().contains("sets no `serial:`"));
    let unknown = r("{imgae}").unwrap_err();
    assert!(
        unknown.contains("unknown variable {imgae}") && unknown.contains("{image}"),
        "{unknown}"
    );
    assert!(r("-F{image").unwrap_err().contains("unbalanced"));
}

#[test]
fn commands_split_like_a_shell_without_expansion() {
    assert_eq!(
        split_command("usbrelay R1_1=0").unwrap(),
        ["usbrelay", "R1_1=0"]
    );
    assert_eq!(
        split_command(r#"sh -c 'echo "a b"' "x\"y" z\ w"#).unwrap(),
        ["sh", "-c", "echo \"a b\"", "x\"y", "z w"]
    );
    assert_eq!(split_command("a ''").unwrap(), ["a", ""]);
    assert!(split_command("  ").is_err());
    assert!(split_command("a 'b").unwrap_err().contains("unclosed '"));
}

#[test]
fn a_flasher_without_program_or_with_unset_variables_is_rejected_at_construction() {
    let err = CommandFlasher::new(CommandFlasherOptions::new("b"))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("board b") && err.to_string().contains("preset"),
        "{err}"
    );
    let mut o = CommandFlasherOptions::new("b");
    o.preset = Some(FlashPreset::Ipecmd);
    o.tool = Some("PKOB".into());
    let err = CommandFlasher::new(o).err().unwrap();
    assert!(err.to_string().contains("{part}"), "{err}");
    assert_eq!(
        "ipecmd".parse::<FlashPreset>().unwrap(),
        FlashPreset::Ipecmd
    );
    assert!("mplab"
        .parse::<FlashPreset>()
        .unwrap_err()
        .contains("expected ipecmd, pic32prog, jlink, openocd"));
}
