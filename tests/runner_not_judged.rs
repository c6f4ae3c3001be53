//! No board passes on checks that did not run: when one board fails, the steps that need
//! it are not run and the other boards they concern are `not judged` (in the table,
//! summary.json and JUnit alike), while steps for the other boards alone go on and judge
//! them. The real binary on the embedded simulated rig.

mod process_support;

use process_support::{describe, otarig};

const SCENARIO: &str = r#"name: one-fails
summary: Board a fails its first check; the job for both boards then cannot run.
boards: { a: {}, b: {} }
steps:
  - expect: { board: a, version: 9.9.9, within: 1s }
  - expect: { board: b, version: 0.9.4, within: 10s }
  - job: { id: update, image: app-v5, targets: all }
  - expect: { boards: all, job: SUCCEEDED, within: 1m }
"#;

#[test]
fn boards_whose_checks_did_not_run_are_not_judged_in_every_report() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("one-fails.yaml");
    std::fs::write(&scenario, SCENARIO).unwrap();
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
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.contains("NOT-JUDGED") && l.contains("b (")),
        "{table}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("latest/summary.json")).unwrap(),
    )
    .unwrap();
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
    let junit = std::fs::read_to_string(reports.join("latest/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<error type="not-judged""#) || junit.contains(r#"type="not-judged""#),
        "{junit}"
    );
}
