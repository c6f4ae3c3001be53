//! How a check is waited for on a board: followed as the board's events arrive until it
//! holds, cannot hold any more, or its deadline passes.

use std::time::Duration;

use tokio::time::Instant;

use super::Kind;
use crate::scenario::cloud_session::CloudSession;
use crate::scenario::watch::{BoardState, Watch};
use crate::scenario::BoundBoard;

/// Where a check looks: the boards' events, and the scenario's cloud.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub watch: &'a Watch,
    pub cloud: &'a CloudSession,
}

/// Where a check stands at one moment.
#[derive(Debug, PartialEq)]
pub enum Eval {
    /// Holds.
    Met,
    /// Not yet; what is seen instead.
    Pending(String),
    /// Can no longer hold (a forbidden line, a final job state, …); what was seen.
    Violated(String),
}

/// An expectation that did not hold by its deadline, or could no longer hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmet {
    pub expected: String,
    pub seen: String,
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected {}; seen {}", self.expected, self.seen)
    }
}

/// One check on one board as it is being waited for: console lines are read once each, in
/// order, from where the wait starts; the rest is read from the board's state.
pub trait Follow: Send {
    /// Whether it reads console lines (only then are they handed to it).
    fn reads_console(&self) -> bool {
        false
    }

    /// The next console line of the board.
    fn take_line(&mut self, _line: &str) {}

    /// Where it stands now; `Violated` as soon as it cannot hold any more (fail fast).
    fn eval(&self, state: &BoardState) -> Eval;

    /// Where it stands once the time is up: as at any moment, unless the check forbids
    /// something, which then held.
    fn at_deadline(&self, state: &BoardState) -> Eval {
        self.eval(state)
    }
}

/// Follows `check` on `board`'s events from event `from` until it is decided or `within`
/// passes; on failure, what was seen. A `never` guard hit on the board ends the wait too.
pub async fn follow_board(
    watch: &Watch,
    check: &(impl Kind + ?Sized),
    board: &BoundBoard,
    from: usize,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let mut follow = check.follow(from);
    let mut waiter = watch.waiter(&board.board, follow.reads_console().then_some(from));
    loop {
        while let Some((_, line)) = waiter.next_line() {
            follow.take_line(&line);
        }
        let eval = follow.eval(&waiter.state());
        match eval {
            Eval::Met => return Ok(()),
            Eval::Violated(seen) => return Err(seen),
            Eval::Pending(_) => {}
        }
        if let Some((guard, (_, line))) = waiter.guard_hit() {
            return Err(format!(
                "never /{guard}/ was violated by console line {line:?}"
            ));
        }
        if !waiter.changed(deadline).await {
            while let Some((_, line)) = waiter.next_line() {
                follow.take_line(&line);
            }
            return match follow.at_deadline(&waiter.state()) {
                Eval::Met => Ok(()),
                Eval::Pending(seen) | Eval::Violated(seen) => Err(seen),
            };
        }
    }
}
