//! The cloud's lifetime follows the endpoint (docs/architecture.md). On an ephemeral port each
//! scenario starts its own cloud. Where the endpoint is fixed (a physical bench: the
//! address is baked into the firmware) or in client mode (the lab's broker), one cloud
//! serves the whole run: concurrent scenarios on disjoint boards share it, each sees
//! only its own boards' events, and each keeps its jobs under a prefix of its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cloud::client::{ClientMode, ClientModeConfig};
use crate::cloud::gateway::{Gateway, GatewayConfig, GatewayHandle};
use crate::cloud::CloudServices;
use crate::config::Rig;
use crate::timeline::{EventKind, EventSink, Source, Timeline};

/// A failure of the bench cloud: always a bench error, never a firmware verdict.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("bench cloud: {0}")]
    Start(String),
    #[error("job {job}: {message}")]
    Job { job: String, message: String },
    #[error("{0}")]
    Unsupported(String),
}

/// What carries the boards' MQTT: otarig's gateway, or the lab's broker.
pub enum Backend {
    Gateway(GatewayHandle),
    Client(ClientMode),
}

impl Backend {
    /// Starts the rig's cloud front: the gateway, or client mode on `cloud.client`.
    pub async fn start(
        rig: &Rig,
        services: Arc<CloudServices>,
        sink: Arc<dyn EventSink>,
    ) -> Result<(Backend, String, u16, bool), CloudError> {
        match &rig.cloud.client {
            Some(client) => {
                let config =
                    ClientModeConfig::for_broker(&client.broker, client.mirror_notify_next)
                        .map_err(|e| CloudError::Start(e.to_string()))?;
                let (host, port) = (config.host.clone(), config.port);
                let mode = ClientMode::start(config, services, sink);
                // Boards connect to the lab's broker as they would without otarig.
                Ok((Backend::Client(mode), host, port, false))
            }
            None => {
                let gateway = Gateway::start(GatewayConfig::from_rig(rig), services, sink)
                    .await
                    .map_err(|e| CloudError::Start(e.to_string()))?;
                let port = gateway.local_addr().port();
                let host = rig.cloud.endpoint.host.clone();
                Ok((
                    Backend::Gateway(gateway),
                    host,
                    port,
                    rig.cloud.endpoint.tls,
                ))
            }
        }
    }

    pub fn gateway(&self, what: &str) -> Result<&GatewayHandle, CloudError> {
        match self {
            Backend::Gateway(g) => Ok(g),
            Backend::Client(_) => Err(CloudError::Unsupported(format!(
                "{what} needs otarig's own endpoint; in client mode the boards use the lab's broker"
            ))),
        }
    }

    pub async fn stop(self) {
        match self {
            Backend::Gateway(g) => g.shutdown().await,
            Backend::Client(c) => c.shutdown().await,
        }
    }
}

/// Step timeouts (TIMED_OUT) and rollouts need a clock; the services are sans-IO.
pub fn spawn_ticker(services: Arc<CloudServices>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(services.run_ticker(Duration::from_millis(500)))
}

/// The run's cloud.
pub enum RunCloud {
    /// Every scenario starts its own (ephemeral port).
    PerScenario,
    Shared(Arc<SharedCloud>),
}

impl RunCloud {
    /// One shared cloud when the endpoint is fixed or in client mode.
    pub async fn for_rig(rig: &Rig) -> Result<RunCloud, CloudError> {
        if rig.cloud.client.is_none() && rig.cloud.endpoint.bind.port() == 0 {
            return Ok(RunCloud::PerScenario);
        }
        let things = rig
            .boards
            .iter()
            .map(|b| (b.thing_name.clone(), b.name.clone()))
            .collect();
        let router = Arc::new(Router {
            board_of_thing: things,
            scenes: Mutex::new(HashMap::new()),
        });
        let services = Arc::new(CloudServices::new(router.clone()));
        let (backend, host, port, tls) =
            Backend::start(rig, services.clone(), router.clone()).await?;
        Ok(RunCloud::Shared(Arc::new(SharedCloud {
            ticker: spawn_ticker(services.clone()),
            services,
            backend,
            router,
            host,
            port,
            tls,
            scenarios: AtomicU64::new(0),
        })))
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, RunCloud::Shared(_))
    }

    pub async fn stop(self) {
        if let RunCloud::Shared(shared) = self {
            match Arc::try_unwrap(shared) {
                Ok(shared) => {
                    shared.ticker.abort();
                    shared.backend.stop().await;
                }
                Err(_) => {
                    tracing::warn!("the shared bench cloud is still in use at the end of the run")
                }
            }
        }
    }
}

/// One cloud for the whole run.
pub struct SharedCloud {
    pub services: Arc<CloudServices>,
    pub backend: Backend,
    router: Arc<Router>,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    ticker: tokio::task::JoinHandle<()>,
    scenarios: AtomicU64,
}

impl SharedCloud {
    /// Routes `boards`' events to `timeline` until the returned guard is dropped; the
    /// scenario's jobs get the returned prefix.
    pub fn join(self: &Arc<Self>, boards: &[String], timeline: &Timeline) -> Membership {
        let n = self.scenarios.fetch_add(1, Ordering::Relaxed) + 1;
        let prefix = format!("s{n}-");
        let mut scenes = self.router.scenes.lock().expect("router lock");
        for board in boards {
            scenes.insert(
                board.clone(),
                Scene {
                    timeline: timeline.clone(),
                    prefix: prefix.clone(),
                },
            );
        }
        Membership {
            cloud: self.clone(),
            boards: boards.to_vec(),
            prefix,
        }
    }
}

/// A scenario's share of the run's cloud.
pub struct Membership {
    pub cloud: Arc<SharedCloud>,
    boards: Vec<String>,
    /// Prepended to the scenario's job ids: concurrent and later scenarios reuse ids.
    pub prefix: String,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut scenes = self.cloud.router.scenes.lock().expect("router lock");
        for board in &self.boards {
            scenes.remove(board);
        }
    }
}

struct Scene {
    timeline: Timeline,
    prefix: String,
}

/// Sends each event of the shared cloud to the timeline of the scenario that holds the
/// board it concerns, with the scenario's own job ids. Events of idle boards are dropped;
/// events that name no board go to every running scenario.
struct Router {
    board_of_thing: HashMap<String, String>,
    scenes: Mutex<HashMap<String, Scene>>,
}

impl EventSink for Router {
    fn emit(&self, source: Source, kind: EventKind) {
        if let (Source::Cloud, EventKind::Note { text }) = (&source, &kind) {
            let scenes = self.scenes.lock().expect("router lock");
            if let Some((scene, text)) = job_note_scene(text, scenes.values()) {
                scene.timeline.emit(source, EventKind::Note { text });
                return;
            }
        }
        let board = match &source {
            Source::Board(b) => Some(b.clone()),
            _ => kind
                .thing()
                .and_then(|t| self.board_of_thing.get(t).cloned()),
        };
        let scenes = self.scenes.lock().expect("router lock");
        match board {
            Some(board) => {
                if let Some(scene) = scenes.get(&board) {
                    scene.timeline.emit(source, unprefixed(kind, &scene.prefix));
                }
            }
            None => {
                let mut told: Vec<&Timeline> = Vec::new();
                for scene in scenes.values() {
                    if !told.iter().any(|t| t.same_as(&scene.timeline)) {
                        scene.timeline.emit(source.clone(), kind.clone());
                        told.push(&scene.timeline);
                    }
                }
            }
        }
    }
}

/// A cloud note about a job (`job <id> …`, e.g. why it aborted) belongs to the scenario
/// whose prefix the id carries: that scene, and the text with the scenario's own job id.
fn job_note_scene<'s>(
    text: &str,
    scenes: impl IntoIterator<Item = &'s Scene>,
) -> Option<(&'s Scene, String)> {
    let rest = text.strip_prefix("job ")?;
    let scene = scenes
        .into_iter()
        .find(|s| rest.starts_with(s.prefix.as_str()))?;
    Some((scene, format!("job {}", &rest[scene.prefix.len()..])))
}

fn unprefixed(kind: EventKind, prefix: &str) -> EventKind {
    match kind {
        EventKind::JobExecution {
            job_id,
            thing,
            status,
            status_details,
            version_number,
            execution_number,
        } => EventKind::JobExecution {
            job_id: job_id
                .strip_prefix(prefix)
                .map(str::to_string)
                .unwrap_or(job_id),
            thing,
            status,
            status_details,
            version_number,
            execution_number,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_about_a_job_goes_to_the_scenario_that_owns_it_with_its_own_id() {
        let scene = |prefix: &str| Scene {
            timeline: Timeline::in_memory(),
            prefix: prefix.to_string(),
        };
        let scenes = [scene("s1-"), scene("s11-")];
        let (to, text) = job_note_scene("job s11-bad aborted (canceled): …", &scenes).unwrap();
        assert_eq!(
            (to.prefix.as_str(), text.as_str()),
            ("s11-", "job bad aborted (canceled): …")
        );
        let (to, _) = job_note_scene("job s1-bad aborted", &scenes).unwrap();
        assert_eq!(to.prefix, "s1-");
        assert!(job_note_scene("job s2-bad aborted", &scenes).is_none());
        assert!(job_note_scene("scenario x: cloud at …", &scenes).is_none());
    }
}
