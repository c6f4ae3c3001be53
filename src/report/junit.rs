//! JUnit XML (quick-junit): one testsuite per scenario, one testcase per board role.
//! Attempts of `--repeat` and retries of `--retries` merge into one case whose status is
//! the case's [`Outcome`] (README.md § Repeats and flaky cases), in nextest's convention:
//! - a `flaky` case (a pass and a firmware failure among `--repeat`'s attempts) is a
//!   `<failure type="flaky">` counted in `failures=` (what Jenkins and GitLab read), the
//!   speaking try's message after `flaky (4 of 6 failed): `;
//! - a `flaky-pass` case (it passed on a retry) passes: no status element, a
//!   `<flakyFailure>`/`<flakyError>` per try that did not pass, each with its message
//!   and console; readers count it as passed, as they do nextest's flaky tests;
//! - in a case that did not pass, every other try that did not pass is a
//!   `<rerunFailure>`/`<rerunError>` with its own message.
//!
//! Test case names are stable across runs, whatever boards a run bound: the class is the
//! scenario, the name its role (`dut`), with the thing when the role pins one
//! (`thing1 (thing Thing1)`). The bound board is the suite property `<role>.board`.
//! `system-out` carries the board's annotated console (its lines with otarig's `##`
//! annotations: flash, power, resets, faults, job changes, failed expectations, waits),
//! then its evidence files as `[[ATTACHMENT|path]]` lines, the convention of Jenkins'
//! junit-attachments plugin and GitLab. Failure texts are whole.
//!
//! The output validates against the Jenkins xUnit plugin's `junit-10.xsd` (committed
//! under tests/schema/): no testcase timestamps or properties (the schema has none;
//! boards and versions go in the suite's properties), and testsuite's skip count written
//! as `skipped` (read by Jenkins and GitLab) instead of quick-junit's `disabled`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite, XmlString,
};
use regex::Regex;

use super::model::{
    cases, Attempt, BoardResult, Case, Outcome, RunResult, ScenarioResult, Verdict, UNFINISHED,
};

/// What the timelines add to the results: which roles pin a thing, and each board run's
/// annotated console and evidence files.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// (scenario, role) → the thing the role pins.
    pub pinned: BTreeMap<(String, String), String>,
    /// (scenario, attempt, retry, board) → its console and files.
    pub boards: BTreeMap<(String, u32, u32, String), BoardEvidence>,
}

#[derive(Clone, Debug, Default)]
pub struct BoardEvidence {
    /// The annotated console's last lines.
    pub console: Vec<String>,
    /// How many lines the whole console log has.
    pub total_lines: usize,
    /// Files to attach (console log, MQTT transcript, timeline).
    pub attachments: Vec<PathBuf>,
}

/// A test case's name: the role, and the thing when the role pins one. Never the board:
/// which board a run binds changes from run to run, and CI keeps history by name.
pub fn case_name(role: &str, pinned: Option<&str>) -> String {
    match pinned {
        Some(thing) => format!("{role} (thing {thing})"),
        None => role.to_string(),
    }
}

/// Serializes the run as JUnit XML (console tails from the results, no attachments).
pub fn to_xml(run: &RunResult) -> Result<String, quick_junit::SerializeError> {
    to_xml_with(run, &Evidence::default())
}

/// Serializes the run as JUnit XML with what the timelines add.
pub fn to_xml_with(
    run: &RunResult,
    evidence: &Evidence,
) -> Result<String, quick_junit::SerializeError> {
    let xml = build_with(run, evidence).to_string()?;
    Ok(skipped_not_disabled(&xml))
}

/// The quick-junit model of the run.
pub fn build(run: &RunResult) -> Report {
    build_with(run, &Evidence::default())
}

pub fn build_with(run: &RunResult, evidence: &Evidence) -> Report {
    let mut report = Report::new(format!("otarig {} on {}", run.run_id, run.rig));
    report.set_time(run.duration);
    let all = cases(run);
    for name in scenario_names(&run.scenarios) {
        let attempts: Vec<&ScenarioResult> = {
            let mut a: Vec<_> = run.scenarios.iter().filter(|s| s.name == name).collect();
            a.sort_by_key(|s| (s.attempt, s.retry));
            a
        };
        let mut suite = TestSuite::new(name);
        let first = attempts[0];
        if let Some(ts) = timestamp(first.started_wall_ms) {
            suite.set_timestamp(ts);
        }
        suite.set_time(attempts.iter().map(|s| s.duration).sum::<Duration>());
        suite.add_properties(suite_properties(&attempts));
        for case in all.iter().filter(|c| c.scenario == name) {
            suite.add_test_case(match case.role {
                // A scenario skipped before its roles were bound still shows up as one case.
                None => scenario_only_case(case.primary().scenario),
                Some(_) => board_case(case, evidence),
            });
        }
        report.add_test_suite(suite);
    }
    report
}

fn scenario_names(scenarios: &[ScenarioResult]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for s in scenarios {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    names
}

fn roles_in_order<'a>(attempts: &[&'a ScenarioResult]) -> Vec<&'a str> {
    let mut roles: Vec<&str> = Vec::new();
    for s in attempts {
        for b in &s.boards {
            if !roles.contains(&b.role.as_str()) {
                roles.push(&b.role);
            }
        }
    }
    roles
}

fn timestamp(wall_ms: u64) -> Option<DateTime<FixedOffset>> {
    if wall_ms == 0 {
        return None;
    }
    DateTime::from_timestamp_millis(i64::try_from(wall_ms).ok()?).map(|t| t.fixed_offset())
}

fn suite_properties(attempts: &[&ScenarioResult]) -> Vec<Property> {
    let first = attempts[0];
    let last = attempts[attempts.len() - 1];
    let mut props = vec![Property::new("summary", first.summary.as_str())];
    if attempts.len() > 1 {
        props.push(Property::new("attempts", attempts.len().to_string()));
    }
    // The seeds each attempt's link faults used: `otarig run --seed N` replays one.
    if let [only] = attempts {
        if !only.seeds.is_empty() {
            props.push(Property::new("seeds", seeds_value(&only.seeds)));
        }
    } else {
        for s in attempts.iter().filter(|s| !s.seeds.is_empty()) {
            let key = match s.retry {
                0 => format!("attempt.{}.seeds", s.attempt),
                r => format!("attempt.{}.retry.{r}.seeds", s.attempt),
            };
            props.push(Property::new(key, seeds_value(&s.seeds)));
        }
    }
    if let Some(reason) = &last.skipped {
        props.push(Property::new("skipped", reason.as_str()));
    }
    for role in roles_in_order(attempts) {
        let board_of = |s: &&ScenarioResult| s.boards.iter().find(|b| b.role == role).cloned();
        let (Some(b0), Some(b1)) = (
            attempts.iter().find_map(board_of),
            attempts.iter().rev().find_map(board_of),
        ) else {
            continue;
        };
        props.push(Property::new(format!("{role}.board"), b1.board.as_str()));
        props.push(Property::new(format!("{role}.thing"), b1.thing.as_str()));
        if let Some(v) = &b0.versions.before {
            props.push(Property::new(format!("{role}.version.before"), v.as_str()));
        }
        if let Some(v) = &b1.versions.after {
            props.push(Property::new(format!("{role}.version.after"), v.as_str()));
        }
    }
    props
}

fn scenario_only_case(s: &ScenarioResult) -> TestCase {
    let mut status = TestCaseStatus::skipped();
    if let Some(reason) = &s.skipped {
        status.set_message(reason.as_str());
    }
    let mut case = TestCase::new(s.name.as_str(), status);
    case.set_classname(s.name.as_str());
    case
}

fn seeds_value(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// JUnit `type`: the verdict, or `unfinished` for cases an interrupt cut short.
fn type_of(verdict: Verdict, board: Option<&BoardResult>) -> &'static str {
    if verdict == Verdict::Error && board.and_then(|b| b.message.as_deref()) == Some(UNFINISHED) {
        "unfinished"
    } else {
        verdict.as_str()
    }
}

fn kind_of(verdict: Verdict) -> NonSuccessKind {
    if verdict.is_firmware_failure() {
        NonSuccessKind::Failure
    } else {
        NonSuccessKind::Error
    }
}

/// Console tail as system-out text, cleaned of what XML 1.0 cannot carry.
pub fn console_text(lines: &[String]) -> XmlString {
    let mut text = lines.join("\n");
    text.retain(|c| c != '\u{FFFE}' && c != '\u{FFFF}');
    XmlString::new(text)
}

/// An attempt's `system-out`: its board's annotated console and evidence files when the
/// timeline was read, else the console tail of its result.
fn system_out(a: &Attempt, evidence: &Evidence) -> Option<XmlString> {
    let b = a.board?;
    let key = (
        a.scenario.name.clone(),
        a.scenario.attempt,
        a.scenario.retry,
        b.board.clone(),
    );
    let Some(ev) = evidence.boards.get(&key) else {
        return (!b.console_tail.is_empty()).then(|| console_text(&b.console_tail));
    };
    let shown = ev.console.len();
    let mut lines = vec![format!(
        "otarig: board {} (thing {}), {}: {} of its annotated console ({}; lines starting `##` are otarig's); the whole log, the MQTT transcript and the timeline are attached below",
        b.board,
        b.thing,
        a.label(),
        if shown < ev.total_lines {
            format!("the last {shown} of {} lines", ev.total_lines)
        } else {
            format!("all {shown} lines")
        },
        if shown < ev.total_lines { "the start is in the attached log" } else { "nothing left out" },
    )];
    lines.extend(ev.console.iter().cloned());
    for file in &ev.attachments {
        lines.push(format!("[[ATTACHMENT|{}]]", attachment_path(file)));
    }
    Some(console_text(&lines))
}

/// How an attachment is named: relative to `$CI_PROJECT_DIR` when GitLab runs otarig
/// and the file is inside it (GitLab resolves attachments there), else absolute (what
/// Jenkins' junit-attachments plugin reads).
fn attachment_path(file: &Path) -> String {
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    if let Some(project) =
        std::env::var_os("CI_PROJECT_DIR").filter(|_| std::env::var_os("GITLAB_CI").is_some())
    {
        if let Ok(relative) = absolute.strip_prefix(Path::new(&project)) {
            return relative.display().to_string();
        }
    }
    absolute.display().to_string()
}

/// Another try of the case that did not pass: a `rerun…` element in a case that did not
/// pass, a `flaky…` one in a case that passed on a retry.
fn rerun(a: &Attempt, attempts: usize, evidence: &Evidence) -> TestRerun {
    let mut r = TestRerun::new(kind_of(a.verdict));
    let message = a.message(attempts);
    r.set_type(type_of(a.verdict, a.board))
        .set_message(message.as_str())
        .set_description(message.as_str());
    // No time: junit-10.xsd's rerunType has no `time` attribute.
    if let Some(out) = system_out(a, evidence) {
        r.set_system_out(out);
    }
    r
}

/// One role across its tries, written as its [`Outcome`].
fn board_case(case: &Case, evidence: &Evidence) -> TestCase {
    let outcome = case.outcome();
    // A case that passed speaks with the pass that decided it, its failed tries aside.
    let speaking = if outcome.is_pass() {
        case.last()
    } else {
        case.primary()
    };
    let n = case.attempts.len();
    let is_speaking = |a: &Attempt| {
        (a.scenario.attempt, a.scenario.retry)
            == (speaking.scenario.attempt, speaking.scenario.retry)
    };
    let others: Vec<TestRerun> = case
        .attempts
        .iter()
        .filter(|a| a.failed() && !is_speaking(a))
        .map(|a| rerun(a, n, evidence))
        .collect();
    let message = case.message().unwrap_or_default();
    let primary = speaking;
    let status = match outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::FlakyPass => {
            let mut st = TestCaseStatus::success();
            st.add_reruns(others);
            st
        }
        Outcome::Skipped => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(message.as_str());
            st
        }
        _ => {
            let (kind, ty) = if outcome == Outcome::Flaky {
                (NonSuccessKind::Failure, "flaky")
            } else {
                (
                    kind_of(primary.verdict),
                    type_of(primary.verdict, primary.board),
                )
            };
            let mut st = TestCaseStatus::non_success(kind);
            st.set_type(ty)
                .set_message(message.as_str())
                .set_description(message.as_str());
            st.add_reruns(others);
            st
        }
    };
    let name = match case.role {
        Some(role) => {
            let pinned = evidence
                .pinned
                .get(&(case.scenario.to_string(), role.to_string()));
            case_name(role, pinned.map(String::as_str))
        }
        None => case.scenario.to_string(),
    };
    let mut case_out = TestCase::new(name, status);
    case_out
        .set_classname(case.scenario)
        .set_time(case.duration());
    if let Some(out) = system_out(primary, evidence) {
        case_out.set_system_out(out);
    }
    case_out
}

/// quick-junit writes its skip count as `disabled` on `<testsuite>`, which the Jenkins
/// xUnit plugin's schema rejects (jasmine-reporters#190); `skipped` is the name it and
/// GitLab read. Attribute values and text are escaped, so `<testsuite name="` can only
/// start a tag, and `"` cannot occur inside the name.
fn skipped_not_disabled(xml: &str) -> String {
    let re = Regex::new(r#"(<testsuite name="[^"]*" tests="\d+") disabled="(\d+)""#)
        .expect("static regex");
    re.replace_all(xml, r#"$1 skipped="$2""#).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_never_carry_the_board() {
        assert_eq!(case_name("dut", None), "dut");
        assert_eq!(case_name("thing1", Some("Thing1")), "thing1 (thing Thing1)");
    }

    #[test]
    fn disabled_becomes_skipped_only_in_testsuite_tags() {
        let xml = r#"<testsuites name="x" tests="1"><testsuite name="a b" tests="1" disabled="2" errors="0"><system-out>&lt;testsuite name="q" tests="1" disabled="0"</system-out></testsuite></testsuites>"#;
        let out = skipped_not_disabled(xml);
        assert!(out.contains(r#"<testsuite name="a b" tests="1" skipped="2" errors="0">"#));
        assert!(out.contains(r#"&lt;testsuite name="q" tests="1" disabled="0""#));
    }
}
