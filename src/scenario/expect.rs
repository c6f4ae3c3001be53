//! Expectation steps: a [`Check`] evaluated over the timeline until it holds or its
//! deadline passes. Evaluation is pure; waiting re-evaluates as events arrive.

use std::time::Duration;

use tokio::time::Instant;

use super::matchers::{self, BoardRef};
use super::BoundBoard;
use crate::config::scenario::Check;
use crate::timeline::{Event, Timeline};

/// Where an expectation stands at one moment.
#[derive(Debug, PartialEq)]
pub enum Eval {
    /// Holds.
    Met,
    /// Not yet; what is seen instead.
    Pending(String),
    /// Can no longer hold (a forbidden line appeared); what was seen.
    Violated(String),
}

/// An expectation that did not hold by its deadline.
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

/// What `check` asks for, in words for failure messages and the progress display.
pub fn describe(check: &Check, within: Duration) -> String {
    let within = humantime::format_duration(within);
    match check {
        Check::Console(regex) => format!("console /{regex}/ within {within}"),
        Check::Sequence(res) => {
            let list: Vec<String> = res.iter().map(|r| format!("/{r}/")).collect();
            format!("console sequence {} within {within}", list.join(" → "))
        }
        Check::NotConsole(re) => format!("no console /{re}/ for {within}"),
        Check::Job {
            job,
            status,
            reason,
        } => {
            let of = job
                .as_deref()
                .map(|j| format!(" of job {j}"))
                .unwrap_or_default();
            let reason = reason
                .as_ref()
                .map(|r| format!(" with reason /{r}/"))
                .unwrap_or_default();
            format!("execution{of} {status}{reason} within {within}")
        }
        Check::Version(v) => format!("running version {v} within {within}"),
        Check::Online(true) => format!("online within {within}"),
        Check::Online(false) => format!("offline within {within}"),
        Check::Progress { job, at_least } => {
            let of = job
                .as_deref()
                .map(|j| format!(" of job {j}"))
                .unwrap_or_default();
            format!("download{of} at {:.0}% within {within}", at_least * 100.0)
        }
    }
}

/// Evaluates `check` for one board over `events`, looking at console lines from `from` on.
pub fn evaluate(check: &Check, events: &[Event], from: usize, board: &BoundBoard) -> Eval {
    let name = board.board.as_str();
    let last_line = || {
        crate::timeline::query::console_tail(events, name, 1)
            .pop()
            .map(|l| format!("last console line {l:?}"))
            .unwrap_or_else(|| "no console output".into())
    };
    match check {
        Check::Console(regex) => match matchers::find_console(events, from, name, regex) {
            Some(_) => Eval::Met,
            None => Eval::Pending(last_line()),
        },
        Check::Sequence(res) => match matchers::find_sequence(events, from, name, res) {
            Ok(_) => Eval::Met,
            Err(n) => Eval::Pending(format!(
                "{n} of {} lines in order, still missing /{}/; {}",
                res.len(),
                res[n],
                last_line()
            )),
        },
        Check::NotConsole(re) => match matchers::find_console(events, from, name, re) {
            Some(i) => Eval::Violated(format!("{:?}", console_text(&events[i]))),
            None => Eval::Pending("not seen".into()),
        },
        Check::Job {
            job,
            status,
            reason,
        } => match matchers::job_state(events, &board.thing, job.as_deref()) {
            Some(state) => {
                let reason_text = state
                    .status_details
                    .get("reason")
                    .cloned()
                    .unwrap_or_default();
                let status_ok = state.status == *status;
                let reason_ok = reason.as_ref().is_none_or(|r| r.is_match(&reason_text));
                if status_ok && reason_ok {
                    Eval::Met
                } else {
                    Eval::Pending(format!(
                        "job {} {} statusDetails {}",
                        state.job_id,
                        state.status,
                        serde_json::to_string(&state.status_details).unwrap_or_default()
                    ))
                }
            }
            None => Eval::Pending(format!("no execution for thing {}", board.thing)),
        },
        Check::Version(want) => {
            match matchers::running_version(events, name, &board.profile.version) {
                Some(v) if &v == want => Eval::Met,
                Some(v) => Eval::Pending(format!("running version {v}")),
                None => Eval::Pending(format!("no version line yet; {}", last_line())),
            }
        }
        Check::Online(want) => {
            let now = matchers::online(events, &board.thing);
            if now == *want {
                Eval::Met
            } else {
                Eval::Pending(if now {
                    "online".into()
                } else {
                    "offline".into()
                })
            }
        }
        Check::Progress { job, at_least } => {
            // A job-specific progress counts from the start; "latest" only from the cursor.
            let start = if job.is_some() { 0 } else { from };
            let got = matchers::progress(events, start, &board.thing, job.as_deref());
            if got + 1e-9 >= *at_least {
                Eval::Met
            } else {
                Eval::Pending(format!("download at {:.0}%", got * 100.0))
            }
        }
    }
}

fn console_text(event: &Event) -> String {
    match &event.kind {
        crate::timeline::EventKind::Console { line } => line.clone(),
        other => format!("{other:?}"),
    }
}

/// Waits until `check` holds for `board`, or its deadline passes.
pub async fn wait_for(
    timeline: &Timeline,
    check: &Check,
    from: usize,
    board: &BoundBoard,
    within: Duration,
) -> Result<(), Unmet> {
    let deadline = Instant::now() + within;
    let mut live = timeline.subscribe();
    loop {
        let eval = timeline.with_events(|events| evaluate(check, events, from, board));
        let expected = || describe(check, within);
        match eval {
            Eval::Met if !matches!(check, Check::NotConsole(_)) => return Ok(()),
            Eval::Violated(seen) => {
                return Err(Unmet {
                    expected: expected(),
                    seen,
                })
            }
            Eval::Pending(seen) if Instant::now() >= deadline => {
                if matches!(check, Check::NotConsole(_)) {
                    return Ok(());
                }
                return Err(Unmet {
                    expected: expected(),
                    seen,
                });
            }
            _ => {}
        }
        // Wake on the next event, or at the deadline; coalesce bursts of events.
        let _ = tokio::time::timeout_at(deadline, live.recv()).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        while live.try_recv().is_ok() {}
    }
}

/// A `board` reference for the pure matchers.
pub fn board_ref(board: &BoundBoard) -> BoardRef<'_> {
    BoardRef {
        board: &board.board,
        thing: &board.thing,
    }
}
