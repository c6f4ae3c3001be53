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
        // The cursor stays at the scenario's start: a first step may expect what the
        // boards printed while they booted the baseline.
        before
    }

    /// One board: flashed with `baseline` (if the scenario has one), then healthy, and its
    /// OTA agent has asked for its job and been answered (so a job created by the first
    /// step reaches it once, as news, not twice, racing its start-up). Its running version.
    async fn baseline_one(&self, b: &BoundBoard, baseline: Option<&str>) -> Result<String, String> {
        // Where this boot begins: before the flash that restarts the board, or else the
        // scenario's start (the board was switched on since). Marked before the board can
        // boot: a fast one asks for its job, and is answered, before the flasher returns.
        let mut booted_at = 0;
        if let Some(image) = baseline {
            booted_at = self.timeline.len();
            self.flash(b, image).await?;
        }
        let window = self.bench(b).config.timeouts.boot;
        let baseline = baseline.unwrap_or("(none)");
        self.ctx.waiting(
            &self.scenario.name,
            &b.board,
            "healthy on the baseline",
            Some(window),
        );
        let Some(version) = recovery::wait_healthy(&self.watch, b, booted_at, window).await else {
            return Err(format!(
                "board {} did not come up healthy on the baseline {baseline} within {} (banner /{}/ and a connection to the cloud): the bench or the baseline is broken, not the update under test",
                b.board,
                humantime::format_duration(window),
                b.profile.banner
            ));
        };
        self.ctx.waiting(
            &self.scenario.name,
            &b.board,
            "its OTA agent to ask for its job",
            Some(window),
        );
        if !recovery::wait_jobs_answered(&self.watch, b, booted_at, window).await {
            return Err(format!(
                "board {} is healthy on the baseline {baseline} ({version}) but its OTA agent did not ask for its job ($aws/things/{}/jobs/$next/get) within {}: a job created now would race the agent's start-up; check the baseline image's agent and thing name",
                b.board,
                b.thing,
                humantime::format_duration(window)
            ));
        }
        Ok(version)
    }
}
