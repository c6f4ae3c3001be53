//! The bench cloud as one scenario run sees it: its own cloud on an ephemeral port, or
//! its share of the run's cloud (`run_cloud`), with the Jobs and streams it creates.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::run_cloud::{spawn_ticker, Backend, CloudError, Membership, RunCloud};
use crate::cloud::jobdoc::{self, JobDocOptions};
use crate::cloud::jobs::{JobSpec, Reach};
use crate::cloud::pki::PkiLayout;
use crate::cloud::CloudServices;
use crate::config::scenario::{JobStep, Link};
use crate::config::Rig;
use crate::faults::{Fault, LinkSeeds};
use crate::timeline::{EventKind, EventSink, Source, Timeline};

/// Whose cloud the scenario uses.
enum Holding {
    Own {
        backend: Backend,
        ticker: tokio::task::JoinHandle<()>,
    },
    Shared(Membership),
}

pub struct CloudSession {
    services: Arc<CloudServices>,
    holding: Holding,
    pki: PkiLayout,
    /// Host and port boards are told to connect to.
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// Job ids and streams this scenario created (removed from a shared cloud at the end).
    created: Mutex<Vec<(String, String)>>,
    /// The seeds of this attempt's link faults (one session per scenario attempt).
    seeds: Mutex<LinkSeeds>,
    timeline: Timeline,
}

impl CloudSession {
    /// Opens the scenario's cloud: a share of the run's, or one of its own.
    pub async fn open(
        run: &RunCloud,
        rig: &Rig,
        boards: &[String],
        timeline: &Timeline,
    ) -> Result<Self, CloudError> {
        let pki = PkiLayout::new(&rig.cloud.pki);
        if let RunCloud::Shared(shared) = run {
            let membership = shared.join(boards, timeline);
            return Ok(CloudSession {
                services: shared.services.clone(),
                host: shared.host.clone(),
                port: shared.port,
                tls: shared.tls,
                holding: Holding::Shared(membership),
                pki,
                created: Mutex::new(Vec::new()),
                seeds: Mutex::new(LinkSeeds::new()),
                timeline: timeline.clone(),
            });
        }
        let sink: Arc<dyn EventSink> = Arc::new(timeline.clone());
        let services = Arc::new(CloudServices::new(sink.clone()));
        let (backend, host, port, tls) = Backend::start(rig, services.clone(), sink).await?;
        Ok(CloudSession {
            holding: Holding::Own {
                backend,
                ticker: spawn_ticker(services.clone()),
            },
            services,
            pki,
            host,
            port,
            tls,
            created: Mutex::new(Vec::new()),
            seeds: Mutex::new(LinkSeeds::new()),
            timeline: timeline.clone(),
        })
    }

    pub fn pki(&self) -> &PkiLayout {
        &self.pki
    }

    fn backend(&self) -> &Backend {
        match &self.holding {
            Holding::Own { backend, .. } => backend,
            Holding::Shared(m) => &m.cloud.backend,
        }
    }

    /// The id the cloud knows the scenario's job `id` by.
    fn cloud_id(&self, id: &str) -> String {
        match &self.holding {
            Holding::Own { .. } => id.to_string(),
            Holding::Shared(m) => format!("{}{id}", m.prefix),
        }
    }

    /// Builds the job document for `ota` (with the step's faults), registers its stream
    /// and creates the job for `things`.
    pub fn create_job(
        &self,
        step: &JobStep,
        ota: &[u8],
        things: Vec<String>,
        timeline: &Timeline,
    ) -> Result<(), CloudError> {
        let job_err = |message: String| CloudError::Job {
            job: step.id.clone(),
            message,
        };
        let id = self.cloud_id(&step.id);
        let opts = JobDocOptions::for_job(&self.pki, &id, &things, &step.document)
            .map_err(|e| job_err(e.to_string()))?;
        let built = jobdoc::build(ota, &opts, &step.faults).map_err(|e| job_err(e.to_string()))?;
        for warning in &built.warnings {
            timeline.emit(
                Source::Runner,
                EventKind::Note {
                    text: format!("job {}: {warning}", step.id),
                },
            );
        }
        if !step.faults.is_empty() {
            timeline.emit(
                Source::Runner,
                EventKind::Fault {
                    what: format!(
                        "job {} carries image faults: {}",
                        step.id,
                        step.faults
                            .iter()
                            .map(|f| f.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            );
        }
        if self.services.job(&id).is_some() {
            return Err(job_err(format!("the bench cloud already has a job `{id}`")));
        }
        self.services
            .add_stream(
                &built.stream_id,
                vec![(u32::from(built.file_id), Arc::from(built.payload))],
            )
            .map_err(|e| job_err(e.to_string()))?;
        self.created
            .lock()
            .expect("created lock")
            .push((id.clone(), built.stream_id.clone()));
        let mut spec =
            JobSpec::new(&id, built.document, things).with_controls((*step.controls).clone());
        if let Some(timeout) = step.step_timeout {
            spec = spec.with_in_progress_timeout(timeout);
        }
        self.services
            .create_job(spec, SystemTime::now())
            .map_err(|e| job_err(e.to_string()))
    }

    pub fn cancel_job(&self, job: &str, force: bool) -> Result<(), CloudError> {
        self.services
            .cancel_job(&self.cloud_id(job), force, SystemTime::now())
            .map_err(|e| CloudError::Job {
                job: job.into(),
                message: e.to_string(),
            })
    }

    pub fn retry_job(&self, job: &str, things: Option<&[String]>) -> Result<(), CloudError> {
        self.services
            .retry_job(&self.cloud_id(job), things, SystemTime::now())
            .map_err(|e| CloudError::Job {
                job: job.into(),
                message: e.to_string(),
            })
    }

    /// Whether the scenario's job `job` has reached `thing` (see [`Reach`]).
    pub fn reach(&self, job: &str, thing: &str) -> Reach {
        match self.services.job(&self.cloud_id(job)) {
            Some(view) => view.reach(thing, job),
            None => Reach::Pending(format!("the bench cloud has no job {job}")),
        }
    }

    /// Waits until `job` can no longer reach `thing` (canceled or aborted before its
    /// rollout got there): `Ok` with why; `Err` with what was seen instead, at once if the
    /// thing gets an execution, or when `within` has passed.
    pub async fn wait_unreached(
        &self,
        job: &str,
        thing: &str,
        within: Duration,
    ) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + within;
        // Subscribed before looking: no change between the two is missed.
        let mut changes = self.services.subscribe_jobs();
        loop {
            match self.reach(job, thing) {
                Reach::Never(why) => return Ok(why),
                Reach::Reached(number, status) => {
                    return Err(format!(
                        "job {job} reached thing {thing}: execution {number} {status}"
                    ))
                }
                Reach::Pending(seen) => {
                    let woken = tokio::time::timeout_at(deadline, changes.changed()).await;
                    if !matches!(woken, Ok(Ok(()))) {
                        return Err(seen);
                    }
                }
            }
        }
    }

    /// A second client with the thing's client id: the broker drops the first.
    pub fn kick(&self, thing: &str) -> Result<(), CloudError> {
        self.backend().gateway("kick")?.kick(thing);
        Ok(())
    }

    /// Sets a `link` step's faults on `thing`'s traffic. A step without `seed:` uses the
    /// attempt's seed, drawn fresh for this attempt ([`LinkSeeds`]); the timeline notes it
    /// and [`CloudSession::link_seeds`] hands it to the report.
    pub fn set_link_faults(&self, thing: &str, link: &Link) -> Result<(), CloudError> {
        let gateway = self.backend().gateway("link faults")?;
        let (seed, drawn) = self.seeds.lock().expect("seeds lock").seed_for(link);
        if drawn {
            self.timeline.emit(
                Source::Runner,
                EventKind::Note {
                    text: format!(
                        "link faults on {thing}: seed {seed}, drawn for this attempt \
                         (`otarig run --seed {seed}` replays it)"
                    ),
                },
            );
        }
        gateway.set_faults(thing, Fault::from_link(link, seed));
        Ok(())
    }

    /// The seeds this attempt's random link faults used, in the order first used: the
    /// steps' own `seed:`s and the attempt's drawn seed. The scenario's result records them
    /// (`ScenarioResult::seeds`); `otarig run --seed N` replays the drawn one.
    pub fn link_seeds(&self) -> Vec<u64> {
        self.seeds.lock().expect("seeds lock").used()
    }

    /// Stops the broker for `down_for`, then listens again on the same port. On a shared
    /// cloud the runner runs such a scenario alone.
    pub async fn restart_broker(&self, down_for: Duration) -> Result<(), CloudError> {
        self.backend()
            .gateway("broker_restart")?
            .restart(down_for)
            .await
            .map_err(|e| CloudError::Start(e.to_string()))
    }

    /// Ends the scenario's use: its own cloud stops; on a shared cloud its jobs, streams
    /// and link faults go, so the next scenario on these boards starts clean.
    pub async fn stop(self, things: &[String]) {
        match self.holding {
            Holding::Own { backend, ticker } => {
                ticker.abort();
                backend.stop().await;
            }
            Holding::Shared(membership) => {
                for (job, stream) in self.created.lock().expect("created lock").drain(..) {
                    self.services.delete_job(&job);
                    self.services.remove_stream(&stream);
                }
                if let Backend::Gateway(g) = &membership.cloud.backend {
                    for thing in things {
                        g.clear_faults(thing);
                    }
                }
            }
        }
    }
}
