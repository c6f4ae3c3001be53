//! Checks over the timeline: `expect` steps (each board waits concurrently) and `never`
//! guards (a forbidden console line from where the guard was declared fails the board).

use futures::future::join_all;

use super::{Run, Stop};
use crate::config::scenario::Guard;
use crate::scenario::checks::{self, Sources, Unmet};
use crate::scenario::{BoundBoard, Expect};
use crate::timeline::{EventKind, EventSink, Source};

impl Run<'_> {
    pub(super) async fn expect_step(&mut self, exp: &Expect, at: &str) -> Option<Stop> {
        let boards = self.roles(&exp.roles);
        let what = exp.check.describe(exp.within);
        for b in &boards {
            self.ctx
                .waiting(&self.scenario.name, &b.board, &what, Some(exp.within));
        }
        let on = Sources {
            watch: &self.watch,
            cloud: &self.cloud,
        };
        let results = join_all(
            boards
                .iter()
                .map(|b| exp.check.wait(on, b, self.cursor, exp.within)),
        )
        .await;
        let mut failed = false;
        for (b, r) in boards.iter().zip(results) {
            if let Err(Unmet { expected, seen }) = r {
                failed = true;
                self.fail(b, format!("{at}: expected {expected}; seen {seen}"));
            }
        }
        failed.then_some(Stop::Failed)
    }

    /// A job no step awaited must still end, by itself, on each of its boards: otherwise a
    /// scenario that only creates a job would pass in the time it takes to create it. Each
    /// waits up to its board's recovery timeout. A board the job stopped before reaching
    /// (canceled, aborted) has nothing to end.
    pub(super) async fn await_unawaited_jobs(&mut self) {
        let mut waits = Vec::new();
        for (_, id, roles) in checks::unawaited_jobs(self.scenario) {
            let Some(at) = self.created_jobs.get(&id).cloned() else {
                continue;
            };
            for b in self.roles(&roles) {
                if !self.judged_out(&b.role) {
                    let window = self.bench(&b).config.timeouts.recovery;
                    waits.push((id.clone(), at.clone(), b, window));
                }
            }
        }
        let ended = join_all(waits.iter().map(|(id, _, b, window)| {
            self.ctx.waiting(
                &self.scenario.name,
                &b.board,
                &format!("job {id} to end"),
                Some(*window),
            );
            let ended = self.watch.wait_until(&b.board, *window, move |s| {
                s.job(Some(id)).filter(|s| s.status.is_terminal()).cloned()
            });
            let unreached = self.cloud.wait_unreached(id, &b.thing, *window);
            async move {
                tokio::select! {
                    ended = ended => ended.is_some(),
                    // Reached (an execution to end) or out of time: the other arm decides.
                    Ok(_) = unreached => true,
                    else => false,
                }
            }
        }))
        .await;
        for ((id, at, b, window), ended) in waits.into_iter().zip(ended) {
            if ended {
                continue;
            }
            let last = self
                .watch
                .state(&b.board)
                .job(Some(&id))
                .map_or("no execution update".to_string(), |s| s.status.to_string());
            let msg = format!(
                "{at}: job {id} was never awaited by an expectation and did not end within {} (last: {last})",
                humantime::format_duration(window)
            );
            self.fail(&b, msg);
        }
    }

    /// `never` guards: each watches its boards from here to the end of the scenario.
    pub(super) fn watch_guards(&mut self, guards: &[Guard]) {
        let at = self.timeline.len();
        for guard in guards {
            for b in self.roles(&guard.roles) {
                self.watch.arm_guard(&b.board, at, &guard.console);
            }
        }
    }

    /// Attribution: a board that updates another thing's execution or takes its stream
    /// (`watch::ForeignRequest`) speaks for a thing that is not its own (an image built
    /// with another thing's name), whatever the policy let through. Both boards fail, with a
    /// reason naming both; it comes before what they then failed to see.
    pub(super) fn check_attribution(&mut self) {
        let foreign = self.watch.foreign_requests();
        for f in foreign {
            let by_thing = |thing: &str| self.bound.iter().find(|b| b.thing == thing).cloned();
            let (sender, owner) = (by_thing(&f.sender), by_thing(&f.owner));
            let name = |b: &Option<BoundBoard>, thing: &str| match b {
                Some(b) => format!("thing {thing} (board {})", b.board),
                None => format!("thing {thing} (no board of this scenario)"),
            };
            let reason = format!(
                "{} was published from the connection of {} (client id {}), not by {}: a board spoke for another thing; was its image built with that thing's name?",
                f.topic,
                name(&sender, &f.sender),
                f.client_id,
                name(&owner, &f.owner)
            );
            for b in [sender, owner].into_iter().flatten() {
                self.timeline.emit(
                    Source::board(&b.board),
                    EventKind::Note {
                        text: format!("attribution: {reason}"),
                    },
                );
                // The cause comes first: what the board then failed to see follows from it.
                let failure = match self.failures.remove(&b.role) {
                    Some(seen) if !seen.contains(&reason) => format!("{reason}; then: {seen}"),
                    Some(seen) => seen,
                    None => reason.clone(),
                };
                self.failures.insert(b.role.clone(), failure);
            }
        }
    }

    /// Each guard's first forbidden line fails its boards (read once, at the end).
    pub(super) fn check_guards(&mut self) {
        for b in self.bound.clone() {
            let Some((guard, (_, line))) = self.watch.guard_hits(&b.board).into_iter().next()
            else {
                continue;
            };
            let message = format!("never /{guard}/ was violated by console line {line:?}");
            self.timeline.emit(
                Source::board(&b.board),
                EventKind::Note {
                    text: format!("guard hit: {message}"),
                },
            );
            self.failures.entry(b.role.clone()).or_insert(message);
        }
    }
}
