//! A job created and never awaited is not a pass by default: the run waits for it to end
//! on each target, and a job that never ends fails the board. The real binary on the
//! embedded simulated rig.

mod process_support;

use process_support::{describe, otarig};

fn run(scenario_text: &str) -> (std::process::Output, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let name = scenario_text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("name: "))
        .unwrap();
    let scenario = tmp.path().join(format!("{name}.yaml"));
    std::fs::write(&scenario, scenario_text).unwrap();
    let reports = tmp.path().join("reports");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = otarig(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--state-dir",
            tmp.path().join("state").to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        repo,
    );
    let summary = std::fs::read_to_string(reports.join("latest/summary.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (out, summary)
}

#[test]
fn a_job_that_never_ends_fails_the_board_that_never_awaited_it() {
    let (out, summary) = run(
        "name: never-ends\nsummary: The board's link stalls, so the job it is given never ends.\n\
         boards: { dut: {} }\nsteps:\n\
         \x20 - link: { board: dut, faults: [{ stall: { for: 10m } }] }\n\
         \x20 - job: { id: stuck, image: app-v5, targets: all }\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let board = &summary["scenarios"][0]["boards"][0];
    assert_eq!(board["verdict"], "failed", "{summary}");
    let why = board["message"].as_str().unwrap();
    assert!(
        why.contains("job stuck was never awaited by an expectation and did not end within"),
        "{why}"
    );
}

#[test]
fn a_job_that_ends_by_itself_is_enough() {
    let (out, summary) = run(
        "name: ends\nsummary: A good update, created and left to finish.\n\
         boards: { dut: {} }\nsteps:\n\
         \x20 - job: { id: update, image: app-v5, targets: all }\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        summary["scenarios"][0]["boards"][0]["versions"]["after"], "0.9.5",
        "{summary}"
    );
}
