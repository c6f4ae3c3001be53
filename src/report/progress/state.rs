//! What the run is doing now, as the displays need it: which scenario attempts run, on
//! which boards, what each board waits for and until when. Built from [`RunEvent`]s
//! with the time they arrived, so the views (terminal region, plain lines) are pure
//! functions of it and a clock.

use std::time::{Duration, Instant};

use crate::model::Verdict;

use super::super::model::ScenarioResult;

/// One board of a running attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardNow {
    pub name: String,
    /// What it waits for (`starting` until the runner says).
    pub what: String,
    /// When its current wait ends, if it has a deadline.
    pub deadline: Option<Instant>,
    /// When it started waiting for `what`.
    pub since: Instant,
}

impl BoardNow {
    /// Time left until the deadline (zero once past), or `None` without one.
    pub fn left(&self, now: Instant) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(now))
    }
}

/// One running scenario attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptNow {
    pub scenario: String,
    pub attempt: u32,
    /// 0 for an attempt's first try, k for its k-th retry.
    pub retry: u32,
    pub started: Instant,
    pub boards: Vec<BoardNow>,
}

/// The run so far.
#[derive(Clone, Debug)]
pub struct RunNow {
    pub started: Instant,
    /// Scenario tries the run will make (skipped ones included): its attempts, plus each
    /// retry once it starts.
    pub total: usize,
    /// Attempts that ended (or were skipped).
    pub done: usize,
    /// Attempts whose worst verdict is not a pass or a skip.
    pub not_passed: usize,
    /// Running attempts, in the order they started.
    pub running: Vec<AttemptNow>,
}

impl RunNow {
    pub fn new(total: usize, now: Instant) -> Self {
        RunNow {
            started: now,
            total,
            done: 0,
            not_passed: 0,
            running: Vec::new(),
        }
    }

    pub fn started(
        &mut self,
        scenario: &str,
        attempt: u32,
        retry: u32,
        boards: &[String],
        now: Instant,
    ) {
        if retry > 0 {
            // A retry is a try the plan did not count.
            self.total += 1;
        }
        // A board belongs to one running attempt: a stale entry (an attempt whose end
        // was never told) must not show it twice.
        for a in &mut self.running {
            a.boards.retain(|b| !boards.contains(&b.name));
        }
        self.running.retain(|a| !a.boards.is_empty());
        self.running.push(AttemptNow {
            scenario: scenario.to_string(),
            attempt,
            retry,
            started: now,
            boards: boards
                .iter()
                .map(|b| BoardNow {
                    name: b.clone(),
                    what: "starting".into(),
                    deadline: None,
                    since: now,
                })
                .collect(),
        });
    }

    /// Records a wait; false when no running attempt of `scenario` has `board`.
    pub fn waiting(
        &mut self,
        scenario: &str,
        board: &str,
        what: &str,
        left: Option<Duration>,
        now: Instant,
    ) -> bool {
        let found = self
            .running
            .iter_mut()
            .filter(|a| a.scenario == scenario)
            .flat_map(|a| a.boards.iter_mut())
            .find(|b| b.name == board);
        match found {
            Some(b) => {
                b.what = one_line(what);
                b.deadline = left.map(|l| now + l);
                b.since = now;
                true
            }
            None => false,
        }
    }

    pub fn finished(&mut self, result: &ScenarioResult) {
        self.running.retain(|a| {
            !(a.scenario == result.name && a.attempt == result.attempt && a.retry == result.retry)
        });
        self.done += 1;
        if !matches!(result.verdict(), Verdict::Passed | Verdict::Skipped) {
            self.not_passed += 1;
        }
    }

    /// Every running board, with its attempt.
    pub fn boards(&self) -> impl Iterator<Item = (&AttemptNow, &BoardNow)> {
        self.running
            .iter()
            .flat_map(|a| a.boards.iter().map(move |b| (a, b)))
    }
}

/// `text` with control characters (line breaks, escapes) as spaces: one line that cannot
/// drive the terminal.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// ` (attempt 2)`, ` (retry 1)`, ` (attempt 2 retry 1)`; nothing for an attempt 1's
/// first try.
pub fn try_label(attempt: u32, retry: u32) -> String {
    match (attempt, retry) {
        (0 | 1, 0) => String::new(),
        (0 | 1, r) => format!(" (retry {r})"),
        (a, 0) => format!(" (attempt {a})"),
        (a, r) => format!(" (attempt {a} retry {r})"),
    }
}

/// `1m 20s`: whole seconds, as people read a countdown.
pub fn short(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
