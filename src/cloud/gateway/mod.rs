//! The bench's IoT Core endpoint and local MQTT broker (docs/architecture.md § The gateway).
//!
//! One tokio task per connection: `handshake` admits it, `session` is its I/O
//! loop around the sans-IO `state` (window, keep-alive, limits), `io` frames
//! its bytes and `conformance` rejects malformed ones. Sessions and routing in
//! `router`, AWS IoT Core's limits in `limits`, the endpoint policy in
//! `policy`, mutual TLS in `tls`, the MQTT transcript in `transcript`.
//! Requests on the Jobs and stream topics go to [`CloudServices`]; their
//! replies reach the requesting connection only.

mod config;
mod conformance;
pub mod faults;
#[cfg(test)]
mod fuzz_tests;
mod handshake;
mod io;
mod limits;
mod policy;
mod router;
mod session;
mod state;
mod tls;
mod transcript;
mod untrusted;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::mqttbytes::v4::Publish;
use rumqttc::mqttbytes::QoS;
use rumqttc::tokio_rustls::TlsAcceptor;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};

pub use config::{GatewayConfig, Policy, TlsSettings, DEFAULT_MAX_MESSAGE_SIZE};
pub use limits::{Limits, TopicLimit};
pub use policy::PolicyError;
pub use transcript::render_payload;

use self::faults::Fault;
use crate::cloud::pki::PkiError;
use crate::cloud::CloudServices;
use crate::timeline::EventSink;
use router::{Broker, CloseReason, Ctl};
use session::Shared;
use transcript::Transcript;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot listen on {addr}: {source} (is another otarig cloud or broker using the port? pick another `bind`)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up TLS from the PKI in {}: {source} (run `otarig pki init {}`)", dir.display(), dir.display())]
    Tls {
        dir: PathBuf,
        #[source]
        source: PkiError,
    },
}

/// Starts gateways.
pub struct Gateway;

impl Gateway {
    /// Binds, then serves in the background until the handle is shut down or dropped.
    pub async fn start(
        cfg: GatewayConfig,
        services: Arc<CloudServices>,
        sink: Arc<dyn EventSink>,
    ) -> Result<GatewayHandle, GatewayError> {
        let acceptor = cfg.tls.as_ref().map(tls::acceptor).transpose()?;
        let listener = bind(cfg.bind).await?;
        let addr = listener.local_addr().map_err(|source| GatewayError::Bind {
            addr: cfg.bind,
            source,
        })?;
        let transcript = Transcript::new(sink, cfg.boards.clone(), cfg.transcript_limit);
        let broker = Broker::new(&cfg.limits);
        let shared = Arc::new(Shared {
            cfg,
            broker,
            services,
            transcript,
            answering: tokio::sync::Semaphore::new(session::ANSWERING_AT_ONCE),
        });
        let running = Running::spawn(listener, acceptor.clone(), shared.clone());
        info!(%addr, tls = acceptor.is_some(), "gateway listening");
        Ok(GatewayHandle {
            shared,
            addr,
            acceptor,
            running: Mutex::new(Some(running)),
        })
    }
}

/// What the runner holds: the address, and the levers for faults.
pub struct GatewayHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    running: Mutex<Option<Running>>,
}

impl GatewayHandle {
    /// Where devices connect (the real port when `bind` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the endpoint speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.acceptor.is_some()
    }

    /// Closes the thing's connection as a second client with its client id
    /// would; returns how many connections were closed.
    pub fn kick(&self, thing: &str) -> usize {
        let links = self.shared.broker.links_of_thing(thing);
        for (conn, ctl) in &links {
            let why = format!("kicked by the rig: another client connected with the client id of connection {conn}");
            let _ = ctl.send(Ctl::Close(CloseReason::TakenOver(why)));
        }
        self.shared.transcript.fault(
            Some(thing),
            format!("kick {thing}: {} connection(s) taken over", links.len()),
        );
        links.len()
    }

    /// Replaces the faults on a thing's traffic. `Cut` closes its connection
    /// now; `Stall` holds its traffic from now on for the given time.
    pub fn set_faults(&self, thing: &str, faults: Vec<Fault>) {
        self.shared.broker.set_faults(thing, &faults);
        let described: Vec<String> = faults.iter().map(Fault::describe).collect();
        self.shared.transcript.fault(
            Some(thing),
            if described.is_empty() {
                format!("faults cleared on {thing}")
            } else {
                format!("faults set on {thing}: {}", described.join("; "))
            },
        );
        let cut = faults::wants_cut(&faults);
        for (_, ctl) in self.shared.broker.links_of_thing(thing) {
            let _ = ctl.send(if cut {
                Ctl::Close(CloseReason::Cut)
            } else {
                Ctl::Wake
            });
        }
    }

    pub fn clear_faults(&self, thing: &str) {
        self.set_faults(thing, Vec::new());
    }

    /// Things with a live connection, sorted.
    pub fn connected_things(&self) -> Vec<String> {
        self.shared.broker.connected_things()
    }

    /// A broker restart: every connection is closed, sessions are forgotten,
    /// the port is closed for `down_for`, then served again at the same address.
    pub async fn restart(&self, down_for: Duration) -> Result<(), GatewayError> {
        let running = self.running.lock().expect("gateway lock").take();
        if let Some(r) = running {
            r.stop().await;
        }
        self.shared.broker.clear_sessions();
        self.shared
            .transcript
            .fault(None, format!("broker restart: down for {down_for:?}"));
        tokio::time::sleep(down_for).await;
        let listener = bind(self.addr).await?;
        let running = Running::spawn(listener, self.acceptor.clone(), self.shared.clone());
        *self.running.lock().expect("gateway lock") = Some(running);
        Ok(())
    }

    /// Closes every connection and stops listening.
    pub async fn shutdown(self) {
        let running = self.running.lock().expect("gateway lock").take();
        if let Some(r) = running {
            r.stop().await;
        }
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        if let Some(r) = self.running.lock().ok().and_then(|mut r| r.take()) {
            let _ = r.shutdown.send(true);
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, GatewayError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| GatewayError::Bind { addr, source })
}

/// One listening generation (a restart starts a new one).
struct Running {
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
    notify: JoinHandle<()>,
    expire: JoinHandle<()>,
}

impl Running {
    fn spawn(listener: TcpListener, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) -> Running {
        let (shutdown, rx) = watch::channel(false);
        let notify = tokio::spawn(forward_notifications(shared.clone(), rx.clone()));
        let expire = tokio::spawn(expire_sessions(shared.clone(), rx.clone()));
        let accept = tokio::spawn(accept_loop(listener, acceptor, shared, rx));
        Running {
            shutdown,
            accept,
            notify,
            expire,
        }
    }

    async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.accept.await;
        let _ = self.notify.await;
        let _ = self.expire.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let (shared, rx) = (shared.clone(), shutdown.clone());
                    let timeout = shared.cfg.connect_timeout;
                    match acceptor.clone() {
                        Some(acc) => conns.spawn(tls::serve_tls(acc, tcp, peer, shared, rx, timeout)),
                        None => conns.spawn(session::serve(tcp, peer, None, shared, rx)),
                    };
                }
                // Out of file descriptors and the like: keep serving the others.
                Err(e) => {
                    warn!("gateway accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    // Connections see the same shutdown signal; give them a moment to say so.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.abort_all();
}

/// Unsolicited publishes of the services (notify-next, notify) go to subscribers.
async fn forward_notifications(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut rx = shared.services.subscribe_notifications();
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(reply) => {
                    shared.broker.route(&Publish::new(reply.topic, QoS::AtLeastOnce, reply.payload));
                }
                None => break,
            },
            _ = shutdown.changed() => break,
        }
    }
}

/// Offline persistent sessions are forgotten after the expiry period, as on
/// AWS IoT; checked a few times per period.
async fn expire_sessions(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let every = (shared.cfg.limits.session_expiry / 4).max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let n = shared.broker.expire_sessions(std::time::Instant::now());
                if n > 0 {
                    info!("{n} offline persistent session(s) expired");
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}
