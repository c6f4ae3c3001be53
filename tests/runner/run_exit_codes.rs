//! `otarig run`'s exit code when nothing could be judged: a run whose every scenario was
//! skipped is not green (exit 4, "nothing was judged"). The real binary.

use crate::support::process::{describe, otarig_in};
use crate::support::run::bench_folder;

#[test]
fn a_run_in_which_every_scenario_was_skipped_exits_4() {
    let root = bench_folder(
        false,
        &[
            (
                "rigs/one.yaml",
                "name: one\nboards:\n  - { name: sim-1, thing_name: Thing1, native: { sim: {} } }\n",
            ),
            // Two roles on a one-board rig: skipped, never failed.
            (
                "scenarios/pair.yaml",
                "name: pair\nboards: { a: {}, b: {} }\nsteps:\n  - expect: { boards: all, online: true, within: 10s }\n",
            ),
        ],
    );
    let out = otarig_in(
        &["run", "--rig", "rigs/one.yaml", "--report-dir", "reports"],
        root.path(),
    );
    assert_eq!(out.code, Some(4), "{}", describe(&out));
    let stdout = out.stdout.as_str();
    assert!(stdout.contains("(exit 4)"), "{}", describe(&out));
    let summary = std::fs::read_to_string(root.path().join("reports/latest/summary.json")).unwrap();
    assert!(summary.contains("\"exit_code\": 4"), "{summary}");
}
