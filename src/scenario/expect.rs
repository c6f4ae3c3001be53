//! Expectation steps: a [`Check`] on a board, followed as the board's events arrive
//! until it holds, cannot hold any more, or its deadline passes.

use std::time::Duration;

use tokio::time::Instant;

use super::watch::{BoardState, Watch};
use super::BoundBoard;
use crate::config::scenario::Check;

/// Where an expectation stands at one moment.
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
        Check::NoExecution { job } => {
            format!(
                "no execution of job {job} (it stops before reaching the board) within {within}"
            )
        }
    }
}

/// One check on one board as it is being waited for: console lines are read once each,
/// in order; the rest is read from the board's state.
struct Progress<'c> {
    check: &'c Check,
    from: usize,
    /// Console: the matching line. NotConsole: the forbidden line.
    line: Option<String>,
    /// Sequence: how many of its lines were seen, in order.
    matched: usize,
}

impl<'c> Progress<'c> {
    fn new(check: &'c Check, from: usize) -> Self {
        Progress {
            check,
            from,
            line: None,
            matched: 0,
        }
    }

    /// Whether the check reads console lines (and from where).
    fn console_from(&self) -> Option<usize> {
        matches!(
            self.check,
            Check::Console(_) | Check::Sequence(_) | Check::NotConsole(_)
        )
        .then_some(self.from)
    }

    fn take_line(&mut self, line: &str) {
        match self.check {
            Check::Console(re) | Check::NotConsole(re)
                if self.line.is_none() && re.is_match(line) =>
            {
                self.line = Some(line.to_string());
            }
            Check::Sequence(res) if res.get(self.matched).is_some_and(|re| re.is_match(line)) => {
                self.matched += 1;
            }
            _ => {}
        }
    }

    /// Where the check stands: met, not yet, or impossible now (fail fast: a different
    /// final job state, another version booted with no update under way, the download's
    /// job ended short of the mark).
    fn eval(&self, state: &BoardState) -> Eval {
        match self.check {
            Check::Console(_) => match &self.line {
                Some(_) => Eval::Met,
                None => Eval::Pending(state.last_line()),
            },
            Check::Sequence(res) if self.matched == res.len() => Eval::Met,
            Check::Sequence(res) => Eval::Pending(format!(
                "{} of {} lines in order, still missing /{}/; {}",
                self.matched,
                res.len(),
                res[self.matched],
                state.last_line()
            )),
            Check::NotConsole(_) => match &self.line {
                Some(line) => Eval::Violated(format!("{line:?}")),
                None => Eval::Pending("not seen".into()),
            },
            Check::Job {
                job,
                status,
                reason,
            } => job_eval(state, job.as_deref(), *status, reason.as_ref()),
            Check::Version(want) => match state.running_version() {
                Some(v) if v == want => Eval::Met,
                Some(v) => {
                    let seen = format!("running version {v}");
                    match state.booted_since(self.from) {
                        Some(booted) if !state.update_pending() => Eval::Violated(format!(
                            "{seen}: the board booted {booted} and no update is under way"
                        )),
                        _ => Eval::Pending(seen),
                    }
                }
                None => Eval::Pending(format!("no version line yet; {}", state.last_line())),
            },
            Check::Online(want) => match (state.online(), *want) {
                (now, want) if now == want => Eval::Met,
                (true, _) => Eval::Pending("online".into()),
                (false, _) => Eval::Pending("offline".into()),
            },
            Check::Progress { job, at_least } => {
                // A job-specific progress counts from the start; "latest" only from the cursor.
                let start = if job.is_some() { 0 } else { self.from };
                let got = state.progress_since(start, job.as_deref());
                let seen = format!("download at {:.0}%", got * 100.0);
                if got + 1e-9 >= *at_least {
                    Eval::Met
                } else {
                    match state.job(job.as_deref()).filter(|s| s.status.is_terminal()) {
                        Some(s) => Eval::Violated(format!(
                            "{seen}, and job {} ended {}",
                            s.job_id, s.status
                        )),
                        None => Eval::Pending(seen),
                    }
                }
            }
            // Met only by the cloud saying the job stopped (`CloudSession::wait_unreached`):
            // the board's events show only that it was reached.
            Check::NoExecution { job } => match state.job(Some(job)) {
                Some(s) => {
                    Eval::Violated(format!("job {} reached the board: {}", s.job_id, s.status))
                }
                None => Eval::Pending(format!("no execution of job {job} yet")),
            },
        }
    }
}

/// A job expectation: met by the status (and reason); impossible once the execution is
/// final with something else, as nothing reopens a final execution during a wait (a
/// `retry` is a step of its own). Of "the latest job", only once all are final.
fn job_eval(
    state: &BoardState,
    job: Option<&str>,
    status: crate::model::ExecutionStatus,
    reason: Option<&regex::Regex>,
) -> Eval {
    let Some(current) = state.job(job) else {
        return Eval::Pending(format!("no execution for thing {}", state.thing));
    };
    let reason_text = current
        .status_details
        .get("reason")
        .map(String::as_str)
        .unwrap_or_default();
    if current.status == status && reason.is_none_or(|r| r.is_match(reason_text)) {
        return Eval::Met;
    }
    let seen = format!(
        "job {} {} statusDetails {}",
        current.job_id,
        current.status,
        serde_json::to_string(&current.status_details).unwrap_or_default()
    );
    let settled = match job {
        Some(_) => current.status.is_terminal(),
        None => state.jobs().all(|s| s.status.is_terminal()),
    };
    if settled {
        Eval::Violated(seen)
    } else {
        Eval::Pending(seen)
    }
}

/// Waits until `check` holds for `board`, or it cannot any more, or its deadline passes.
/// A `never` guard hit on the board ends the wait too: the board has failed.
pub async fn wait_for(
    watch: &Watch,
    check: &Check,
    from: usize,
    board: &BoundBoard,
    within: Duration,
) -> Result<(), Unmet> {
    let deadline = Instant::now() + within;
    let mut progress = Progress::new(check, from);
    let mut waiter = watch.waiter(&board.board, progress.console_from());
    let forbids = matches!(check, Check::NotConsole(_));
    let unmet = |seen| Unmet {
        expected: describe(check, within),
        seen,
    };
    loop {
        while let Some((_, line)) = waiter.next_line() {
            progress.take_line(&line);
        }
        let eval = progress.eval(&waiter.state());
        match eval {
            // A `not_console` is never met before its window has passed.
            Eval::Met => return Ok(()),
            Eval::Violated(seen) => return Err(unmet(seen)),
            Eval::Pending(_) => {}
        }
        if let Some((guard, (_, line))) = waiter.guard_hit() {
            return Err(unmet(format!(
                "never /{guard}/ was violated by console line {line:?}"
            )));
        }
        if !waiter.changed(deadline).await {
            while let Some((_, line)) = waiter.next_line() {
                progress.take_line(&line);
            }
            return match progress.eval(&waiter.state()) {
                Eval::Met => Ok(()),
                Eval::Pending(_) if forbids => Ok(()),
                Eval::Pending(seen) | Eval::Violated(seen) => Err(unmet(seen)),
            };
        }
    }
}

#[cfg(test)]
mod tests;
