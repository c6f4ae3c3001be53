//! What the run records against each role as it goes: the bench's errors (first one
//! wins: it is the cause, later ones are consequences) and the firmware's failures.

use super::{Run, Stop};
use crate::scenario::BoundBoard;
use crate::timeline::{EventKind, EventSink, Source};

impl Run<'_> {
    /// Records each board's failed bench action as its error; stops the steps if any.
    pub(super) fn bench_results(
        &mut self,
        boards: &[BoundBoard],
        results: Vec<Result<(), String>>,
    ) -> Option<Stop> {
        let mut stop = None;
        for (b, r) in boards.iter().zip(results) {
            if let Err(message) = r {
                self.timeline.emit(
                    Source::board(&b.board),
                    EventKind::BenchError {
                        message: message.clone(),
                    },
                );
                self.errors.entry(b.role.clone()).or_insert(message);
                stop = Some(Stop::Bench);
            }
        }
        stop
    }

    /// A bench failure that concerns every board (the cloud, a job's files).
    pub(super) fn bench_error_all(&mut self, message: String) -> Option<Stop> {
        self.timeline.emit(
            Source::Runner,
            EventKind::BenchError {
                message: message.clone(),
            },
        );
        for b in &self.bound {
            self.errors
                .entry(b.role.clone())
                .or_insert_with(|| message.clone());
        }
        Some(Stop::Bench)
    }

    /// The board's verdict is already on its way elsewhere: it failed, the bench failed
    /// it, or a step it needed was not run. Later checks skip it.
    pub(super) fn judged_out(&self, role: &str) -> bool {
        self.failures.contains_key(role)
            || self.errors.contains_key(role)
            || self.not_judged.contains_key(role)
    }

    /// A check the board did not pass: noted on its timeline; the first one is its reason.
    pub(super) fn fail(&mut self, b: &BoundBoard, message: String) {
        self.timeline.emit(
            Source::board(&b.board),
            EventKind::Note {
                text: format!("expectation failed: {message}"),
            },
        );
        self.failures.entry(b.role.clone()).or_insert(message);
    }

    pub(super) fn fail_all_timed_out(&mut self) {
        let limit = self
            .scenario
            .timeout
            .map(|d| humantime::format_duration(d).to_string())
            .unwrap_or_default();
        for b in &self.bound {
            self.failures.entry(b.role.clone()).or_insert_with(|| {
                format!("the scenario did not finish within its timeout of {limit}")
            });
        }
    }
}
