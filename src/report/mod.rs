//! Reports: independent views of one run's timeline and verdicts (docs/architecture.md § Reports).
//! The runner tells what happens through [`events`] (the one contract: it never names a
//! display) and hands over a [`RunResult`] and the scenario timelines ([`model`]); each
//! file here renders one view: the run's index page, JUnit, summary.json, console logs and
//! MQTT transcripts, the timeline picture, the console progress and the final table. The
//! views of a scenario's events read its `events.jsonl` in one streaming pass
//! ([`scenario_pages`]).

pub mod artifacts;
pub mod console_log;
pub mod events;
pub mod exit;
pub mod html;
pub mod index;
pub mod jsonl;
pub mod junit;
pub mod model;
pub mod page_writer;
pub mod picture;
pub mod progress;
pub mod rerun;
pub mod scenario_pages;
mod spool;
pub mod summary;
pub mod table;

pub use artifacts::{
    run_dir, scenario_dir, try_dir, write_run, write_run_after, ReportError, RunPaths,
    ScenarioPages, ScenarioPaths,
};
pub use events::{RunEvent, RunEvents};
pub use model::{
    BoardResult, RunResult, RunStats, ScenarioResult, ScenarioTimeline, Verdict, Versions,
};
pub use page_writer::PageWriter;
pub use progress::Progress;
