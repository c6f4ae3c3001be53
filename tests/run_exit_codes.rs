//! `otarig run`'s exit code when nothing could be judged: a run whose every scenario was
//! skipped is not green (exit 4, "nothing was judged"). The real binary.

mod process_support;

use process_support::{describe, otarig};

#[test]
fn a_run_in_which_every_scenario_was_skipped_exits_4() {
    let root = tempfile::tempdir().unwrap();
    for dir in ["rigs", "scenarios", "firmware-fixtures"] {
        std::fs::create_dir(root.path().join(dir)).unwrap();
    }
    std::fs::write(
        root.path().join("rigs/one.yaml"),
        "name: one\nboards:\n  - { name: sim-1, thing_name: Thing1, native: { sim: {} } }\n",
    )
    .unwrap();
    // Two roles on a one-board rig: skipped, never failed.
    std::fs::write(
        root.path().join("scenarios/pair.yaml"),
        "name: pair\nboards: { a: {}, b: {} }\nsteps:\n  - expect: { boards: all, online: true, within: 10s }\n",
    )
    .unwrap();
    let out = otarig(
        &["run", "--rig", "rigs/one.yaml", "--report-dir", "reports"],
        root.path(),
    );
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(exit 4)"), "{}", describe(&out));
    let summary = std::fs::read_to_string(root.path().join("reports/latest/summary.json")).unwrap();
    assert!(summary.contains("\"exit_code\": 4"), "{summary}");
}
