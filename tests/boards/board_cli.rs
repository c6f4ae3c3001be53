//! `otarig board …` as an engineer uses it at the bench: the real binary, one process per
//! command, a console left running "in another terminal" and stopped with Ctrl-C. Native
//! simulated boards (rigs/sim.yaml) and simulated boards wired as hardware
//! (rigs/sim-hardware.yaml: command flasher, serial console, command power).

use std::path::Path;

use serde_json::Value;

use crate::support::process::{otarig, processes_under, s, Background, USAGE};

/// A console line as printed: the elapsed-time stamp, then the board's line.
const STAMPED: &str = r"^\[\s*\d+\.\d{3}s\] ";

#[test]
fn list_shows_every_board_with_its_parts_as_a_table_and_as_json() {
    let out = otarig(&["board", "list"]);
    let table = out.stdout.clone();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    for column in ["BOARD", "THING", "PLATFORM", "FLASH", "CONSOLE", "POWER"] {
        assert!(head.contains(column), "{head}");
    }
    let first: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(first[..2], ["sim-1", "Thing1"], "{table}");
    assert!(table.contains("native sim"), "{table}");
    assert_eq!(table.lines().count(), 1 + 21, "{table}");

    let out = otarig(&[
        "board",
        "list",
        "--rig",
        "rigs/sim.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["rig"], "sim");
    let boards = json["boards"].as_array().unwrap();
    assert_eq!(boards.len(), 21);
    assert_eq!(boards[0]["name"], "sim-1");
    assert_eq!(boards[0]["thing"], "Thing1");
    assert_eq!(boards[0]["native"], true);
    assert_eq!(boards[0]["flash"], "native sim");
    assert_eq!(boards[0]["power"], "native process");
    assert_eq!(boards[0]["power_cycle"], true);

    // Hardware parts: the kind of each, as the rig file names it.
    let out = otarig(&[
        "board",
        "list",
        "--rig",
        "rigs/sim-hardware.yaml",
        "--format",
        "json",
    ]);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    let hw1 = &json["boards"][0];
    assert_eq!(hw1["name"], "hw-1");
    assert_eq!(hw1["native"], false);
    assert_eq!(hw1["flash"], "command {otarig}");
    assert_eq!(hw1["console"], "serial {board_dir}/uart 115200");
    assert_eq!(hw1["power"], "command");
}

#[test]
fn a_flashed_simulated_board_boots_on_its_console_until_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out = otarig(&[
        "board",
        "flash",
        "sim-1",
        "app-v4",
        "--state-dir",
        s(&state),
    ]);
    let (stdout, stderr) = (out.stdout.clone(), out.stderr.clone());
    assert_eq!(out.code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("flashed app-v4 onto board sim-1"),
        "{stdout}"
    );
    // Every part event on stderr: written, started as a programmer releases it, switched
    // off again because a native board cannot outlive the command.
    for needle in ["## flash app-v4: ok", "## power on", "## power off"] {
        assert!(stderr.contains(needle), "`{needle}` not in:\n{stderr}");
    }
    assert!(state.join("boards/sim-1/flash.bin").exists());
    let left = processes_under(tmp.path());
    assert!(left.is_empty(), "flash left board processes: {left:?}");

    let mut console = Background::otarig(&[
        "board",
        "console",
        "sim-1",
        "--power-on",
        "--state-dir",
        s(&state),
    ]);
    let boot = console.wait_for(&format!("{STAMPED}Bootloader version"));
    let banner = console.wait_for(&format!(
        r"{STAMPED}\[INFO\] otarig-sim app version 0\.9\.4 \(thing Thing1\)$"
    ));
    assert!(boot < banner, "stamps grow: {boot} then {banner}");
    console.wait_for_stderr("## power on: process started");
    let running = processes_under(tmp.path());
    assert!(
        running.iter().any(|p| p.contains(" sim ")),
        "the board runs while the console is open: {running:?}"
    );

    let status = console.interrupt();
    assert_eq!(status.code(), Some(0), "{}", console.context());
    console.wait_for_stderr("## power off: process killed");
    let left = processes_under(tmp.path());
    assert!(left.is_empty(), "Ctrl-C left board processes: {left:?}");
}

#[test]
fn an_unknown_board_or_fixture_is_a_usage_error_naming_the_valid_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    for args in [
        vec!["board", "flash", "sim-99", "app-v4"],
        vec!["board", "console", "sim-99"],
        vec!["board", "power", "cycle", "sim-99"],
        vec!["board", "reset", "sim-99"],
    ] {
        let mut args = args.clone();
        args.extend(["--state-dir", s(&state)]);
        let out = otarig(&args);
        let stderr = out.stderr.clone();
        assert_eq!(out.code, Some(USAGE), "{args:?}: {stderr}");
        assert!(
            stderr.contains("sim-99") && stderr.contains("sim-1,") && stderr.contains("sim-21"),
            "{args:?}: {stderr}"
        );
    }
    let out = otarig(&[
        "board",
        "flash",
        "sim-1",
        "app-v99",
        "--state-dir",
        s(&state),
    ]);
    let stderr = out.stderr.clone();
    assert_eq!(out.code, Some(USAGE), "{stderr}");
    assert!(
        stderr.contains("app-v99") && stderr.contains("app-v4,") && stderr.contains("app-v5"),
        "{stderr}"
    );
}

/// hw-1 of rigs/sim-hardware.yaml without its `power:` part.
const NO_POWER_RIG: &str = r#"
name: no-power
cloud:
  endpoint: { bind: 127.0.0.1:0, tls: true }
  pki: .otarig/pki
boards:
  - name: hw-1
    thing_name: Thing1
    platform: sim
    flash:
      command:
        program: '{otarig}'
        args: [sim, flash, --dir, '{board_dir}', --tty, '{board_dir}/uart', '{image}']
    console:
      serial: { port: '{board_dir}/uart', baud: 115200 }
"#;

#[test]
fn power_without_power_control_is_a_usage_error_naming_what_to_add() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("rigs")).unwrap();
    let rig = tmp.path().join("rigs/no-power.yaml");
    std::fs::write(&rig, NO_POWER_RIG).unwrap();
    for args in [
        vec!["board", "power", "on", "hw-1"],
        vec!["board", "power", "cycle", "hw-1", "--off-for", "200ms"],
        vec!["board", "console", "hw-1", "--power-on"],
    ] {
        let mut args = args.clone();
        args.extend(["--rig", s(&rig)]);
        let out = otarig(&args);
        let stderr = out.stderr.clone();
        assert_eq!(out.code, Some(USAGE), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no power control") && stderr.contains("power: { command:"),
            "{args:?}: {stderr}"
        );
    }

    // A native board has power (a process) but only while an otarig runs it.
    let out = otarig(&[
        "board",
        "power",
        "on",
        "sim-1",
        "--state-dir",
        s(tmp.path()),
    ]);
    let stderr = out.stderr.clone();
    assert_eq!(out.code, Some(USAGE), "{stderr}");
    assert!(
        stderr.contains("native board") && stderr.contains("otarig board console sim-1"),
        "{stderr}"
    );
    let out = otarig(&["board", "reset", "sim-1", "--state-dir", s(tmp.path())]);
    assert_eq!(out.code, Some(USAGE), "{}", out.stderr);
    let left = processes_under(tmp.path());
    assert!(left.is_empty(), "{left:?}");
}

/// Switches a hardware-wired simulated board off whatever happens to the test.
struct PowerOffOnDrop<'a>(&'a Path);

impl Drop for PowerOffOnDrop<'_> {
    fn drop(&mut self) {
        otarig(&["sim", "power", "off", "--dir", s(self.0)]);
    }
}

#[test]
fn a_board_wired_as_hardware_keeps_its_state_between_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let board_dir = state.join("boards/hw-1");
    let _off = PowerOffOnDrop(&board_dir);
    let bench = ["--rig", "rigs/sim-hardware.yaml", "--state-dir", s(&state)];
    let with = |args: &[&'static str]| -> Vec<&str> {
        args.iter().copied().chain(bench.iter().copied()).collect()
    };

    // Off: nothing to open.
    let out = otarig(&with(&["board", "console", "hw-1"]));
    let stderr = out.stderr.clone();
    assert_eq!(out.code, Some(3), "{stderr}");
    assert!(stderr.contains("is the board powered?"), "{stderr}");

    // Flashing switches it on first, as a run does, and leaves it running.
    let out = otarig(&with(&["board", "flash", "hw-1", "app-v4"]));
    let stderr = out.stderr.clone();
    assert_eq!(out.code, Some(0), "{stderr}");
    assert!(stderr.contains(" sim flash --dir "), "{stderr}");
    assert!(board_dir.join("sim.pid").exists(), "left running: {stderr}");

    let mut console = Background::otarig(&with(&["board", "console", "hw-1"]));
    console.wait_for_stderr("attached");
    let out = otarig(&with(&["board", "reset", "hw-1"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    console.wait_for(&format!(
        r"{STAMPED}\[INFO\] otarig-sim app version 0\.9\.4"
    ));

    let out = otarig(&with(&[
        "board",
        "power",
        "cycle",
        "hw-1",
        "--off-for",
        "200ms",
    ]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    console.wait_for(&format!("{STAMPED}.*console re-opened"));
    console.wait_for(&format!(
        r"{STAMPED}\[INFO\] otarig-sim app version 0\.9\.4"
    ));

    let out = otarig(&with(&["board", "power", "off", "hw-1"]));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout.clone().trim(), "board hw-1: off");
    console.wait_for_stderr("vanished");
    assert!(!board_dir.join("sim.pid").exists());

    let status = console.interrupt();
    assert_eq!(status.code(), Some(0), "{}", console.context());
    let left = processes_under(tmp.path());
    assert!(left.is_empty(), "{left:?}");
}
