//! `otarig run --rerun-failed` through the binary: only what the last run under the
//! report folder did not pass runs again, on real simulated boards.

use std::path::Path;

use otarig::report::{summary, write_run, BoardResult, Verdict};

use crate::support::events;
use crate::support::process::{describe, otarig, s, Out};

/// A finished earlier run in `reports`: `greater-version` passed, `same-version` bricked.
fn earlier_run(reports: &Path) {
    let scenario = |name: &str, verdict: Verdict| {
        let dut = BoardResult {
            board: "sim-3".into(),
            thing: "Thing3".into(),
            ..events::board("dut", verdict)
        };
        events::scenario(name, 1, vec![dut])
    };
    let run = events::run(
        "20260101-000000-1",
        vec![
            scenario("greater-version", Verdict::Passed),
            scenario("same-version", Verdict::Bricked),
        ],
    );
    write_run(reports, &run, &[]).unwrap();
}

fn rerun(tmp: &Path, reports: &Path) -> Out {
    otarig(&[
        "run",
        "scenarios/greater-version.yaml",
        "scenarios/same-version.yaml",
        "--rerun-failed",
        "--report-dir",
        s(reports),
        "--state-dir",
        s(&tmp.join("state")),
    ])
}

fn latest(reports: &Path) -> summary::SummaryFile {
    let text = std::fs::read_to_string(reports.join("latest/summary.json")).unwrap();
    summary::from_json(&text).unwrap()
}

#[test]
fn only_the_scenario_that_failed_runs_again_and_then_there_is_nothing_to_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    earlier_run(&reports);

    let out = rerun(tmp.path(), &reports);
    assert_eq!(out.code, Some(0), "{}", describe(&out));
    let run = latest(&reports).run;
    assert_ne!(run.run_id, "20260101-000000-1", "a new run was written");
    let ran: Vec<(&str, Verdict)> = run
        .scenarios
        .iter()
        .flat_map(|s| s.boards.iter().map(|b| (s.name.as_str(), b.verdict)))
        .collect();
    assert_eq!(
        ran,
        [("same-version", Verdict::Passed)],
        "{}",
        describe(&out)
    );

    let again = rerun(tmp.path(), &reports);
    assert_eq!(again.code, Some(0), "{}", describe(&again));
    let stdout = &again.stdout;
    assert!(stdout.contains("nothing to rerun"), "{}", describe(&again));
    assert!(stdout.contains(&run.run_id), "{}", describe(&again));
    assert_eq!(latest(&reports).run.run_id, run.run_id, "no new run");
}

#[test]
fn without_an_earlier_run_it_is_a_usage_error_naming_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("no-reports-yet");
    let out = rerun(tmp.path(), &reports);
    assert_eq!(out.code, Some(2), "{}", describe(&out));
    let stderr = &out.stderr;
    assert!(
        stderr.contains(&*reports.join("latest/summary.json").to_string_lossy()),
        "{}",
        describe(&out)
    );
    assert!(!reports.exists(), "nothing was run or written");
}
