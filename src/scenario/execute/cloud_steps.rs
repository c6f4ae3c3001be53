//! Steps that act on the bench cloud: jobs and the faults of the boards' MQTT. A cloud
//! that refuses is the bench's error for every board, never a firmware verdict.

use std::time::Duration;

use super::{Run, Stop};
use crate::config::scenario::{JobStep, Link};
use crate::scenario::fixtures::OtaImage;
use crate::scenario::run_cloud::CloudError;
use crate::scenario::BoundBoard;
use crate::timeline::{EventKind, EventSink, Source};

impl Run<'_> {
    pub(super) fn job_step(&mut self, job: &JobStep, at: &str) -> Option<Stop> {
        let targets = self.roles(&job.targets);
        let mut things: Vec<String> = targets.iter().map(|b| b.thing.clone()).collect();
        things.dedup();
        let image = match self.job_image(job, &targets) {
            Ok(image) => image,
            Err(e) => return self.bench_error_all(format!("{at}: {e}")),
        };
        let filepath = job
            .document
            .filepath
            .as_deref()
            .unwrap_or(crate::cloud::jobdoc::DEFAULT_FILE_PATH);
        for b in &targets {
            self.bench(b).receives_image_at(filepath);
        }
        let created = self
            .cloud
            .create_job(job, &image.bytes, things, &self.timeline);
        if created.is_ok() {
            self.created_jobs.insert(job.id.clone(), at.to_string());
        }
        self.cloud_done(created, at)
    }

    pub(super) fn cancel_step(&mut self, job: &str, force: bool, at: &str) -> Option<Stop> {
        let cancelled = self.cloud.cancel_job(job, force);
        self.cloud_done(cancelled, at)
    }

    pub(super) fn retry_step(
        &mut self,
        job: &str,
        roles: Option<&[String]>,
        at: &str,
    ) -> Option<Stop> {
        let things: Option<Vec<String>> =
            roles.map(|r| self.roles(r).iter().map(|b| b.thing.clone()).collect());
        let retried = self.cloud.retry_job(job, things.as_deref());
        self.cloud_done(retried, at)
    }

    pub(super) fn kick_step(&mut self, role: &str, at: &str) -> Option<Stop> {
        let b = self.role(role);
        self.timeline.emit(
            Source::board(&b.board),
            EventKind::Fault {
                what: format!("kick: a second client connects with client id {}", b.thing),
            },
        );
        let kicked = self.cloud.kick(&b.thing);
        self.cloud_done(kicked, at)
    }

    pub(super) fn link_step(&mut self, link: &Link, at: &str) -> Option<Stop> {
        let b = self.role(&link.role);
        let set = self.cloud.set_link_faults(&b.thing, link);
        self.cloud_done(set, at)
    }

    pub(super) async fn broker_restart_step(&mut self, down_for: Duration) -> Option<Stop> {
        self.timeline.emit(
            Source::Cloud,
            EventKind::Fault {
                what: format!(
                    "broker restart: down for {}",
                    humantime::format_duration(down_for)
                ),
            },
        );
        match self.cloud.restart_broker(down_for).await {
            Ok(()) => None,
            Err(e) => self.bench_error_all(e.to_string()),
        }
    }

    fn cloud_done(&mut self, result: Result<(), CloudError>, at: &str) -> Option<Stop> {
        match result {
            Ok(()) => None,
            Err(e) => self.bench_error_all(format!("{at}: {e}")),
        }
    }

    /// The one file a job streams: each target board's platform build of the job's
    /// fixture. A job is one file for all its targets, as an AWS OTA job is: targets that
    /// need different files are refused.
    fn job_image(&self, job: &JobStep, targets: &[BoundBoard]) -> Result<OtaImage, String> {
        let mut chosen: Option<(OtaImage, String)> = None;
        for b in targets {
            let config = &self.bench(b).config;
            let image = self
                .ctx
                .fixtures
                .ota_image(&job.image, config)
                .map_err(|e| e.to_string())?;
            match &chosen {
                None => chosen = Some((image, b.board.clone())),
                Some((first, first_board)) if first.bytes != image.bytes => {
                    return Err(format!(
                        "job {} needs different files for its targets ({first_board}: {}, {}: {}); an OTA job delivers one file: split it into one job per platform",
                        job.id, first.source, b.board, image.source
                    ))
                }
                Some(_) => {}
            }
        }
        chosen
            .map(|(image, _)| image)
            .ok_or_else(|| format!("job {} has no target board", job.id))
    }
}
