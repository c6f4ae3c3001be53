//! An expectation fails as soon as the timeline makes it impossible, not at its deadline:
//! on a physical rig with windows of minutes, every mismatch would otherwise burn them.

use std::time::Duration;

use crate::support::run::run_scenario;

#[test]
fn a_job_that_fails_while_success_is_expected_within_ten_minutes_fails_within_seconds() {
    let run = run_scenario(
        "name: fail-fast\n\
         summary: the same version is rejected while the scenario waits 10 minutes for success\n\
         boards:\n  dut: {}\n\
         steps:\n\
         \x20 - job: { id: same-v4, image: app-v4, targets: all }\n\
         \x20 - expect: { board: dut, job: SUCCEEDED, within: 10m }\n",
    );
    let summary = run.summary_file();
    let scenario = &summary.run.scenarios[0];
    let board = &scenario.boards[0];
    let message = board.message.as_deref().unwrap_or_default();
    assert_eq!(board.verdict.as_str(), "failed", "{message}");
    assert!(
        message.contains("expected execution SUCCEEDED within 10m"),
        "{message}"
    );
    assert!(
        message.contains("FAILED") && message.contains("0x23000000"),
        "expected vs seen: {message}"
    );
    // Download, reboot, rejection and the recovery check take seconds; the wait would
    // have taken its whole 10 minutes.
    assert!(
        scenario.duration < Duration::from_secs(180),
        "{:?}",
        scenario.duration
    );
}
