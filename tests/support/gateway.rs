//! Shared by the gateway tests: a bench PKI in a tempdir, a gateway on
//! loopback, and rumqttc devices whose every event lands in a channel.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otarig::cloud::gateway::{Gateway, GatewayConfig, GatewayHandle, Policy, TlsSettings};
use otarig::cloud::pki::{self, PkiLayout, PkiOptions};
use otarig::cloud::CloudServices;
use otarig::timeline::{Direction, Event, EventKind, Timeline};
use rumqttc::{
    AsyncClient, ConnectionError, Event as MqttEvent, EventLoop, MqttOptions, Packet, Publish, QoS,
    TlsConfiguration, Transport,
};
use tokio::sync::mpsc;

/// How long any single expectation may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Bench {
    pub dir: tempfile::TempDir,
    pub timeline: Timeline,
    pub services: Arc<CloudServices>,
    pub gateway: GatewayHandle,
}

impl Bench {
    pub fn layout(&self) -> PkiLayout {
        PkiLayout::new(self.dir.path())
    }

    pub fn addr(&self) -> SocketAddr {
        self.gateway.local_addr()
    }

    /// A device with `thing`'s certificate connecting as `client_id`.
    pub async fn device(&self, thing: &str, client_id: &str) -> Device {
        Device::connect(self.addr(), Some((self.dir.path(), thing)), client_id, true).await
    }

    /// Waits for an event matching `pred` on the timeline.
    pub async fn wait_event(&self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let start = Instant::now();
        loop {
            if let Some(e) = self.timeline.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The reason of the first disconnect recorded for `client_id`.
    pub async fn disconnect_reason(&self, client_id: &str) -> String {
        let e = self
            .wait_event(&format!("a disconnect of {client_id}"), |e| {
                matches!(&e.kind, EventKind::Connection { client_id: c, connected: false, .. } if c == client_id)
            })
            .await;
        match e.kind {
            EventKind::Connection { reason, .. } => reason.unwrap_or_default(),
            _ => unreachable!(),
        }
    }
}

/// A PKI for `things` in a new tempdir.
pub fn make_pki(things: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = PkiOptions {
        things: things.iter().map(|t| t.to_string()).collect(),
        ..PkiOptions::default()
    };
    pki::init(dir.path(), &opts).unwrap();
    dir
}

/// A TLS gateway on a free loopback port with a fresh PKI for `things`.
pub async fn start_bench(
    things: &[&str],
    policy: Policy,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> Bench {
    let dir = make_pki(things);
    let timeline = Timeline::in_memory();
    let services = Arc::new(CloudServices::new(Arc::new(timeline.clone())));
    let mut cfg = GatewayConfig {
        tls: Some(TlsSettings {
            pki_dir: dir.path().to_path_buf(),
        }),
        policy,
        ..GatewayConfig::default()
    };
    tweak(&mut cfg);
    let gateway = Gateway::start(cfg, services.clone(), Arc::new(timeline.clone()))
        .await
        .unwrap();
    Bench {
        dir,
        timeline,
        services,
        gateway,
    }
}

#[derive(Debug)]
pub enum DevEvent {
    ConnAck(rumqttc::ConnAck),
    Publish(Publish),
    SubAck(rumqttc::SubAck),
    PubAck(u16),
    /// The connection ended; the device does not reconnect by itself.
    Down(String),
}

/// A device: rumqttc driven by a task that forwards every incoming packet.
pub struct Device {
    pub client: AsyncClient,
    pub rx: mpsc::UnboundedReceiver<DevEvent>,
    pub client_id: String,
}

impl Device {
    pub fn options(
        addr: SocketAddr,
        tls: Option<(&Path, &str)>,
        client_id: &str,
        clean: bool,
    ) -> MqttOptions {
        let mut opts = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(clean);
        opts.set_max_packet_size(256 * 1024, 256 * 1024);
        if let Some((dir, thing)) = tls {
            let config = pki::client_config(&PkiLayout::new(dir), thing).unwrap();
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        }
        opts
    }

    pub async fn connect(
        addr: SocketAddr,
        tls: Option<(&Path, &str)>,
        client_id: &str,
        clean: bool,
    ) -> Device {
        let mut dev = Self::start(Self::options(addr, tls, client_id, clean), 256);
        match dev.next(DEADLINE).await {
            DevEvent::ConnAck(ack) => assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success),
            other => panic!("{client_id}: expected CONNACK, got {other:?}"),
        }
        dev
    }

    pub fn start(opts: MqttOptions, cap: usize) -> Device {
        let client_id = opts.client_id();
        let (client, mut eventloop) = AsyncClient::new(opts, cap);
        // Devices send small requests and wait for answers: no Nagle delay.
        eventloop.network_options.set_tcp_nodelay(true);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(pump(eventloop, tx));
        Device {
            client,
            rx,
            client_id,
        }
    }

    /// The next event, or a test failure after `within`.
    pub async fn next(&mut self, within: Duration) -> DevEvent {
        match tokio::time::timeout(within, self.rx.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => DevEvent::Down("event loop ended".into()),
            Err(_) => panic!("{}: nothing received within {within:?}", self.client_id),
        }
    }

    /// The next publish on a topic satisfying `pred`; other publishes are skipped.
    pub async fn publish_on(&mut self, pred: impl Fn(&str) -> bool) -> Publish {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.next(left).await {
                DevEvent::Publish(p) if pred(&p.topic) => return p,
                DevEvent::Down(why) => {
                    panic!("{}: disconnected while waiting: {why}", self.client_id)
                }
                _ => {}
            }
        }
    }

    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> rumqttc::SubAck {
        self.client.subscribe(filter, qos).await.unwrap();
        let start = Instant::now();
        loop {
            match self.next(DEADLINE.saturating_sub(start.elapsed())).await {
                DevEvent::SubAck(ack) => return ack,
                DevEvent::Down(why) => {
                    panic!("{}: disconnected on subscribe: {why}", self.client_id)
                }
                _ => {}
            }
        }
    }

    /// Waits until the connection is gone; returns why.
    pub async fn down(&mut self) -> String {
        let start = Instant::now();
        loop {
            if let DevEvent::Down(why) = self.next(DEADLINE.saturating_sub(start.elapsed())).await {
                return why;
            }
        }
    }

    /// Publishes on `probe` (which the device subscribes to) and returns every
    /// publish received before the probe comes back. The gateway keeps order on
    /// a connection, so what a request caused arrives first: absence is proven
    /// by order, not by waiting.
    pub async fn before_probe(&mut self, probe: &str) -> Vec<Publish> {
        self.publish(probe, QoS::AtLeastOnce, "probe").await;
        let mut got = Vec::new();
        loop {
            let p = self.publish_on(|_| true).await;
            if p.topic == probe {
                return got;
            }
            got.push(p);
        }
    }

    /// Asks `$next/get` for `thing`, as an OTA agent does, and returns the accepted reply.
    pub async fn next_job(&mut self, thing: &str) -> serde_json::Value {
        let get = format!("$aws/things/{thing}/jobs/$next/get");
        let token = format!(r#"{{"clientToken":"0:{thing}"}}"#);
        self.publish(&get, QoS::AtLeastOnce, token).await;
        let accepted = format!("{get}/accepted");
        json(&self.publish_on(|t| t == accepted).await)
    }

    pub async fn publish(&self, topic: &str, qos: QoS, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, qos, false, payload.into())
            .await
            .unwrap();
    }
}

async fn pump(mut eventloop: EventLoop, tx: mpsc::UnboundedSender<DevEvent>) {
    loop {
        let event = match eventloop.poll().await {
            Ok(MqttEvent::Incoming(Packet::ConnAck(a))) => DevEvent::ConnAck(a),
            Ok(MqttEvent::Incoming(Packet::Publish(p))) => DevEvent::Publish(p),
            Ok(MqttEvent::Incoming(Packet::SubAck(a))) => DevEvent::SubAck(a),
            Ok(MqttEvent::Incoming(Packet::PubAck(a))) => DevEvent::PubAck(a.pkid),
            Ok(_) => continue,
            Err(e) => {
                let why = describe(&e);
                let _ = tx.send(DevEvent::Down(why));
                return;
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

fn describe(e: &ConnectionError) -> String {
    format!("{e}")
}

/// A CBOR GetStream request (`c,f,l,o,b,n`, v3 style) asking for the blocks in `bitmap`.
pub fn get_stream_cbor(
    token: &str,
    file: u32,
    block: u32,
    offset: u32,
    bitmap: &[u8],
    n: u32,
) -> Vec<u8> {
    use ciborium::Value;
    let map = Value::Map(vec![
        (Value::Text("c".into()), Value::Text(token.into())),
        (Value::Text("f".into()), Value::Integer(file.into())),
        (Value::Text("l".into()), Value::Integer(block.into())),
        (Value::Text("o".into()), Value::Integer(offset.into())),
        (Value::Text("b".into()), Value::Bytes(bitmap.to_vec())),
        (Value::Text("n".into()), Value::Integer(n.into())),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).unwrap();
    out
}

/// A decoded stream data message: (file, block index, payload).
pub fn decode_block(payload: &[u8]) -> (u32, u32, Vec<u8>) {
    use ciborium::Value;
    let v: Value = ciborium::from_reader(payload).unwrap();
    let mut f = None;
    let mut i = None;
    let mut p = None;
    for (k, v) in v.as_map().expect("data message is a CBOR map") {
        match (k.as_text(), v) {
            (Some("f"), Value::Integer(n)) => f = Some(i128::from(*n) as u32),
            (Some("i"), Value::Integer(n)) => i = Some(i128::from(*n) as u32),
            (Some("p"), Value::Bytes(b)) => p = Some(b.clone()),
            _ => {}
        }
    }
    (f.unwrap(), i.unwrap(), p.unwrap())
}

/// Signs `image` with the bench's code-signing key, registers its stream and
/// queues job `id` for `targets`, as `otarig job create` does.
pub fn create_job(
    bench: &Bench,
    id: &str,
    image: &[u8],
    targets: &[&str],
) -> otarig::cloud::jobdoc::BuiltJobDoc {
    create_job_with(&bench.layout(), &bench.services, id, image, targets)
}

pub fn create_job_with(
    layout: &PkiLayout,
    services: &CloudServices,
    id: &str,
    image: &[u8],
    targets: &[&str],
) -> otarig::cloud::jobdoc::BuiltJobDoc {
    use otarig::cloud::jobdoc::{self, JobDocOptions};
    use otarig::cloud::jobs::JobSpec;
    let opts = JobDocOptions::from_pki(layout, jobdoc::short_stream_name(id)).unwrap();
    let built = jobdoc::build(image, &opts, &[]).unwrap();
    services
        .add_stream(
            &built.stream_id,
            vec![(u32::from(built.file_id), Arc::from(built.payload.clone()))],
        )
        .unwrap();
    let targets = targets.iter().map(|t| t.to_string()).collect();
    services
        .create_job(
            JobSpec::new(id, built.document.clone(), targets),
            std::time::SystemTime::now(),
        )
        .unwrap();
    built
}

/// (direction, packet, topic, payload) of every MQTT packet on `timeline`.
pub fn mqtt_packets(
    timeline: &Timeline,
) -> Vec<(Direction, String, Option<String>, Option<String>)> {
    timeline
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Mqtt {
                dir,
                packet,
                topic,
                payload,
                ..
            } => Some((dir, packet, topic, payload)),
            _ => None,
        })
        .collect()
}

/// The JSON body of a publish.
pub fn json(p: &Publish) -> serde_json::Value {
    serde_json::from_slice(&p.payload).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.topic))
}

/// The fields of a CBOR map payload by name.
pub fn cbor_map(payload: &[u8]) -> std::collections::BTreeMap<String, ciborium::Value> {
    let v: ciborium::Value = ciborium::from_reader(payload).expect("CBOR payload");
    v.into_map()
        .expect("a CBOR map")
        .into_iter()
        .filter_map(|(k, v)| k.into_text().ok().map(|k| (k, v)))
        .collect()
}

/// A Mosquitto broker on a free loopback port, stopped on drop.
pub struct Mosquitto {
    child: std::process::Child,
    pub port: u16,
    _reserved: super::process::ReservedPort,
    _dir: tempfile::TempDir,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The mosquitto binary, if installed (Debian puts it in /usr/sbin).
pub fn mosquitto_binary() -> Option<std::path::PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()]);
    candidates
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

/// Starts Mosquitto, or returns `None` with a skip note when it is not
/// installed; with OTARIG_REQUIRE_MOSQUITTO=1 (CI) a missing broker fails.
pub async fn start_mosquitto() -> Option<Mosquitto> {
    let Some(bin) = mosquitto_binary() else {
        if std::env::var("OTARIG_REQUIRE_MOSQUITTO").as_deref() == Ok("1") {
            panic!("mosquitto is not installed but OTARIG_REQUIRE_MOSQUITTO=1: apt-get install mosquitto");
        }
        eprintln!("SKIP: mosquitto is not installed (apt-get install mosquitto); the Mosquitto part is not run");
        return None;
    };
    let reserved = super::process::reserved_port();
    let port = reserved.port;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nset_tcp_nodelay true\n"),
    )
    .unwrap();
    let child = std::process::Command::new(&bin)
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let broker = Mosquitto {
        child,
        port,
        _reserved: reserved,
        _dir: dir,
    };
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < DEADLINE,
            "mosquitto did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some(broker)
}
