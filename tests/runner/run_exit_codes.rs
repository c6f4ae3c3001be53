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

/// `otarig list | head`: a script's reader that goes away ends the command
/// quietly (SIGPIPE, as Unix tools do), never with a panic (exit 101).
#[test]
fn a_reader_that_goes_away_ends_a_listing_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let repo = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(crate::support::process::BIN)
        .args(["list", "--rig", "rigs/sim.yaml"])
        .current_dir(repo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("otarig starts");
    // Close the read end before the listing is written: its first write meets a
    // pipe without a reader.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("otarig ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && out.status.code() != Some(101),
        "a closed pipe made otarig panic: {:?}\n{stderr}",
        out.status
    );
    assert!(
        out.status.signal() == Some(libc::SIGPIPE) || out.status.success(),
        "expected an end by SIGPIPE, got {:?}\n{stderr}",
        out.status
    );
}
