//! Gateway conformance as a broker: sessions, QoS 1, keep-alive, takeover,
//! limits, policy, faults and the transcript, over real mutual TLS on loopback
//! (rumqttc devices, or raw packets for what a client library will not send).
//! Plain TCP, which a rig may ask for, has its own test.

use std::sync::Arc;
use std::time::Duration;

use crate::support::gateway::*;
use bytes::BytesMut;
use otarig::cloud::gateway::{Gateway, GatewayConfig, Policy};
use otarig::cloud::CloudServices;
use otarig::faults::{Fault, MessageFault};
use otarig::timeline::{Direction, EventKind, Timeline};
use rumqttc::mqttbytes::v4::{Connect, Packet, Subscribe, SubscribeFilter, SubscribeReasonCode};
use rumqttc::tokio_rustls::rustls::pki_types::ServerName;
use rumqttc::tokio_rustls::TlsConnector;
use rumqttc::{MqttOptions, QoS};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every client id these tests use has a certificate of its own.
const CLIENTS: &[&str] = &[
    "sub",
    "pub",
    "all",
    "keeper",
    "slow",
    "sleepy",
    "pinger",
    "raw",
    "bystander",
    "big",
    "qos2",
    "junk",
    "fine",
    "Thing1",
];

/// A TLS gateway whose policy lets any certified client use any topic.
async fn permissive_bench(tweak: impl FnOnce(&mut GatewayConfig)) -> Bench {
    start_bench(CLIENTS, Policy::Permissive, tweak).await
}

/// A rumqttc device over mutual TLS with the certificate issued for `id`.
async fn device(bench: &Bench, id: &str) -> Device {
    bench.device(id, id).await
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A raw MQTT connection, for what a well-behaved client library will not send.
struct Raw {
    stream: Box<dyn Stream>,
    buf: BytesMut,
}

impl Raw {
    /// A TLS session with `id`'s certificate, before any MQTT byte.
    async fn open(bench: &Bench, id: &str) -> Raw {
        let config = otarig::cloud::pki::client_config(&bench.layout(), id).unwrap();
        let tcp = TcpStream::connect(bench.addr()).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = TlsConnector::from(config).connect(name, tcp).await.unwrap();
        Raw {
            stream: Box::new(tls),
            buf: BytesMut::new(),
        }
    }

    async fn connect(bench: &Bench, id: &str, keep_alive: u16) -> Raw {
        let mut raw = Raw::open(bench, id).await;
        let mut c = Connect::new(id);
        c.keep_alive = keep_alive;
        raw.send(Packet::Connect(c)).await;
        match raw.recv().await {
            Some(Packet::ConnAck(_)) => raw,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
    async fn send(&mut self, p: Packet) {
        let mut out = BytesMut::new();
        p.write(&mut out, usize::MAX).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next packet, or `None` once the gateway has closed the connection.
    async fn recv(&mut self) -> Option<Packet> {
        let read = async {
            loop {
                match Packet::read(&mut self.buf, usize::MAX) {
                    Ok(p) => return Some(p),
                    Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                    Err(e) => panic!("gateway sent a malformed packet: {e}"),
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(DEADLINE, read)
            .await
            .expect("no packet and no close within the deadline")
    }

    async fn closed(&mut self) -> bool {
        while let Some(p) = self.recv().await {
            if matches!(p, Packet::Publish(_) | Packet::PingResp) {
                continue;
            }
        }
        true
    }
}

#[tokio::test]
async fn routes_publishes_to_matching_subscribers_at_the_granted_qos() {
    let bench = permissive_bench(|_| {}).await;
    let mut sub = device(&bench, "sub").await;
    let ack = sub.subscribe("lab/+/temp", QoS::AtLeastOnce).await;
    assert_eq!(
        ack.return_codes,
        [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    let publisher = device(&bench, "pub").await;
    publisher
        .publish("lab/a/temp", QoS::AtLeastOnce, "21")
        .await;
    publisher
        .publish("lab/a/humidity", QoS::AtMostOnce, "no")
        .await;
    publisher.publish("lab/b/temp", QoS::AtMostOnce, "22").await;
    let first = sub.publish_on(|_| true).await;
    assert_eq!(
        (first.topic.as_str(), first.qos, &first.payload[..]),
        ("lab/a/temp", QoS::AtLeastOnce, &b"21"[..])
    );
    let second = sub.publish_on(|_| true).await;
    assert_eq!(
        (second.topic.as_str(), second.qos),
        ("lab/b/temp", QoS::AtMostOnce)
    );
}

#[tokio::test]
async fn invalid_filters_get_0x80_and_qos2_is_granted_as_qos1() {
    let bench = permissive_bench(|_| {}).await;
    let mut raw = Raw::connect(&bench, "raw", 30).await;
    let mut sub = Subscribe::new_many([
        SubscribeFilter::new("a/#/b".into(), QoS::AtMostOnce),
        SubscribeFilter::new("ok/+".into(), QoS::ExactlyOnce),
    ]);
    sub.pkid = 7;
    raw.send(Packet::Subscribe(sub)).await;
    match raw.recv().await {
        Some(Packet::SubAck(ack)) => {
            assert_eq!(ack.pkid, 7);
            assert_eq!(
                ack.return_codes,
                [
                    SubscribeReasonCode::Failure,
                    SubscribeReasonCode::Success(QoS::AtLeastOnce)
                ]
            );
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn hash_subscription_does_not_receive_dollar_topics() {
    let bench = permissive_bench(|_| {}).await;
    let mut all = device(&bench, "all").await;
    all.subscribe("#", QoS::AtMostOnce).await;
    let publisher = device(&bench, "pub").await;
    publisher.publish("$lab/secret", QoS::AtMostOnce, "x").await;
    publisher.publish("lab/visible", QoS::AtMostOnce, "y").await;
    // Same publisher, same order: the `$` message would have arrived first.
    let got = all.publish_on(|_| true).await;
    assert_eq!(got.topic, "lab/visible");
}

#[tokio::test]
async fn unacknowledged_qos1_is_redelivered_with_dup_on_a_persistent_reconnect() {
    let bench = permissive_bench(|_| {}).await;
    let mut opts = Device::options(
        bench.addr(),
        Some((bench.dir.path(), "keeper")),
        "keeper",
        false,
    );
    opts.set_manual_acks(true);
    let mut dev = Device::start(opts, 16);
    assert!(matches!(dev.next(DEADLINE).await, DevEvent::ConnAck(_)));
    dev.subscribe("lab/q1", QoS::AtLeastOnce).await;
    let publisher = device(&bench, "pub").await;
    publisher
        .publish("lab/q1", QoS::AtLeastOnce, "keep me")
        .await;
    let first = dev.publish_on(|t| t == "lab/q1").await;
    assert!(!first.dup);
    drop(dev); // never acknowledged

    let mut again = Device::connect(
        bench.addr(),
        Some((bench.dir.path(), "keeper")),
        "keeper",
        false,
    )
    .await;
    let redelivered = again.publish_on(|t| t == "lab/q1").await;
    assert!(redelivered.dup, "redelivery must set DUP");
    assert_eq!(&redelivered.payload[..], b"keep me");
}

#[tokio::test]
async fn unacknowledged_qos1_is_resent_after_the_retry_interval() {
    let bench = permissive_bench(|c| c.retry_interval = Duration::from_millis(200)).await;
    let mut opts = Device::options(bench.addr(), Some((bench.dir.path(), "slow")), "slow", true);
    opts.set_manual_acks(true);
    let mut dev = Device::start(opts, 16);
    assert!(matches!(dev.next(DEADLINE).await, DevEvent::ConnAck(_)));
    dev.subscribe("lab/r", QoS::AtLeastOnce).await;
    device(&bench, "pub")
        .await
        .publish("lab/r", QoS::AtLeastOnce, "r")
        .await;
    let first = dev.publish_on(|t| t == "lab/r").await;
    let second = dev.publish_on(|t| t == "lab/r").await;
    assert!(!first.dup && second.dup);
    assert_eq!(first.pkid, second.pkid);
}

#[tokio::test]
async fn keep_alive_is_enforced_at_one_and_a_half_times() {
    // AWS raises a keep-alive under 30 s to 30 s; the bench lets this test ask for 1 s.
    let bench = permissive_bench(|c| c.limits.keep_alive_min = Duration::from_secs(1)).await;
    let mut raw = Raw::connect(&bench, "sleepy", 1).await;
    assert!(raw.closed().await);
    let reason = bench
        .timeline
        .events()
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::Connection {
                client_id,
                connected: false,
                reason,
                ..
            } if client_id == "sleepy" => reason,
            _ => None,
        })
        .expect("disconnect recorded");
    assert!(reason.contains("keep-alive"), "{reason}");
}

#[tokio::test]
async fn ping_is_answered() {
    let bench = permissive_bench(|_| {}).await;
    let mut raw = Raw::connect(&bench, "pinger", 30).await;
    raw.send(Packet::PingReq).await;
    assert_eq!(raw.recv().await, Some(Packet::PingResp));
}

#[tokio::test]
async fn a_second_client_with_the_same_id_kicks_the_first_and_kick_does_the_same() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let mut first = bench.device("Thing1", "Thing1").await;
    let mut second = bench.device("Thing1", "Thing1").await;
    let why = first.down().await;
    assert!(!why.is_empty());
    let reason = bench.disconnect_reason("Thing1").await;
    assert!(reason.contains("taken over"), "{reason}");
    // The newcomer works.
    second
        .subscribe("$aws/things/Thing1/jobs/notify-next", QoS::AtLeastOnce)
        .await;
    assert_eq!(bench.gateway.kick("Thing1"), 1);
    second.down().await;
    bench
        .wait_event(
            "the kick fault event",
            |e| matches!(&e.kind, EventKind::Fault { what } if what.starts_with("kick Thing1")),
        )
        .await;
}

#[tokio::test]
async fn thing_scoped_device_cannot_subscribe_to_another_things_topics() {
    let bench = start_bench(&["Thing1", "Thing2"], Policy::ThingScoped, |_| {}).await;
    let mut dev = bench.device("Thing1", "Thing1").await;
    let mut other = bench.device("Thing2", "Thing2").await;
    dev.client
        .subscribe("$aws/things/Thing2/jobs/notify-next", QoS::AtLeastOnce)
        .await
        .unwrap();
    let why = dev.down().await;
    assert!(!why.is_empty());
    let reason = bench.disconnect_reason("Thing1").await;
    assert!(
        reason.contains("Thing1") && reason.contains("$aws/things/Thing2/jobs/notify-next"),
        "{reason}"
    );
    // Thing2 is unaffected.
    other
        .subscribe("$aws/things/Thing2/jobs/notify-next", QoS::AtLeastOnce)
        .await;
}

#[tokio::test]
async fn thing_scoped_device_cannot_publish_to_another_things_topics() {
    let bench = start_bench(&["Thing1", "Thing2"], Policy::ThingScoped, |_| {}).await;
    let mut dev = bench.device("Thing1", "Thing1").await;
    dev.publish(
        "$aws/things/Thing2/jobs/$next/get",
        QoS::AtLeastOnce,
        r#"{"clientToken":"0:x"}"#,
    )
    .await;
    dev.down().await;
    let reason = bench.disconnect_reason("Thing1").await;
    assert!(reason.contains("may not publish"), "{reason}");
}

#[tokio::test]
async fn thing_scoped_client_id_must_match_the_certificate() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let opts = Device::options(
        bench.addr(),
        Some((bench.dir.path(), "Thing1")),
        "Impostor",
        true,
    );
    let mut dev = Device::start(opts, 8);
    let why = dev.down().await;
    assert!(
        why.contains("NotAuthorized") || why.contains("refused"),
        "{why}"
    );
    let reason = bench.disconnect_reason("Impostor").await;
    assert!(
        reason.contains("does not match certificate CN `Thing1`"),
        "{reason}"
    );
}

#[tokio::test]
async fn tls_client_without_certificate_is_refused_and_logged() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let config = otarig::cloud::pki::anonymous_client_config(&bench.layout()).unwrap();
    let mut opts = MqttOptions::new("anon", "127.0.0.1", bench.addr().port());
    opts.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(config),
    ));
    let mut anon = Device::start(opts, 8);
    anon.down().await;
    bench
        .wait_event("the refused TLS handshake", |e| {
            matches!(&e.kind, EventKind::Connection { connected: false, reason: Some(r), .. } if r.contains("TLS handshake"))
        })
        .await;
    // The endpoint still serves a proper device.
    let mut dev = bench.device("Thing1", "Thing1").await;
    dev.subscribe("$aws/things/Thing1/jobs/notify-next", QoS::AtLeastOnce)
        .await;
}

#[tokio::test]
async fn oversized_packet_disconnects_only_its_sender_and_names_the_topic() {
    let bench = permissive_bench(|c| c.max_message_size = 16 * 1024).await;
    let mut bystander = device(&bench, "bystander").await;
    bystander.subscribe("lab/#", QoS::AtMostOnce).await;
    let mut big = device(&bench, "big").await;
    big.publish("lab/huge", QoS::AtMostOnce, vec![7u8; 64 * 1024])
        .await;
    big.down().await;
    let reason = bench
        .timeline
        .events()
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::Connection {
                client_id,
                connected: false,
                reason,
                ..
            } if client_id == "big" => reason,
            _ => None,
        })
        .expect("disconnect recorded");
    assert!(
        reason.contains("lab/huge") && reason.contains("max_message_size"),
        "{reason}"
    );
    let publisher = device(&bench, "pub").await;
    publisher.publish("lab/small", QoS::AtMostOnce, "ok").await;
    assert_eq!(bystander.publish_on(|_| true).await.topic, "lab/small");
}

#[tokio::test]
async fn qos2_and_garbage_bytes_get_a_clean_disconnect() {
    let bench = permissive_bench(|_| {}).await;
    let mut raw = Raw::connect(&bench, "qos2", 30).await;
    let mut p = rumqttc::mqttbytes::v4::Publish::new("lab/x", QoS::ExactlyOnce, "x");
    p.pkid = 1;
    raw.send(Packet::Publish(p)).await;
    assert!(raw.closed().await);

    let mut garbage = Raw::open(&bench, "junk").await;
    garbage
        .stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(garbage.closed().await);

    let mut after_connect = Raw::connect(&bench, "junk", 30).await;
    after_connect
        .stream
        .write_all(&[0xF0, 0x03, 1, 2, 3])
        .await
        .unwrap();
    assert!(after_connect.closed().await);

    // Still serving.
    let mut ok = Raw::connect(&bench, "fine", 30).await;
    ok.send(Packet::PingReq).await;
    assert_eq!(ok.recv().await, Some(Packet::PingResp));
}

#[tokio::test]
async fn message_faults_drop_duplicate_and_corrupt_what_they_match() {
    let bench = permissive_bench(|_| {}).await;
    let mut dev = device(&bench, "Thing1").await;
    dev.subscribe("lab/#", QoS::AtMostOnce).await;
    bench.gateway.set_faults(
        "Thing1",
        vec![
            Fault::Drop(MessageFault {
                every: Some(2),
                ..MessageFault::all("lab/drop")
            }),
            Fault::Duplicate(MessageFault::all("lab/dup")),
            Fault::Corrupt(MessageFault::all("lab/corrupt")),
        ],
    );
    let publisher = device(&bench, "pub").await;
    for i in 1..=4u8 {
        publisher
            .publish("lab/drop", QoS::AtMostOnce, vec![i])
            .await;
    }
    publisher.publish("lab/dup", QoS::AtMostOnce, "d").await;
    publisher
        .publish("lab/corrupt", QoS::AtMostOnce, vec![0u8])
        .await;
    publisher.publish("lab/end", QoS::AtMostOnce, "end").await;
    let mut got = Vec::new();
    loop {
        let p = dev.publish_on(|_| true).await;
        if p.topic == "lab/end" {
            break;
        }
        got.push((p.topic, p.payload.to_vec()));
    }
    assert_eq!(
        got,
        [
            ("lab/drop".to_string(), vec![1]),
            ("lab/drop".to_string(), vec![3]),
            ("lab/dup".to_string(), b"d".to_vec()),
            ("lab/dup".to_string(), b"d".to_vec()),
            ("lab/corrupt".to_string(), vec![0xFF]),
        ]
    );
    let faults = bench
        .timeline
        .events()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Fault { .. }))
        .count();
    assert!(
        faults >= 5,
        "set + 2 drops + dup + corrupt recorded, got {faults}"
    );
}

#[tokio::test]
async fn delay_lets_later_traffic_overtake_and_stall_holds_then_releases() {
    let bench = permissive_bench(|_| {}).await;
    let mut dev = device(&bench, "Thing1").await;
    dev.subscribe("lab/#", QoS::AtMostOnce).await;
    bench.gateway.set_faults(
        "Thing1",
        vec![Fault::Delay(otarig::faults::DelayFault {
            topic: "lab/slow".into(),
            dir: Default::default(),
            every: None,
            probability: None,
            seed: 0,
            by: Duration::from_millis(300),
            jitter: Duration::ZERO,
        })],
    );
    let publisher = device(&bench, "pub").await;
    publisher.publish("lab/slow", QoS::AtMostOnce, "1").await;
    publisher.publish("lab/fast", QoS::AtMostOnce, "2").await;
    assert_eq!(dev.publish_on(|_| true).await.topic, "lab/fast");
    assert_eq!(dev.publish_on(|_| true).await.topic, "lab/slow");

    bench.gateway.set_faults(
        "Thing1",
        vec![Fault::Stall {
            duration: Duration::from_millis(300),
        }],
    );
    publisher.publish("lab/held", QoS::AtMostOnce, "3").await;
    assert_eq!(dev.publish_on(|_| true).await.topic, "lab/held");
}

#[tokio::test]
async fn cut_closes_the_connection_at_once() {
    let bench = permissive_bench(|_| {}).await;
    let mut dev = device(&bench, "Thing1").await;
    bench.gateway.set_faults("Thing1", vec![Fault::Cut]);
    dev.down().await;
    assert!(bench.timeline.events().iter().any(|e| matches!(&e.kind,
        EventKind::Connection { connected: false, reason: Some(r), .. } if r.contains("cut"))));
}

#[tokio::test]
async fn transcript_records_both_directions_with_topics_and_payloads() {
    let bench = permissive_bench(|_| {}).await;
    let mut dev = device(&bench, "Thing1").await;
    dev.subscribe("lab/t", QoS::AtLeastOnce).await;
    dev.publish("lab/t", QoS::AtLeastOnce, r#"{"hello":1}"#)
        .await;
    dev.publish_on(|t| t == "lab/t").await;
    let mqtt = mqtt_packets(&bench.timeline);
    let has =
        |dir: Direction, packet: &str| mqtt.iter().any(|(d, p, _, _)| *d == dir && p == packet);
    assert!(has(Direction::In, "CONNECT") && has(Direction::Out, "CONNACK"));
    assert!(has(Direction::In, "SUBSCRIBE") && has(Direction::Out, "SUBACK"));
    assert!(mqtt.iter().any(|(d, p, t, pl)| *d == Direction::In
        && p == "PUBLISH"
        && t.as_deref() == Some("lab/t")
        && pl.as_deref() == Some(r#"{"hello":1}"#)));
    assert!(has(Direction::Out, "PUBACK"));
    assert!(mqtt.iter().any(|(d, p, t, _)| *d == Direction::Out
        && p == "PUBLISH"
        && t.as_deref() == Some("lab/t")));
}

#[tokio::test]
async fn restart_drops_everyone_and_serves_again_on_the_same_port() {
    let bench = permissive_bench(|_| {}).await;
    let mut dev = device(&bench, "Thing1").await;
    bench
        .gateway
        .restart(Duration::from_millis(100))
        .await
        .unwrap();
    dev.down().await;
    let mut back = device(&bench, "Thing1").await;
    back.subscribe("lab/x", QoS::AtMostOnce).await;
    bench.gateway.shutdown().await;
}

#[tokio::test]
async fn plain_tcp_serves_devices_when_the_rig_asks_for_it() {
    let timeline = Timeline::in_memory();
    let sink = Arc::new(timeline.clone());
    let services = Arc::new(CloudServices::new(sink.clone()));
    let cfg = GatewayConfig {
        policy: Policy::Permissive,
        ..GatewayConfig::default()
    };
    let gw = Gateway::start(cfg, services, sink).await.unwrap();
    let mut sub = Device::connect(gw.local_addr(), None, "sub", true).await;
    sub.subscribe("lab/plain", QoS::AtLeastOnce).await;
    let publisher = Device::connect(gw.local_addr(), None, "pub", true).await;
    publisher
        .publish("lab/plain", QoS::AtLeastOnce, "clear")
        .await;
    assert_eq!(&sub.publish_on(|_| true).await.payload[..], b"clear");
}

#[tokio::test]
async fn plaintext_bytes_at_the_tls_endpoint_are_a_refused_handshake() {
    let bench = permissive_bench(|_| {}).await;
    let mut tcp = TcpStream::connect(bench.addr()).await.unwrap();
    tcp.write_all(&[0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 30, 0, 0])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the endpoint kept a plaintext client open");
    bench
        .wait_event("the refused TLS handshake", |e| {
            matches!(&e.kind, EventKind::Connection { connected: false, reason: Some(r), .. } if r.contains("TLS handshake"))
        })
        .await;
    let mut fine = device(&bench, "fine").await;
    fine.subscribe("lab/ok", QoS::AtMostOnce).await;
}
