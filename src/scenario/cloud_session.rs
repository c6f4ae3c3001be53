//! The bench cloud of one scenario run: Jobs + streams behind the gateway, fed into
//! the scenario's timeline. Each run gets its own, so scenarios never share a queue.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::cloud::gateway::{Gateway, GatewayConfig, GatewayHandle};
use crate::cloud::jobdoc::{self, DocFault, JobDocOptions};
use crate::cloud::jobs::JobSpec;
use crate::cloud::pki::PkiLayout;
use crate::cloud::CloudServices;
use crate::config::scenario::{JobStep, Link};
use crate::config::Rig;
use crate::faults::Fault;
use crate::timeline::{EventKind, EventSink, Source, Timeline};

/// A failure of the bench cloud: always a bench error, never a firmware verdict.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("bench cloud: {0}")]
    Start(String),
    #[error("job {job}: {message}")]
    Job { job: String, message: String },
}

pub struct CloudSession {
    services: Arc<CloudServices>,
    gateway: GatewayHandle,
    pki: PkiLayout,
    /// Host and port boards are told to connect to.
    pub host: String,
    pub port: u16,
    pub tls: bool,
    ticker: tokio::task::JoinHandle<()>,
}

impl CloudSession {
    pub async fn start(rig: &Rig, timeline: &Timeline) -> Result<Self, CloudError> {
        let sink: Arc<dyn EventSink> = Arc::new(timeline.clone());
        let services = Arc::new(CloudServices::new(sink.clone()));
        let config = GatewayConfig::from_rig(rig);
        let gateway = Gateway::start(config, services.clone(), sink)
            .await
            .map_err(|e| CloudError::Start(e.to_string()))?;
        let port = gateway.local_addr().port();
        // Step timeouts (TIMED_OUT) need a clock; the services are sans-IO.
        let ticking = services.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                ticking.tick(SystemTime::now());
            }
        });
        Ok(CloudSession {
            services,
            gateway,
            pki: PkiLayout::new(&rig.cloud.pki),
            host: rig.cloud.endpoint.host.clone(),
            port,
            tls: rig.cloud.endpoint.tls,
            ticker,
        })
    }

    pub fn pki(&self) -> &PkiLayout {
        &self.pki
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
        let opts = JobDocOptions::for_job(&self.pki, &step.id, &things, &step.document)
            .map_err(|e| job_err(e.to_string()))?;
        let faults: Vec<DocFault> = step.faults.iter().map(|f| DocFault::from(*f)).collect();
        let built = jobdoc::build(ota, &opts, &faults).map_err(|e| job_err(e.to_string()))?;
        for warning in &built.warnings {
            timeline.emit(
                Source::Runner,
                EventKind::Note {
                    text: format!("job {}: {warning}", step.id),
                },
            );
        }
        if !faults.is_empty() {
            timeline.emit(
                Source::Runner,
                EventKind::Fault {
                    what: format!(
                        "job {} carries image faults: {}",
                        step.id,
                        faults
                            .iter()
                            .map(|f| f.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            );
        }
        self.services
            .add_stream(
                &built.stream_id,
                vec![(u32::from(built.file_id), Arc::from(built.payload))],
            )
            .map_err(|e| job_err(e.to_string()))?;
        let mut spec = JobSpec::new(&step.id, built.document, things);
        if let Some(timeout) = step.step_timeout {
            spec = spec.with_in_progress_timeout(timeout);
        }
        self.services
            .create_job(spec, SystemTime::now())
            .map_err(|e| job_err(e.to_string()))
    }

    pub fn cancel_job(&self, job: &str, force: bool) -> Result<(), CloudError> {
        self.services
            .cancel_job(job, force, SystemTime::now())
            .map_err(|e| CloudError::Job {
                job: job.into(),
                message: e.to_string(),
            })
    }

    pub fn retry_job(&self, job: &str, things: Option<&[String]>) -> Result<(), CloudError> {
        self.services
            .retry_job(job, things, SystemTime::now())
            .map_err(|e| CloudError::Job {
                job: job.into(),
                message: e.to_string(),
            })
    }

    /// A second client with the thing's client id: the broker drops the first.
    pub fn kick(&self, thing: &str) {
        self.gateway.kick(thing);
    }

    pub fn set_link_faults(&self, thing: &str, link: &Link) {
        self.gateway.set_faults(thing, Fault::from_link(link));
    }

    /// Stops the broker for `down_for`, then listens again on the same port.
    pub async fn restart_broker(&self, down_for: Duration) -> Result<(), CloudError> {
        self.gateway
            .restart(down_for)
            .await
            .map_err(|e| CloudError::Start(e.to_string()))
    }

    pub async fn stop(self) {
        self.ticker.abort();
        self.gateway.shutdown().await;
    }
}
