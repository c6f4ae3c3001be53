//! `summary.json`: the run result as data, with the derived counts and exit code
//! alongside so a dashboard needs no otarig code to read it.

use serde::{Deserialize, Serialize};

use super::model::{cases, Case, Outcome, RunResult, RunStats, Verdict};

/// Bumped when a field changes meaning or goes away.
///
/// 2: `stats` counts cases (a board role of a scenario over its attempts) by outcome, a
/// flaky case once as `flaky` (it was board runs, a flaky case also counted per attempt);
/// `stats.board_runs` and `cases` were added. Added since, without a change of meaning:
/// the outcome `flaky-pass` and `stats.flaky_pass` (`--retries`), a try's `retry` and
/// `run_stopped` (`--max-fail`), a case's `retry`.
pub const SCHEMA_VERSION: u32 = 2;

/// The file's shape: the run's fields at the top level, plus `cases`, `stats` and
/// `exit_code`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryFile {
    pub schema_version: u32,
    #[serde(flatten)]
    pub run: RunResult,
    /// Each case's outcome, as the table and JUnit give it.
    #[serde(default)]
    pub cases: Vec<CaseSummary>,
    pub stats: RunStats,
    pub exit_code: u8,
}

/// One case (a board role of a scenario over its attempts): what it came to and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseSummary {
    pub scenario: String,
    /// `None` for a scenario skipped before its roles were bound.
    pub role: Option<String>,
    /// The board of the attempt that speaks for the case.
    pub board: Option<String>,
    /// `passed`, `failed`, `bricked`, `recovered-by-power-cycle`, `error`, `not-judged`,
    /// `skipped`, `flaky` (a pass and a firmware failure among `--repeat`'s attempts: a
    /// failure, the exit code is 1) or `flaky-pass` (passed on a retry: a pass).
    pub outcome: Outcome,
    /// The worst verdict of its tries.
    pub worst: Verdict,
    /// Its tries: attempts and their retries.
    pub attempts: usize,
    /// Tries that neither passed nor were skipped.
    pub failed_attempts: usize,
    /// `flaky (4 of 6 failed)`; the outcome alone for one attempt.
    pub text: String,
    /// Why it did not pass (the JUnit failure message); `None` when it passed.
    pub message: Option<String>,
    /// The try that speaks for the case (the last with its worst verdict): its attempt…
    pub attempt: u32,
    /// …and retry (0: the attempt's first try).
    #[serde(default)]
    pub retry: u32,
    /// The seeds that attempt's link faults used: `otarig run --seed N` replays it.
    #[serde(default)]
    pub seeds: Vec<u64>,
}

impl CaseSummary {
    pub fn of(case: &Case) -> Self {
        let primary = case.primary();
        CaseSummary {
            scenario: case.scenario.to_string(),
            role: case.role.map(str::to_string),
            board: primary.board.map(|b| b.board.clone()),
            outcome: case.outcome(),
            worst: case.worst(),
            attempts: case.attempts.len(),
            failed_attempts: case.failed_attempts(),
            text: case.text(),
            message: case.message(),
            attempt: primary.scenario.attempt,
            retry: primary.scenario.retry,
            seeds: primary.scenario.seeds.clone(),
        }
    }
}

impl SummaryFile {
    pub fn new(run: &RunResult) -> Self {
        let stats = run.stats();
        SummaryFile {
            schema_version: SCHEMA_VERSION,
            exit_code: stats.exit_code(),
            cases: cases(run).iter().map(CaseSummary::of).collect(),
            stats,
            run: run.clone(),
        }
    }
}

pub fn to_json(run: &RunResult) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&SummaryFile::new(run))
}

/// Reads a summary back (dashboards, `otarig` comparing two runs).
pub fn from_json(text: &str) -> serde_json::Result<SummaryFile> {
    serde_json::from_str(text)
}
