//! A run stopped by SIGINT or SIGTERM still writes its reports: the cases it had not
//! finished are errors (never passes, never firmware failures), every console line seen so
//! far is kept, and the boards are left powered off.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use otarig::report::summary;

use crate::support::process::{command, processes_under, s};

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn interrupted_run(signal: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    let state = tmp.path().join("state");
    let mut child = command(&[
        "run",
        "scenarios/back-to-back.yaml",
        "--state-dir",
        s(&state),
        "--report-dir",
        s(&reports),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Interrupt once the first board has printed its boot banner.
    let console_seen = |dir: &Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|run| {
                std::fs::read_to_string(run.path().join("back-to-back/events.jsonl"))
                    .is_ok_and(|t| t.contains("app version 0.9.4"))
            })
    };
    wait_for("the first console lines", Duration::from_secs(60), || {
        console_seen(&reports)
    });
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "an interrupted run is a bench stop, not a verdict"
    );

    let latest = reports.join("latest");
    let file =
        summary::from_json(&std::fs::read_to_string(latest.join("summary.json")).unwrap()).unwrap();
    assert!(file.run.interrupted);
    let boards: Vec<_> = file.run.scenarios.iter().flat_map(|s| &s.boards).collect();
    assert!(!boards.is_empty());
    for b in boards {
        assert_eq!(b.verdict.as_str(), "error", "{b:?}");
    }
    let junit = std::fs::read_to_string(latest.join("junit.xml")).unwrap();
    assert!(junit.contains("<error"), "{junit}");
    let console = std::fs::read_dir(latest.join("back-to-back"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".console.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(console.contains("app version 0.9.4"), "{console}");
    assert!(
        console.contains("process killed"),
        "the board is left powered off: {console}"
    );
    let alive = processes_under(tmp.path());
    assert!(
        alive.is_empty(),
        "board processes outlived the run: {alive:?}"
    );
}

#[test]
fn sigint_writes_reports_with_unfinished_cases_as_errors() {
    interrupted_run(libc::SIGINT);
}

#[test]
fn sigterm_does_the_same() {
    interrupted_run(libc::SIGTERM);
}

/// Ctrl-C during a recovery check that would wait ten minutes: the run stops the ladder
/// at once, judges no board and writes its reports.
#[test]
fn sigint_during_a_long_recovery_check_stops_it_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("long-recovery.yaml");
    std::fs::write(
        &scenario,
        "name: long-recovery\nsummary: The board hangs after a reset; the recovery check would wait 10 minutes.\n\
         baseline: app-v4-reset-hangs\nboards: { dut: {} }\nrecovery: { within: 10m }\n\
         steps:\n  - reset: { boards: dut }\n",
    )
    .unwrap();
    let reports = tmp.path().join("reports");
    let state = tmp.path().join("state");
    let mut child = command(&[
        "run",
        s(&scenario),
        "--state-dir",
        s(&state),
        "--report-dir",
        s(&reports),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let in_recovery = || {
        std::fs::read_dir(&reports)
            .into_iter()
            .flatten()
            .flatten()
            .any(|run| {
                std::fs::read_to_string(run.path().join("long-recovery/events.jsonl"))
                    .is_ok_and(|t| t.contains("recovery check: waiting up to 10m"))
            })
    };
    wait_for("the recovery check", Duration::from_secs(60), in_recovery);
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    // Far less than the 10 minutes the check would have waited.
    wait_for("the run to end", Duration::from_secs(60), || {
        child.try_wait().unwrap().is_some()
    });
    assert_eq!(child.wait().unwrap().code(), Some(3));
    let file =
        summary::from_json(&std::fs::read_to_string(reports.join("latest/summary.json")).unwrap())
            .unwrap();
    let verdicts: Vec<&str> = file.run.scenarios[0]
        .boards
        .iter()
        .map(|b| b.verdict.as_str())
        .collect();
    assert_eq!(verdicts, ["error"]);
    assert!(processes_under(tmp.path()).is_empty());
}
