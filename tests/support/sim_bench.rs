//! One simulated board against the real gateway over mutual TLS (thing-scoped policy),
//! with the Jobs and stream services behind it: the bench of the sim integration tests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use otarig::cloud::gateway::{Gateway, GatewayConfig, GatewayHandle, Policy, TlsSettings};
use otarig::cloud::jobdoc::{self, ImageFault, JobDocOptions};
use otarig::cloud::jobs::{ExecutionStatus, JobSpec};
use otarig::cloud::pki::{self, PkiLayout, PkiOptions};
use otarig::cloud::CloudServices;
use otarig::sim::{self, fixture, Endpoint, Nvs};
use otarig::timeline::{Direction, Event, EventKind, Timeline};

use super::sim::{fixtures_dir, SimProcess};

pub const T: Duration = Duration::from_secs(60);

pub struct Bench {
    pub root: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    pub services: Arc<CloudServices>,
    /// The gateway's MQTT transcript.
    pub transcript: Arc<Timeline>,
    gateway: Option<GatewayHandle>,
    pub board: SimProcess,
}

impl Bench {
    /// Gateway up, Thing1 factory-flashed with `baseline`, online, and told "no job".
    pub fn new(baseline: &str) -> Bench {
        let root = tempfile::tempdir().unwrap();
        let pki_dir = root.path().join("pki");
        pki::init(
            &pki_dir,
            &PkiOptions {
                things: vec!["Thing1".into()],
                ..PkiOptions::default()
            },
        )
        .unwrap();
        let layout = PkiLayout::new(&pki_dir);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let services = Arc::new(CloudServices::new(Arc::new(Timeline::in_memory())));
        let transcript = Arc::new(Timeline::in_memory());
        let gateway = rt
            .block_on(Gateway::start(
                GatewayConfig {
                    tls: Some(TlsSettings {
                        pki_dir: pki_dir.clone(),
                    }),
                    policy: Policy::ThingScoped,
                    ..GatewayConfig::default()
                },
                services.clone(),
                transcript.clone(),
            ))
            .unwrap();
        let dir = root.path().join("board");
        sim::provision(
            &dir,
            &Nvs {
                thing_name: "Thing1".into(),
                endpoint: Endpoint {
                    host: "127.0.0.1".into(),
                    port: gateway.local_addr().port(),
                    tls: true,
                },
                ca_cert: layout.ca_cert(),
                client_cert: layout.thing_cert("Thing1"),
                client_key: layout.thing_key("Thing1"),
                codesign_cert_dir: pki_dir.clone(),
                bootloader_key: layout.codesign_cert(),
                fault_line: None,
            },
        )
        .unwrap();
        let (image, _) = fixture::build_to_dir(
            &fixtures_dir(),
            baseline,
            &pki_dir,
            &root.path().join("built"),
        )
        .unwrap();
        sim::write_factory_flash(&dir, &image).unwrap();
        let board = SimProcess::start(&dir);
        let mut bench = Bench {
            root,
            rt,
            services,
            transcript,
            gateway: Some(gateway),
            board,
        };
        bench.wait_online(0);
        bench
    }

    pub fn board_dir(&self) -> PathBuf {
        self.root.path().join("board")
    }

    /// Waits until the agent has asked for its job and heard back, from transcript event
    /// `from` on. A job created before that reaches a 1.0.x agent twice (reply and
    /// notify-next) and it drops its transfer, as a real board does; the runner waits too.
    pub fn wait_online(&mut self, from: usize) {
        let deadline = Instant::now() + T;
        let answered = |e: &Event| {
            matches!(&e.kind, EventKind::Mqtt { dir: Direction::Out, topic: Some(t), .. }
                if t.starts_with("$aws/things/Thing1/jobs/$next/get/"))
        };
        while !self.transcript.events()[from..].iter().any(answered) {
            assert!(
                Instant::now() < deadline,
                "Thing1 never asked for its job; console:\n{}",
                self.board.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Creates job `id` sending `fixture_name` to Thing1, with the job-document `faults`.
    pub fn job(&self, id: &str, fixture_name: &str, faults: &[ImageFault]) {
        let pki_dir = self.root.path().join("pki");
        let (built, _) = fixture::build_to_dir(
            &fixtures_dir(),
            fixture_name,
            &pki_dir,
            &self.root.path().join("built"),
        )
        .unwrap();
        let opts = JobDocOptions::from_pki(&PkiLayout::new(&pki_dir), format!("s-{id}")).unwrap();
        let doc = jobdoc::build(&built.ota, &opts, faults).unwrap();
        self.services
            .add_stream(
                &doc.stream_id,
                vec![(u32::from(doc.file_id), Arc::from(doc.payload.clone()))],
            )
            .unwrap();
        self.services
            .create_job(
                JobSpec::new(id, doc.document.clone(), vec!["Thing1".into()]),
                SystemTime::now(),
            )
            .unwrap();
    }

    /// Waits for the job's execution on Thing1 to reach `status`; returns its reason.
    pub fn wait_for(&mut self, id: &str, status: ExecutionStatus) -> Option<String> {
        let deadline = Instant::now() + T;
        loop {
            let exec = self.services.execution(id, "Thing1");
            if let Some(e) = exec.as_ref().filter(|e| e.status == status) {
                return e.status_details.get("reason").cloned();
            }
            assert!(
                Instant::now() < deadline,
                "job {id} not {status:?} within {T:?} (now {:?}); {} MQTT events; console:\n{}",
                exec.map(|e| e.status),
                self.transcript.events().len(),
                self.board.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(g) = self.gateway.take() {
            self.rt.block_on(g.shutdown());
        }
    }
}
