//! What the picture keeps of a timeline while it streams by: per lane, the marks to
//! draw (with the console line each one points to), power and connection spans,
//! download levels and the failures to spell out. Bounded per lane, so memory grows
//! with boards, not with events.

use std::collections::{BTreeMap, BTreeSet};

use super::PictureOptions;
use crate::model::{ExecutionStatus, Verdict};
use crate::timeline::query::reported_progress;
use crate::timeline::{Event, EventKind, PowerState, Source};

/// At most this many marks per lane (a reboot loop could print thousands of banners).
const MAX_MARKS: usize = 600;
/// At most this many download levels per lane; levels closer than 2 % are merged.
const MAX_LEVELS: usize = 1000;
/// At most this many spans (power-off bands, connections) per lane.
const MAX_SPANS: usize = 300;
/// At most this many failures spelt out per lane.
const MAX_FAILURES: usize = 20;

/// A board bound to a role, and its verdict when known.
#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    pub role: String,
    pub board: String,
    pub thing: String,
    pub verdict: Option<Verdict>,
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Boot,
    Reset,
    Flash {
        ok: bool,
    },
    Power {
        on: bool,
    },
    Fault,
    BenchError,
    Step {
        number: usize,
    },
    Verdict(Verdict),
    Job {
        status: ExecutionStatus,
        label: String,
    },
    /// An expectation failed or a guard was hit: numbered, spelt out under the lane.
    Failure {
        number: usize,
    },
}

/// One thing to draw at time `t`, with its exact text and the console line it is on.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub t: f64,
    pub shape: Shape,
    pub text: String,
    pub line: Option<usize>,
}

/// A level of a download, or where the last level stopped being true.
#[derive(Clone, Debug, PartialEq)]
pub enum Level {
    At { t: f64, fraction: f64, text: String },
    End { t: f64 },
}

/// Which notes are drawn as failure markers.
pub fn is_failure_note(text: &str) -> bool {
    text.starts_with("expectation failed:") || text.starts_with("guard hit:")
}

/// One lane (or the steps/bench row) as it is gathered.
#[derive(Clone, Debug, Default)]
pub struct Track {
    pub marks: Vec<Mark>,
    pub dropped: usize,
    pub failures: Vec<Mark>,
    pub failures_dropped: usize,
    pub power_off: Vec<(f64, f64)>,
    off_since: Option<f64>,
    pub online: Vec<(f64, f64, String)>,
    open: BTreeSet<u64>,
    online_since: Option<(f64, String)>,
    pub levels: Vec<Level>,
    level_open: Option<f64>,
    last_job: BTreeMap<String, (ExecutionStatus, Option<String>)>,
    pub last_verdict: Option<Verdict>,
}

impl Track {
    fn mark(&mut self, t: f64, shape: Shape, text: String, line: Option<usize>) {
        if self.marks.len() < MAX_MARKS {
            self.marks.push(Mark {
                t,
                shape,
                text,
                line,
            });
        } else {
            self.dropped += 1;
        }
    }

    fn failure(&mut self, t: f64, text: &str, line: Option<usize>) {
        let number = self.failures.len() + self.failures_dropped + 1;
        if self.failures.len() < MAX_FAILURES {
            self.failures.push(Mark {
                t,
                shape: Shape::Failure { number },
                text: text.to_string(),
                line,
            });
        } else {
            self.failures_dropped += 1;
        }
        self.mark(t, Shape::Failure { number }, text.to_string(), line);
    }

    /// The steps/bench row: steps, and what the cloud or runner reported.
    pub fn add_bench(&mut self, e: &Event) {
        match &e.kind {
            EventKind::Step {
                index,
                text,
                finished: false,
                ..
            } => self.mark(
                e.t,
                Shape::Step { number: index + 1 },
                format!("step {}: {text}", index + 1),
                None,
            ),
            EventKind::BenchError { message } => self.mark(
                e.t,
                Shape::BenchError,
                format!("bench error: {message}"),
                None,
            ),
            EventKind::Fault { what } => {
                self.mark(e.t, Shape::Fault, format!("fault: {what}"), None)
            }
            EventKind::Note { text } if is_failure_note(text) => self.failure(e.t, text, None),
            _ => {}
        }
    }

    /// A lane's event (`line`: where it is in the board's console log).
    pub fn add(&mut self, e: &Event, line: Option<usize>, options: &PictureOptions) {
        let t = e.t;
        match &e.kind {
            EventKind::Console { line: text } if options.banner.is_match(text) => {
                self.mark(t, Shape::Boot, format!("boot: {text}"), line)
            }
            EventKind::Console { line: text } if options.reset.is_match(text) => {
                self.mark(t, Shape::Reset, format!("reset: {text}"), line)
            }
            EventKind::Flash { image, ok, detail } => {
                let text = format!(
                    "flash {image}: {}{}",
                    if *ok { "ok" } else { "FAILED" },
                    detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
                self.end_level(t);
                self.mark(t, Shape::Flash { ok: *ok }, text, line);
            }
            EventKind::Power { state, reason } => {
                let on = *state == PowerState::On;
                match (on, self.off_since) {
                    (false, None) => self.off_since = Some(t),
                    (true, Some(since)) => {
                        self.off_since = None;
                        if self.power_off.len() < MAX_SPANS {
                            self.power_off.push((since, t));
                        }
                    }
                    _ => {}
                }
                if !on {
                    self.end_level(t);
                }
                let word = if on { "on" } else { "off" };
                self.mark(
                    t,
                    Shape::Power { on },
                    format!("power {word}: {reason}"),
                    line,
                );
            }
            EventKind::Fault { what } => self.mark(t, Shape::Fault, format!("fault: {what}"), line),
            EventKind::BenchError { message } => self.mark(
                t,
                Shape::BenchError,
                format!("bench error: {message}"),
                line,
            ),
            EventKind::Note { text } if is_failure_note(text) => self.failure(t, text, line),
            EventKind::Verdict { verdict, message } => {
                self.last_verdict = Some(*verdict);
                let text = match message {
                    Some(m) => format!("verdict {verdict}: {m}"),
                    None => format!("verdict {verdict}"),
                };
                self.mark(t, Shape::Verdict(*verdict), text, line);
            }
            EventKind::Connection {
                conn,
                connected,
                reason,
                client_id,
                ..
            } => self.connection(t, *conn, *connected, client_id, reason.as_deref()),
            EventKind::StreamProgress {
                stream,
                blocks_served,
                block_count,
                ..
            } if *block_count > 0 => self.level(
                t,
                *blocks_served as f64 / *block_count as f64,
                format!("stream {stream}: {blocks_served}/{block_count} blocks served"),
            ),
            EventKind::JobExecution {
                job_id,
                status,
                status_details,
                ..
            } => {
                if let Some(f) = reported_progress(status_details) {
                    self.level(
                        t,
                        f,
                        format!("job {job_id}: receive {}", status_details["receive"]),
                    );
                }
                let phase = status_details.get("self_test").cloned();
                if *status != ExecutionStatus::InProgress || phase.is_some() {
                    self.end_level(t);
                }
                let key = (*status, phase.clone());
                let reason = status_details.get("reason");
                if self.last_job.get(job_id) == Some(&key) && reason.is_none() {
                    return; // a progress-only update: drawn as the download level
                }
                self.last_job.insert(job_id.clone(), key);
                let label = match (phase, reason) {
                    (_, Some(r))
                        if status.is_terminal() && *status != ExecutionStatus::Succeeded =>
                    {
                        format!("{status} ({r})")
                    }
                    (Some(p), _) if *status == ExecutionStatus::InProgress => p,
                    _ => status.to_string(),
                };
                let details: Vec<String> = status_details
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let text = format!("job {job_id}: {status} {{{}}}", details.join(", "));
                self.mark(
                    t,
                    Shape::Job {
                        status: *status,
                        label,
                    },
                    text,
                    line,
                );
            }
            _ => {}
        }
    }

    fn connection(&mut self, t: f64, conn: u64, connected: bool, client: &str, why: Option<&str>) {
        let was_online = !self.open.is_empty();
        if connected {
            self.open.insert(conn);
        } else {
            self.open.remove(&conn);
            self.end_level(t);
        }
        let text = format!(
            "{} conn {conn} ({client}){}",
            if connected {
                "connected"
            } else {
                "disconnected"
            },
            why.map(|r| format!(": {r}")).unwrap_or_default()
        );
        match (was_online, self.open.is_empty()) {
            (false, false) => self.online_since = Some((t, text)),
            (true, true) => {
                if let Some((since, opened)) = self.online_since.take() {
                    if self.online.len() < MAX_SPANS {
                        self.online.push((since, t, format!("{opened} → {text}")));
                    }
                }
            }
            _ => {}
        }
    }

    fn level(&mut self, t: f64, fraction: f64, text: String) {
        let fraction = fraction.clamp(0.0, 1.0);
        let close = self
            .level_open
            .is_some_and(|last| (fraction - last).abs() < 0.02 && fraction < 1.0);
        if close || self.levels.len() >= MAX_LEVELS {
            return;
        }
        self.level_open = Some(fraction);
        self.levels.push(Level::At { t, fraction, text });
    }

    fn end_level(&mut self, t: f64) {
        if self.level_open.take().is_some() {
            self.levels.push(Level::End { t });
        }
    }

    /// Closes what is still open at `end` (a board still powered off, still connected).
    pub fn close(&mut self, end: f64) {
        if let Some(since) = self.off_since.take() {
            self.power_off.push((since, end));
        }
        if let Some((since, text)) = self.online_since.take() {
            self.online.push((since, end, text));
        }
        self.end_level(end);
    }
}

/// Which lane an event belongs to: its board's, or the lane of the thing it names.
pub fn lane_of(
    e: &Event,
    by_board: &BTreeMap<String, usize>,
    by_thing: &BTreeMap<String, usize>,
) -> Option<usize> {
    match &e.source {
        Source::Board(b) => by_board.get(b).copied(),
        _ => e
            .kind
            .thing_or_client()
            .and_then(|t| by_thing.get(t).copied()),
    }
}
