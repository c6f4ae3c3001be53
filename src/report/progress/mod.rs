//! The console while a run goes on. On a terminal: a region at the bottom, redrawn in
//! place, with a header and every running attempt and board, what each waits for and
//! how long is left; finished scenarios' status lines are written above it and stay.
//! Anywhere else (CI, a pipe): a line per change and a heartbeat after 30 s of silence.
//!
//! Hand-written rather than indicatif's `MultiProgress`: what is on the screen must be
//! exactly known to be redrawn without leaving stale lines, and indicatif let lines
//! wrap and let the region outgrow the screen (rows it can no longer reach), drew from
//! one tick thread per bar and dropped bars under load. Here one lock guards one model
//! ([`state`]), one pure layout ([`layout`]) fits it to the terminal, and one writer
//! ([`terminal`]) redraws it in a single write; the tests run it through a terminal
//! emulator at several sizes.

mod layout;
mod plain;
mod state;
mod terminal;
#[cfg(test)]
mod tests;

use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::events::RunEvent;
use super::model::ScenarioResult;
use super::table;
use crate::model::Verdict;

pub use plain::HEARTBEAT;
pub use terminal::SizeFn;

use state::RunNow;
use terminal::Terminal;

/// How much the console says (`-q`, default, `-v`), cargo's levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Only what did not pass, and the final table.
    Quiet,
    #[default]
    Normal,
    /// As normal; the CLI also shows the info log.
    Verbose,
}

/// How often the terminal region is redrawn (its clocks) and the heartbeat is checked.
const TICK: Duration = Duration::from_millis(500);

/// Shared by the runner's tasks; every method takes `&self`.
pub struct Progress {
    shared: Arc<Shared>,
    /// Dropped to stop the ticker thread.
    ticker: Mutex<Option<mpsc::Sender<()>>>,
}

struct Shared {
    screen: Mutex<Screen>,
}

struct Screen {
    run: RunNow,
    view: View,
    verbosity: Verbosity,
    /// When the plain view last wrote (the heartbeat follows silence).
    last_line: Instant,
    /// The run has finished: the region is gone and nothing more is drawn.
    closed: bool,
}

enum View {
    Terminal(Terminal),
    Plain(Box<dyn Write + Send>),
}

/// The display that log lines go above while it is on the screen.
static ACTIVE: Mutex<Option<Weak<Shared>>> = Mutex::new(None);

impl Progress {
    /// On stderr: the live region when it is a terminal, plain lines otherwise; with a
    /// thread that keeps the clocks and the heartbeat going.
    pub fn new(total: usize, verbosity: Verbosity) -> Self {
        let now = Instant::now();
        let progress = if std::io::stderr().is_terminal() {
            let p = Self::terminal(
                total,
                verbosity,
                Box::new(std::io::stderr()),
                Box::new(terminal::stderr_size),
                now,
            );
            *ACTIVE.lock().expect("progress registry") = Some(Arc::downgrade(&p.shared));
            p
        } else {
            Self::plain(total, verbosity, Box::new(std::io::stderr()), now)
        };
        progress.start_ticker();
        progress
    }

    /// The live region drawn into `out`, a terminal of the size `size` says.
    pub fn terminal(
        total: usize,
        verbosity: Verbosity,
        out: Box<dyn Write + Send>,
        size: SizeFn,
        now: Instant,
    ) -> Self {
        Self::with_view(
            total,
            verbosity,
            View::Terminal(Terminal::new(out, size)),
            now,
        )
    }

    /// Plain lines into `out` (CI logs, pipes).
    pub fn plain(
        total: usize,
        verbosity: Verbosity,
        out: Box<dyn Write + Send>,
        now: Instant,
    ) -> Self {
        Self::with_view(total, verbosity, View::Plain(out), now)
    }

    fn with_view(total: usize, verbosity: Verbosity, view: View, now: Instant) -> Self {
        Progress {
            shared: Arc::new(Shared {
                screen: Mutex::new(Screen {
                    run: RunNow::new(total, now),
                    view,
                    verbosity,
                    last_line: now,
                    closed: false,
                }),
            }),
            ticker: Mutex::new(None),
        }
    }

    fn start_ticker(&self) {
        let (tx, rx) = mpsc::channel::<()>();
        let shared = Arc::downgrade(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
                    match shared.upgrade() {
                        Some(s) => s.lock().tick(Instant::now()),
                        None => break,
                    }
                }
            });
        if spawned.is_ok() {
            *self.ticker.lock().expect("progress ticker") = Some(tx);
        }
    }

    /// Shows one event of the runner (the CLI wires the runner's events here).
    pub fn on_event(&self, event: &RunEvent<'_>) {
        self.on_event_at(event, Instant::now());
    }

    /// [`Progress::on_event`] at a given time (tests).
    pub fn on_event_at(&self, event: &RunEvent<'_>, now: Instant) {
        self.shared.lock().event(event, now);
        if matches!(event, RunEvent::RunFinished) {
            self.stop();
        }
    }

    /// Redraws the clocks, or writes the heartbeat when it is due (the ticker's call).
    pub fn tick_at(&self, now: Instant) {
        self.shared.lock().tick(now);
    }

    /// A line that stays (above the region on a terminal), e.g. that an interrupt came.
    pub fn note(&self, line: &str) {
        self.shared
            .lock()
            .above(&[line.to_string()], Instant::now());
    }

    fn stop(&self) {
        self.ticker.lock().expect("progress ticker").take();
        let mut active = ACTIVE.lock().expect("progress registry");
        if active
            .as_ref()
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.shared)))
        {
            *active = None;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `text` (whole lines) above the live region when one is on the screen, and
/// says whether it did; otherwise the caller writes it where it meant to (the log
/// writer: stderr).
pub fn write_above(text: &str) -> bool {
    let shared = ACTIVE
        .lock()
        .ok()
        .and_then(|a| a.as_ref().and_then(Weak::upgrade));
    let Some(shared) = shared else {
        return false;
    };
    let mut screen = shared.lock();
    if screen.closed {
        return false;
    }
    let lines: Vec<String> = text
        .trim_end_matches('\n')
        .lines()
        .map(String::from)
        .collect();
    screen.above(&lines, Instant::now());
    true
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Screen> {
        // A panic elsewhere while drawing must not take the display down with it.
        self.screen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Screen {
    fn event(&mut self, event: &RunEvent<'_>, now: Instant) {
        if self.closed {
            return;
        }
        let quiet = self.verbosity == Verbosity::Quiet;
        let lines = match *event {
            RunEvent::ScenarioStarted {
                scenario,
                attempt,
                retry,
                boards,
            } => {
                self.run.started(scenario, attempt, retry, boards, now);
                match (&self.view, quiet) {
                    (View::Plain(_), false) => {
                        vec![plain::started(scenario, attempt, retry, boards)]
                    }
                    _ => Vec::new(),
                }
            }
            RunEvent::BoardWaiting {
                scenario,
                board,
                what,
                left,
            } => {
                let known = self.run.waiting(scenario, board, what, left, now);
                match (&self.view, quiet) {
                    (View::Plain(_), false) if known => {
                        vec![plain::waiting(scenario, board, what, left)]
                    }
                    _ => Vec::new(),
                }
            }
            RunEvent::ScenarioFinished { result, .. } => {
                self.run.finished(result);
                finished_lines(result, self.verbosity)
            }
            RunEvent::RunFinished => {
                if let View::Terminal(t) = &mut self.view {
                    let _ = t.draw(&[], Vec::new());
                }
                self.closed = true;
                return;
            }
        };
        self.above(&lines, now);
    }

    fn tick(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let due = matches!(self.view, View::Plain(_))
            && self.verbosity != Verbosity::Quiet
            && now.saturating_duration_since(self.last_line) >= HEARTBEAT;
        if due {
            let lines = plain::heartbeat(&self.run, now);
            self.above(&lines, now);
        } else if matches!(self.view, View::Terminal(_)) {
            self.above(&[], now);
        }
    }

    /// Writes lines that stay and, on a terminal, redraws the region below them (none
    /// once the run has finished).
    fn above(&mut self, lines: &[String], now: Instant) {
        match &mut self.view {
            View::Terminal(t) => {
                let region = if self.closed || self.verbosity == Verbosity::Quiet {
                    Vec::new()
                } else {
                    let (width, rows) = t.size();
                    // One row stays free so a line above is always on the screen.
                    layout::region(&self.run, now, width, rows.saturating_sub(1))
                };
                let _ = t.draw(lines, region);
            }
            View::Plain(out) => {
                if lines.is_empty() {
                    return;
                }
                let mut text = String::new();
                for line in lines {
                    text.push_str(line);
                    text.push('\n');
                }
                // One write per batch: lines from concurrent scenarios never interleave.
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
                self.last_line = now;
            }
        }
    }
}

/// A finished attempt's status lines; with `-q` only when it did not pass.
fn finished_lines(result: &ScenarioResult, verbosity: Verbosity) -> Vec<String> {
    let passed = matches!(result.verdict(), Verdict::Passed | Verdict::Skipped);
    if verbosity == Verbosity::Quiet && passed {
        return Vec::new();
    }
    table::scenario_lines(result)
}
