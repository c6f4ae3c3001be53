//! A board's annotated console: every line it printed, with otarig's own annotations
//! (`## …`) interleaved where they happened: flash, power, resets the rig did, faults,
//! job changes of its thing, connections, steps, expectation failures, waits, verdicts. A
//! two-minute hang and the power cycle that ended it read in order. Written as
//! `<board>.console.log` (text; escape sequences kept for `less -R`) and as
//! `<board>.console.html`, one anchor per line (`#L12`) for the timeline's marks.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use chrono::{DateTime, SecondsFormat};

use super::html::{esc, page, Css};
use crate::model::ExecutionStatus;
use crate::timeline::{Event, EventKind, PowerState, Source};

/// Turns a board's events into its console log lines; remembers what it needs to leave
/// progress-only job updates out.
#[derive(Debug, Default)]
pub struct Annotator {
    board: String,
    thing: String,
    /// Per job: the status and self-test phase last written.
    jobs: BTreeMap<String, (ExecutionStatus, Option<String>)>,
}

impl Annotator {
    pub fn new(board: &str, thing: &str) -> Self {
        Annotator {
            board: board.to_string(),
            thing: thing.to_string(),
            jobs: BTreeMap::new(),
        }
    }

    pub fn board(&self) -> &str {
        &self.board
    }

    /// The log line `e` adds to this board's console, if any:
    /// `2026-01-02T03:04:05.678Z [    12.345] text`.
    pub fn line(&mut self, e: &Event) -> Option<String> {
        let text = self.text(e)?;
        Some(format!("{} [{:>10.3}] {text}", wall(e.wall_ms), e.t))
    }

    fn text(&mut self, e: &Event) -> Option<String> {
        let mine = e.source.board_name() == Some(self.board.as_str());
        let my_thing = e.kind.thing_or_client() == Some(self.thing.as_str());
        match &e.kind {
            EventKind::Console { line } if mine => Some(line.replace('\0', "\u{2400}")),
            EventKind::Flash { image, ok, detail } if mine => Some(format!(
                "## flash {image}: {}{}",
                if *ok { "ok" } else { "FAILED" },
                detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )),
            EventKind::Power { state, reason } if mine => Some(format!(
                "## power {}: {reason}",
                match state {
                    PowerState::On => "on",
                    PowerState::Off => "off",
                }
            )),
            EventKind::Fault { what } if mine => Some(format!("## fault: {what}")),
            EventKind::BenchError { message } if mine => Some(format!("## bench error: {message}")),
            EventKind::Verdict { verdict, message } if mine => Some(format!(
                "## verdict {verdict}{}",
                message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )),
            EventKind::Note { text } if mine => Some(format!("## {text}")),
            // What the runner notes about this board or its thing by name.
            EventKind::Note { text }
                if e.source == Source::Runner
                    && (mentions(text, &self.board) || mentions(text, &self.thing)) =>
            {
                Some(format!("## {text}"))
            }
            EventKind::Step {
                index,
                text,
                finished: false,
                ..
            } => Some(format!("## step {}: {text}", index + 1)),
            EventKind::JobExecution {
                job_id,
                status,
                status_details,
                ..
            } if my_thing => {
                let phase = status_details.get("self_test").cloned();
                let key = (*status, phase);
                if self.jobs.get(job_id) == Some(&key) && !status_details.contains_key("reason") {
                    return None; // progress only: in the MQTT transcript
                }
                self.jobs.insert(job_id.clone(), key);
                let details: Vec<String> = status_details
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                Some(format!(
                    "## job {job_id}: {status}{}",
                    if details.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", details.join(", "))
                    }
                ))
            }
            EventKind::Connection {
                conn,
                client_id,
                connected,
                reason,
                ..
            } if my_thing => Some(format!(
                "## mqtt {} (connection {conn}, client id {client_id}){}",
                if *connected {
                    "connected"
                } else {
                    "disconnected"
                },
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )),
            EventKind::Console { .. }
            | EventKind::Flash { .. }
            | EventKind::Power { .. }
            | EventKind::Fault { .. }
            | EventKind::BenchError { .. }
            | EventKind::Verdict { .. }
            | EventKind::Note { .. }
            | EventKind::Step { .. }
            | EventKind::JobExecution { .. }
            | EventKind::Connection { .. }
            | EventKind::Mqtt { .. }
            | EventKind::StreamProgress { .. } => None,
        }
    }
}

/// Whether `text` names `name` as a whole word (`Thing1` is not in `Thing10`).
fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
    text.match_indices(name).any(|(i, _)| {
        !word(text[..i].chars().next_back()) && !word(text[i + name.len()..].chars().next())
    })
}

/// The whole annotated console of `board` (thing `thing`) from a slice of events.
pub fn console_log_text(events: &[Event], board: &str, thing: &str) -> String {
    let mut annotator = Annotator::new(board, thing);
    let mut out = String::new();
    for e in events {
        if let Some(line) = annotator.line(e) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// RFC 3339 with milliseconds, UTC.
pub fn wall(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| "-".to_string())
}

/// Writes the HTML view of the console log at `log` to `out`, streaming: line `n` is
/// `<span id="Ln">`, annotations and failures stand out, the target line is highlighted.
pub fn write_html(
    log: &Path,
    title: &str,
    links: &str,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let shell = page(
        title,
        &format!(
            "<h1>{}</h1>\n<p class=\"sub\">{links}</p>\n<pre class=\"console\">\u{0}</pre>\n",
            esc(title)
        ),
        Css::Link("../otarig.css"),
    );
    let (head, tail) = shell.split_once('\u{0}').expect("placeholder in the page");
    out.write_all(head.as_bytes())?;
    let reader = BufReader::new(std::fs::File::open(log)?);
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        let line = String::from_utf8_lossy(&line);
        let n = i + 1;
        let class = line_class(&line);
        write!(
            out,
            "<span class=\"l\" id=\"L{n}\"><a class=\"n\" href=\"#L{n}\">{n}</a>{open}{text}{close}</span>",
            open = class.map(|c| format!("<span class=\"{c}\">")).unwrap_or_default(),
            text = esc(&line),
            close = if class.is_some() { "</span>" } else { "" },
        )?;
    }
    out.write_all(tail.as_bytes())
}

/// `ann` for otarig's annotations, `bad` for the ones that explain a failure.
fn line_class(line: &str) -> Option<&'static str> {
    let text = line.split_once("] ").map(|(_, t)| t)?;
    let ann = text.strip_prefix("## ")?;
    let bad = [
        "expectation failed:",
        "guard hit:",
        "bench error:",
        "fault:",
        "flash ",
    ]
    .iter()
    .any(|p| ann.starts_with(p) && (!p.starts_with("flash") || ann.contains("FAILED")))
        || (ann.starts_with("verdict ") && !ann.starts_with("verdict passed"));
    Some(if bad { "bad" } else { "ann" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_mentioned_only_as_a_whole_word() {
        assert!(mentions("link faults on Thing1: seed 4", "Thing1"));
        assert!(!mentions("link faults on Thing10: seed 4", "Thing1"));
        assert!(!mentions("sim-10 powered", "sim-1"));
        assert!(mentions("boards b1=sim-1, b2=sim-2", "sim-1"));
    }

    #[test]
    fn failures_stand_out_in_the_html_view() {
        let at = "2026-01-01T00:00:00.000Z [     1.000] ";
        assert_eq!(
            line_class(&format!("{at}## expectation failed: x")),
            Some("bad")
        );
        assert_eq!(
            line_class(&format!("{at}## flash a: FAILED (gone)")),
            Some("bad")
        );
        assert_eq!(line_class(&format!("{at}## flash a: ok")), Some("ann"));
        assert_eq!(line_class(&format!("{at}## verdict passed")), Some("ann"));
        assert_eq!(line_class(&format!("{at}app version 1")), None);
    }
}
