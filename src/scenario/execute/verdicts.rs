//! The end of a scenario: the recovery check on every board the bench could still act
//! on, each board's evidence handed to the pure `verdict::decide`, and bricked boards
//! re-flashed to the baseline so the next scenario can use them.

use std::collections::BTreeMap;

use futures::future::join_all;

use super::{board_result, Run};
use crate::model::lag::LAG_BOUND;
use crate::report::model::{BoardResult, Verdict, Versions};
use crate::scenario::recovery::{self, Recovery};
use crate::scenario::verdict::{version_after, BoardEvidence};
use crate::scenario::BoundBoard;
use crate::timeline::{EventKind, EventSink, Source};

impl Run<'_> {
    /// The recovery check for every board, the guards over the whole run (recovery
    /// included), then each board's verdict. An interrupt ends the ladders at once: no
    /// board is then judged.
    pub(super) async fn verdicts(
        &mut self,
        before: &BTreeMap<String, Versions>,
    ) -> Vec<BoardResult> {
        let mut interrupt = self.ctx.interrupt.clone();
        let checks = join_all(self.bound.iter().map(|b| self.recovery_check(b)));
        let recoveries = tokio::select! {
            done = checks => done,
            _ = interrupt.wait_for(|i| *i) => return self.unfinished(before),
        };
        self.check_guards();
        self.check_attribution();
        let out: Vec<BoardResult> = self
            .bound
            .iter()
            .zip(recoveries)
            .map(|(b, recovery)| {
                let evidence = BoardEvidence {
                    interrupted: false,
                    bench_error: self.errors.get(&b.role).cloned(),
                    failure: self.failures.get(&b.role).cloned(),
                    not_judged: self.not_judged.get(&b.role).cloned(),
                    recovery,
                    lag: Some(self.watch.lag(&b.board)).filter(|l| *l > LAG_BOUND),
                };
                let mut versions = before.get(&b.role).cloned().unwrap_or_default();
                if let Some(after) = version_after(&evidence) {
                    versions.after = Some(after);
                }
                board_result(b, &evidence, &self.watch, versions)
            })
            .collect();
        self.reflash_bricked(&out).await;
        out
    }

    /// Interrupted: no check ran to its end, so every board is unfinished.
    pub(super) fn unfinished(&self, before: &BTreeMap<String, Versions>) -> Vec<BoardResult> {
        let evidence = BoardEvidence {
            interrupted: true,
            ..BoardEvidence::default()
        };
        self.bound
            .iter()
            .map(|b| {
                let versions = before.get(&b.role).cloned().unwrap_or_default();
                board_result(b, &evidence, &self.watch, versions)
            })
            .collect()
    }

    /// The recovery ladder for one board; `None` where the bench already failed it.
    async fn recovery_check(&self, b: &BoundBoard) -> Option<Recovery> {
        if self.errors.contains_key(&b.role) {
            return None;
        }
        let window = self
            .scenario
            .recovery
            .within
            .unwrap_or(self.bench(b).config.timeouts.recovery);
        self.ctx.waiting(
            &self.scenario.name,
            &b.board,
            "recovery check",
            Some(window),
        );
        let settle = recovery::Settle {
            since: self.rebooted_at.get(&b.role).copied().unwrap_or(0),
            period: self
                .scenario
                .recovery
                .settle
                .unwrap_or(recovery::DEFAULT_SETTLE),
        };
        Some(
            recovery::recover(
                &self.timeline,
                &self.watch,
                self.bench(b),
                b,
                window,
                settle,
            )
            .await,
        )
    }

    /// Bricked boards are re-flashed to the baseline so the next scenario can use them.
    async fn reflash_bricked(&self, results: &[BoardResult]) {
        let Some(image) = crate::config::effective_baseline(self.scenario, &self.ctx.rig) else {
            return;
        };
        for r in results.iter().filter(|r| r.verdict == Verdict::Bricked) {
            let b = self
                .bound
                .iter()
                .find(|b| b.board == r.board)
                .expect("bound")
                .clone();
            if let Err(e) = self.flash(&b, image).await {
                self.timeline.emit(
                    Source::board(&b.board),
                    EventKind::BenchError {
                        message: format!("re-flashing the bricked board to {image} failed: {e}"),
                    },
                );
            }
        }
    }
}
