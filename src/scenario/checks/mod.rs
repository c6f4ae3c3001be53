//! The kinds of check an `expect` step makes, one file each: its YAML key(s) and how they
//! are parsed (with file:line:column diagnostics), how it is described, and how it is
//! decided as the board's events arrive, failing fast when it can no longer hold.
//!
//! `config` reads what every expectation has (its boards, `within`/`for` as text) and hands
//! the map to [`Check`]'s [`ExpectCheck`] implementation here, so `otarig validate` and the
//! run report a bad check among the file's other problems. Adding a kind (see
//! docs/architecture.md § Adding an expectation kind): a file with its [`Spec`] and a type
//! implementing [`Kind`], its `Spec` in [`KINDS`], and a [`Check`] variant; the exhaustive
//! matches below do not compile until it is there.

mod console;
mod job;
mod no_execution;
mod not_console;
mod online;
mod parse;
mod progress;
mod sequence;
mod unawaited;
mod version;
mod wait;

#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use futures::future::BoxFuture;

pub use console::Console;
pub use job::JobStatus;
pub use no_execution::NoExecution;
pub use not_console::NotConsole;
pub use online::Online;
pub use parse::{Spec, Window};
pub use progress::Progress;
pub use sequence::Sequence;
pub use unawaited::unawaited_jobs;
pub use version::Version;
pub use wait::{Eval, Follow, Sources, Unmet};

use super::BoundBoard;
use crate::config::locate::YamlPath;
use crate::config::{CheckCx, ExpectCheck};

/// Every kind, as a scenario file asks for it (messages list them in this order).
pub const KINDS: [Spec; 9] = [
    console::SPEC,
    console::LITERAL_SPEC,
    sequence::SPEC,
    not_console::SPEC,
    job::SPEC,
    version::SPEC,
    online::SPEC,
    progress::SPEC,
    no_execution::SPEC,
];

/// One expectation's check, parsed. Every match on it is exhaustive.
#[derive(Clone, Debug)]
pub enum Check {
    /// `console` and `console_literal`.
    Console(Console),
    Sequence(Sequence),
    NotConsole(NotConsole),
    /// `job: STATUS`.
    Job(JobStatus),
    Version(Version),
    Online(Online),
    Progress(Progress),
    NoExecution(NoExecution),
}

/// Which job a check waits to see end on its boards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobRef<'a> {
    /// The board's latest job when the check runs.
    Latest,
    Id(&'a str),
}

/// What each kind does once parsed; its file implements it for its type.
pub trait Kind: std::fmt::Debug + Send + Sync {
    /// What it asks for, with its window, for failure messages and the progress display:
    /// `console /Ready/ within 30s`.
    fn describe(&self, window: &str) -> String;

    /// The check followed on one board from event `from` (the latest action step).
    fn follow(&self, from: usize) -> Box<dyn Follow + '_>;

    /// The job whose execution this check waits for (a job nothing awaits must end by
    /// itself: [`unawaited_jobs`]).
    fn awaits(&self) -> Option<JobRef<'_>> {
        None
    }

    /// Waits until it holds, cannot hold any more, or `within` passes; on failure, what was
    /// seen. By default it follows the board's events ([`Kind::follow`]).
    fn wait<'a>(
        &'a self,
        on: Sources<'a>,
        board: &'a BoundBoard,
        from: usize,
        within: Duration,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(wait::follow_board(on.watch, self, board, from, within))
    }
}

impl Check {
    fn kind(&self) -> &dyn Kind {
        match self {
            Check::Console(c) => c,
            Check::Sequence(c) => c,
            Check::NotConsole(c) => c,
            Check::Job(c) => c,
            Check::Version(c) => c,
            Check::Online(c) => c,
            Check::Progress(c) => c,
            Check::NoExecution(c) => c,
        }
    }

    /// What it asks for, in words for failure messages and the progress display.
    pub fn describe(&self, within: Duration) -> String {
        self.kind()
            .describe(&humantime::format_duration(within).to_string())
    }

    /// The job whose execution this check waits for, if any.
    pub fn awaits(&self) -> Option<JobRef<'_>> {
        self.kind().awaits()
    }

    /// Waits until the check holds for `board`, or it cannot any more, or `within` passes.
    /// A `never` guard hit on the board ends a wait on its events too: the board has failed.
    pub async fn wait(
        &self,
        on: Sources<'_>,
        board: &BoundBoard,
        from: usize,
        within: Duration,
    ) -> Result<(), Unmet> {
        self.kind()
            .wait(on, board, from, within)
            .await
            .map_err(|seen| Unmet {
                expected: self.describe(within),
                seen,
            })
    }
}

impl ExpectCheck for Check {
    fn parse(cx: &mut CheckCx<'_, '_>) -> Option<(Self, Duration)> {
        parse::parse(cx)
    }

    fn review(scenario: &crate::config::scenario::Scenario<Self>) -> Vec<(YamlPath, String)> {
        unawaited::warnings(scenario)
    }
}
