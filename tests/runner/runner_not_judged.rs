//! No board passes on checks that did not run: when one board fails, the steps that need
//! it are not run and the other boards they concern are `not judged` (in the table,
//! summary.json and JUnit alike), while steps for the other boards alone go on and judge
//! them. The real binary on the embedded simulated rig.

use crate::support::process::describe;
use crate::support::run::run_scenario;

const SCENARIO: &str = r#"name: one-fails
summary: Board a fails its first check; the job for both boards then cannot run.
boards: { a: {}, b: {} }
steps:
  - expect: { board: a, version: 9.9.9, within: 1s }
  - expect: { board: b, version: 0.9.4, within: 10s }
  - job: { id: update, image: app-v5, targets: all }
  - expect: { boards: all, job: SUCCEEDED, within: 1m }
recovery: { settle: 1s }
"#;

#[test]
fn boards_whose_checks_did_not_run_are_not_judged_in_every_report() {
    let run = run_scenario(SCENARIO);
    let out = &run.out;
    assert_eq!(out.code, Some(1), "{}", describe(out));
    let table = out.stdout.as_str();
    assert!(
        table
            .lines()
            .any(|l| l.contains("NOT-JUDGED") && l.contains("b (")),
        "{table}"
    );
    let summary = &run.summary;
    let boards = summary["scenarios"][0]["boards"].as_array().unwrap();
    let verdict = |role: &str| {
        boards
            .iter()
            .find(|b| b["role"] == role)
            .unwrap_or_else(|| panic!("no {role} in {summary}"))
            .clone()
    };
    assert_eq!(verdict("a")["verdict"], "failed");
    let b = verdict("b");
    assert_eq!(b["verdict"], "not-judged", "{b}");
    let why = b["message"].as_str().unwrap();
    assert!(
        why.contains("one-fails.yaml:7") && why.contains("a (sim-"),
        "{why}"
    );
    assert_eq!(summary["stats"]["not_judged"], 1, "{summary}");
    let junit = std::fs::read_to_string(run.reports.join("latest/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<error type="not-judged""#) || junit.contains(r#"type="not-judged""#),
        "{junit}"
    );
}
