//! junit.xml: schema-valid for the Jenkins xUnit plugin, well-formed whatever a serial
//! port printed, and read back by quick-junit's own deserializer.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use otarig::report::junit;
use otarig::report::model::UNFINISHED;
use otarig::report::{BoardResult, RunResult, ScenarioResult, Verdict, Versions};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus};

use crate::support::events;

/// What a UART really delivers: colours, a NUL, CDATA's terminator, markup, a
/// non-character and a carriage return.
const NASTY: &str = "\u{1b}[31mERROR\u{1b}[0m [prvPAL] bad ]]> <tag> & \"q\" \0 nul\u{FFFF} end\r";

fn board(role: &str, board: &str, verdict: Verdict, message: Option<&str>) -> BoardResult {
    BoardResult {
        board: board.into(),
        message: message.map(str::to_string),
        console_tail: vec!["booting".into(), NASTY.into()],
        versions: Versions {
            before: Some("0.9.4".into()),
            after: Some("0.9.5".into()),
        },
        ..events::board(role, verdict)
    }
}

fn scenario(name: &str, attempt: u32, boards: Vec<BoardResult>) -> ScenarioResult {
    ScenarioResult {
        summary: format!("summary of {name}"),
        started_wall_ms: events::WALL_MS + u64::from(attempt) * 1000,
        duration: Duration::from_millis(12_345),
        seeds: vec![7],
        ..events::scenario(name, attempt, boards)
    }
}

/// Every verdict, a skipped scenario, a flaky repeat, a repeat that always fails, and
/// a case an interrupt cut short.
fn fixture() -> RunResult {
    let mut skipped = scenario("needs-power", 1, vec![]);
    skipped.skipped = Some("the rig has no board with power_cycle".into());
    RunResult {
        run_id: "20250101-000000".into(),
        started_wall_ms: 1_700_000_000_000,
        duration: Duration::from_secs(100),
        rig: "sim".into(),
        scenarios: vec![
            scenario(
                "wrong-thing-name",
                1,
                vec![
                    board(
                        "thing1",
                        "sim-1",
                        Verdict::Failed,
                        Some("expected job FAILED within 5m, saw IN_PROGRESS ]]> \u{1b}[1m"),
                    ),
                    board("thing2", "sim-2", Verdict::Passed, None),
                ],
            ),
            scenario(
                "power-cut",
                1,
                vec![
                    board(
                        "a",
                        "sim-1",
                        Verdict::Bricked,
                        Some("no banner after reset and power cycle"),
                    ),
                    board(
                        "b",
                        "sim-2",
                        Verdict::RecoveredByPowerCycle,
                        Some("came back only after a power cycle"),
                    ),
                ],
            ),
            scenario(
                "bench",
                1,
                vec![board(
                    "a",
                    "pic32-a",
                    Verdict::Error,
                    Some("serial port /dev/ttyUSB0 vanished"),
                )],
            ),
            skipped,
            scenario("flaky", 1, vec![board("a", "sim-1", Verdict::Passed, None)]),
            scenario(
                "flaky",
                2,
                vec![board("a", "sim-1", Verdict::Failed, Some("timeout"))],
            ),
            scenario("flaky", 3, vec![board("a", "sim-1", Verdict::Passed, None)]),
            scenario(
                "always",
                1,
                vec![board("a", "sim-1", Verdict::Failed, Some("first"))],
            ),
            scenario(
                "always",
                2,
                vec![board("a", "sim-1", Verdict::Failed, Some("second"))],
            ),
            scenario(
                "cut-short",
                1,
                vec![BoardResult::unfinished("a", "sim-1", "Thing1")],
            ),
        ],
        interrupted: true,
    }
}

fn case<'a>(report: &'a Report, suite: &str, name: &str) -> &'a TestCase {
    let suite = report
        .test_suites
        .iter()
        .find(|s| s.name.as_str() == suite)
        .unwrap_or_else(|| panic!("suite {suite} missing"));
    suite
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == name)
        .unwrap_or_else(|| panic!("case {name} missing in {}", suite.name.as_str()))
}

fn non_success(c: &TestCase) -> (NonSuccessKind, String, String, usize) {
    match &c.status {
        TestCaseStatus::NonSuccess {
            kind,
            ty,
            message,
            reruns,
            ..
        } => (
            *kind,
            ty.as_deref().unwrap_or("").to_string(),
            message.as_deref().unwrap_or("").to_string(),
            reruns.len(),
        ),
        other => panic!("{} is not a non-success: {other:?}", c.name.as_str()),
    }
}

#[test]
fn junit_reads_back_with_one_suite_per_scenario_and_one_case_per_board() {
    let xml = junit::to_xml(&fixture()).unwrap();
    let report = Report::deserialize_from_str(&xml).expect("quick-junit parses our XML");
    let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "wrong-thing-name",
            "power-cut",
            "bench",
            "needs-power",
            "flaky",
            "always",
            "cut-short"
        ]
    );

    let failed = case(&report, "wrong-thing-name", "thing1");
    assert_eq!(failed.classname.as_deref(), Some("wrong-thing-name"));
    let (kind, ty, message, _) = non_success(failed);
    assert_eq!((kind, ty.as_str()), (NonSuccessKind::Failure, "failed"));
    assert!(message.contains("saw IN_PROGRESS ]]>"), "{message}");
    assert!(!message.contains('\u{1b}'));
    assert!(matches!(
        case(&report, "wrong-thing-name", "thing2").status,
        TestCaseStatus::Success { .. }
    ));

    let (kind, ty, ..) = non_success(case(&report, "power-cut", "a"));
    assert_eq!((kind, ty.as_str()), (NonSuccessKind::Failure, "bricked"));
    let (kind, ty, ..) = non_success(case(&report, "power-cut", "b"));
    assert_eq!(
        (kind, ty.as_str()),
        (NonSuccessKind::Failure, "recovered-by-power-cycle")
    );
    let (kind, ty, ..) = non_success(case(&report, "bench", "a"));
    assert_eq!((kind, ty.as_str()), (NonSuccessKind::Error, "error"));

    match &case(&report, "needs-power", "needs-power").status {
        TestCaseStatus::Skipped { message, .. } => {
            assert_eq!(
                message.as_deref(),
                Some("the rig has no board with power_cycle")
            )
        }
        other => panic!("not skipped: {other:?}"),
    }
}

#[test]
fn console_tails_survive_as_clean_system_out() {
    let xml = junit::to_xml(&fixture()).unwrap();
    assert!(!xml.contains('\0') && !xml.contains('\u{1b}') && !xml.contains('\u{FFFF}'));
    let report = Report::deserialize_from_str(&xml).unwrap();
    let out = case(&report, "wrong-thing-name", "thing1")
        .system_out
        .as_ref()
        .expect("console tail in system-out");
    assert_eq!(
        out.as_str(),
        "booting\nERROR [prvPAL] bad ]]> <tag> & \"q\"  nul end",
        "escapes, NUL and U+FFFF removed; markup and ]]> kept as text (the reader trims the CR)"
    );
}

#[test]
fn versions_seeds_and_summary_are_suite_properties() {
    let xml = junit::to_xml(&fixture()).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    let suite = &report.test_suites[0];
    let prop = |name: &str| {
        suite
            .properties
            .iter()
            .find(|p| p.name.as_str() == name)
            .map(|p| p.value.as_str().to_string())
    };
    assert_eq!(prop("thing1.version.before").as_deref(), Some("0.9.4"));
    assert_eq!(prop("thing1.version.after").as_deref(), Some("0.9.5"));
    assert_eq!(prop("thing2.thing").as_deref(), Some("Thing-thing2"));
    assert_eq!(prop("seeds").as_deref(), Some("7"));
    assert_eq!(
        prop("summary").as_deref(),
        Some("summary of wrong-thing-name")
    );
    assert!(suite.timestamp.is_some());
    assert_eq!(suite.time, Some(Duration::from_millis(12_345)));
}

#[test]
fn repeats_are_flaky_failures_when_mixed_and_reruns_when_always_failing() {
    let xml = junit::to_xml(&fixture()).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    let (kind, ty, message, reruns) = non_success(case(&report, "flaky", "a"));
    assert_eq!((kind, ty.as_str()), (NonSuccessKind::Failure, "flaky"));
    assert_eq!(
        message,
        "flaky (1 of 3 failed): attempt 2 (seed 7): timeout"
    );
    assert_eq!(reruns, 0, "its only failed attempt speaks for it");
    assert!(
        !xml.contains("<flakyFailure"),
        "a case with only flakyFailure reads as passed"
    );
    let (kind, ty, message, reruns) = non_success(case(&report, "always", "a"));
    assert_eq!((kind, ty.as_str()), (NonSuccessKind::Failure, "failed"));
    assert_eq!(
        message, "failed (2 of 2 failed): attempt 2 (seed 7): second",
        "the last failure speaks for the case"
    );
    assert_eq!(reruns, 1);
}

#[test]
fn cases_an_interrupt_cut_short_are_errors() {
    let xml = junit::to_xml(&fixture()).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    let (kind, ty, message, _) = non_success(case(&report, "cut-short", "a"));
    assert_eq!(kind, NonSuccessKind::Error);
    assert_eq!(ty, "unfinished");
    assert_eq!(message, UNFINISHED);
}

#[test]
fn suite_counts_match_the_cases() {
    let xml = junit::to_xml(&fixture()).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(report.tests, 9);
    assert_eq!(
        report.failures, 5,
        "failed, bricked, recovered, flaky, always"
    );
    assert_eq!(report.errors, 2, "bench, cut-short");
    assert!(xml.contains(r#"<testsuite name="needs-power" tests="1" skipped="1""#));
    assert!(
        !xml.contains("disabled="),
        "junit-10.xsd has no disabled attribute"
    );
}

/// xmllint from libxml2-utils; CI installs it and sets OTARIG_REQUIRE_XMLLINT=1.
fn xmllint() -> Option<&'static str> {
    let found = Command::new("xmllint").arg("--version").output().is_ok();
    if !found && std::env::var_os("OTARIG_REQUIRE_XMLLINT").is_some() {
        panic!(
            "xmllint is required (OTARIG_REQUIRE_XMLLINT is set): apt-get install libxml2-utils"
        );
    }
    found.then_some("xmllint")
}

fn validate(xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema/junit-10.xsd");
    let out = Command::new(xmllint().unwrap())
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Validates `xml` against junit-10.xsd where xmllint is installed (required in CI).
pub fn validate_if_xmllint(xml: &str) {
    if xmllint().is_none() {
        eprintln!("skipped: xmllint not installed (apt-get install libxml2-utils)");
        return;
    }
    validate(xml).unwrap_or_else(|e| panic!("junit.xml is not valid junit-10.xsd:\n{e}\n{xml}"));
}

#[test]
fn junit_validates_against_the_jenkins_xunit_schema() {
    if xmllint().is_none() {
        eprintln!("skipped: xmllint not installed (apt-get install libxml2-utils)");
        return;
    }
    let xml = junit::to_xml(&fixture()).unwrap();
    validate(&xml).unwrap_or_else(|e| panic!("junit.xml is not valid junit-10.xsd:\n{e}\n{xml}"));

    // The check can fail: quick-junit's raw output carries `disabled`, which the schema rejects.
    let raw = junit::build(&fixture()).to_string().unwrap();
    let err = validate(&raw).expect_err("raw quick-junit output has `disabled`");
    assert!(err.contains("disabled"), "{err}");
}

/// Python's junitparser (`pip install junitparser`); CI installs it and sets
/// OTARIG_REQUIRE_JUNITPARSER=1.
fn junitparser() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import junitparser"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("OTARIG_REQUIRE_JUNITPARSER").is_some() {
        panic!("junitparser is required (OTARIG_REQUIRE_JUNITPARSER is set): python3 -m pip install junitparser");
    }
    found
}

/// The fixture with what the timelines add: a pinned role, an annotated console and
/// attachments for `thing1` of wrong-thing-name.
fn with_evidence(dir: &Path) -> (RunResult, junit::Evidence) {
    let mut evidence = junit::Evidence::default();
    evidence.pinned.insert(
        ("wrong-thing-name".into(), "thing1".into()),
        "Thing1".into(),
    );
    let log = dir.join("sim-1.console.log");
    std::fs::write(&log, "x\n").unwrap();
    evidence.boards.insert(
        ("wrong-thing-name".into(), 1, 0, "sim-1".into()),
        junit::BoardEvidence {
            console: vec![
                "2026-01-01T00:00:00.000Z [     1.000] ## power off: power_cut".into(),
                NASTY.into(),
            ],
            total_lines: 500,
            attachments: vec![log],
        },
    );
    (fixture(), evidence)
}

#[test]
fn the_annotated_console_and_attachments_go_to_system_out() {
    let dir = tempfile::tempdir().unwrap();
    let (run, evidence) = with_evidence(dir.path());
    let xml = junit::to_xml_with(&run, &evidence).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    let case = case(&report, "wrong-thing-name", "thing1 (thing Thing1)");
    let out = case.system_out.as_ref().unwrap().as_str();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("the last 2 of 500 lines"), "{out}");
    assert!(lines[1].ends_with("## power off: power_cut"), "{out}");
    assert_eq!(
        lines.last().copied(),
        Some(
            format!(
                "[[ATTACHMENT|{}]]",
                dir.path().join("sim-1.console.log").display()
            )
            .as_str()
        ),
        "an attachment line of its own, absolute"
    );
    validate_if_xmllint(&xml);
}

#[test]
fn junitparser_reads_names_results_and_attachments() {
    if !junitparser() {
        eprintln!("skipped: junitparser not installed (python3 -m pip install junitparser)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (run, evidence) = with_evidence(dir.path());
    let file = dir.path().join("junit.xml");
    std::fs::write(&file, junit::to_xml_with(&run, &evidence).unwrap()).unwrap();
    let script = r#"
import sys
from junitparser import JUnitXml
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        kinds = ",".join(type(r).__name__ for r in case.result) or "passed"
        out = case.system_out or ""
        print("\t".join([suite.name, case.classname, case.name, kinds, str(out.count("[[ATTACHMENT|"))]))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let row = |suite: &str, name: &str| {
        rows.iter()
            .find(|r| r[0] == suite && r[2] == name)
            .unwrap_or_else(|| panic!("{suite} :: {name} not read:\n{text}"))
    };
    assert_eq!(
        row("wrong-thing-name", "thing1 (thing Thing1)")[3..],
        ["Failure", "1"]
    );
    assert_eq!(row("wrong-thing-name", "thing2")[3], "passed");
    assert_eq!(row("bench", "a")[3], "Error");
    assert_eq!(row("needs-power", "needs-power")[3], "Skipped");
    assert_eq!(row("flaky", "a")[3], "Failure");
    assert_eq!(rows.len(), 9, "{text}");
}
