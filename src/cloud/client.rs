//! Client mode: the Jobs and stream services attached as an ordinary MQTT
//! client (rumqttc) to a broker the boards already use, for labs that cannot
//! point boards at otarig's gateway.
//!
//! A plain broker cannot deliver a reply to a requester that did not
//! subscribe, so replies go out as ordinary publishes: the 1.0.x agent and the
//! simulator subscribe to `.../accepted` and get them. The v3 agent subscribes
//! only to `notify-next`; `mirror_notify_next` also publishes each
//! `$next/get/accepted` there. That is a documented work-around for the bench,
//! not something AWS IoT does (docs/protocol.md §9).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rumqttc::tokio_rustls::rustls::ClientConfig;
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::cloud::gateway::render_payload;
use crate::cloud::{topics, CloudServices};
use crate::timeline::{Direction, EventKind, EventSink, Source};

/// The request topics client mode listens to.
pub const REQUEST_FILTERS: [&str; 2] = ["$aws/things/+/jobs/#", "$aws/things/+/streams/#"];

#[derive(Clone, Debug)]
pub struct ClientModeConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// TLS to the broker; `None` = plain TCP.
    pub tls: Option<Arc<ClientConfig>>,
    /// Also publish every `$next/get/accepted` on `notify-next` (v3 work-around).
    pub mirror_notify_next: bool,
    pub keep_alive: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientModeError {
    #[error("broker address `{0}` is not HOST:PORT (e.g. `mosquitto.lab:1883` or `mqtt://127.0.0.1:1883`)")]
    BadAddress(String),
}

impl ClientModeConfig {
    /// From a rig's `cloud.client.broker` (`HOST:PORT`, optionally `mqtt://`).
    pub fn for_broker(broker: &str, mirror_notify_next: bool) -> Result<Self, ClientModeError> {
        let bad = || ClientModeError::BadAddress(broker.to_string());
        let rest = broker.strip_prefix("mqtt://").unwrap_or(broker);
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad());
        }
        Ok(ClientModeConfig {
            host: host.to_string(),
            port,
            client_id: format!("otarig-cloud-{}", std::process::id()),
            tls: None,
            mirror_notify_next,
            keep_alive: Duration::from_secs(30),
        })
    }
}

/// The running client; dropping it (or `shutdown`) disconnects.
pub struct ClientMode {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ClientMode {
    /// Connects in the background (and keeps reconnecting); replies start
    /// flowing once the broker has acknowledged the subscriptions.
    pub fn start(
        cfg: ClientModeConfig,
        services: Arc<CloudServices>,
        sink: Arc<dyn EventSink>,
    ) -> ClientMode {
        let mut opts = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
        opts.set_keep_alive(cfg.keep_alive);
        opts.set_max_packet_size(256 * 1024, 256 * 1024);
        if let Some(tls) = &cfg.tls {
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        let (client, eventloop) = AsyncClient::new(opts, 1024);
        let (shutdown, stop) = watch::channel(false);
        let (work_tx, work_rx) = mpsc::unbounded_channel();
        let ctx = Arc::new(Ctx {
            client,
            services,
            sink,
            client_id: cfg.client_id.clone(),
            mirror: cfg.mirror_notify_next,
        });
        let tasks = vec![
            tokio::spawn(poll(eventloop, ctx.clone(), work_tx, stop.clone())),
            tokio::spawn(answer(ctx.clone(), work_rx)),
            tokio::spawn(forward_notifications(ctx, stop)),
        ];
        info!(broker = %format!("{}:{}", cfg.host, cfg.port), "client mode started");
        ClientMode { shutdown, tasks }
    }

    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for ClientMode {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Ctx {
    client: AsyncClient,
    services: Arc<CloudServices>,
    sink: Arc<dyn EventSink>,
    client_id: String,
    mirror: bool,
}

impl Ctx {
    fn record(&self, dir: Direction, topic: &str, qos: QoS, payload: &[u8]) {
        self.sink.emit(
            Source::Cloud,
            EventKind::Mqtt {
                conn: 0,
                client_id: self.client_id.clone(),
                thing: topics::thing_of(topic).map(str::to_string),
                dir,
                packet: "PUBLISH".into(),
                topic: Some(topic.to_string()),
                qos: Some(qos as u8),
                payload: Some(render_payload(payload, 2048)),
                len: payload.len(),
            },
        );
    }

    fn connection(&self, connected: bool, reason: Option<String>) {
        self.sink.emit(
            Source::Cloud,
            EventKind::Connection {
                conn: 0,
                client_id: self.client_id.clone(),
                thing: None,
                connected,
                reason,
            },
        );
    }

    async fn publish(&self, topic: String, qos: QoS, payload: Vec<u8>) {
        self.record(Direction::Out, &topic, qos, &payload);
        if let Err(e) = self
            .client
            .publish(topic.clone(), qos, false, payload)
            .await
        {
            warn!(%topic, "client mode could not publish: {e}");
        }
    }
}

async fn poll(
    mut eventloop: EventLoop,
    ctx: Arc<Ctx>,
    work: mpsc::UnboundedSender<rumqttc::Publish>,
    mut stop: watch::Receiver<bool>,
) {
    let mut up = false;
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = stop.changed() => {
                let _ = ctx.client.try_disconnect();
                return;
            }
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                up = true;
                ctx.connection(true, None);
                // Clean session: subscribe again after every (re)connect.
                for filter in REQUEST_FILTERS {
                    if let Err(e) = ctx.client.try_subscribe(filter, QoS::AtLeastOnce) {
                        warn!(%filter, "client mode could not subscribe: {e}");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                // Our own replies come back through the wildcards: skip them.
                if !topics::is_cloud_reply(&p.topic) && work.send(p).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if up {
                    ctx.connection(false, Some(e.to_string()));
                    up = false;
                }
                warn!("client mode: broker connection: {e}; retrying in 1 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

/// Feeds requests to the services and publishes every reply. Apart from the
/// poll loop, so a burst of stream blocks never blocks the event loop.
async fn answer(ctx: Arc<Ctx>, mut work: mpsc::UnboundedReceiver<rumqttc::Publish>) {
    while let Some(p) = work.recv().await {
        ctx.record(Direction::In, &p.topic, p.qos, &p.payload);
        let Some(thing) = CloudServices::is_service_topic(&p.topic) else {
            continue;
        };
        let thing = thing.to_string();
        let replies = ctx
            .services
            .handle(&thing, &p.topic, &p.payload, SystemTime::now());
        for reply in replies {
            let mirror = (ctx.mirror && reply.topic.ends_with("/jobs/$next/get/accepted"))
                .then(|| (notify_next_topic(&thing), as_notify_next(&reply.payload)));
            ctx.publish(reply.topic, p.qos, reply.payload).await;
            if let Some((topic, payload)) = mirror {
                ctx.publish(topic, QoS::AtLeastOnce, payload).await;
            }
        }
    }
}

async fn forward_notifications(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let mut rx = ctx.services.subscribe_notifications();
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(reply) => ctx.publish(reply.topic, QoS::AtLeastOnce, reply.payload).await,
                None => return,
            },
            _ = stop.changed() => return,
        }
    }
}

fn notify_next_topic(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/notify-next")
}

/// notify-next carries `timestamp` and `execution`, not the requester's token.
fn as_notify_next(accepted: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(accepted) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.remove("clientToken");
            serde_json::to_vec(&map).unwrap_or_else(|_| accepted.to_vec())
        }
        _ => accepted.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_parse_with_or_without_scheme() {
        let c = ClientModeConfig::for_broker("mqtt://127.0.0.1:1883", true).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 1883));
        let c = ClientModeConfig::for_broker("lab-broker:8883", false).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("lab-broker", 8883));
        assert!(ClientModeConfig::for_broker("nohost", false).is_err());
        assert!(ClientModeConfig::for_broker(":1883", false).is_err());
    }

    #[test]
    fn mirrored_notify_next_drops_the_client_token() {
        let out =
            as_notify_next(br#"{"clientToken":"0:T","timestamp":1,"execution":{"jobId":"j"}}"#);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("clientToken").is_none());
        assert_eq!(v["execution"]["jobId"], "j");
    }
}
