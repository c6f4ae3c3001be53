//! The live region's text: a header, then each running attempt and its boards, fitted
//! to the terminal. Pure (state, clock, size → lines), so the choices are tested
//! without a terminal: no line is wider than `width - 1` (a line that fills the last
//! column would leave the cursor in the terminal's pending-wrap state, and one that
//! wraps would break the count of rows to redraw), and there are never more lines than
//! `rows`, so the region can always be redrawn in place.

use std::time::Instant;

use unicode_width::UnicodeWidthChar;

use super::state::{short, AttemptNow, BoardNow, RunNow};

/// The region for `run` at `now` in a terminal `width` columns wide, in at most `rows`
/// lines (at least one: the header).
pub fn region(run: &RunNow, now: Instant, width: usize, rows: usize) -> Vec<String> {
    let rows = rows.max(1);
    // Rows below the header.
    let room = rows - 1;
    let mut lines = vec![header(run, now)];
    // Most detail first: a line per board; then boards that wait for the same thing
    // share a line; then a line per attempt; then as many attempts as fit.
    let full: Vec<String> = run
        .running
        .iter()
        .flat_map(|a| attempt_lines(a, now, false))
        .collect();
    let grouped: Vec<String> = run
        .running
        .iter()
        .flat_map(|a| attempt_lines(a, now, true))
        .collect();
    if full.len() <= room {
        lines.extend(full);
    } else if grouped.len() <= room {
        lines.extend(grouped);
    } else {
        let compact: Vec<String> = run.running.iter().map(|a| one_line(a, now)).collect();
        if compact.len() <= room {
            lines.extend(compact);
        } else {
            let shown = rows.saturating_sub(2);
            lines.extend(compact.iter().take(shown).cloned());
            let rest = &run.running[shown..];
            let boards: usize = rest.iter().map(|a| a.boards.len()).sum();
            lines.push(format!(
                "  … and {} more running ({boards} boards)",
                rest.len()
            ));
            lines.truncate(rows);
        }
    }
    lines.iter().map(|l| fit(l, width)).collect()
}

fn header(run: &RunNow, now: Instant) -> String {
    let mut text = format!(
        "  Running [{}] {}/{} scenarios done",
        short(now.saturating_duration_since(run.started)),
        run.done,
        run.total
    );
    if run.not_passed > 0 {
        text.push_str(&format!(", {} not passed", run.not_passed));
    }
    let boards = run.boards().count();
    text.push_str(&format!(
        ", {} running on {boards} board{}",
        run.running.len(),
        if boards == 1 { "" } else { "s" }
    ));
    text
}

fn title(a: &AttemptNow, now: Instant) -> String {
    let attempt = super::state::try_label(a.attempt, a.retry);
    format!(
        "{}{attempt} [{}]",
        a.scenario,
        short(now.saturating_duration_since(a.started))
    )
}

/// `1m 20s left, waiting for job SUCCEEDED`: the time first, so a long expectation is
/// cut at the terminal's edge rather than its deadline.
fn wait(b: &BoardNow, now: Instant) -> String {
    match b.left(now) {
        Some(left) => format!("{} left, {}", short(left), b.what),
        None => b.what.clone(),
    }
}

fn attempt_lines(a: &AttemptNow, now: Instant, grouped: bool) -> Vec<String> {
    let mut lines = vec![format!("  {}", title(a, now))];
    if !grouped {
        for b in &a.boards {
            lines.push(format!("    {}: {}", b.name, wait(b, now)));
        }
        return lines;
    }
    // Boards with the same wait (text and second of deadline) share a line.
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for b in &a.boards {
        let w = wait(b, now);
        match groups.iter_mut().find(|(text, _)| *text == w) {
            Some((_, names)) => names.push(&b.name),
            None => groups.push((w, vec![&b.name])),
        }
    }
    for (w, names) in groups {
        lines.push(format!("    {}: {w}", names.join(" ")));
    }
    lines
}

/// An attempt and all its boards on one line: the board names first, so a narrow
/// terminal cuts what they wait for, not which boards run.
fn one_line(a: &AttemptNow, now: Instant) -> String {
    let names: Vec<&str> = a.boards.iter().map(|b| b.name.as_str()).collect();
    let waits: Vec<String> = a
        .boards
        .iter()
        .map(|b| format!("{} {}", b.name, wait(b, now)))
        .collect();
    format!(
        "  {}: {} | {}",
        title(a, now),
        names.join(" "),
        waits.join("; ")
    )
}

/// `line` made safe and short enough for one terminal row of `width` columns: control
/// characters become spaces and the text is cut (with `…`) at `width - 1` columns.
pub fn fit(line: &str, width: usize) -> String {
    let max = width.saturating_sub(1).max(1);
    let mut out = String::new();
    let mut used = 0;
    let clean = line.chars().map(|c| if c.is_control() { ' ' } else { c });
    let total: usize = clean.clone().map(|c| c.width().unwrap_or(0)).sum();
    if total <= max {
        return clean.collect();
    }
    for c in clean {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Display columns of a line [`fit`] made.
pub fn columns(line: &str) -> usize {
    line.chars().map(|c| c.width().unwrap_or(0)).sum()
}
