//! Resolution: defaults merged, presets expanded, roles expanded, values typed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::rig::*;
use super::scenario::*;
use super::*;
use crate::model::ImageFault;

fn rig(text: &str) -> Result<Rig, Diagnostics> {
    load_rig_str(text, Path::new("/repo/rigs/test.yaml"))
}

fn scenario(name: &str, text: &str) -> Result<Scenario<UnparsedCheck>, Diagnostics> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    load_scenarios(&[path], None).map(|mut v| v.remove(0))
}

const HW: &str = r#"
cloud:
  endpoint: { bind: 0.0.0.0:8883, policy: permissive, pace: 5ms }
  pki: lab/pki
  client: { broker: mosquitto.lab:1883 }
defaults:
  profile: { banner: 'FreeRTOS OTA demo' }
  timeouts: { boot: 45s }
  flash_retries: 3
  baseline: app-v4
boards:
  - name: pic32-a
    thing_name: Thing1
    flash: { command: { preset: ipecmd, part: 32MZ2048EFM100, serial: BUR123 } }
    console: { serial: { port: /dev/serial/by-id/usb-FTDI_A-if00 } }
    power: { command: { preset: uhubctl, hub: "1-1", port: 2 } }
    timeouts: { recovery: 2m }
  - name: stm32-b
    thing_name: Thing2
    platform: stm32u5
    flash: { probe-rs: { chip: STM32U585AIIx, probe: "0483:374e:ABC", format: bin, base: 0x08000000 } }
    console: { serial: { usb: "0403:6001", baud: 921600, parity: even } }
    power: { probe: {} }
    profile: { connected: 'connected to broker' }
    flash_retries: 0
"#;

#[test]
fn rig_defaults_merge_into_each_board_field_by_field() {
    let rig = rig(HW).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(rig.name, "test");
    assert_eq!(rig.root, PathBuf::from("/repo"));
    assert_eq!(rig.cloud.pki, PathBuf::from("/repo/lab/pki"));
    assert_eq!(
        rig.cloud.endpoint.host, "127.0.0.1",
        "unspecified bind → loopback host"
    );
    assert_eq!(rig.cloud.endpoint.policy, Policy::Permissive);
    assert_eq!(rig.cloud.endpoint.pace, Duration::from_millis(5));
    assert!(rig.cloud.endpoint.tls);
    assert_eq!(
        rig.cloud.client.as_ref().unwrap().broker,
        "mosquitto.lab:1883"
    );
    let a = &rig.boards[0];
    assert_eq!(a.platform, "pic32mz");
    assert_eq!(
        a.timeouts,
        Timeouts {
            boot: Duration::from_secs(45),
            recovery: Duration::from_secs(120),
            flash: Duration::from_secs(120)
        }
    );
    assert_eq!(a.flash_retries, 3);
    assert_eq!(a.profile.banner.as_str(), "FreeRTOS OTA demo");
    assert_eq!(a.profile.connected.as_str(), "MQTT connection established");
    let b = &rig.boards[1];
    assert_eq!(b.profile.banner.as_str(), "FreeRTOS OTA demo");
    assert_eq!(b.profile.connected.as_str(), "connected to broker");
    assert_eq!(b.flash_retries, 0);
}

#[test]
fn presets_expand_into_commands_and_capabilities_follow_the_parts() {
    let rig = rig(HW).unwrap();
    let BoardParts::Hardware {
        flash: FlashConfig::Command(f),
        power: Some(PowerConfig::Command(p)),
        ..
    } = &rig.boards[0].parts
    else {
        panic!("{:?}", rig.boards[0].parts)
    };
    // The preset's command line belongs to board::command; config keeps what was written.
    assert_eq!(f.preset, Some(FlashPreset::Ipecmd));
    assert_eq!(f.program, None);
    assert_eq!(f.args, None);
    assert_eq!(f.tool.as_deref(), Some("PKOB"));
    assert_eq!(p.on, "uhubctl -l 1-1 -p 2 -a on");
    assert_eq!(p.off, "uhubctl -l 1-1 -p 2 -a off");
    assert_eq!(
        rig.boards[0].capabilities(),
        [Capability::PowerCycle, Capability::Reset]
    );
    let BoardParts::Hardware {
        flash: FlashConfig::ProbeRs(pr),
        console: ConsoleConfig::Serial(c),
        power,
    } = &rig.boards[1].parts
    else {
        panic!()
    };
    assert_eq!(
        pr.probe,
        Some(UsbId {
            vid: 0x0483,
            pid: 0x374e,
            serial: Some("ABC".into())
        })
    );
    assert_eq!(pr.base, Some(0x0800_0000));
    assert_eq!(
        c.port,
        SerialPortRef::Usb(UsbId {
            vid: 0x0403,
            pid: 0x6001,
            serial: None
        })
    );
    assert_eq!(
        (c.baud, c.parity, c.data_bits, c.stop_bits),
        (921_600, Parity::Even, 8, 1)
    );
    assert_eq!(power, &Some(PowerConfig::Probe));
    assert_eq!(rig.boards[1].capabilities(), [Capability::Reset]);
}

#[test]
fn rig_semantic_errors_are_all_reported() {
    let text = "boards:\n  - name: a\n    thing_name: T\n    flash: { command: { program: x, args: ['{imag}'] } }\n    console: { serial: { port: /dev/x, usb: '1:2' } }\n  - name: a\n    thing_name: T2\n    native: { sim: {} }\n    power: { probe: {} }\n  - name: c\n    thing_name: T3\n    flash: { probe-rs: { chip: X } }\n";
    let d = rig(text).unwrap_err();
    let msgs: Vec<String> = d
        .iter()
        .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
        .collect();
    let has = |s: &str| msgs.iter().any(|m| m.contains(s));
    assert!(has("4:44 unknown placeholder `{imag}`"), "{msgs:#?}");
    assert!(
        has("the flasher's arguments never mention `{image}`"),
        "{msgs:#?}"
    );
    assert!(
        has("5:24 a serial console takes `port` or `usb`, not both"),
        "{msgs:#?}"
    );
    assert!(has("6:11 board name `a` is used twice"), "{msgs:#?}");
    assert!(
        has("9:12 board `a` is native: its power is its process"),
        "{msgs:#?}"
    );
    assert!(has("board `c` needs `console`"), "{msgs:#?}");
    assert_eq!(d.errors().count(), 6, "{msgs:#?}");
    // Every variable the flasher fills is known here too.
    let all = "boards:\n  - name: a\n    thing_name: T\n    flash: { command: { program: x, args: ['{image}', '{fixture}', '{format}', '{base}', '{board}', '{speed}', '{{literal}}'] } }\n    console: { serial: { port: /dev/x } }\n";
    rig(all).unwrap_or_else(|d| panic!("{d}"));
}

#[test]
fn a_preset_that_cannot_serve_its_board_is_refused_at_the_field_with_the_way_out() {
    let text = "boards:
  - name: a
    thing_name: T1
    flash: { command: { preset: pic32prog, tool: PKOB4, serial: BUR1 } }
    console: { serial: { port: /dev/x } }
  - name: b
    thing_name: T2
    flash: { command: { preset: jlink, part: PIC32MZ2048EFM144, tool: SWD } }
    console: { serial: { port: /dev/y } }
  - name: c
    thing_name: T3
    flash: { command: { preset: openocd, part: pic32mz, tool: cmsis-dap } }
    console: { serial: { port: /dev/z } }
";
    let d = rig(text).unwrap_err();
    let msgs: Vec<String> = d
        .iter()
        .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
        .collect();
    let has = |s: &str| msgs.iter().any(|m| m.starts_with(s));
    assert!(
        has("4:50 pic32prog cannot drive the on-board PKOB4 programmer of Curiosity boards; use preset ipecmd with tool PKOB4"),
        "{msgs:#?}"
    );
    assert!(
        has("4:65 pic32prog cannot pick an adapter by serial number"),
        "{msgs:#?}"
    );
    assert!(has("8:71 PIC32 (MIPS) parts have no SWD port"), "{msgs:#?}");
    assert!(
        has("12:48 OpenOCD cannot program PIC32MZ parts"),
        "{msgs:#?}"
    );
    assert_eq!(d.errors().count(), 4, "{msgs:#?}");
    // jlink on a PIC32 without `tool:` gets JTAG.
    let ok = rig("boards:\n  - name: b\n    thing_name: T\n    flash: { command: { preset: jlink, part: PIC32MZ2048EFM144 } }\n    console: { serial: { port: /dev/y } }\n").unwrap_or_else(|d| panic!("{d}"));
    let BoardParts::Hardware {
        flash: FlashConfig::Command(f),
        ..
    } = &ok.boards[0].parts
    else {
        panic!()
    };
    assert_eq!(f.tool.as_deref(), Some("JTAG"));
}

#[test]
fn a_profile_version_regex_needs_a_version_group() {
    let d = rig("defaults: { profile: { version: 'v(\\d+)' } }\nboards:\n  - { name: s, thing_name: T, native: { sim: {} } }\n").unwrap_err();
    assert!(
        d.to_string()
            .contains("needs a capture group named `version`"),
        "{d}"
    );
}

const FLOW: &str = r#"
name: flow
summary: every step kind
tags: [t]
boards:
  thing1:
  thing2: { thing_name: Thing2 }
needs: [power_cycle]
timeout: 10m
steps:
  - flash: { boards: all, image: app-v4 }
  - job: { id: j1, image: app-v5, targets: thing2, faults: [unsigned, wrong_filesize], block_size: 256, step_timeout: 5m }
  - expect: { board: thing2, progress: 50%, of: j1, within: 2m }
  - expect: { boards: [thing1, thing2], job: FAILED, of: j1, reason: 'rejected: 0x23000000', within: 5m }
  - expect: { board: thing1, console_literal: '[prvParseJobDoc] In self test mode.', within: 1m }
  - expect: { board: thing1, not_console: 'Resetting', for: 20s }
  - expect: { board: thing1, sequence: [a, b], within: 2m }
  - expect: { board: thing1, version: 0.9.4, within: 2m }
  - expect: { board: thing1, online: false, within: 1m }
  - power_cut: { board: thing1, at_progress: 25%, of: j1 }
  - power_cut: { board: thing1, at_console: 'Erasing', off_for: 3s }
  - link: { board: thing1, faults: [{ drop: { probability: 0.1 } }, { delay: { topic: 'a/+', by: 20ms, jitter: 5ms } }, { stall: { for: 30s } }], seed: 7 }
  - cancel: { job: j1, force: true }
  - retry: { job: j1 }
  - reset: { boards: thing1 }
  - power_cycle: { boards: all }
  - kick: { board: thing1 }
  - broker_restart: {}
  - wait: 5s
  - never: { boards: thing1, console: 'Hard fault' }
never:
  - { console: 'assert' }
recovery: { within: 90s }
"#;

#[test]
fn scenarios_resolve_roles_durations_fractions_and_regexes() {
    let s = scenario("flow", FLOW).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(s.role_names(), ["thing1", "thing2"]);
    assert_eq!(
        s.role("thing2").unwrap().thing_name.as_deref(),
        Some("Thing2")
    );
    assert_eq!(s.timeout, Some(Duration::from_secs(600)));
    assert_eq!(s.recovery.within, Some(Duration::from_secs(90)));
    assert_eq!(s.steps.len(), 20);
    assert_eq!(s.step_lines[0], 11);
    assert!(
        matches!(&s.steps[0], Step::Flash { roles, image } if roles == &["thing1", "thing2"] && image == "app-v4")
    );
    let Step::Job(j) = &s.steps[1] else { panic!() };
    assert_eq!(
        (j.targets.as_slice(), j.block_size, j.step_timeout),
        (
            &["thing2".to_string()][..],
            Some(256),
            Some(Duration::from_secs(300))
        )
    );
    assert_eq!(j.faults, [ImageFault::Unsigned, ImageFault::WrongFilesize]);
    // Checks are `scenario::checks`' to read (tested there); config keeps their keys and
    // takes the window.
    let Step::Expect(e) = &s.steps[3] else {
        panic!()
    };
    assert_eq!(e.roles, ["thing1", "thing2"]);
    assert_eq!(e.check.keys, ["job", "of", "reason"]);
    assert_eq!(e.within, Duration::from_secs(300));
    let Step::Expect(e) = &s.steps[5] else {
        panic!()
    };
    assert_eq!(
        (e.check.keys.as_slice(), e.within),
        (&["not_console".to_string()][..], Duration::from_secs(20))
    );
    let Step::PowerCut(c) = &s.steps[9] else {
        panic!()
    };
    assert!(
        matches!(&c.at, CutAt::Progress { job: Some(j), fraction } if j == "j1" && *fraction == 0.25)
    );
    assert_eq!(c.off_for, Duration::from_secs(1));
    let Step::Link(l) = &s.steps[11] else {
        panic!()
    };
    assert_eq!(
        l.faults[0],
        LinkFault::Drop {
            topic: "#".into(),
            probability: 0.1
        }
    );
    assert_eq!(
        l.faults[2],
        LinkFault::Stall {
            duration: Duration::from_secs(30)
        }
    );
    assert!(matches!(&s.steps[13], Step::Retry { roles: None, .. }));
    assert!(
        matches!(&s.steps[17], Step::BrokerRestart { down_for } if *down_for == Duration::from_secs(2))
    );
    assert!(matches!(&s.steps[19], Step::Never(g) if g[0].roles == ["thing1"]));
    assert_eq!(
        s.never[0].roles,
        ["thing1", "thing2"],
        "a guard without boards covers all roles"
    );
}

#[test]
fn every_duration_field_is_bounded_with_the_bound_and_position_in_the_message() {
    let text = "name: d\ntimeout: 100 years\nboards: { dut: {} }\nrecovery: { within: 0s }\nsteps:\n  - wait: 0s\n  - expect: { board: dut, online: true, within: 0s }\n  - expect: { board: dut, online: true, within: 9000000000000000000s }\n  - expect: { board: dut, not_console: x, for: 2h }\n  - power_cycle: { boards: dut, off_for: 0s }\n  - power_cut: { board: dut, off_for: 1h }\n  - broker_restart: { down_for: 0s }\n  - link: { board: dut, faults: [{ delay: { by: 0s, jitter: 11m } }, { stall: { for: 2h } }] }\n  - job: { id: j, image: app-v5, targets: all, step_timeout: 0s }\n";
    let d = scenario("d", text).unwrap_err();
    let at = |line: usize, col: usize, msg: &str| {
        assert!(
            d.iter()
                .any(|x| (x.line, x.column) == (line, col) && x.message == msg),
            "{line}:{col}: {msg}\n{d}"
        );
    };
    at(
        2,
        10,
        "timeout 100 years is above the maximum 24h for a scenario's timeout",
    );
    at(
        4,
        21,
        "within 0s is below the minimum 100ms for a scenario's recovery.within",
    );
    at(6, 11, "wait 0s is below the minimum 10ms for a wait step");
    at(
        7,
        49,
        "within 0s is below the minimum 100ms for an expectation's within",
    );
    at(
        8,
        49,
        "within 9000000000000000000s is above the maximum 1h for an expectation's within",
    );
    at(
        9,
        48,
        "for 2h is above the maximum 1h for a not_console window",
    );
    at(
        10,
        42,
        "off_for 0s is below the minimum 10ms for a power-off time",
    );
    at(
        11,
        39,
        "off_for 1h is above the maximum 10m for a power-off time",
    );
    at(
        12,
        33,
        "down_for 0s is below the minimum 10ms for a broker restart's down time",
    );
    at(13, 49, "by 0s is below the minimum 1ms for a link delay");
    at(
        13,
        61,
        "jitter 11m is above the maximum 10m for a link delay's jitter",
    );
    at(13, 86, "for 2h is above the maximum 1h for a link stall");
    at(
        14,
        62,
        "step_timeout 0s is below the minimum 1s for a job's step_timeout",
    );
    assert_eq!(d.errors().count(), 13, "{d}");
}

#[test]
fn rig_durations_are_bounded_too() {
    let messages = |text: &str| -> Vec<String> {
        let d = rig(text).unwrap_err();
        d.iter()
            .map(|x| format!("{}:{}: {}", x.line, x.column, x.message))
            .collect()
    };
    let defaults = messages("cloud: { endpoint: { pace: 1m } }\ndefaults: { timeouts: { boot: 0s, recovery: 2h } }\nboards:\n  - { name: a, thing_name: T, native: { sim: {} } }\n");
    let board = messages("boards:\n  - name: a\n    thing_name: T\n    flash: { command: { program: x, args: ['{image}'], timeout: 0s } }\n    console: { serial: { port: /dev/ttyACM0 } }\n    power: { command: { on: 'on', off: 'off', timeout: 100 years } }\n    timeouts: { flash: 9000000000000000000s }\n");
    for (got, want) in [
        (
            &defaults,
            "1:28: pace 1m is above the maximum 10s for the stream pace",
        ),
        (
            &defaults,
            "2:31: boot 0s is below the minimum 100ms for a board's boot timeout",
        ),
        (
            &defaults,
            "2:45: recovery 2h is above the maximum 1h for a board's recovery timeout",
        ),
        (
            &board,
            "4:65: timeout 0s is below the minimum 1s for a command flasher's timeout",
        ),
        (
            &board,
            "6:56: timeout 100 years is above the maximum 10m for a power command's timeout",
        ),
        (
            &board,
            "7:24: flash 9000000000000000000s is above the maximum 1h for a board's flash timeout",
        ),
    ] {
        assert!(got.iter().any(|m| m == want), "{want}\n{got:#?}");
    }
}

#[test]
fn binding_prefers_rig_order_and_honours_thing_names_and_needs() {
    let rig = rig(HW).unwrap();
    let s = scenario(
        "b",
        "name: b\nboards: { any: {}, two: { thing_name: Thing2 } }\nsteps: [ { wait: 1s } ]\n",
    )
    .unwrap();
    let map = bind_roles(&s, &rig).unwrap();
    assert_eq!(map["any"], "pic32-a");
    assert_eq!(map["two"], "stm32-b");
    let s = scenario(
        "c",
        "name: c\nneeds: [power_cycle]\nboards: { a: {}, b: {} }\nsteps: [ { wait: 1s } ]\n",
    )
    .unwrap();
    let err = bind_roles(&s, &rig).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no free board for role `b` with capability power_cycle"
    );
    let s = scenario(
        "d",
        "name: d\nboards: { a: {}, b: {}, c: {} }\nsteps: [ { wait: 1s } ]\n",
    )
    .unwrap();
    assert_eq!(
        bind_roles(&s, &rig).unwrap_err(),
        SkipReason::NotEnoughBoards {
            needed: 3,
            available: 2
        }
    );
    assert_eq!(effective_baseline(&s, &rig), Some("app-v4"));
}

#[test]
fn a_role_without_a_thing_name_takes_spared_boards_last() {
    let rig = rig(HW).unwrap();
    let spare = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    let one = scenario(
        "e",
        "name: e\nboards: { any: {} }\nsteps: [ { wait: 1s } ]\n",
    )
    .unwrap();
    let map = bind_roles_sparing(&one, &rig, &spare(&["pic32-a"])).unwrap();
    assert_eq!(map["any"], "stm32-b", "pic32-a is spared");
    let map = bind_roles_sparing(&one, &rig, &spare(&["pic32-a", "stm32-b"])).unwrap();
    assert_eq!(map["any"], "pic32-a", "all spared: rig order");
    let two = scenario(
        "f",
        "name: f\nboards: { any: {}, two: { thing_name: Thing2 } }\nsteps: [ { wait: 1s } ]\n",
    )
    .unwrap();
    let map = bind_roles_sparing(&two, &rig, &spare(&["pic32-a"])).unwrap();
    assert_eq!(
        (map["any"].as_str(), map["two"].as_str()),
        ("pic32-a", "stm32-b"),
        "a spared board is still taken when nothing else fits"
    );
}
