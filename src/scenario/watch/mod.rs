//! What the runner knows of each board of a scenario, kept up to date as events are
//! recorded (an [`Observer`] of the timeline), and waiting on it. A waiter is woken only
//! by its own board's events and reads only what is new to it: state in constant time,
//! console lines through its own feed. Nothing rescans the timeline.

mod board_state;
mod foreign;

pub use board_state::{BoardState, JobState, CONSOLE_KEPT};
pub use foreign::ForeignRequest;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use regex::Regex;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::BoundBoard;
use crate::model::lag::parse_lag_note;
use crate::timeline::{Event, EventKind, Mark, Observer, Source, Timeline};

type Line = (usize, String);

/// A `never` guard armed on one board: its first forbidden line.
struct Guard {
    from: usize,
    console: Regex,
    hit: Option<Line>,
}

struct Slot {
    state: Mutex<BoardState>,
    guards: Mutex<Vec<Guard>>,
    /// The index of the board's latest event: waiters wake on a change.
    changed: watch::Sender<usize>,
    /// Console feeds of the waiters that read lines.
    feeds: Mutex<Vec<mpsc::UnboundedSender<Line>>>,
}

/// The boards of one scenario as their events show them.
pub struct Watch {
    timeline: Timeline,
    boards: HashMap<String, Slot>,
    /// Thing name → board name: the cloud's events name the thing.
    by_thing: HashMap<String, String>,
    foreign: Mutex<foreign::Foreign>,
    /// The worst scheduling lag the runner reported (its gateway serves every board).
    runner_lag: Mutex<Duration>,
}

impl Watch {
    /// Starts watching `timeline` for `boards`: every event from now on is taken in.
    pub fn start(timeline: &Timeline, boards: &[BoundBoard]) -> Arc<Watch> {
        let watch = Arc::new(Watch {
            timeline: timeline.clone(),
            boards: boards
                .iter()
                .map(|b| {
                    let slot = Slot {
                        state: Mutex::new(BoardState::new(&b.board, &b.thing, b.profile.clone())),
                        guards: Mutex::new(Vec::new()),
                        changed: watch::Sender::new(0),
                        feeds: Mutex::new(Vec::new()),
                    };
                    (b.board.clone(), slot)
                })
                .collect(),
            by_thing: boards
                .iter()
                .map(|b| (b.thing.clone(), b.board.clone()))
                .collect(),
            foreign: Mutex::new(foreign::Foreign::default()),
            runner_lag: Mutex::new(Duration::ZERO),
        });
        let observer: Arc<dyn Observer> = watch.clone();
        timeline.observe(&observer);
        watch
    }

    fn slot(&self, board: &str) -> &Slot {
        self.boards
            .get(board)
            .unwrap_or_else(|| panic!("board {board} is not watched in this scenario"))
    }

    /// The board's state now (held briefly: the recorder waits on it).
    pub fn state(&self, board: &str) -> MutexGuard<'_, BoardState> {
        self.slot(board).state.lock().expect("board state lock")
    }

    /// Evaluates `check` on the board's state as its events arrive, until it gives a value
    /// or `within` passes.
    pub async fn wait_until<T>(
        &self,
        board: &str,
        within: Duration,
        mut check: impl FnMut(&BoardState) -> Option<T>,
    ) -> Option<T> {
        let mut waiter = self.waiter(board, None);
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = check(&waiter.state()) {
                return Some(v);
            }
            if !waiter.changed(deadline).await {
                return check(&waiter.state());
            }
        }
    }

    /// Waits until the board itself prints a line at or after event `from` (reading its
    /// lines: a plain line wakes no one else); false if none comes within `within`.
    pub async fn wait_spoke(&self, board: &str, from: usize, within: Duration) -> bool {
        let mut waiter = self.waiter(board, Some(from));
        let deadline = Instant::now() + within;
        loop {
            while waiter.next_line().is_some() {}
            if waiter.state().spoke_since(from) {
                return true;
            }
            if !waiter.changed(deadline).await {
                return waiter.state().spoke_since(from);
            }
        }
    }

    /// A waiter on `board`; with `console_from`, it also reads the board's console lines
    /// from that index on, each once, in order.
    pub fn waiter(&self, board: &str, console_from: Option<usize>) -> Waiter<'_> {
        let (board, slot) = self
            .boards
            .get_key_value(board)
            .unwrap_or_else(|| panic!("board {board} is not watched in this scenario"));
        let changed = slot.changed.subscribe();
        let Some(from) = console_from else {
            return Waiter {
                watch: self,
                board,
                slot,
                changed,
                lines: None,
                backlog: VecDeque::new(),
            };
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // Under the state lock no line of this board is recorded: what is kept now and
        // what the feed brings later meet without a gap or a repeat.
        let state = slot.state.lock().expect("board state lock");
        slot.feeds.lock().expect("feeds lock").push(tx);
        let (spilled, kept) = state.console_since(from);
        let spilled = spilled.to_vec();
        let kept: Vec<Line> = kept.cloned().collect();
        drop(state);
        // Lines older than those kept: read back from the timeline's file, one by one.
        let events = self.timeline.read_at(&spilled);
        let mut backlog: VecDeque<Line> = spilled
            .iter()
            .zip(events)
            .filter_map(|(mark, e)| match e.kind {
                EventKind::Console { line } => Some((mark.index, line)),
                _ => None,
            })
            .collect();
        backlog.extend(kept);
        Waiter {
            watch: self,
            board,
            slot,
            changed,
            lines: Some(rx),
            backlog,
        }
    }

    /// Arms a `never` guard on `board` from index `from` on.
    pub fn arm_guard(&self, board: &str, from: usize, console: &Regex) {
        let slot = self.slot(board);
        let state = slot.state.lock().expect("board state lock");
        // Guards are armed where they are declared: the lines since are still kept.
        let (_, kept) = state.console_since(from);
        let hit = board_state::first_match(kept, console);
        slot.guards.lock().expect("guards lock").push(Guard {
            from,
            console: console.clone(),
            hit,
        });
        drop(state);
        slot.changed.send_modify(|_| {});
    }

    /// The first forbidden line of each guard hit on `board`: (the guard's regex, the line).
    pub fn guard_hits(&self, board: &str) -> Vec<(String, Line)> {
        self.slot(board)
            .guards
            .lock()
            .expect("guards lock")
            .iter()
            .filter_map(|g| Some((g.console.to_string(), g.hit.clone()?)))
            .collect()
    }

    /// The worst scheduling lag that touched `board`: its simulator's or the runner's.
    pub fn lag(&self, board: &str) -> Duration {
        let runner = *self.runner_lag.lock().expect("lag lock");
        self.state(board).lag().max(runner)
    }

    /// Requests a connection made on another thing's Jobs or stream topics.
    pub fn foreign_requests(&self) -> Vec<ForeignRequest> {
        self.foreign.lock().expect("foreign lock").found.clone()
    }

    fn board_of(&self, event: &Event) -> Option<&str> {
        if let Some((board, _)) = event
            .source
            .board_name()
            .and_then(|b| self.boards.get_key_value(b))
        {
            return Some(board);
        }
        let thing = event.kind.thing()?;
        self.by_thing.get(thing).map(String::as_str)
    }
}

impl Observer for Watch {
    fn observe(&self, at: Mark, event: &Event) {
        let index = at.index;
        self.foreign.lock().expect("foreign lock").observe(event);
        if let (Source::Runner, EventKind::Note { text }) = (&event.source, &event.kind) {
            if let Some(lag) = parse_lag_note(text) {
                let mut worst = self.runner_lag.lock().expect("lag lock");
                *worst = (*worst).max(lag);
            }
        }
        let Some(board) = self.board_of(event) else {
            return;
        };
        let slot = self.slot(board);
        let mut state = slot.state.lock().expect("board state lock");
        let mut wake = state.apply(at, event);
        if let EventKind::Console { line } = &event.kind {
            for guard in slot.guards.lock().expect("guards lock").iter_mut() {
                if guard.hit.is_none() && index >= guard.from && guard.console.is_match(line) {
                    guard.hit = Some((index, line.clone()));
                    wake = true;
                }
            }
            slot.feeds
                .lock()
                .expect("feeds lock")
                .retain(|feed| feed.send((index, line.clone())).is_ok());
        }
        drop(state);
        // Most lines of a download change nothing in the state: those who read lines are
        // woken by their feed. (With a thousand boards, waking every waiter for each line
        // was a million wake-ups.)
        if wake {
            slot.changed.send_replace(index);
        }
    }
}

/// One waiter's view of one board: woken by the board's events, reading its console
/// lines once each (when it asked for them).
pub struct Waiter<'w> {
    watch: &'w Watch,
    board: &'w str,
    slot: &'w Slot,
    changed: watch::Receiver<usize>,
    lines: Option<mpsc::UnboundedReceiver<Line>>,
    backlog: VecDeque<Line>,
}

impl Waiter<'_> {
    pub fn state(&self) -> MutexGuard<'_, BoardState> {
        self.slot.state.lock().expect("board state lock")
    }

    /// The next console line not yet read, if one has arrived.
    pub fn next_line(&mut self) -> Option<Line> {
        if let Some(line) = self.backlog.pop_front() {
            return Some(line);
        }
        self.lines.as_mut()?.try_recv().ok()
    }

    /// The first guard hit on this board, if any.
    pub fn guard_hit(&self) -> Option<(String, Line)> {
        self.watch.guard_hits(self.board).into_iter().next()
    }

    /// Waits for a change of the board's state this waiter has not yet been woken for (one
    /// that came while it was looking counts) or, when it reads lines, a console line;
    /// `false` once `deadline` has passed.
    pub async fn changed(&mut self, deadline: Instant) -> bool {
        let state = self.changed.changed();
        let woken = match self.lines.as_mut() {
            None => tokio::time::timeout_at(deadline, state)
                .await
                .map(|r| r.is_ok()),
            Some(lines) => {
                tokio::time::timeout_at(deadline, async {
                    tokio::select! {
                        r = state => r.is_ok(),
                        line = lines.recv() => {
                            // Kept for `next_line`, in order: the feed is read only from here on.
                            self.backlog.extend(line);
                            true
                        }
                    }
                })
                .await
            }
        };
        woken.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests;
