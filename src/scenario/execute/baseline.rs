//! Every board starts the steps on the baseline image, healthy and connected. A board
//! that cannot get there is the bench's (or the baseline's) problem, never the update's.

use std::collections::BTreeMap;

use futures::future::join_all;

use super::Run;
use crate::report::model::Versions;
use crate::scenario::recovery;
use crate::scenario::BoundBoard;
use crate::timeline::{EventKind, EventSink, Source};

impl Run<'_> {
    /// Every board, concurrently: the baseline image, and healthy before the steps start.
    /// Returns each healthy board's version by role; the others get a bench error.
    pub(super) async fn baseline(&mut self) -> BTreeMap<String, Versions> {
        let baseline =
            crate::config::effective_baseline(self.scenario, &self.ctx.rig).map(str::to_string);
        let this: &Self = self;
        let runs = this
            .bound
            .iter()
            .map(|b| this.baseline_one(b, baseline.as_deref()));
        let results = join_all(runs).await;
        let mut before = BTreeMap::new();
        for (b, r) in self.bound.clone().iter().zip(results) {
            match r {
                Ok(version) => {
                    before.insert(
                        b.role.clone(),
                        Versions {
                            before: Some(version),
                            after: None,
                        },
                    );
                }
                Err(message) => {
                    self.timeline.emit(
                        Source::board(&b.board),
                        EventKind::BenchError {
                            message: message.clone(),
                        },
                    );
                    self.errors.insert(b.role.clone(), message);
                }
            }
        }
        self.cursor = self.timeline.len();
        before
    }

    /// One board: flashed with `baseline` (if the scenario has one), then healthy; its
    /// running version.
    async fn baseline_one(&self, b: &BoundBoard, baseline: Option<&str>) -> Result<String, String> {
        // Marked before the board can boot: a fast board asks for its job (and is
        // answered) before the flasher returns.
        let booted_at = self.timeline.len();
        if let Some(image) = baseline {
            self.flash(b, image).await?;
        }
        let window = self.bench(b).config.timeouts.boot;
        self.ctx.waiting(
            &self.scenario.name,
            &b.board,
            "healthy on the baseline",
            Some(window),
        );
        let version = recovery::wait_healthy(&self.timeline, b, window).await;
        // Steps start once the agent has asked for its job and been answered, so a
        // job created by the first step reaches it once, as news (not twice, racing).
        if version.is_some() {
            recovery::wait_jobs_answered(&self.timeline, b, booted_at, window).await;
        }
        version.ok_or_else(|| {
            format!(
                "board {} did not come up healthy on the baseline {} within {} (banner /{}/ and a connection to the cloud): the bench or the baseline is broken, not the update under test",
                b.board,
                baseline.unwrap_or("(none)"),
                humantime::format_duration(window),
                b.profile.banner
            )
        })
    }
}
