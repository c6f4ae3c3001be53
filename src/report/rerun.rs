//! `otarig run --rerun-failed`: which scenarios the last run under a report folder
//! did not pass, read back from its `latest/summary.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::model::{cases, Outcome, RunResult};
use super::summary;

/// The last run's outcome per scenario name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastRun {
    pub run_id: String,
    /// Scenarios with a case that did not pass: failed, bricked, flaky, a bench error…
    /// (one that passed on a retry passed).
    pub failed: BTreeSet<String>,
    /// Every scenario the run reached (an interrupted run may not reach them all).
    pub reached: BTreeSet<String>,
    /// Scenarios with an attempt the run never started because it stopped early
    /// (`--max-fail`).
    pub not_started: BTreeSet<String>,
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RerunError {
    #[error(
        "no previous run to rerun: {path} cannot be read ({source}); run `otarig run` first, \
         or pass the --report-dir it wrote to"
    )]
    NoLastRun {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an otarig summary ({source})")]
    Unreadable {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl LastRun {
    /// Reads `report_dir/latest/summary.json`.
    pub fn read(report_dir: &Path) -> Result<LastRun, RerunError> {
        let path = report_dir.join("latest").join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(|source| RerunError::NoLastRun {
            path: path.clone(),
            source,
        })?;
        let file =
            summary::from_json(&text).map_err(|source| RerunError::Unreadable { path, source })?;
        Ok(LastRun::of(&file.run))
    }

    pub fn of(run: &RunResult) -> LastRun {
        LastRun {
            run_id: run.run_id.clone(),
            failed: cases(run)
                .iter()
                .filter(|c| !c.outcome().is_pass() && c.outcome() != Outcome::Skipped)
                .map(|c| c.scenario.to_string())
                .collect(),
            reached: run.scenarios.iter().map(|s| s.name.clone()).collect(),
            not_started: run
                .scenarios
                .iter()
                .filter(|s| s.run_stopped)
                .map(|s| s.name.clone())
                .collect(),
            interrupted: run.interrupted,
        }
    }

    /// Whether `scenario` runs again: it did not pass, or the last run never ran it (an
    /// interrupt kept it from reaching it, or `--max-fail` stopped it first).
    pub fn wants(&self, scenario: &str) -> bool {
        self.failed.contains(scenario)
            || self.not_started.contains(scenario)
            || (self.interrupted && !self.reached.contains(scenario))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::model::{BoardResult, ScenarioResult, Verdict, Versions};

    fn scenario(name: &str, attempt: u32, verdicts: &[Verdict]) -> ScenarioResult {
        let boards = verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| BoardResult {
                role: format!("r{i}"),
                board: format!("sim-{i}"),
                thing: format!("Thing{i}"),
                verdict: *v,
                message: None,
                console_tail: vec![],
                versions: Versions::default(),
                events: vec![],
            })
            .collect();
        ScenarioResult {
            name: name.into(),
            summary: String::new(),
            attempt,
            started_wall_ms: 0,
            duration: Duration::ZERO,
            seeds: vec![],
            boards,
            skipped: None,
            retry: 0,
            run_stopped: false,
        }
    }

    fn run(scenarios: Vec<ScenarioResult>, interrupted: bool) -> RunResult {
        RunResult {
            run_id: "r1".into(),
            started_wall_ms: 0,
            duration: Duration::ZERO,
            rig: "sim".into(),
            scenarios,
            interrupted,
        }
    }

    #[test]
    fn a_scenario_reruns_when_any_board_of_any_attempt_did_not_pass() {
        use Verdict::*;
        let last = LastRun::of(&run(
            vec![
                scenario("ok", 1, &[Passed, Passed]),
                scenario("one-board", 1, &[Passed, Bricked]),
                scenario("power", 1, &[RecoveredByPowerCycle]),
                scenario("bench", 1, &[Error]),
                scenario("flaky", 1, &[Passed]),
                scenario("flaky", 2, &[Failed]),
                scenario("cannot-run-here", 1, &[Skipped]),
            ],
            false,
        ));
        let wanted: Vec<&str> = ["ok", "one-board", "power", "bench", "flaky"]
            .into_iter()
            .chain(["cannot-run-here", "never-seen"])
            .filter(|s| last.wants(s))
            .collect();
        assert_eq!(wanted, ["one-board", "power", "bench", "flaky"]);
    }

    #[test]
    fn after_an_interrupt_the_scenarios_it_never_reached_rerun_too() {
        let last = LastRun::of(&run(vec![scenario("done", 1, &[Verdict::Passed])], true));
        assert!(!last.wants("done"));
        assert!(last.wants("never-reached"));
    }

    #[test]
    fn a_pass_on_a_retry_is_a_pass_and_what_max_fail_left_out_runs_again() {
        let failed_try = scenario("flaky-pass", 1, &[Verdict::Failed]);
        let passed_retry = ScenarioResult {
            retry: 1,
            ..scenario("flaky-pass", 1, &[Verdict::Passed])
        };
        let not_started = ScenarioResult {
            skipped: Some("not run: --max-fail 1 reached".into()),
            run_stopped: true,
            ..scenario("left-out", 1, &[])
        };
        let rig_skip = ScenarioResult {
            skipped: Some("the rig cannot run it".into()),
            ..scenario("cannot-run-here", 1, &[])
        };
        let last = LastRun::of(&run(
            vec![failed_try, passed_retry, not_started, rig_skip],
            false,
        ));
        assert!(!last.wants("flaky-pass"), "{last:?}");
        assert!(last.wants("left-out"), "{last:?}");
        assert!(!last.wants("cannot-run-here"), "{last:?}");
    }

    #[test]
    fn without_a_last_run_the_error_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = LastRun::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("latest/summary.json"), "{err}");
        assert!(err.contains("run `otarig run` first"), "{err}");
    }
}
