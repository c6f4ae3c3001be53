//! One rule for repeated results, four views that agree: a case that failed 4 of 6
//! attempts is flaky, a failure, in the exit code, the table, summary.json and JUnit
//! (read here with quick-xml, as Jenkins and GitLab read it, not with quick-junit).

use std::collections::BTreeMap;
use std::time::Duration;

use otarig::report::{summary, table, write_run};
use otarig::report::{BoardResult, RunResult, ScenarioResult, Verdict};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::support::events;

fn board(role: &str, verdict: Verdict, message: Option<String>) -> BoardResult {
    BoardResult {
        message,
        ..events::board(role, verdict)
    }
}

/// `lossy`: role `dut` fails attempts 2, 3, 5 and 6 of 6 (each with its own seed);
/// role `peer` passes all six. `steady`: passes once.
fn run() -> RunResult {
    let failing = [2, 3, 5, 6];
    let mut scenarios: Vec<ScenarioResult> = (1..=6)
        .map(|attempt| {
            let dut = if failing.contains(&attempt) {
                board(
                    "dut",
                    Verdict::Failed,
                    Some(format!(
                        "expected job SUCCEEDED, saw FAILED (try {attempt})"
                    )),
                )
            } else {
                board("dut", Verdict::Passed, None)
            };
            ScenarioResult {
                seeds: vec![1000 + u64::from(attempt)],
                ..events::scenario(
                    "lossy",
                    attempt,
                    vec![dut, board("peer", Verdict::Passed, None)],
                )
            }
        })
        .collect();
    scenarios.push(ScenarioResult {
        duration: Duration::from_secs(5),
        ..events::scenario("steady", 1, vec![board("dut", Verdict::Passed, None)])
    });
    RunResult {
        duration: Duration::from_secs(65),
        ..events::run("flaky-run", scenarios)
    }
}

/// An element as the XML has it: name, attributes, child elements, text.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    children: Vec<Element>,
}

impl Element {
    fn attr(&self, name: &str) -> &str {
        self.attrs
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("<{}> has no {name}=", self.name))
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn by_name<'a>(&'a self, tag: &'a str, name: &str) -> &'a Element {
        self.all(tag)
            .find(|c| c.attrs.get("name").map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no <{tag} name=\"{name}\"> in <{}>", self.name))
    }
}

fn element(start: &BytesStart) -> Element {
    Element {
        name: String::from_utf8(start.name().as_ref().to_vec()).unwrap(),
        attrs: start
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect(),
        children: Vec::new(),
    }
}

/// The document element of `xml`, parsed with quick-xml.
fn parse(xml: &str) -> Element {
    let mut reader = Reader::from_str(xml);
    let mut stack = vec![Element::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let el = element(&e);
                stack.last_mut().unwrap().children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(el);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().unwrap();
    assert!(stack.is_empty(), "unclosed elements");
    root.children.pop().expect("a document element")
}

#[test]
fn a_case_that_failed_4_of_6_attempts_is_a_flaky_failure_in_all_four_views() {
    let run = run();
    let reports = tempfile::tempdir().unwrap();
    let paths = write_run(reports.path(), &run, &[]).unwrap();

    // 1. The exit code: a flaky case is a firmware failure.
    assert_eq!(run.stats().exit_code(), 1);

    // 2. The table: one row per case, the flaky one saying so, and the totals.
    let text = table::render(&run);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 5, "header, 3 cases, totals:\n{text}");
    let dut = rows
        .iter()
        .find(|r| r.contains("dut (sim-dut)") && r.contains("lossy"))
        .unwrap();
    assert!(dut.starts_with("FLAKY "), "{text}");
    assert!(
        dut.contains("flaky (4 of 6 failed): attempt 6 (seed 1006): expected job SUCCEEDED"),
        "{text}"
    );
    assert!(dut.contains(" 1006 "), "the SEED column: {text}");
    let peer = rows.iter().find(|r| r.contains("peer (sim-peer)")).unwrap();
    assert!(peer.starts_with("PASS "), "{text}");
    assert!(
        rows[4].ends_with("2 scenarios, 3 cases (13 board runs): 2 passed, 1 flaky (exit 1)"),
        "{text}"
    );

    // 3. summary.json: the same case, outcome and counts, and the same exit code.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths.summary).unwrap()).unwrap();
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["stats"]["flaky"], 1);
    assert_eq!(json["stats"]["passed"], 2);
    assert_eq!(json["stats"]["failed"], 0, "a flaky case is counted once");
    assert_eq!(json["stats"]["cases"], 3);
    let cases = json["cases"].as_array().unwrap();
    let flaky: Vec<&serde_json::Value> = cases.iter().filter(|c| c["outcome"] == "flaky").collect();
    assert_eq!(flaky.len(), 1, "{cases:?}");
    let case = flaky[0];
    assert_eq!(case["scenario"], "lossy");
    assert_eq!(case["role"], "dut");
    assert_eq!(case["text"], "flaky (4 of 6 failed)");
    assert_eq!(
        (case["attempts"].clone(), case["failed_attempts"].clone()),
        (6.into(), 4.into())
    );
    assert_eq!(case["seeds"], serde_json::json!([1006]));
    assert!(cases
        .iter()
        .filter(|c| c["outcome"] != "flaky")
        .all(|c| c["outcome"] == "passed"));
    let back = summary::from_json(&std::fs::read_to_string(&paths.summary).unwrap()).unwrap();
    assert_eq!(back.run, run);

    // 4. JUnit as CI reads it: one failure, counted, carrying every failed attempt.
    let xml = std::fs::read_to_string(&paths.junit).unwrap();
    let root = parse(&xml);
    assert_eq!(root.name, "testsuites");
    assert_eq!(root.attr("tests"), "3");
    assert_eq!(root.attr("failures"), "1", "{xml}");
    assert_eq!(root.attr("errors"), "0");
    let suite = root.by_name("testsuite", "lossy");
    assert_eq!(suite.attr("tests"), "2");
    assert_eq!(suite.attr("failures"), "1", "{xml}");
    let tc = suite.by_name("testcase", "dut");
    let failures: Vec<&Element> = tc.all("failure").collect();
    assert_eq!(failures.len(), 1, "{xml}");
    assert_eq!(failures[0].attr("type"), "flaky");
    assert_eq!(
        failures[0].attr("message"),
        "flaky (4 of 6 failed): attempt 6 (seed 1006): expected job SUCCEEDED, saw FAILED (try 6)"
    );
    assert_eq!(tc.all("flakyFailure").count(), 0, "{xml}");
    let reruns: Vec<&str> = tc.all("rerunFailure").map(|r| r.attr("message")).collect();
    assert_eq!(
        reruns,
        [
            "attempt 2 (seed 1002): expected job SUCCEEDED, saw FAILED (try 2)",
            "attempt 3 (seed 1003): expected job SUCCEEDED, saw FAILED (try 3)",
            "attempt 5 (seed 1005): expected job SUCCEEDED, saw FAILED (try 5)",
        ],
        "the other failed attempts, each with its message"
    );
    let peer = suite.by_name("testcase", "peer");
    assert!(
        peer.children.is_empty(),
        "a pass has no status element: {xml}"
    );
    let props: BTreeMap<&str, &str> = suite
        .all("properties")
        .flat_map(|p| p.all("property"))
        .map(|p| (p.attr("name"), p.attr("value")))
        .collect();
    assert_eq!(props.get("attempt.6.seeds"), Some(&"1006"));
    assert_eq!(props.get("attempts"), Some(&"6"));

    // All four tell one story: one failing case.
    let junit_failures: usize = root.attr("failures").parse().unwrap();
    assert_eq!(junit_failures, run.stats().firmware_failures());
    assert_eq!(
        json["exit_code"].as_u64(),
        Some(u64::from(run.stats().exit_code()))
    );
}

/// `--retries 2`: role `dut` of `lossy` fails tries 1 and 2 and passes retry 2; `peer`
/// passes all three. nextest's flaky: a pass, in all four views, never a silent one.
#[test]
fn a_case_that_passed_on_its_second_retry_is_a_flaky_pass_in_all_four_views() {
    let scenarios: Vec<ScenarioResult> = (0..3)
        .map(|retry| {
            let dut = if retry < 2 {
                board(
                    "dut",
                    Verdict::Failed,
                    Some(format!("expected job SUCCEEDED, saw FAILED (try {retry})")),
                )
            } else {
                board("dut", Verdict::Passed, None)
            };
            ScenarioResult {
                retry,
                seeds: vec![2000 + u64::from(retry)],
                ..events::scenario("lossy", 1, vec![dut, board("peer", Verdict::Passed, None)])
            }
        })
        .collect();
    let run = RunResult {
        duration: Duration::from_secs(30),
        ..events::run("retried-run", scenarios)
    };
    let reports = tempfile::tempdir().unwrap();
    let paths = write_run(reports.path(), &run, &[]).unwrap();

    // 1. The exit code: a pass.
    assert_eq!(run.stats().exit_code(), 0);

    // 2. The table.
    let text = table::render(&run);
    let dut = text
        .lines()
        .position(|r| r.contains("dut (sim-dut)"))
        .unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[dut].starts_with("FLAKY-PASS "), "{text}");
    assert_eq!(
        rows[dut + 1],
        "    flaky-pass (2 of 3 failed): attempt 1 retry 1 (seed 2001): expected job SUCCEEDED, saw FAILED (try 1)",
        "{text}"
    );
    assert!(
        text.ends_with(
            "1 scenario, 2 cases (6 board runs): 1 passed, 1 flaky-pass (passed on a retry) (exit 0)\n"
        ),
        "{text}"
    );

    // 3. summary.json.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths.summary).unwrap()).unwrap();
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["stats"]["flaky_pass"], 1);
    assert_eq!(json["stats"]["passed"], 1);
    let case = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "dut")
        .unwrap();
    assert_eq!(case["outcome"], "flaky-pass");
    assert_eq!(
        (case["attempt"].clone(), case["retry"].clone()),
        (1.into(), 1.into())
    );
    assert_eq!(case["seeds"], serde_json::json!([2001]));

    // 4. JUnit: a passing test case with a flakyFailure per failed try.
    let xml = std::fs::read_to_string(&paths.junit).unwrap();
    crate::report_junit::validate_if_xmllint(&xml);
    let root = parse(&xml);
    assert_eq!(
        (root.attr("failures"), root.attr("errors")),
        ("0", "0"),
        "{xml}"
    );
    let tc = root
        .by_name("testsuite", "lossy")
        .by_name("testcase", "dut");
    assert_eq!(
        tc.all("failure").count() + tc.all("error").count(),
        0,
        "{xml}"
    );
    let flaky: Vec<&str> = tc.all("flakyFailure").map(|f| f.attr("message")).collect();
    assert_eq!(
        flaky,
        [
            "attempt 1 (seed 2000): expected job SUCCEEDED, saw FAILED (try 0)",
            "attempt 1 retry 1 (seed 2001): expected job SUCCEEDED, saw FAILED (try 1)",
        ],
        "{xml}"
    );
    assert_eq!(tc.all("rerunFailure").count(), 0, "{xml}");
}
