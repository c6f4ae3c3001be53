//! Property tests of the connection's sans-IO parts, fed seeded random and
//! mutated input: the framing never panics and always makes progress, and the
//! session state keeps its invariants whatever a device does. A bounded run is
//! part of `cargo test`; `OTARIG_FUZZ_ITERS` and `OTARIG_FUZZ_SEED` make a long
//! run or replay one (docs/hostile-devices.md).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rumqttc::mqttbytes::v4::{
    Connect, LastWill, Login, Packet, PubAck, Publish, Subscribe, SubscribeFilter, Unsubscribe,
};
use rumqttc::mqttbytes::QoS;

use super::io::Io;
use super::limits::Limits;
use super::state::{Breach, SessionState};

fn iterations(default: u64) -> u64 {
    std::env::var("OTARIG_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rng(name: &str) -> (u64, ChaCha12Rng) {
    let seed = std::env::var("OTARIG_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{name}: OTARIG_FUZZ_SEED={seed}");
    (seed, ChaCha12Rng::seed_from_u64(seed))
}

/// What an OTA device sends in a session, encoded: the mutation corpus.
fn corpus() -> Vec<Vec<u8>> {
    let mut connect = Connect::new("Thing1");
    connect.keep_alive = 30;
    connect.clean_session = false;
    connect.last_will = Some(LastWill::new(
        "$aws/things/Thing1/gone",
        "x",
        QoS::AtLeastOnce,
        false,
    ));
    connect.login = Some(Login::new("user", "pass"));
    let mut publish = Publish::new(
        "$aws/things/Thing1/streams/AFR_OTA-1/get/cbor",
        QoS::AtLeastOnce,
        vec![0xa4, 0x61, 0x66, 0x00, 0x61, 0x6c, 0x19, 0x10, 0x00],
    );
    publish.pkid = 7;
    let packets = [
        Packet::Connect(connect),
        Packet::Subscribe(Subscribe::new_many([
            SubscribeFilter::new(
                "$aws/things/Thing1/jobs/notify-next".into(),
                QoS::AtLeastOnce,
            ),
            SubscribeFilter::new(
                "$aws/things/Thing1/jobs/$next/get/+".into(),
                QoS::AtMostOnce,
            ),
        ])),
        Packet::Publish(publish),
        Packet::PubAck(PubAck::new(3)),
        Packet::Unsubscribe(Unsubscribe::new("$aws/things/Thing1/jobs/notify-next")),
        Packet::PingReq,
        Packet::Disconnect,
    ];
    packets
        .into_iter()
        .map(|p| {
            let mut buf = BytesMut::new();
            p.write(&mut buf, 1 << 20).expect("corpus packet encodes");
            buf.to_vec()
        })
        .collect()
}

fn mutate(rng: &mut ChaCha12Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..rng.gen_range(1..4))
        .flat_map(|_| corpus[rng.gen_range(0..corpus.len())].clone())
        .collect();
    for _ in 0..rng.gen_range(0..6) {
        let at = rng.gen_range(0..bytes.len().max(1));
        match rng.gen_range(0..5) {
            0 if !bytes.is_empty() => bytes[at] ^= 1 << rng.gen_range(0..8),
            1 if !bytes.is_empty() => bytes[at] = rng.gen(),
            2 => bytes.truncate(at),
            3 => bytes
                .splice(at..at, (0..rng.gen_range(1..8)).map(|_| rng.gen::<u8>()))
                .for_each(drop),
            _ => bytes.extend((0..rng.gen_range(0..64)).map(|_| rng.gen::<u8>())),
        }
    }
    bytes
}

#[tokio::test]
async fn framing_never_panics_and_always_makes_progress() {
    let (seed, mut rng) = rng("framing");
    let corpus = corpus();
    let (stream, _peer) = tokio::io::duplex(64);
    let mut io = Io::new(stream, 4096, Duration::from_secs(1));
    let (mut packets, mut refused) = (0u64, 0u64);
    for i in 0..iterations(20_000) {
        let input = if rng.gen_bool(0.8) {
            mutate(&mut rng, &corpus)
        } else {
            (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect()
        };
        io.rbuf.clear();
        io.rbuf.extend_from_slice(&input);
        loop {
            let before = io.rbuf.len();
            match io.next_packet() {
                Ok(Some(_)) => {
                    packets += 1;
                    assert!(
                        io.rbuf.len() < before,
                        "seed {seed} iteration {i}: a packet was read without consuming bytes"
                    );
                }
                Ok(None) => break,
                Err(_) => {
                    refused += 1;
                    break;
                }
            }
        }
    }
    eprintln!("framing: {packets} packets decoded, {refused} inputs refused");
    // The corpus must reach both sides, or the run proves nothing.
    assert!(
        packets > 0 && refused > 0,
        "seed {seed}: {packets} decoded, {refused} refused"
    );
}

#[test]
fn session_state_keeps_its_invariants_under_random_devices() {
    let (seed, mut rng) = rng("state");
    let limits = Limits {
        max_inflight: 100,
        max_queued: 300,
        ..Limits::default()
    };
    for round in 0..iterations(200) {
        let t0 = Instant::now();
        let pace = rng
            .gen_bool(0.3)
            .then(|| Duration::from_millis(rng.gen_range(1..50)));
        let mut s = SessionState::new(limits.clone(), rng.gen(), pace, Duration::from_secs(20), t0);
        let mut now = t0;
        let mut held: BTreeSet<u16> = BTreeSet::new();
        for step in 0..2_000 {
            let at = format!("seed {seed} round {round} step {step}");
            let out = match rng.gen_range(0..10) {
                0..=4 => {
                    let topic = if rng.gen_bool(0.5) {
                        "$aws/things/T/streams/S/data/cbor"
                    } else {
                        "$aws/things/T/jobs/notify-next"
                    };
                    let qos = if rng.gen_bool(0.8) {
                        QoS::AtLeastOnce
                    } else {
                        QoS::AtMostOnce
                    };
                    s.publish(Publish::new(topic, qos, vec![0; rng.gen_range(0..64)]), now)
                }
                5..=7 => {
                    // The device acknowledges something: held, stale or made up.
                    let id = match held.iter().nth(rng.gen_range(0..held.len().max(1))) {
                        Some(id) if rng.gen_bool(0.9) => *id,
                        _ => rng.gen(),
                    };
                    if s.puback(id) {
                        assert!(held.remove(&id), "{at}: PUBACK matched an id never sent");
                    }
                    s.packet_received(now);
                    s.poll(now)
                }
                _ => {
                    now += Duration::from_millis(rng.gen_range(0..30_000));
                    if rng.gen_bool(0.7) {
                        s.packet_received(now);
                    }
                    s.poll(now)
                }
            };
            match out {
                Ok(sent) => {
                    for p in sent {
                        if p.qos == QoS::AtLeastOnce {
                            assert_ne!(p.pkid, 0, "{at}: QoS 1 with packet id 0");
                            if !p.dup {
                                assert!(held.insert(p.pkid), "{at}: packet id {} reused", p.pkid);
                            }
                        } else {
                            assert_eq!(p.pkid, 0, "{at}");
                        }
                    }
                    assert!(held.len() <= 100, "{at}: {} in flight", held.len());
                }
                Err(Breach::KeepAlive(_) | Breach::SlowConsumer { .. }) => break,
                Err(other) => panic!("{at}: unexpected {other}"),
            }
        }
    }
}
