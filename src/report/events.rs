//! The runner's one contract with whatever shows or records a run, as cargo-nextest's
//! runner emits `TestEvent`s its reporters consume: the runner emits [`RunEvent`]s to a
//! [`RunEvents`] callback, and the CLI wires that to the console progress display
//! ([`super::Progress::on_event`]) and any other reporter. The runner never names one.

use std::sync::Arc;
use std::time::Duration;

use super::model::{ScenarioResult, ScenarioTimeline};

/// What happened in a run, as it happens.
#[derive(Clone, Copy, Debug)]
pub enum RunEvent<'a> {
    /// A scenario try has its boards and starts: an attempt's first try (`retry` 0), or
    /// its `retry`-th retry, on the same boards, after a try with a firmware failure.
    ScenarioStarted {
        scenario: &'a str,
        attempt: u32,
        retry: u32,
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
    /// A scenario try ended with this result and recorded this timeline (from which its
    /// pages are written at once), or an attempt was skipped (no board of the rig fits it,
    /// or `--max-fail` stopped the run first; no timeline). An attempt an interrupt
    /// stopped before it started has no event. A try followed by a retry has its event
    /// too, before the retry's `ScenarioStarted`.
    ScenarioFinished {
        result: &'a ScenarioResult,
        timeline: Option<&'a ScenarioTimeline>,
    },
    /// Every scenario has ended; nothing follows.
    RunFinished,
}

/// Where the runner's events go: called from the scenarios' tasks, at once.
pub type RunEvents = Arc<dyn Fn(&RunEvent<'_>) + Send + Sync>;

/// A [`RunEvents`] that drops every event (tests, and runs nobody watches).
pub fn ignore() -> RunEvents {
    Arc::new(|_: &RunEvent<'_>| {})
}
