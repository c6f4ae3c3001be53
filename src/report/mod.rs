//! Reports: independent views of one run's timeline and verdicts (docs/architecture.md § Reports).
//! The runner tells what happens through [`events`] (the one contract: it never names a
//! display) and hands over a [`RunResult`] and the scenario timelines ([`model`]); each
//! file here renders one view: JUnit, summary.json, console logs and MQTT transcripts,
//! the timeline picture, the console progress and the final table.

pub mod artifacts;
pub mod events;
pub mod exit;
pub mod junit;
pub mod model;
pub mod picture;
pub mod progress;
pub mod rerun;
pub mod summary;
pub mod table;

pub use artifacts::{run_dir, scenario_dir, write_run, ReportError, RunPaths, ScenarioPaths};
pub use events::{RunEvent, RunEvents};
pub use model::{
    BoardResult, RunResult, RunStats, ScenarioResult, ScenarioTimeline, Verdict, Versions,
};
pub use progress::Progress;
