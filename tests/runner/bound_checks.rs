//! `otarig validate --rig` (and `run`, before touching a board) checks each job against
//! the boards its roles bind to: one file for all targets, a file for every target's
//! platform, block messages that fit a v3 agent's receive buffer. The real binary.

use crate::support::process::otarig_in;
use crate::support::run::bench_folder;

use std::path::Path;

const SCENARIO: &str = "name: update\nsummary: One job for every board.\nboards: { a: {}, b: {} }\n\
steps:\n  - job: { id: update-v5, image: demo, targets: all }\n  - expect: { board: a, job: SUCCEEDED, within: 1m }\n";

/// A bench with `boards` in its rig and a `demo` fixture with `files`.
fn bench(boards: &str, files: &str) -> tempfile::TempDir {
    bench_folder(
        false,
        &[
            (
                "rigs/bench.yaml",
                format!("name: bench\ncloud: {{ endpoint: {{}} }}\nboards:\n{boards}").as_str(),
            ),
            (
                "firmware-fixtures/demo.yaml",
                format!("version: 0.9.5\n{files}").as_str(),
            ),
            ("scenarios/update.yaml", SCENARIO),
        ],
    )
}

fn validate(root: &Path) -> (Option<i32>, String) {
    let out = otarig_in(&["validate", "--rig", "rigs/bench.yaml"], root);
    let text = format!("{}{}", out.stdout, out.stderr);
    (out.code, text)
}

const MIXED: &str = "  - { name: sim-1, thing_name: Thing1, native: { sim: {} } }\n  - { name: posix-1, thing_name: Thing2, native: { program: { path: /bin/true } } }\n";

#[test]
fn a_target_platform_without_a_file_is_an_error_at_the_job_step() {
    let root = bench(MIXED, "");
    let (code, text) = validate(root.path());
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("scenarios/update.yaml:5:1: error: job `update-v5`: fixture `demo` has no `posix` file for board posix-1"), "{text}");
}

#[test]
fn targets_that_need_different_files_are_refused_before_the_run() {
    let root = bench(MIXED, "files: { posix: /bin/true }\n");
    let (code, text) = validate(root.path());
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("an OTA job delivers one file: split it into one job per platform"),
        "{text}"
    );
    // `run` stops on the same error, before any board or cloud starts.
    let out = otarig_in(
        &["run", "--rig", "rigs/bench.yaml", "--report-dir", "reports"],
        root.path(),
    );
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.as_str().contains("one job per platform"));
    assert!(!root.path().join("reports").exists());
}

#[test]
fn a_thing_name_too_long_for_a_v3_receive_buffer_is_a_warning() {
    let long = "Thing-with-a-name-long-enough-to-overflow";
    let root = bench(
        &format!("  - {{ name: sim-1, thing_name: {long}, native: {{ sim: {{}} }} }}\n  - {{ name: sim-2, thing_name: Thing2, native: {{ sim: {{}} }} }}\n"),
        "",
    );
    let (code, text) = validate(root.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("warning: job `update-v5`: a v3 agent would drop its blocks"),
        "{text}"
    );
    assert!(text.contains(long) && !text.contains("`Thing2`"), "{text}");
}

#[test]
fn a_baseline_without_a_build_for_a_boards_platform_is_an_error() {
    let root = bench(MIXED, "");
    let rig = root.path().join("rigs/bench.yaml");
    let text = std::fs::read_to_string(&rig).unwrap();
    std::fs::write(
        &rig,
        text.replace("boards:\n", "defaults: { baseline: demo }\nboards:\n"),
    )
    .unwrap();
    let (code, text) = validate(root.path());
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("fixture `demo` has no `posix` file to flash onto board posix-1"),
        "{text}"
    );
    assert!(!text.contains("onto board sim-1"), "{text}");
}

const NO_POWER: &str = "  - name: stm32-a\n    thing_name: Thing1\n    flash: { probe-rs: { chip: STM32U585AIIx } }\n    console: { serial: { port: /dev/ttyACM0 } }\n    power: { probe: {} }\n";

#[test]
fn a_power_step_on_a_board_that_cannot_remove_power_is_an_error_at_the_step() {
    let root = bench(NO_POWER, "");
    let scenarios = root.path().join("scenarios");
    std::fs::remove_file(scenarios.join("update.yaml")).unwrap();
    std::fs::write(
        scenarios.join("cut.yaml"),
        "name: cut\nboards: { dut: {} }\nsteps:\n  - expect: { board: dut, online: true, within: 1m }\n  - power_cycle: { boards: dut }\n  - power_cut: { board: dut, at_console: 'Erasing' }\n",
    )
    .unwrap();
    let (code, text) = validate(root.path());
    assert_eq!(code, Some(2), "{text}");
    for (line, kind) in [(5, "power_cycle"), (6, "power_cut")] {
        assert!(
            text.contains(&format!("scenarios/cut.yaml:{line}:1: error: {kind} on role `dut`: board stm32-a on rig `bench` cannot remove power")),
            "{text}"
        );
    }
    assert!(text.contains("add `needs: [power_cycle]`"), "{text}");

    // Declaring the need makes it a binding question: skipped on this rig, a warning.
    let cut = std::fs::read_to_string(scenarios.join("cut.yaml")).unwrap();
    std::fs::write(
        scenarios.join("cut.yaml"),
        cut.replace("\nboards:", "\nneeds: [power_cycle]\nboards:"),
    )
    .unwrap();
    let (code, text) = validate(root.path());
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("warning: scenario `cut` would be skipped on rig `bench`"),
        "{text}"
    );
}
