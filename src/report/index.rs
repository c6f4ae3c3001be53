//! `index.html`: the run at a glance. The cases that need attention first, each with its
//! whole reason and links to its evidence (timeline, annotated console, MQTT transcript),
//! then every scenario attempt with its boards (failed ones open, passed ones folded).
//! One file, no script, no network: it reads the same from a CI artifact or a laptop.

use std::fmt::Write;
use std::path::Path;

use super::html::{attention_rank, badge, esc, href, page, Css, STYLESHEET};
use super::model::{cases, try_title, Case, Outcome, RunResult, ScenarioResult, Verdict};
use super::scenario_pages::ScenarioPaths;

/// The page for `run`, whose files are under `run_dir` as `scenarios` says.
pub fn render(
    run: &RunResult,
    run_dir: &Path,
    scenarios: &[ScenarioPaths],
    notes: &[String],
) -> String {
    let links = Links { run_dir, scenarios };
    let stats = run.stats();
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>otarig run {}</h1>\n<p class=\"sub\">rig <b>{}</b> · started {} · {:.1} s · exit {} ({})</p>\n",
        esc(&run.run_id),
        esc(&run.rig),
        esc(&super::console_log::wall(run.started_wall_ms)),
        run.duration.as_secs_f64(),
        stats.exit_code(),
        exit_meaning(stats.exit_code()),
    );
    let _ = write!(
        body,
        "<p class=\"sub\">{}</p>\n<p class=\"sub\"><a href=\"junit.xml\">junit.xml</a> (test case names: scenario, then role) · <a href=\"summary.json\">summary.json</a></p>\n",
        esc(&counts(run)),
    );
    if run.interrupted {
        body.push_str("<p class=\"note\">The run was interrupted: cases it had not finished are errors marked unfinished.</p>\n");
    }
    for note in notes {
        let _ = writeln!(body, "<p class=\"note\">{}</p>", esc(note));
    }
    attention(&mut body, run, &links);
    body.push_str("<h2>Scenarios</h2>\n");
    let mut attempts: Vec<&ScenarioResult> = run.scenarios.iter().collect();
    attempts.sort_by_key(|s| std::cmp::Reverse(attention_rank(Some(s.verdict()))));
    for s in attempts {
        scenario_section(&mut body, s, &links);
    }
    page(
        &format!("otarig run {}", run.run_id),
        &body,
        Css::Link(STYLESHEET),
    )
}

fn exit_meaning(code: u8) -> &'static str {
    match code {
        0 => "all passed",
        1 => "firmware failures",
        3 => "bench errors or unjudged boards: not a firmware verdict",
        4 => "nothing was judged",
        _ => "see the exit codes in README.md",
    }
}

fn counts(run: &RunResult) -> String {
    let s = run.stats();
    let mut parts = vec![format!("{} passed", s.passed)];
    for (n, what) in [
        (s.flaky_pass, "flaky-pass (passed on a retry)"),
        (s.failed, "failed"),
        (s.bricked, "bricked"),
        (s.recovered_by_power_cycle, "recovered by power cycle"),
        (s.flaky, "flaky"),
        (s.errors, "errors"),
        (s.not_judged, "not judged"),
        (s.skipped, "skipped"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!(
        "{} scenarios, {} cases ({} board runs): {}",
        s.scenarios,
        s.cases,
        s.board_runs,
        parts.join(", ")
    )
}

struct Links<'a> {
    run_dir: &'a Path,
    scenarios: &'a [ScenarioPaths],
}

impl Links<'_> {
    fn of(&self, s: &ScenarioResult) -> Option<&ScenarioPaths> {
        self.scenarios
            .iter()
            .find(|p| p.scenario == s.name && p.attempt == s.attempt && p.retry == s.retry)
    }

    fn rel(&self, path: &Path) -> String {
        href(
            &path
                .strip_prefix(self.run_dir)
                .unwrap_or(path)
                .display()
                .to_string(),
        )
    }

    fn timeline(&self, s: &ScenarioResult) -> String {
        self.of(s).map_or(String::new(), |p| {
            format!("<a href=\"{}\">timeline</a>", self.rel(&p.timeline_html))
        })
    }

    /// `timeline · console · MQTT` for a board of an attempt (what exists of it).
    fn board(&self, s: &ScenarioResult, board: &str) -> String {
        let Some(p) = self.of(s) else {
            return String::new();
        };
        let mut out = vec![format!(
            "<a href=\"{}#board-{}\">timeline</a>",
            self.rel(&p.timeline_html),
            esc(board)
        )];
        if let Some(b) = p.boards.iter().find(|b| b.board == board) {
            out.push(format!(
                "<a href=\"{}\">console</a> (<a href=\"{}\">text</a>)",
                self.rel(&b.console_html),
                self.rel(&b.console_log)
            ));
            out.push(format!("<a href=\"{}\">MQTT</a>", self.rel(&b.mqtt_jsonl)));
        }
        out.join(" · ")
    }
}

/// A flaky case sorts with the failures, a case that passed on a retry after the
/// bench errors.
fn case_rank(c: &Case) -> u8 {
    match c.outcome() {
        Outcome::Flaky => attention_rank(Some(Verdict::Failed)),
        Outcome::FlakyPass => attention_rank(None),
        _ => attention_rank(Some(c.worst())),
    }
}

fn attention(body: &mut String, run: &RunResult, links: &Links) {
    let mut needing: Vec<Case> = cases(run)
        .into_iter()
        .filter(|c| !matches!(c.outcome(), Outcome::Passed | Outcome::Skipped))
        .collect();
    needing.sort_by_key(|c| std::cmp::Reverse(case_rank(c)));
    let _ = writeln!(body, "<h2>Needs attention ({})</h2>", needing.len());
    if needing.is_empty() {
        body.push_str("<p>Every case that ran passed.</p>\n");
        return;
    }
    body.push_str("<table><tr><th>outcome</th><th>scenario</th><th>role</th><th>board (thing)</th><th>reason</th><th>time</th><th>evidence</th></tr>\n");
    for c in &needing {
        let primary = c.primary();
        let (board, thing) = primary.board.map_or((String::new(), String::new()), |b| {
            (b.board.clone(), b.thing.clone())
        });
        let attempt = if c.attempts.len() > 1 {
            format!(" ({})", primary.label())
        } else {
            String::new()
        };
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{} ({})</td><td class=\"reason\">{}</td><td class=\"num\">{:.1} s</td><td class=\"links\">{}</td></tr>",
            badge(&c.text(), c.outcome().as_str()),
            esc(c.scenario),
            esc(&attempt),
            esc(c.role.unwrap_or("")),
            esc(&board),
            esc(&thing),
            esc(&c.message().unwrap_or_default()),
            c.duration().as_secs_f64(),
            links.board(primary.scenario, &board),
        );
    }
    body.push_str("</table>\n");
}

fn scenario_section(body: &mut String, s: &ScenarioResult, links: &Links) {
    let verdict = s.verdict();
    let open = if matches!(verdict, Verdict::Passed | Verdict::Skipped) {
        ""
    } else {
        " open"
    };
    let title = try_title(&s.name, s.attempt, s.retry);
    let passed = s
        .boards
        .iter()
        .filter(|b| b.verdict == Verdict::Passed)
        .count();
    let _ = writeln!(
        body,
        "<details{open}><summary>{} <b>{}</b> · {} of {} boards passed · {:.1} s {}</summary>",
        badge(verdict.as_str(), verdict.as_str()),
        esc(&title),
        passed,
        s.boards.len(),
        s.duration.as_secs_f64(),
        match links.timeline(s) {
            t if t.is_empty() => t,
            t => format!("· {t}"),
        },
    );
    if !s.summary.is_empty() {
        let _ = writeln!(body, "<p class=\"sub\">{}</p>", esc(&s.summary));
    }
    if let Some(why) = &s.skipped {
        let _ = writeln!(body, "<p>Skipped: {}</p>", esc(why));
    }
    if !s.seeds.is_empty() {
        let _ = writeln!(
            body,
            "<p class=\"sub\">link fault seeds: {} (<code>otarig run --seed N</code> replays one)</p>",
            super::model::join_seeds(&s.seeds)
        );
    }
    if !s.boards.is_empty() {
        body.push_str("<table><tr><th>verdict</th><th>role</th><th>board</th><th>thing</th><th>reason</th><th>version before → after</th><th>evidence</th></tr>\n");
        let mut boards: Vec<_> = s.boards.iter().collect();
        boards.sort_by_key(|b| std::cmp::Reverse(attention_rank(Some(b.verdict))));
        for b in boards {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"reason\">{}</td><td>{} → {}</td><td class=\"links\">{}</td></tr>",
                badge(b.verdict.as_str(), b.verdict.as_str()),
                esc(&b.role),
                esc(&b.board),
                esc(&b.thing),
                esc(b.message.as_deref().unwrap_or("")),
                esc(b.versions.before.as_deref().unwrap_or("?")),
                esc(b.versions.after.as_deref().unwrap_or("?")),
                links.board(s, &b.board),
            );
        }
        body.push_str("</table>\n");
    }
    body.push_str("</details>\n");
}
