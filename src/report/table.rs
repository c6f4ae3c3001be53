//! The console's final word: a status line per board (nextest style), the summary
//! table of scenario × board, and the totals line. Reasons are never cut: a short one
//! fits its table cell, a longer one (or one of several lines) is written whole on its
//! own indented lines under its row, as the status lines do.

use std::fmt::Write;
use std::time::Duration;

use super::model::{cases, join_seeds, BoardResult, RunResult, RunStats, ScenarioResult};

/// Longest reason shown in its table cell; a longer one goes whole under its row.
const REASON_INLINE: usize = 100;

/// Indent of a reason under a table row.
const UNDER_ROW: &str = "    ";

/// Indent of a reason under a status line (past the label column).
const UNDER_STATUS: &str = "          ";

/// `     PASS [  12.3s] wrong-thing-name thing1 (sim-1)`
pub fn status_line(scenario: &ScenarioResult, board: &BoardResult) -> String {
    let verdict = if scenario.skipped.is_some() {
        super::Verdict::Skipped
    } else {
        board.verdict
    };
    format!(
        "{:>9} [{}] {} {}",
        verdict.label(),
        secs(scenario.duration),
        scenario_label(scenario),
        board.display_name()
    )
}

/// The status lines of a finished scenario, each non-pass followed by its reason.
pub fn scenario_lines(scenario: &ScenarioResult) -> Vec<String> {
    let mut lines = Vec::new();
    if scenario.boards.is_empty() {
        lines.push(format!(
            "{:>9} [{}] {}",
            scenario.verdict().label(),
            secs(scenario.duration),
            scenario_label(scenario)
        ));
    }
    for board in &scenario.boards {
        lines.push(status_line(scenario, board));
    }
    let reason = scenario.skipped.as_deref();
    for board in &scenario.boards {
        let why = reason.or(board.message.as_deref());
        if let (Some(why), false) = (
            why,
            board.verdict == super::Verdict::Passed && reason.is_none(),
        ) {
            lines.extend(whole(
                &format!("{UNDER_STATUS}{}: ", board.display_name()),
                UNDER_STATUS,
                why,
            ));
        }
    }
    if scenario.boards.is_empty() {
        if let Some(why) = reason {
            lines.extend(whole(UNDER_STATUS, UNDER_STATUS, why));
        }
    }
    lines
}

/// The summary table, one row per case (a board role of a scenario over its attempts,
/// with the [`Outcome`](super::model::Outcome) JUnit and summary.json give it), then the
/// totals line. A SEED column shows the seeds of the attempt that speaks for the case,
/// when any were used.
pub fn render(run: &RunResult) -> String {
    let cases = cases(run);
    let seeded = cases.iter().any(|c| !c.primary().scenario.seeds.is_empty());
    let mut header = vec!["VERDICT", "TIME", "SCENARIO", "BOARD"];
    if seeded {
        header.push("SEED");
    }
    header.push("REASON");
    // Each row, and its reason's lines when they do not fit its cell.
    let rows: Vec<(Vec<String>, Vec<String>)> = cases
        .iter()
        .map(|c| {
            let mut row = vec![
                c.outcome().label().to_string(),
                secs(c.duration()),
                c.scenario.to_string(),
                c.display_name().unwrap_or_default(),
            ];
            if seeded {
                row.push(join_seeds(&c.primary().scenario.seeds));
            }
            let reason = c.message().unwrap_or_default();
            let inline = !reason.contains('\n') && reason.chars().count() <= REASON_INLINE;
            if inline {
                row.push(clean(&reason));
                (row, Vec::new())
            } else {
                row.push(String::new());
                (row, whole(UNDER_ROW, UNDER_ROW, &reason))
            }
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for (row, _) in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let last = cells.len() - 1;
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else if i == 1 {
                let _ = write!(text, "{cell:>w$}  ", w = widths[i]);
            } else {
                let _ = write!(text, "{cell:<w$}  ", w = widths[i]);
            }
        }
        text.trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(&header));
    for (row, under) in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
        for text in under {
            let _ = writeln!(out, "{text}");
        }
    }
    out.push_str(&totals_line(run));
    out.push('\n');
    out
}

/// `  Summary [ 123.4s] 2 scenarios, 4 board runs: 3 passed, 1 failed (exit 1)`; with
/// repeats the counts are of cases: `1 scenario, 1 case (6 board runs): 1 flaky (exit 1)`.
pub fn totals_line(run: &RunResult) -> String {
    let stats = run.stats();
    let mut parts = vec![format!("{} passed", stats.passed)];
    let extra = [
        (stats.flaky_pass, "flaky-pass (passed on a retry)"),
        (stats.failed, "failed"),
        (stats.bricked, "bricked"),
        (stats.recovered_by_power_cycle, "recovered by power cycle"),
        (stats.errors, "bench errors"),
        (stats.not_judged, "not judged"),
        (stats.skipped, "skipped"),
        (stats.flaky, "flaky"),
    ];
    for (n, what) in extra {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let counted = if stats.cases == stats.board_runs {
        format!(
            "{} board {}",
            stats.board_runs,
            plural(stats.board_runs, "run", "runs")
        )
    } else {
        format!(
            "{} {} ({} board runs)",
            stats.cases,
            plural(stats.cases, "case", "cases"),
            stats.board_runs
        )
    };
    format!(
        "{:>9} [{}] {}{} {}, {counted}: {}",
        "Summary",
        secs(run.duration),
        if run.interrupted { "INTERRUPTED: " } else { "" },
        stats.scenarios,
        plural(stats.scenarios, "scenario", "scenarios"),
        parts.join(", ")
    ) + &exit_note(&stats)
}

fn exit_note(stats: &RunStats) -> String {
    format!(" (exit {})", stats.exit_code())
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `same-version`, `same-version #2` (attempt 2), `same-version retry 1`,
/// `same-version #2 retry 1`.
fn scenario_label(s: &ScenarioResult) -> String {
    let mut label = s.name.clone();
    if s.attempt > 1 {
        label = format!("{label} #{}", s.attempt);
    }
    if s.retry > 0 {
        label = format!("{label} retry {}", s.retry);
    }
    label
}

/// `  12.3s`, fixed width up to 9999.9 s.
pub fn secs(d: Duration) -> String {
    format!("{:>6.1}s", d.as_secs_f64())
}

/// A line of text without control characters (nothing in a message can drive the
/// terminal).
fn clean(line: &str) -> String {
    line.chars().filter(|c| !c.is_control()).collect()
}

/// `text` whole, a line per line of it: the first after `first`, the others after
/// `indent`; control characters removed.
fn whole(first: &str, indent: &str, text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{}{}", if i == 0 { first } else { indent }, clean(l)))
        .collect();
    if lines.is_empty() {
        lines.push(first.trim_end().to_string());
    }
    lines
}
