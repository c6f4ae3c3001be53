//! Progress as plain lines, for a log that is not a terminal (CI, a pipe, a file): a line
//! per change (an attempt starts, a board waits for something new, an attempt ends)
//! and, after 30 s without a line, a heartbeat naming what is awaited, so a long wait
//! is never silent.

use std::time::{Duration, Instant};

use super::state::{one_line, short, try_label, RunNow};

/// Silence after which the heartbeat says what the run waits for.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// `    START same-version on sim-1 sim-2`, `    RETRY same-version (retry 1) on sim-1`
pub fn started(scenario: &str, attempt: u32, retry: u32, boards: &[String]) -> String {
    format!(
        "{:>9} {}{} on {}",
        if retry > 0 { "RETRY" } else { "START" },
        scenario,
        try_label(attempt, retry),
        boards.join(" ")
    )
}

/// `     WAIT same-version sim-1: job SUCCEEDED (within 5m)`
pub fn waiting(scenario: &str, board: &str, what: &str, left: Option<Duration>) -> String {
    // The runner's text often says its deadline already (`… within 2m`).
    let within = left
        .map(|l| format!("within {}", short(l)))
        .filter(|w| !what.ends_with(w.as_str()))
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    format!(
        "{:>9} {scenario} {board}: {}{within}",
        "WAIT",
        one_line(what)
    )
}

/// `  WAITING [2m 30s] same-version sim-1 sim-2: job SUCCEEDED (1m 20s left)`: one line
/// per group of boards of an attempt that wait for the same thing, or one line saying
/// that nothing runs yet.
pub fn heartbeat(run: &RunNow, now: Instant) -> Vec<String> {
    let elapsed = short(now.saturating_duration_since(run.started));
    if run.running.is_empty() {
        return vec![format!(
            "{:>9} [{elapsed}] {}/{} scenarios done, none running",
            "WAITING", run.done, run.total
        )];
    }
    let mut lines = Vec::new();
    for a in &run.running {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for b in &a.boards {
            let left = b
                .left(now)
                .map(|l| format!(" ({} left)", short(l)))
                .unwrap_or_default();
            let what = format!("{}{left}", b.what);
            match groups.iter_mut().find(|(w, _)| *w == what) {
                Some((_, names)) => names.push(&b.name),
                None => groups.push((what, vec![&b.name])),
            }
        }
        for (what, names) in groups {
            lines.push(format!(
                "{:>9} [{elapsed}] {}{} {}: {what}",
                "WAITING",
                a.scenario,
                try_label(a.attempt, a.retry),
                names.join(" ")
            ));
        }
    }
    lines
}
