//! Checks over the timeline: `expect` steps (each board waits concurrently) and `never`
//! guards (a forbidden console line from where the guard was declared fails the board).

use futures::future::join_all;

use super::{Run, Stop};
use crate::config::scenario::{Expect, Guard};
use crate::scenario::expect::{self, describe, Unmet};
use crate::scenario::matchers;
use crate::timeline::{EventKind, EventSink, Source};

impl Run<'_> {
    pub(super) async fn expect_step(&mut self, exp: &Expect, at: &str) -> Option<Stop> {
        let boards = self.roles(&exp.roles);
        let what = describe(&exp.check, exp.within);
        for b in &boards {
            (self.ctx.progress)(&self.scenario.name, &b.board, &what, Some(exp.within));
        }
        let cursor = self.cursor;
        let results = join_all(
            boards
                .iter()
                .map(|b| expect::wait_for(&self.timeline, &exp.check, cursor, b, exp.within)),
        )
        .await;
        let mut failed = false;
        for (b, r) in boards.iter().zip(results) {
            match r {
                Ok(caps) => self.captures.extend(
                    caps.into_iter()
                        .map(|(k, v)| (format!("{}.{k}", b.role), v)),
                ),
                Err(Unmet { expected, seen }) => {
                    failed = true;
                    let msg = format!("{at}: expected {expected}; seen {seen}");
                    self.timeline.emit(
                        Source::board(&b.board),
                        EventKind::Note {
                            text: format!("expectation failed: {msg}"),
                        },
                    );
                    self.failures.entry(b.role.clone()).or_insert(msg);
                }
            }
        }
        failed.then_some(Stop::Failed)
    }

    /// A `never` step: its guards watch from here to the end of the scenario.
    pub(super) fn watch_guards(&mut self, guards: &[Guard]) {
        let at = self.timeline.len();
        self.guards.extend(guards.iter().map(|g| (at, g.clone())));
    }

    /// Each guard's first forbidden line fails its boards (checked once, at the end).
    pub(super) fn check_guards(&mut self) {
        for (from, guard) in self.guards.clone() {
            for b in self.roles(&guard.roles) {
                let hit = self.timeline.with_events(|events| {
                    matchers::find_console(events, from, &b.board, &guard.console).map(|i| {
                        match &events[i].kind {
                            EventKind::Console { line } => line.clone(),
                            _ => String::new(),
                        }
                    })
                });
                if let Some(line) = hit {
                    self.failures.entry(b.role.clone()).or_insert_with(|| {
                        format!(
                            "never /{}/ was violated by console line {line:?}",
                            guard.console
                        )
                    });
                }
            }
        }
    }
}
