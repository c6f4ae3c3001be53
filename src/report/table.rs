//! The console's final word: a status line per board (nextest style), the summary
//! table of scenario × board, and the totals line.

use std::fmt::Write;
use std::time::Duration;

use super::model::{cases, join_seeds, BoardResult, RunResult, RunStats, ScenarioResult};

/// Longest reason shown in a table cell; the full text is in junit.xml and summary.json.
const REASON_MAX: usize = 100;

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
            lines.push(format!(
                "          {}: {}",
                board.display_name(),
                one_line(why, 300)
            ));
        }
    }
    if scenario.boards.is_empty() {
        if let Some(why) = reason {
            lines.push(format!("          {}", one_line(why, 300)));
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
    let rows: Vec<Vec<String>> = cases
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
            row.push(one_line(&c.message().unwrap_or_default(), REASON_MAX));
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
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
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&header);
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
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

fn scenario_label(s: &ScenarioResult) -> String {
    if s.attempt > 1 {
        format!("{} #{}", s.name, s.attempt)
    } else {
        s.name.clone()
    }
}

/// `  12.3s`, fixed width up to 9999.9 s.
pub fn secs(d: Duration) -> String {
    format!("{:>6.1}s", d.as_secs_f64())
}

/// The first line of a message, cut to `max` characters, control characters removed.
fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    let clean: String = first.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > max {
        let cut: String = clean.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        clean
    }
}
