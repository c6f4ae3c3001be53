//! The board's MQTT connection: rumqttc over TLS with the client certificate from NVS,
//! client id = the thing name the firmware uses. The event loop runs in its own task and
//! reconnects with backoff; the app sees connects, messages and failures as [`Link`]s.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::nvs::Nvs;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// What the connection reports to the app.
#[derive(Debug)]
pub enum Link {
    Connected,
    Message {
        topic: String,
        payload: Vec<u8>,
    },
    /// The broker acknowledged a QoS 1 publish (they are acknowledged in order).
    PubAck,
    /// The app's DISCONNECT went out, after everything it published before.
    Closed,
    /// A connect attempt failed or the connection dropped; the next try comes after `retry_in`.
    Failed {
        error: String,
        retry_in: Duration,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum MqttSetupError {
    #[error("board credentials: cannot read {path}: {source}; re-provision the board")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("board credentials: cannot make the broken credentials of this build: {0}")]
    Broken(String),
    #[error("board credentials: {0}; re-provision the board")]
    Tls(String),
}

/// Mutual TLS with *ring*, the smaller of rustls' providers: a board is one of a hundred
/// processes on the bench host, and the pages of the crypto it touches count in each.
fn client_tls(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<Arc<ClientConfig>, MqttSetupError> {
    let tls = |what: &str, e: &dyn std::fmt::Display| MqttSetupError::Tls(format!("{what}: {e}"));
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca) {
        let c = c.map_err(|e| tls("CA certificate", &e))?;
        roots.add(c).map_err(|e| tls("CA certificate", &e))?;
    }
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls("client certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| tls("client key", &e))?;
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls("TLS versions", &e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls("client certificate and key", &e))?;
    Ok(Arc::new(config))
}

pub struct Connection {
    pub client: AsyncClient,
    pub events: mpsc::UnboundedReceiver<Link>,
    task: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The socket closes with the event loop: a reset or a crash, never a clean exit.
        self.task.abort();
    }
}

/// Where the board connects: `host:port`.
pub fn endpoint(nvs: &Nvs, broken: bool) -> (String, u16) {
    // Without TLS there are no credentials to break; the broken build's network
    // settings point at a port where nothing listens instead.
    let port = if broken && !nvs.endpoint.tls {
        1
    } else {
        nvs.endpoint.port
    };
    (nvs.endpoint.host.clone(), port)
}

/// Starts connecting as `client_id`. `broken_credentials`: a client certificate the
/// bench CA never issued (the build of `rollback-if-unable-to-connect`).
pub fn connect(
    nvs: &Nvs,
    client_id: &str,
    broken_credentials: bool,
) -> Result<Connection, MqttSetupError> {
    let (host, port) = endpoint(nvs, broken_credentials);
    let mut options = MqttOptions::new(client_id, host, port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(256 * 1024, 256 * 1024)
        .set_clean_session(true);
    if nvs.endpoint.tls {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|source| MqttSetupError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let ca = read(&nvs.ca_cert)?;
        let (cert, key) = if broken_credentials {
            let ck = rcgen::generate_simple_self_signed(vec![client_id.to_string()])
                .map_err(|e| MqttSetupError::Broken(e.to_string()))?;
            (
                ck.cert.pem().into_bytes(),
                ck.signing_key.serialize_pem().into_bytes(),
            )
        } else {
            (read(&nvs.client_cert)?, read(&nvs.client_key)?)
        };
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            client_tls(&ca, &cert, &key)?,
        )));
    }
    let (client, eventloop) = AsyncClient::new(options, 1024);
    let (tx, events) = mpsc::unbounded_channel();
    let task = tokio::spawn(pump(eventloop, tx));
    Ok(Connection {
        client,
        events,
        task,
    })
}

async fn pump(mut eventloop: EventLoop, tx: mpsc::UnboundedSender<Link>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let link = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = FIRST_BACKOFF;
                Link::Connected
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => Link::PubAck,
            Ok(Event::Incoming(Packet::Publish(p))) => Link::Message {
                topic: p.topic,
                payload: p.payload.to_vec(),
            },
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                let _ = tx.send(Link::Closed);
                return;
            }
            Ok(_) => continue,
            Err(e) => {
                let retry_in = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                if tx
                    .send(Link::Failed {
                        error: e.to_string(),
                        retry_in,
                    })
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(retry_in).await;
                continue;
            }
        };
        if tx.send(link).is_err() {
            return;
        }
    }
}

pub fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}
