//! How a run schedules its scenarios' attempts and tries, cargo-nextest's options made
//! for a bench: `--repeat` (attempts, by default one after another on the same boards),
//! `--retries` (a try with a firmware failure runs again on the same boards) and
//! `--max-fail` (no scenario starts once N attempts did not pass). The decisions are
//! here, pure or behind one small type, so they are tested without boards; the runner
//! applies them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

use crate::model::Verdict;
use crate::report::model::ScenarioResult;

/// `--repeat`, `--repeat-parallel`, `--retries`, `--max-fail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Attempts of every scenario (at least 1).
    pub repeat: u32,
    /// Attempts run as independent scenarios, at once on any boards that fit, instead of
    /// one after another on the boards the first attempt took.
    pub repeat_parallel: bool,
    /// How many times a try with a firmware failure runs again, on the same boards.
    pub retries: u32,
    /// Stop starting scenario attempts once this many did not pass (after their
    /// retries); `None`: run them all.
    pub max_fail: Option<usize>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            repeat: 1,
            repeat_parallel: false,
            retries: 0,
            max_fail: None,
        }
    }
}

/// A piece of work a task of the run does on one set of boards: the attempts of one
/// scenario it runs one after another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Index into the run's scenarios.
    pub scenario: usize,
    /// 1-based attempts, in the order they run.
    pub attempts: Vec<u32>,
}

impl Schedule {
    /// The run's units, in the order they queue for boards: by default a unit per
    /// scenario with all its attempts (one after another, on the same boards); with
    /// `repeat_parallel` a unit per attempt, attempt 1 of every scenario first.
    pub fn units(&self, scenarios: usize) -> Vec<Unit> {
        let repeat = self.repeat.max(1);
        if self.repeat_parallel {
            (1..=repeat)
                .flat_map(|attempt| {
                    (0..scenarios).map(move |scenario| Unit {
                        scenario,
                        attempts: vec![attempt],
                    })
                })
                .collect()
        } else {
            (0..scenarios)
                .map(|scenario| Unit {
                    scenario,
                    attempts: (1..=repeat).collect(),
                })
                .collect()
        }
    }

    /// The order the units start in (indices into `units`). One at a time (`jobs` 1), the
    /// plan's order. Several at once, those whose scenario needs the most boards first,
    /// otherwise in the plan's order: boards are handed out first come, first served, so a
    /// scenario that needs the whole bench would otherwise wait for it to drain while every
    /// scenario queued behind it waits too, and then run alone.
    pub fn start_order(
        units: &[Unit],
        jobs: usize,
        boards_needed: impl Fn(usize) -> usize,
    ) -> Vec<usize> {
        let mut order: Vec<usize> = (0..units.len()).collect();
        if jobs > 1 {
            order.sort_by_key(|&u| std::cmp::Reverse(boards_needed(units[u].scenario)));
        }
        order
    }

    /// Whether a try that ended with `result` runs again, as retry `retry + 1`: only
    /// after a firmware failure (failed, bricked, recovered by power cycle) of some
    /// board, while retries are left and the run was not interrupted. A bench error
    /// alone is not retried: the rig already retries flashing and consoles where a
    /// bench flakes, and a pass after it would say nothing about the firmware.
    pub fn retries_after(&self, result: &ScenarioResult, retry: u32, interrupted: bool) -> bool {
        !interrupted
            && retry < self.retries
            && result.skipped.is_none()
            && result
                .boards
                .iter()
                .any(|b| b.verdict.is_firmware_failure())
    }
}

/// `--max-fail`: counts the attempts that did not pass and says when the run stops
/// starting new ones. Shared by the run's tasks.
pub struct FailBudget {
    max: Option<usize>,
    failed: AtomicUsize,
    /// The first attempts that did not pass, for the reason the skipped ones give.
    first: Mutex<Vec<String>>,
    stop: watch::Sender<bool>,
}

impl FailBudget {
    pub fn new(max: Option<usize>) -> Self {
        FailBudget {
            max,
            failed: AtomicUsize::new(0),
            first: Mutex::new(Vec::new()),
            stop: watch::Sender::new(false),
        }
    }

    /// Counts an attempt's final try (the last of its retries): one that neither passed
    /// nor was skipped counts against the budget (a firmware failure or a bench error).
    pub fn record(&self, result: &ScenarioResult) {
        if matches!(result.verdict(), Verdict::Passed | Verdict::Skipped) {
            return;
        }
        let failed = self.failed.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut first = self.first.lock().expect("fail budget lock");
            if first.len() < 3 {
                first.push(attempt_name(result));
            }
        }
        if self.max.is_some_and(|max| failed >= max) {
            self.stop.send_replace(true);
        }
    }

    /// Whether the run has stopped starting attempts.
    pub fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once the run stops starting attempts (never without `--max-fail`).
    pub async fn wait_stopped(&self) {
        let mut rx = self.stop.subscribe();
        // The sender lives as long as `self`, so this only ends when stopped.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Why an attempt was not started: the limit, who reached it, how to run them all.
    pub fn reason(&self) -> String {
        let failed = self.failed.load(Ordering::SeqCst);
        let first = self.first.lock().expect("fail budget lock").join(", ");
        let more = if failed > 3 { ", …" } else { "" };
        format!(
            "not run: --max-fail {} reached ({failed} scenario attempt{} did not pass: {first}{more}); run with --no-fail-fast to run every scenario",
            self.max.unwrap_or(0),
            if failed == 1 { "" } else { "s" },
        )
    }
}

/// `same-version`, `same-version #2`.
fn attempt_name(result: &ScenarioResult) -> String {
    if result.attempt > 1 {
        format!("{} #{}", result.name, result.attempt)
    } else {
        result.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::model::BoardResult;

    fn result(name: &str, verdicts: &[Verdict]) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            summary: String::new(),
            attempt: 1,
            retry: 0,
            started_wall_ms: 0,
            duration: Duration::ZERO,
            seeds: vec![],
            boards: verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| BoardResult {
                    verdict: *v,
                    message: None,
                    ..BoardResult::unfinished(format!("r{i}"), format!("sim-{i}"), "T")
                })
                .collect(),
            skipped: None,
            run_stopped: false,
        }
    }

    #[test]
    fn several_at_once_start_with_the_scenarios_that_need_the_most_boards() {
        let units = Schedule::default().units(4);
        let needs = [1, 21, 2, 21];
        let boards = |s: usize| needs[s];
        assert_eq!(Schedule::start_order(&units, 1, boards), [0, 1, 2, 3]);
        assert_eq!(Schedule::start_order(&units, 8, boards), [1, 3, 2, 0]);
    }

    #[test]
    fn attempts_run_one_after_another_in_a_unit_per_scenario_unless_parallel() {
        let sequential = Schedule {
            repeat: 3,
            ..Schedule::default()
        };
        assert_eq!(
            sequential.units(2),
            [
                Unit {
                    scenario: 0,
                    attempts: vec![1, 2, 3]
                },
                Unit {
                    scenario: 1,
                    attempts: vec![1, 2, 3]
                },
            ]
        );
        let parallel = Schedule {
            repeat: 2,
            repeat_parallel: true,
            ..Schedule::default()
        };
        let units: Vec<(usize, Vec<u32>)> = parallel
            .units(2)
            .into_iter()
            .map(|u| (u.scenario, u.attempts))
            .collect();
        assert_eq!(
            units,
            [(0, vec![1]), (1, vec![1]), (0, vec![2]), (1, vec![2])],
            "attempt 1 of every scenario queues first"
        );
        assert_eq!(
            Schedule {
                repeat: 0,
                ..Schedule::default()
            }
            .units(1)[0]
                .attempts,
            [1],
            "at least one attempt"
        );
    }

    #[test]
    fn only_a_firmware_failure_is_retried_and_only_while_retries_are_left() {
        use Verdict::*;
        let schedule = Schedule {
            retries: 2,
            ..Schedule::default()
        };
        for (verdicts, retried) in [
            (&[Failed][..], true),
            (&[Passed, Bricked], true),
            (&[RecoveredByPowerCycle], true),
            (&[Passed, Passed], false),
            (&[Error], false),
            (&[NotJudged, Error], false),
            (&[Error, Failed], true),
        ] {
            assert_eq!(
                schedule.retries_after(&result("s", verdicts), 0, false),
                retried,
                "{verdicts:?}"
            );
        }
        let failed = result("s", &[Failed]);
        assert!(schedule.retries_after(&failed, 1, false));
        assert!(
            !schedule.retries_after(&failed, 2, false),
            "retries used up"
        );
        assert!(!schedule.retries_after(&failed, 0, true), "interrupted");
        assert!(!Schedule::default().retries_after(&failed, 0, false));
        let skipped = ScenarioResult {
            skipped: Some("no power".into()),
            ..failed
        };
        assert!(!schedule.retries_after(&skipped, 0, false));
    }

    #[test]
    fn the_budget_stops_the_run_at_the_nth_attempt_that_did_not_pass() {
        let budget = FailBudget::new(Some(2));
        budget.record(&result("ok", &[Verdict::Passed]));
        budget.record(&result("skip", &[Verdict::Skipped]));
        assert!(!budget.stopped());
        budget.record(&result("bench", &[Verdict::Error]));
        assert!(!budget.stopped(), "1 of 2");
        budget.record(&ScenarioResult {
            attempt: 2,
            ..result("fw", &[Verdict::Passed, Verdict::Failed])
        });
        assert!(budget.stopped());
        let reason = budget.reason();
        assert_eq!(
            reason,
            "not run: --max-fail 2 reached (2 scenario attempts did not pass: bench, fw #2); run with --no-fail-fast to run every scenario"
        );
    }

    #[test]
    fn without_a_limit_the_run_never_stops() {
        let budget = FailBudget::new(None);
        for _ in 0..10 {
            budget.record(&result("fw", &[Verdict::Bricked]));
        }
        assert!(!budget.stopped());
    }

    #[tokio::test]
    async fn waiting_for_the_stop_ends_when_the_limit_is_reached() {
        let budget = std::sync::Arc::new(FailBudget::new(Some(1)));
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.wait_stopped().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        budget.record(&result("fw", &[Verdict::Failed]));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter wakes")
            .unwrap();
    }
}
