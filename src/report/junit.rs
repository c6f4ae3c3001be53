//! JUnit XML (quick-junit): one testsuite per scenario, one testcase per board role.
//! Attempts of `--repeat` merge into one case: a pass mixed with failures is flaky
//! (`flakyFailure`), repeated failures add `rerunFailure`s.
//!
//! The output validates against the Jenkins xUnit plugin's `junit-10.xsd` (committed
//! under tests/schema/): no testcase timestamps or properties (the schema has none;
//! board versions go in the suite's properties), and testsuite's skip count written
//! as `skipped` (read by Jenkins and GitLab) instead of quick-junit's `disabled`.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite, XmlString,
};
use regex::Regex;

use super::model::{group_cases, BoardResult, RunResult, ScenarioResult, Verdict, UNFINISHED};

/// Serializes the run as JUnit XML.
pub fn to_xml(run: &RunResult) -> Result<String, quick_junit::SerializeError> {
    let xml = build(run).to_string()?;
    Ok(skipped_not_disabled(&xml))
}

/// The quick-junit model of the run.
pub fn build(run: &RunResult) -> Report {
    let mut report = Report::new(format!("otarig {} on {}", run.run_id, run.rig));
    report.set_time(run.duration);
    let groups = group_cases(&run.scenarios);
    for name in scenario_names(&run.scenarios) {
        let attempts: Vec<&ScenarioResult> = {
            let mut a: Vec<_> = run.scenarios.iter().filter(|s| s.name == name).collect();
            a.sort_by_key(|s| s.attempt);
            a
        };
        let mut suite = TestSuite::new(name);
        let first = attempts[0];
        if let Some(ts) = timestamp(first.started_wall_ms) {
            suite.set_timestamp(ts);
        }
        suite.set_time(attempts.iter().map(|s| s.duration).sum::<Duration>());
        suite.add_properties(suite_properties(&attempts));

        let roles = roles_in_order(&attempts);
        if roles.is_empty() {
            // A scenario skipped before its roles were bound still shows up as one case.
            suite.add_test_case(scenario_only_case(first));
        }
        for role in roles {
            let cases = &groups[&(name.to_string(), role.to_string())];
            suite.add_test_case(board_case(cases));
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
    let seeds: Vec<String> = attempts
        .iter()
        .flat_map(|s| s.seeds.iter().map(u64::to_string))
        .collect();
    if !seeds.is_empty() {
        props.push(Property::new("seeds", seeds.join(",")));
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

/// The effective verdict of one attempt of one board.
fn verdict_of(s: &ScenarioResult, b: &BoardResult) -> Verdict {
    if s.skipped.is_some() {
        Verdict::Skipped
    } else {
        b.verdict
    }
}

/// JUnit `type`: the verdict, or `unfinished` for cases an interrupt cut short.
fn type_of(verdict: Verdict, board: &BoardResult) -> &'static str {
    if verdict == Verdict::Error && board.message.as_deref() == Some(UNFINISHED) {
        "unfinished"
    } else {
        verdict.as_str()
    }
}

fn message_of(s: &ScenarioResult, b: &BoardResult, verdict: Verdict) -> String {
    let text = match (&s.skipped, &b.message) {
        (Some(reason), _) => reason.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => verdict.as_str().to_string(),
    };
    if s.attempt > 1 {
        format!("attempt {}: {text}", s.attempt)
    } else {
        text
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

fn rerun(s: &ScenarioResult, b: &BoardResult, verdict: Verdict) -> TestRerun {
    let mut r = TestRerun::new(kind_of(verdict));
    let message = message_of(s, b, verdict);
    r.set_type(type_of(verdict, b))
        .set_message(message.as_str())
        .set_description(message.as_str());
    // No time: junit-10.xsd's rerunType has no `time` attribute.
    if !b.console_tail.is_empty() {
        r.set_system_out(console_text(&b.console_tail));
    }
    r
}

/// One role across its attempts.
fn board_case(attempts: &[(&ScenarioResult, &BoardResult)]) -> TestCase {
    let verdicts: Vec<Verdict> = attempts.iter().map(|(s, b)| verdict_of(s, b)).collect();
    let any = |f: fn(Verdict) -> bool| verdicts.iter().any(|v| f(*v));
    let passed = any(|v| v == Verdict::Passed);
    let ran_badly = |v: Verdict| v != Verdict::Passed && v != Verdict::Skipped;

    // The attempt that speaks for the case: the last firmware failure, else the last
    // error, else the last pass, else the last attempt.
    let pick = |f: &dyn Fn(Verdict) -> bool| {
        attempts
            .iter()
            .zip(&verdicts)
            .rev()
            .find(|(_, v)| f(**v))
            .map(|(a, v)| (*a, *v))
    };
    let (primary, primary_verdict) = if passed {
        pick(&|v| v == Verdict::Passed)
    } else {
        pick(&|v| v.is_firmware_failure()).or_else(|| pick(&|v| v == Verdict::Error))
    }
    .unwrap_or((attempts[attempts.len() - 1], verdicts[verdicts.len() - 1]));
    let (s, b) = primary;

    let others = attempts
        .iter()
        .zip(&verdicts)
        .filter(|((s2, _), v)| ran_badly(**v) && s2.attempt != s.attempt)
        .map(|((s2, b2), v)| rerun(s2, b2, *v));

    let status = match primary_verdict {
        Verdict::Passed => TestCaseStatus::Success {
            flaky_runs: others.collect(),
        },
        Verdict::Skipped => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(message_of(s, b, primary_verdict).as_str());
            st
        }
        v => {
            let message = message_of(s, b, v);
            let mut st = TestCaseStatus::non_success(kind_of(v));
            st.set_type(type_of(v, b))
                .set_message(message.as_str())
                .set_description(message.as_str());
            st.add_reruns(others);
            st
        }
    };
    let mut case = TestCase::new(b.display_name(), status);
    case.set_classname(s.name.as_str()).set_time(s.duration);
    if !b.console_tail.is_empty() {
        case.set_system_out(console_text(&b.console_tail));
    }
    case
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
    fn disabled_becomes_skipped_only_in_testsuite_tags() {
        let xml = r#"<testsuites name="x" tests="1"><testsuite name="a b" tests="1" disabled="2" errors="0"><system-out>&lt;testsuite name="q" tests="1" disabled="0"</system-out></testsuite></testsuites>"#;
        let out = skipped_not_disabled(xml);
        assert!(out.contains(r#"<testsuite name="a b" tests="1" skipped="2" errors="0">"#));
        assert!(out.contains(r#"&lt;testsuite name="q" tests="1" disabled="0""#));
    }
}
