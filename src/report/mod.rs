//! Reports: independent views of one run's timeline and verdicts (docs/architecture.md § Reports).
//! The runner hands over a [`RunResult`] and the scenario timelines; each file here
//! renders one view: JUnit, summary.json, console logs and MQTT transcripts, the
//! timeline picture, the console progress and the final table.

pub mod artifacts;
pub mod exit;
pub mod junit;
pub mod model;
pub mod picture;
pub mod progress;
pub mod rerun;
pub mod summary;
pub mod table;

pub use artifacts::{
    run_dir, scenario_dir, write_run, ReportError, RunPaths, ScenarioPaths, ScenarioTimeline,
};
pub use model::{BoardResult, RunResult, RunStats, ScenarioResult, Verdict, Versions};
pub use progress::Progress;
