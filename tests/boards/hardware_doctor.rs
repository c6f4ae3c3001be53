//! `otarig doctor` on a bench of two boards: one wired like `rigs/sim-hardware.yaml`
//! (tools that exist, a console that is absent while the board is off), one whose flash
//! tool is missing and whose console port does not exist. The real binary, a real PKI.
//! And on a Curiosity board whose flash preset cannot drive its on-board programmer.

use crate::support::process::otarig_in;

const RIG: &str = r#"name: doctor-bench
cloud: { endpoint: { bind: 127.0.0.1:0, tls: true }, pki: .otarig/pki }
boards:
  - name: wired
    thing_name: Thing1
    platform: sim
    flash: { command: { program: '{otarig}', args: [sim, flash, --dir, '{board_dir}', --tty, '{board_dir}/uart', '{image}'] } }
    console: { serial: { port: '{board_dir}/uart' } }
    power: { command: { on: '{otarig} sim power on --dir {board_dir} --tty {board_dir}/uart', off: '{otarig} sim power off --dir {board_dir}', reset: '{otarig} sim reset --dir {board_dir}' } }
  - name: broken
    thing_name: Thing2
    flash: { command: { program: no-such-flasher-tool, args: ['{image}'] } }
    console: { serial: { port: /dev/otarig-no-such-port } }
"#;

#[test]
fn doctor_resolves_bench_placeholders_and_names_each_missing_part() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("rigs")).unwrap();
    std::fs::write(root.path().join("rigs/bench.yaml"), RIG).unwrap();
    let init = otarig_in(
        &[
            "pki",
            "init",
            "--dir",
            ".otarig/pki",
            "--things",
            "Thing1,Thing2",
        ],
        root.path(),
    );
    assert!((init.code == Some(0)), "{}", init.stderr.as_str());

    let out = otarig_in(&["doctor", "--rig", "rigs/bench.yaml"], root.path());
    let stdout = out.stdout.as_str();
    let stderr = out.stderr.as_str();
    assert_eq!(out.code, Some(3), "{stdout}\n{stderr}");
    let row = |board: &str, check: &str| {
        stdout
            .lines()
            .find(|l| l.contains(board) && l.contains(check))
            .unwrap_or_else(|| panic!("no `{board}` `{check}` row in:\n{stdout}"))
            .to_string()
    };
    // `{otarig}` is this executable, found; the wired board's port is absent while off.
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_otarig")).unwrap();
    let flash = row("wired", "flash tool");
    assert!(flash.contains(&exe.display().to_string()), "{flash}");
    assert!(!flash.contains("FAIL"), "{flash}");
    assert!(row("wired", "power on").contains(&exe.display().to_string()));
    assert!(row("wired", "power reset").contains(&exe.display().to_string()));
    let console = row("wired", "console");
    assert!(
        console.contains("switched off") && !console.contains("FAIL"),
        "{console}"
    );
    // The broken board: its tool and its port, each named, each a failure.
    let tool = row("broken", "flash tool");
    assert!(
        tool.contains("FAIL") && tool.contains("no-such-flasher-tool"),
        "{tool}"
    );
    assert!(row("broken", "console").contains("FAIL"));
    assert!(stderr.contains("2 bench problem(s)"), "{stderr}");
}

/// A Curiosity board: programmed by ipecmd through its on-board PKOB4, or (wrongly) by
/// pic32prog, which cannot drive that programmer.
const CURIOSITY: &str = r#"name: curiosity
boards:
  - name: pic32-a
    thing_name: Thing1
    flash: { command: { preset: PRESET, part: 32MZ2048EFM144, tool: PKOB4 } }
    console: { serial: { port: /dev/otarig-no-such-port } }
"#;

#[test]
fn doctor_refuses_a_preset_that_cannot_drive_the_boards_programmer_and_names_what_can() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("rigs")).unwrap();
    let rig = root.path().join("rigs/bench.yaml");

    std::fs::write(&rig, CURIOSITY.replace("PRESET", "pic32prog")).unwrap();
    let out = otarig_in(&["doctor", "--rig", "rigs/bench.yaml"], root.path());
    let stderr = out.stderr.as_str();
    assert_eq!(out.code, Some(2), "{stderr}");
    assert!(
        stderr.contains("rigs/bench.yaml:5:72: error: pic32prog cannot drive the on-board PKOB4 programmer of Curiosity boards; use preset ipecmd with tool PKOB4"),
        "{stderr}"
    );

    // With ipecmd the rig loads; the doctor says what the preset serves.
    std::fs::write(&rig, CURIOSITY.replace("PRESET", "ipecmd")).unwrap();
    let out = otarig_in(&["doctor", "--rig", "rigs/bench.yaml"], root.path());
    let stdout = out.stdout.as_str();
    let row = stdout
        .lines()
        .find(|l| l.contains("flash preset"))
        .unwrap_or_else(|| panic!("no flash preset row in:\n{stdout}"));
    assert!(
        row.contains(" ok ") && row.contains("32MZ2048EFM144 (PIC32MZ) through PKOB4"),
        "{row}"
    );
}
