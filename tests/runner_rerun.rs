//! `otarig run --rerun-failed` through the binary: only what the last run under the
//! report folder did not pass runs again, on real simulated boards.

mod process_support;

use process_support::describe;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use otarig::report::{summary, write_run, BoardResult, RunResult, ScenarioResult, Verdict};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A finished earlier run in `reports`: `greater-version` passed, `same-version` bricked.
fn earlier_run(reports: &Path) {
    let scenario = |name: &str, verdict: Verdict| ScenarioResult {
        name: name.into(),
        summary: String::new(),
        attempt: 1,
        started_wall_ms: 0,
        duration: Duration::from_secs(1),
        seeds: vec![],
        boards: vec![BoardResult {
            role: "dut".into(),
            board: "sim-3".into(),
            thing: "Thing3".into(),
            verdict,
            message: None,
            console_tail: vec![],
            versions: Default::default(),
            events: vec![],
        }],
        skipped: None,
    };
    let run = RunResult {
        run_id: "20260101-000000-1".into(),
        started_wall_ms: 0,
        duration: Duration::from_secs(2),
        rig: "sim".into(),
        scenarios: vec![
            scenario("greater-version", Verdict::Passed),
            scenario("same-version", Verdict::Bricked),
        ],
        interrupted: false,
    };
    write_run(reports, &run, &[]).unwrap();
}

fn rerun(tmp: &Path, reports: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otarig"))
        .current_dir(ROOT)
        .args([
            "run",
            "scenarios/greater-version.yaml",
            "scenarios/same-version.yaml",
            "--rerun-failed",
        ])
        .arg("--report-dir")
        .arg(reports)
        .arg("--state-dir")
        .arg(tmp.join("state"))
        .output()
        .expect("otarig runs")
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
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
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
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("nothing to rerun"), "{}", describe(&again));
    assert!(stdout.contains(&run.run_id), "{}", describe(&again));
    assert_eq!(latest(&reports).run.run_id, run.run_id, "no new run");
}

#[test]
fn without_an_earlier_run_it_is_a_usage_error_naming_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("no-reports-yet");
    let out = rerun(tmp.path(), &reports);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&*reports.join("latest/summary.json").to_string_lossy()),
        "{}",
        describe(&out)
    );
    assert!(!reports.exists(), "nothing was run or written");
}
