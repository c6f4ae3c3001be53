//! Expectations read from scenario files: each kind, its modifiers and window, and every
//! refusal at its position among the file's other diagnostics.

use std::time::Duration;

use super::*;
use crate::config::scenario::Step;
use crate::config::Diagnostics;
use crate::model::ExecutionStatus;
use crate::scenario::{load_scenarios, Scenario};

fn scenario(name: &str, text: &str) -> Result<Scenario, Diagnostics> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    load_scenarios(&[path], None).map(|mut v| v.remove(0))
}

/// `line:column: message` of each error.
fn errors(d: &Diagnostics) -> Vec<String> {
    d.errors()
        .map(|x| format!("{}:{}: {}", x.line, x.column, x.message))
        .collect()
}

fn check(s: &Scenario, step: usize) -> (&Check, Duration) {
    match &s.steps[step] {
        Step::Expect(e) => (&e.check, e.within),
        other => panic!("step {step} is {other:?}"),
    }
}

const EVERY_KIND: &str = r#"
name: every
boards:
  thing1:
  thing2:
steps:
  - job: { id: j1, image: app-v5, targets: thing2 }
  - expect: { board: thing2, progress: 50%, of: j1, within: 2m }
  - expect: { boards: [thing1, thing2], job: FAILED, of: j1, reason: 'rejected: 0x23000000', within: 5m }
  - expect: { board: thing1, console_literal: '[prvParseJobDoc] In self test mode.', within: 1m }
  - expect: { board: thing1, not_console: 'Resetting', for: 20s }
  - expect: { board: thing1, sequence: [a, b], within: 2m }
  - expect: { board: thing1, version: 0.9.4, within: 2m }
  - expect: { board: thing1, online: false, within: 1m }
  - expect: { board: thing1, console: 'Ready', within: 30s }
  - expect: { board: thing2, progress: 25%, job: j1, within: 2m }
  - expect: { board: thing1, no_execution: j1, within: 1m }
  - expect: { board: thing2, job: SUCCEEDED, within: 1m }
"#;

#[test]
fn every_kind_reads_its_keys_and_its_window() {
    let s = scenario("every", EVERY_KIND).unwrap_or_else(|d| panic!("{d}"));
    let minute = Duration::from_secs(60);
    assert!(matches!(
        check(&s, 1),
        (Check::Progress(Progress { job: Some(j), at_least }), w) if j == "j1" && *at_least == 0.5 && w == 2 * minute
    ));
    let (Check::Job(job), within) = check(&s, 2) else {
        panic!("{:?}", s.steps[2])
    };
    assert_eq!(
        (job.job.as_deref(), job.status, within),
        (Some("j1"), ExecutionStatus::Failed, 5 * minute)
    );
    assert!(job
        .reason
        .as_ref()
        .unwrap()
        .is_match("rejected: 0x23000000"));
    let (Check::Console(Console(literal)), _) = check(&s, 3) else {
        panic!("{:?}", s.steps[3])
    };
    assert!(
        literal.is_match("[prvParseJobDoc] In self test mode.")
            && !literal.is_match("p In self test mode."),
        "literal is escaped: {literal}"
    );
    assert!(matches!(
        check(&s, 4),
        (Check::NotConsole(NotConsole(re)), w) if re.as_str() == "Resetting" && w == Duration::from_secs(20)
    ));
    assert!(matches!(
        check(&s, 5),
        (Check::Sequence(Sequence(res)), _) if res.iter().map(|r| r.as_str()).eq(["a", "b"])
    ));
    assert!(matches!(check(&s, 6), (Check::Version(Version(v)), _) if v == "0.9.4"));
    assert!(matches!(check(&s, 7), (Check::Online(Online(false)), w) if w == minute));
    assert!(matches!(check(&s, 8), (Check::Console(Console(re)), _) if re.as_str() == "Ready"));
    assert!(matches!(
        check(&s, 9),
        (Check::Progress(Progress { job: Some(j), at_least }), _) if j == "j1" && *at_least == 0.25
    ));
    assert!(matches!(check(&s, 10), (Check::NoExecution(NoExecution { job }), _) if job == "j1"));
    assert!(matches!(
        check(&s, 11),
        (
            Check::Job(JobStatus {
                job: None,
                status: ExecutionStatus::Succeeded,
                reason: None
            }),
            _
        )
    ));
}

#[test]
fn each_kind_is_described_as_failure_messages_and_the_progress_display_say_it() {
    let s = scenario("every", EVERY_KIND).unwrap_or_else(|d| panic!("{d}"));
    let described: Vec<String> = (1..s.steps.len())
        .map(|i| {
            let (c, w) = check(&s, i);
            c.describe(w)
        })
        .collect();
    assert_eq!(
        described,
        [
            "download of job j1 at 50% within 2m",
            "execution of job j1 FAILED with reason /rejected: 0x23000000/ within 5m",
            r"console /\[prvParseJobDoc\] In self test mode\./ within 1m",
            "no console /Resetting/ for 20s",
            "console sequence /a/ → /b/ within 2m",
            "running version 0.9.4 within 2m",
            "offline within 1m",
            "console /Ready/ within 30s",
            "download of job j1 at 25% within 2m",
            "no execution of job j1 (it stops before reaching the board) within 1m",
            "execution SUCCEEDED within 1m",
        ]
    );
}

#[test]
fn expectations_take_exactly_one_check_and_the_right_window() {
    let d = scenario(
        "x",
        "name: x\nboards: { a: {} }\nsteps:\n  - expect: { board: a, online: true, version: 1.0.0, within: 1s }\n  - expect: { board: a, not_console: 'x', within: 1s }\n  - expect: { board: a, console: 'x' }\n  - expect: { board: a, within: 1s }\n  - expect: { board: a, console: 'x', within: 1s, for: 2s }\n  - expect: { board: a, not_console: 'x' }\n",
    )
    .unwrap_err();
    assert_eq!(
        errors(&d),
        [
            "4:13: expect takes one check, found version, online: split it into several expect steps",
            "5:51: `not_console` takes a window `for: DURATION`, not `within`",
            "6:13: expect needs a deadline `within: DURATION`",
            "7:13: expect needs one check: console, console_literal, sequence, not_console, job, version, online, progress, no_execution",
            "8:56: `for` only applies to `not_console`; use `within: DURATION`",
            "9:13: `not_console` needs `for: DURATION`, the window during which the line must not appear",
        ],
        "{d}"
    );
}

#[test]
fn a_key_no_kind_reads_is_refused_at_the_key_in_serdes_words() {
    let d = scenario(
        "u",
        "name: u\nboards: { dut: {} }\nsteps:\n  - expect: { board: dut, consle: 'Ready', within: 10s }\n  - expect: { board: ghost, online: true, within: 1s }\n",
    )
    .unwrap_err();
    assert_eq!(
        errors(&d),
        [
            "4:27: steps[0].expect: unknown field `consle`, expected one of `board`, `boards`, `console`, `console_literal`, `sequence`, `not_console`, `job`, `of`, `reason`, `version`, `online`, `progress`, `no_execution`, `within`, `for`",
            "5:22: role `ghost` is not declared in `boards:` (declared: dut)",
        ],
        "{d}"
    );
}

#[test]
fn a_value_of_the_wrong_type_is_refused_at_the_value() {
    let d = scenario(
        "t",
        "name: t\nboards: { dut: {} }\nsteps:\n  - expect: { board: dut, online: maybe, within: 1s }\n  - expect: { board: dut, sequence: [a, { b: 1 }], within: 1s }\n",
    )
    .unwrap_err();
    assert_eq!(
        errors(&d),
        [
            "4:35: steps[0].expect.online: invalid type: string \"maybe\", expected a boolean",
            "5:41: steps[1].expect.sequence[1]: invalid type: map, expected a string",
        ],
        "{d}"
    );
}

#[test]
fn modifiers_belong_to_their_kinds_and_name_a_job_defined_before() {
    let d = scenario(
        "m",
        "name: m\nboards: { dut: {} }\nsteps:\n  - job: { id: j, image: app-v5, targets: all }\n  - expect: { board: dut, console: x, of: j, within: 1s }\n  - expect: { board: dut, progress: 10%, reason: x, within: 1s }\n  - expect: { board: dut, progress: 10%, of: j, job: j, within: 1s }\n  - expect: { board: dut, job: SUCCEEDED, of: k, within: 1s }\n  - expect: { board: dut, job: DONE, within: 1s }\n  - expect: { board: dut, job: FAILED, reason: 'a(', within: 1s }\n  - expect: { board: dut, progress: 150%, within: 1s }\n  - expect: { board: dut, sequence: [], within: 1s }\n",
    )
    .unwrap_err();
    assert_eq!(
        errors(&d),
        [
            "5:43: `of` only applies to a job status or progress check (`job: FAILED`, `progress: 50%`)",
            "6:50: `reason` only applies to a job status check (`job: FAILED`)",
            "7:54: name the job once: `of: JOB_ID`",
            "8:47: job `k` is not defined by an earlier `job` step (a `job: { id: k, ... }` step must come first)",
            "9:32: `DONE` is not a job execution status (expected one of QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT, REJECTED, REMOVED, CANCELED); name the job with `of: JOB_ID`",
            "10:48: `a(` is not a valid regex: unclosed group",
            "11:37: `150%` is out of range: a percentage is from 0% to 100%",
            "12:37: sequence needs at least one regex",
        ],
        "{d}"
    );
}

#[test]
fn no_execution_names_a_job_defined_before_it_and_counts_as_awaiting_it() {
    let head = "name: r\nboards: { a: {}, b: {} }\nsteps:\n";
    let text = format!(
        "{head}  - job: {{ id: j, image: app-v5, targets: all, rollout: {{ maximum_per_minute: 1 }} }}
  - expect: {{ board: a, job: FAILED, of: j, within: 1m }}
  - expect: {{ board: b, no_execution: j, within: 1m }}
"
    );
    let s = scenario("r", &text).unwrap_or_else(|d| panic!("{d}"));
    assert!(
        matches!(check(&s, 2).0, Check::NoExecution(NoExecution { job }) if job == "j"),
        "{:?}",
        s.steps[2]
    );
    assert!(unawaited_jobs(&s).is_empty(), "{:?}", unawaited_jobs(&s));

    let bad = format!(
        "{head}  - expect: {{ board: b, no_execution: later, within: 1m }}
  - job: {{ id: later, image: app-v5, targets: all }}
  - expect: {{ board: b, no_execution: later, of: later, within: 1m }}
  - expect: {{ board: b, no_execution: later, job: FAILED, within: 1m }}
"
    );
    let got = errors(&scenario("r", &bad).unwrap_err());
    assert_eq!(
        got,
        [
            "4:39: job `later` is not defined by an earlier `job` step (a `job: { id: later, ... }` step must come first)",
            "6:50: `of` only applies to a job status or progress check (`job: FAILED`, `progress: 50%`)",
            "7:13: expect takes one check, found job, no_execution: split it into several expect steps",
        ]
    );
}

#[test]
fn a_job_no_check_awaits_is_warned_about_at_its_id() {
    let head = "name: w\nboards: { a: {}, b: {} }\nsteps:\n";
    let load = |steps: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.yaml");
        std::fs::write(&path, format!("{head}{steps}")).unwrap();
        // `validate` gives the warnings; loading, the scenario.
        let no_rig: &crate::config::BoundCheck<'_, Check> = &|_, _, _, _, _| {};
        let diags = crate::config::validate_all(None, std::slice::from_ref(&path), None, no_rig);
        let s = load_scenarios(&[path], None).unwrap_or_else(|d| panic!("{d}"));
        (unawaited_jobs(&s[0]), diags)
    };
    // Awaited for `a` by id; for `b` only as the latest job, which `k` then is.
    let (unawaited, diags) = load(
        "  - job: { id: j, image: app-v5, targets: all }\n  - job: { id: k, image: app-v5, targets: b }\n  - expect: { board: a, job: SUCCEEDED, of: j, within: 1m }\n  - expect: { board: b, job: SUCCEEDED, within: 1m }\n",
    );
    assert_eq!(unawaited, [(0, "j".to_string(), vec!["b".to_string()])]);
    let warnings: Vec<String> = diags
        .warnings()
        .map(|w| format!("{}:{}: {}", w.line, w.column, w.message))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("4:16: job `j` is never awaited for b: add `expect: { board: b, job: SUCCEEDED, within: … }`"),
        "{warnings:?}"
    );
    // A cancel, or the latest-job check of a board no later job targets, awaits it.
    let (unawaited, diags) = load(
        "  - job: { id: j, image: app-v5, targets: all }\n  - expect: { boards: all, job: FAILED, within: 1m }\n  - job: { id: k, image: app-v5, targets: all }\n  - cancel: { job: k }\n",
    );
    assert_eq!(unawaited, []);
    assert_eq!(diags.warnings().count(), 0, "{diags}");
}

#[test]
fn each_kind_declares_its_key_first_among_the_keys_it_reads() {
    let mut keys = Vec::new();
    for spec in &KINDS {
        let fields = (spec.fields)();
        assert_eq!(fields.first(), Some(&spec.key), "{}: {fields:?}", spec.key);
        assert!(!keys.contains(&spec.key), "{} is asked for twice", spec.key);
        keys.push(spec.key);
    }
    assert!(
        KINDS
            .iter()
            .flat_map(|s| (s.fields)().iter())
            .all(|k| !crate::config::expect_check::COMMON_KEYS.contains(k)),
        "a kind must not read the keys config reads itself"
    );
}
