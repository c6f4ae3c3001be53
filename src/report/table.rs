//! The console's final word: a status line per board (nextest style), the summary
//! table of scenario × board, and the totals line.

use std::fmt::Write;
use std::time::Duration;

use super::model::{group_cases, is_flaky, BoardResult, RunResult, RunStats, ScenarioResult};

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

/// The summary table, then flaky cases, then the totals line.
pub fn render(run: &RunResult) -> String {
    let header = ["VERDICT", "TIME", "SCENARIO", "BOARD", "REASON"];
    let mut rows: Vec<[String; 5]> = Vec::new();
    for s in &run.scenarios {
        if s.boards.is_empty() {
            rows.push([
                s.verdict().label().to_string(),
                secs(s.duration),
                scenario_label(s),
                String::new(),
                one_line(s.skipped.as_deref().unwrap_or(""), REASON_MAX),
            ]);
        }
        for b in &s.boards {
            let verdict = if s.skipped.is_some() {
                super::Verdict::Skipped
            } else {
                b.verdict
            };
            let reason = s.skipped.as_deref().or(b.message.as_deref()).unwrap_or("");
            rows.push([
                verdict.label().to_string(),
                secs(s.duration),
                scenario_label(s),
                b.display_name(),
                one_line(reason, REASON_MAX),
            ]);
        }
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 5]| {
        let text = format!(
            "{:<w0$}  {:>w1$}  {:<w2$}  {:<w3$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    for ((scenario, _), attempts) in group_cases(&run.scenarios) {
        if is_flaky(attempts.iter().map(|(_, b)| b.verdict)) {
            let passed = attempts
                .iter()
                .filter(|(_, b)| b.verdict == super::Verdict::Passed)
                .count();
            let _ = writeln!(
                out,
                "{:>9} {scenario} {}: passed {passed} of {} attempts",
                "FLAKY",
                attempts[0].1.display_name(),
                attempts.len()
            );
        }
    }
    out.push_str(&totals_line(run));
    out.push('\n');
    out
}

/// `  Summary [ 123.4s] 2 scenarios, 4 board runs: 3 passed, 1 failed`
pub fn totals_line(run: &RunResult) -> String {
    let stats = run.stats();
    let mut parts = vec![format!("{} passed", stats.passed)];
    let extra = [
        (stats.failed, "failed"),
        (stats.bricked, "bricked"),
        (stats.recovered_by_power_cycle, "recovered by power cycle"),
        (stats.errors, "bench errors"),
        (stats.skipped, "skipped"),
        (stats.flaky, "flaky"),
    ];
    for (n, what) in extra {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!(
        "{:>9} [{}] {}{} {}, {} board {}: {}",
        "Summary",
        secs(run.duration),
        if run.interrupted { "INTERRUPTED: " } else { "" },
        stats.scenarios,
        plural(stats.scenarios, "scenario", "scenarios"),
        stats.cases,
        plural(stats.cases, "run", "runs"),
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
