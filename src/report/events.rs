//! The runner's one contract with whatever shows or records a run, as cargo-nextest's
//! runner emits `TestEvent`s its reporters consume: the runner emits [`RunEvent`]s to a
//! [`RunEvents`] callback, and the CLI wires that to the console progress display
//! ([`super::Progress::on_event`]) and any other reporter. The runner never names one.

use std::sync::Arc;
use std::time::Duration;

use super::model::ScenarioResult;

/// What happened in a run, as it happens.
#[derive(Clone, Copy, Debug)]
pub enum RunEvent<'a> {
    /// A scenario attempt has its boards and starts.
    ScenarioStarted {
        scenario: &'a str,
        attempt: u32,
        boards: &'a [String],
    },
    /// A board of a running scenario now waits for `what`; its deadline is `left` away
    /// (none: no deadline).
    BoardWaiting {
        scenario: &'a str,
        board: &'a str,
        what: &'a str,
        left: Option<Duration>,
    },
    /// A scenario attempt ended with this result, or was skipped (no board of the rig
    /// fits it). An attempt an interrupt stopped before it started has no event.
    ScenarioFinished { result: &'a ScenarioResult },
    /// Every scenario has ended; nothing follows.
    RunFinished,
}

/// Where the runner's events go: called from the scenarios' tasks, at once.
pub type RunEvents = Arc<dyn Fn(&RunEvent<'_>) + Send + Sync>;

/// A [`RunEvents`] that drops every event (tests, and runs nobody watches).
pub fn ignore() -> RunEvents {
    Arc::new(|_: &RunEvent<'_>| {})
}
