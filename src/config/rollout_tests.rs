//! A job step's `rollout`, `abort` and `retry`: AWS's fields in snake_case, every refused
//! value reported at its own position.

use super::*;
use crate::model::{
    AbortCriterion, AbortOn, ExponentialRate, FleetControls, RateIncrease, RetryCriterion, RetryOn,
    Rollout,
};

fn scenario(name: &str, text: &str) -> Result<Scenario<UnparsedCheck>, Diagnostics> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    load_scenarios(&[path], None).map(|mut v| v.remove(0))
}

fn controls(text: &str) -> FleetControls {
    let s = scenario("r", text).unwrap_or_else(|d| panic!("{d}"));
    match &s.steps[0] {
        scenario::Step::Job(j) => (*j.controls).clone(),
        other => panic!("{other:?}"),
    }
}

const HEAD: &str = "name: r\nboards: { a: {}, b: {} }\nsteps:\n";

#[test]
fn a_job_step_takes_a_rollout_abort_criteria_and_retry_criteria() {
    let text = format!(
        "{HEAD}  - job:
      id: j
      image: app-v5
      targets: all
      rollout:
        maximum_per_minute: 100
        exponential_rate:
          base_rate_per_minute: 5
          increment_factor: 1.5
          rate_increase_criteria: {{ number_of_succeeded_things: 10 }}
      abort:
        - {{ failure_type: FAILED, threshold_percentage: 12.5, min_number_of_executed_things: 4 }}
        - {{ failure_type: ALL, action: CANCEL, threshold_percentage: 50, min_number_of_executed_things: 1 }}
      retry:
        - {{ failure_type: TIMED_OUT, number_of_retries: 2 }}
        - {{ failure_type: FAILED, number_of_retries: 0 }}
  - expect: {{ boards: all, job: SUCCEEDED, within: 1m }}
"
    );
    assert_eq!(
        controls(&text),
        FleetControls {
            rollout: Some(Rollout {
                maximum_per_minute: 100,
                exponential: Some(ExponentialRate {
                    base_per_minute: 5,
                    increment_factor: 1.5,
                    increase: RateIncrease::SucceededThings(10),
                }),
            }),
            abort: vec![
                AbortCriterion {
                    on: AbortOn::Failed,
                    threshold_percentage: 12.5,
                    min_executed_things: 4,
                },
                AbortCriterion {
                    on: AbortOn::All,
                    threshold_percentage: 50.0,
                    min_executed_things: 1,
                },
            ],
            retry: vec![
                RetryCriterion {
                    on: RetryOn::TimedOut,
                    retries: 2,
                },
                RetryCriterion {
                    on: RetryOn::Failed,
                    retries: 0,
                },
            ],
        }
    );
    let plain = format!(
        "{HEAD}  - job: {{ id: j, image: app-v5, targets: all, rollout: {{ maximum_per_minute: 3 }} }}\n  - expect: {{ boards: all, job: SUCCEEDED, within: 1m }}\n"
    );
    assert_eq!(
        controls(&plain).rollout,
        Some(Rollout {
            maximum_per_minute: 3,
            exponential: None
        })
    );
    let none = format!(
        "{HEAD}  - job: {{ id: j, image: app-v5, targets: all }}\n  - expect: {{ boards: all, job: SUCCEEDED, within: 1m }}\n"
    );
    assert_eq!(controls(&none), FleetControls::default());
}

#[test]
fn every_refused_value_is_reported_at_its_field() {
    let text = format!(
        "{HEAD}  - job:
      id: j1
      image: app-v5
      targets: all
      rollout:
        maximum_per_minute: 0
  - job:
      id: j2
      image: app-v5
      targets: all
      rollout:
        maximum_per_minute: 10
        exponential_rate:
          base_rate_per_minute: 20
          increment_factor: 6
          rate_increase_criteria: {{ number_of_notified_things: 1, number_of_succeeded_things: 1 }}
  - job:
      id: j3
      image: app-v5
      targets: all
      abort:
        - {{ failure_type: FAILED, threshold_percentage: 0, min_number_of_executed_things: 0 }}
      retry:
        - {{ failure_type: FAILED, number_of_retries: 11 }}
        - {{ failure_type: ALL, number_of_retries: 1 }}
  - job: {{ id: j4, image: app-v5, targets: all, abort: [] }}
"
    );
    let d = scenario("r", &text).unwrap_err();
    assert_eq!(
        messages(&d),
        [
            "9:29: maximum_per_minute must be 1 to 1000 things a minute, got 0",
            "17:33: the base rate 20 a minute is above the maximum 10 a minute: the rate could never grow; lower the base or raise the maximum",
            "18:29: increment_factor must be 1.1 to 5, with one digit after the decimal point at most, got 6",
            "19:35: rate_increase_criteria takes one of number_of_notified_things or number_of_succeeded_things",
            "25:57: threshold_percentage must be more than 0 and at most 100, with two digits after the decimal point at most, got 0",
            "25:91: min_number_of_executed_things must be at least 1 thing, got 0",
            "27:54: number_of_retries must be 0 to 10, got 11",
            "28:27: retry criteria FAILED and ALL overlap: give each failure type one criterion (ALL covers FAILED and TIMED_OUT)",
            "29:56: abort needs at least one abort criterion (or leave the list out)",
        ]
    );
}

fn messages(d: &Diagnostics) -> Vec<String> {
    d.errors()
        .map(|x| format!("{}:{}: {}", x.line, x.column, x.message))
        .collect()
}

#[test]
fn misspelt_or_mistyped_fields_are_reported_at_their_position() {
    let text = format!(
        "{HEAD}  - job: {{ id: j1, image: app-v5, targets: all, abort: [{{ failure_type: FAILD, threshold_percentage: 5, min_number_of_executed_things: 1 }}] }}
  - job: {{ id: j2, image: app-v5, targets: all, rollout: {{ max_per_minute: 5 }} }}
  - job: {{ id: j3, image: app-v5, targets: all, abort: [{{ failure_type: FAILED, threshold_percentage: 50%, min_number_of_executed_things: 1 }}] }}
  - job: {{ id: j4, image: app-v5, targets: all, retry: [{{ failure_type: REJECTED, number_of_retries: 1 }}] }}
  - job: {{ id: j5, image: app-v5, targets: all, rollout: {{ maximum_per_minute: -5 }} }}
"
    );
    let d = scenario("r", &text).unwrap_err();
    let got = messages(&d);
    let has = |line: usize, col: usize, part: &str| {
        let prefix = format!("{line}:{col}: ");
        assert!(
            got.iter()
                .any(|m| m.starts_with(&prefix) && m.contains(part)),
            "{prefix}…{part}…\n{got:#?}"
        );
    };
    has(
        4,
        73,
        "unknown variant `FAILD`, expected one of `FAILED`, `REJECTED`, `TIMED_OUT`, `ALL`",
    );
    has(5, 60, "unknown field `max_per_minute`");
    has(6, 103, "invalid type: string \"50%\", expected f64");
    has(
        7,
        73,
        "unknown variant `REJECTED`, expected one of `FAILED`, `TIMED_OUT`, `ALL`",
    );
    has(8, 80, "invalid type: integer `-5`, expected u32");
    assert_eq!(got.len(), 5, "{got:#?}");
}
