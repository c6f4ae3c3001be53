//! `summary.json`: the run result as data, with the derived counts and exit code
//! alongside so a dashboard needs no otarig code to read it.

use serde::{Deserialize, Serialize};

use super::model::{RunResult, RunStats};

/// Bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// The file's shape: the run's fields at the top level, plus `stats` and `exit_code`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryFile {
    pub schema_version: u32,
    #[serde(flatten)]
    pub run: RunResult,
    pub stats: RunStats,
    pub exit_code: u8,
}

impl SummaryFile {
    pub fn new(run: &RunResult) -> Self {
        let stats = run.stats();
        SummaryFile {
            schema_version: SCHEMA_VERSION,
            exit_code: stats.exit_code(),
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
