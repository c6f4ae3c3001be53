//! The hostile-device attacks that need nothing beyond the default limits of the
//! contract (no `GatewayConfig::limits`), which are AWS IoT Core's: module `attacks` of
//! tests/cloud/gateway_hostile.rs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use otarig::cloud::gateway::{Gateway, GatewayConfig, Policy, TlsSettings};
use otarig::cloud::CloudServices;
use otarig::timeline::{EventKind, Timeline};
use rumqttc::QoS;
use tokio::io::AsyncWriteExt;

use crate::support::gateway::*;
use crate::support::hostile::mqtt::{self, Will};
use crate::support::hostile::*;

const T1: &str = "Thing1";
const T2: &str = "Thing2";

async fn scoped_bench() -> Bench {
    start_bench(&[T1, T2], Policy::ThingScoped, |_| {}).await
}

async fn permissive_bench() -> Bench {
    start_bench(&[T1, T2], Policy::Permissive, |_| {}).await
}

async fn raw(bench: &Bench, thing: &str) -> RawConn {
    RawConn::connected(bench.addr(), &bench.layout(), thing, 60).await
}

async fn served(bench: &Bench, after: &str) {
    assert_legit_device_served(bench.addr(), bench.dir.path(), T2, after).await;
}

// ---------------------------------------------------------------------------
// (a) a device that never acknowledges QoS 1
// ---------------------------------------------------------------------------

/// Publishes sent by the flood (to the device's own subscribed topic).
const FLOOD: usize = 70_000;
/// The flood's own unacknowledged publishes at most.
const WINDOW: u64 = 16;

/// What a never-acking device floods itself with.
#[derive(Clone, Copy, Debug)]
enum Flood {
    /// QoS 1 publishes to its own subscribed topic (routed through the broker).
    OwnTopic,
    /// QoS 1 GetStream requests for 32 blocks each (answered straight to it).
    StreamRequests,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_acking_device_flooding_its_own_topic_gets_at_most_100_unacked_and_the_cloud_goes_idle(
) {
    never_acking_flood(Flood::OwnTopic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_acking_device_flooding_stream_requests_gets_at_most_100_unacked_and_the_cloud_goes_idle(
) {
    never_acking_flood(Flood::StreamRequests).await;
}

async fn never_acking_flood(kind: Flood) {
    let cloud = CloudProc::start(&[T1, T2], &[]);
    let image: Vec<u8> = (0..8192u32).map(|i| (i % 241) as u8).collect();
    let (_job, stream, file) = cloud.job_create(&image, &[T1]);
    assert_legit_device_served(cloud.addr, &cloud.pki, T2, "the cloud started").await;

    let mut dev = RawConn::connected(cloud.addr, &cloud.layout(), T1, 60).await;
    let topic = format!("$aws/things/{T1}/flood");
    let data = format!("$aws/things/{T1}/streams/{stream}/data/cbor");
    dev.send(&mqtt::subscribe(1, &[(&topic, 1), (&data, 1)]))
        .await
        .unwrap();
    let ack = dev.expect_kind(mqtt::SUBACK).await;
    assert_eq!(
        ack.suback_codes(),
        [1, 1],
        "QoS 1 granted on the device's own topics"
    );
    // 32 blocks of 256 bytes per request: FLOOD / 32 requests.
    let get = format!("$aws/things/{T1}/streams/{stream}/get/cbor");
    let request = get_stream_cbor("flood", file, 256, 0, &[0xff; 4], 32);
    let (units, window) = match kind {
        Flood::OwnTopic => (FLOOD, WINDOW),
        Flood::StreamRequests => (FLOOD / 32 + 1, 4),
    };

    // Reader: never PUBACKs; counts distinct packet ids of publishes received
    // (all unacknowledged), and acks of the device's own publishes.
    let RawConn { mut rx, mut tx } = dev;
    let acked = Arc::new(AtomicU64::new(0));
    let unacked = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let reader = {
        let (acked, unacked, down) = (acked.clone(), unacked.clone(), down.clone());
        tokio::spawn(async move {
            let mut pkids = HashSet::new();
            loop {
                match rx.next().await {
                    Got::Frame(f) if f.kind() == mqtt::PUBACK => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Got::Frame(f) if f.kind() == mqtt::PUBLISH && f.qos() == 1 => {
                        pkids.insert(f.publish().1);
                        unacked.store(pkids.len(), Ordering::Relaxed);
                    }
                    Got::Frame(_) => {}
                    Got::Closed(c) => {
                        down.store(true, Ordering::Relaxed);
                        return c;
                    }
                }
            }
        })
    };

    // Writer: 70,000 QoS 1 publishes, at most WINDOW of its own unacknowledged
    // (packet ids are never reused while in flight, and the gateway has time
    // to deliver between reads, as with a device publishing steadily).
    let mut sent = 0usize;
    let mut stalled_since = Instant::now();
    let mut batch = Vec::new();
    while sent < units && !down.load(Ordering::Relaxed) {
        let outstanding = sent as u64 - acked.load(Ordering::Relaxed);
        if outstanding >= window {
            if stalled_since.elapsed() > Duration::from_secs(5) {
                break; // the gateway stopped acknowledging: it is stuck
            }
            tokio::task::yield_now().await;
            continue;
        }
        stalled_since = Instant::now();
        batch.clear();
        for _ in 0..window - outstanding {
            let pkid = (sent % 65_535) as u16 + 1;
            batch.extend(match kind {
                Flood::OwnTopic => mqtt::publish(&topic, 1, pkid, b"flood"),
                Flood::StreamRequests => mqtt::publish(&get, 1, pkid, &request),
            });
            sent += 1;
        }
        match tokio::time::timeout(Duration::from_secs(10), tx.write_all(&batch)).await {
            Ok(Ok(())) => {}
            _ => break, // disconnected (allowed) or the gateway stopped reading
        }
    }
    let seen_unacked = unacked.load(Ordering::Relaxed);
    drop(tx);
    reader.abort();
    eprintln!(
        "{kind:?} flood: sent {sent} publishes, {} acknowledged, device saw {seen_unacked} distinct unacked, disconnected: {}",
        acked.load(Ordering::Relaxed),
        down.load(Ordering::Relaxed)
    );

    // The attacker is gone: the cloud must be idle within a bound.
    let mut windows = Vec::new();
    let start = Instant::now();
    loop {
        let before = cloud.cpu_seconds();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let used = cloud.cpu_seconds() - before;
        windows.push(format!("{used:.2}"));
        if used < 0.5 || start.elapsed() > Duration::from_secs(20) {
            assert!(
                used < 0.5,
                "expected the cloud idle (< 0.5 s CPU in a 2 s window) after the never-acking device left; \
                 CPU seconds in successive 2 s windows: {windows:?}"
            );
            break;
        }
    }
    assert!(
        seen_unacked <= 100,
        "expected at most 100 unacknowledged QoS 1 publishes to the device at once (AWS IoT), saw {seen_unacked}"
    );
    assert_legit_device_served(cloud.addr, &cloud.pki, T2, "a never-acking flood").await;
}

// ---------------------------------------------------------------------------
// (b) Last Will on another thing's topic; the default policy
// ---------------------------------------------------------------------------

#[tokio::test]
async fn last_will_on_another_things_topic_is_refused_with_code_5_and_never_published() {
    let bench = scoped_bench().await;
    let mut victim = bench.device(T2, T2).await;
    let victim_topic = format!("$aws/things/{T2}/jobs/notify-next");
    victim.subscribe(&victim_topic, QoS::AtLeastOnce).await;
    let probe = format!("$aws/things/{T2}/probe");
    victim.subscribe(&probe, QoS::AtLeastOnce).await;

    let mut attacker = RawConn::open(bench.addr(), &bench.layout(), T1).await;
    let will = Will {
        topic: &victim_topic,
        payload: br#"{"timestamp":1,"execution":{"jobId":"forged"}}"#,
        qos: 1,
    };
    attacker
        .send(&mqtt::connect_raw(T1.as_bytes(), 60, true, Some(will), 0))
        .await
        .unwrap();
    let answer = attacker.rx.next_within(DEADLINE).await;
    drop(attacker); // TCP closed without DISCONNECT: a will would fire now

    // The attacker's connection has ended, whether refused or accepted.
    bench
        .wait_event("the attacker's connection to end", |e| {
            matches!(&e.kind, EventKind::Connection { client_id, thing, connected: false, .. }
                if client_id == T1 || thing.as_deref() == Some(T1))
        })
        .await;
    let before = victim.before_probe(&probe).await;
    let forged: Vec<_> = before.iter().filter(|p| p.topic == victim_topic).collect();
    assert!(
        forged.is_empty(),
        "Thing1's Last Will was published on Thing2's topic: {:?}",
        forged
            .iter()
            .map(|p| String::from_utf8_lossy(&p.payload))
            .collect::<Vec<_>>()
    );
    match answer {
        Some(Got::Frame(f)) if f.kind() == mqtt::CONNACK => assert_eq!(
            f.connack_code(),
            5,
            "expected CONNACK 5 (not authorized) for a will the policy forbids, got code {}",
            f.connack_code()
        ),
        other => panic!("expected CONNACK 5, got {other:?}"),
    }
    served(&bench, "a forbidden Last Will").await;
}

#[tokio::test]
async fn default_gateway_policy_is_thing_scoped() {
    let dir = make_pki(&[T1, T2]);
    let timeline = Timeline::in_memory();
    let services = Arc::new(CloudServices::new(Arc::new(timeline.clone())));
    let cfg = GatewayConfig {
        tls: Some(TlsSettings {
            pki_dir: dir.path().to_path_buf(),
        }),
        ..GatewayConfig::default()
    };
    let gw = Gateway::start(cfg, services, Arc::new(timeline))
        .await
        .unwrap();
    let layout = otarig::cloud::pki::PkiLayout::new(dir.path());
    let mut c = RawConn::open(gw.local_addr(), &layout, T1).await;
    c.send(&mqtt::connect(T2, 60, true)).await.unwrap();
    let ack = c.expect_frame("CONNACK").await;
    assert_eq!(
        ack.connack_code(),
        5,
        "by default a client id other than the certificate CN must be refused (thing-scoped), got CONNACK {}",
        ack.connack_code()
    );
}

// ---------------------------------------------------------------------------
// (c) memory held for a persistent session that never acknowledges
// ---------------------------------------------------------------------------

const STREAM_REQUESTS: usize = 1_500;
const BIG_FILTERS: usize = 1_000;
const BIG_FILTER_BYTES: usize = 60 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_after_a_never_acking_persistent_session_returns_within_twice_idle() {
    let cloud = CloudProc::start(&[T1, T2], &[]);
    let image: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 31 % 251) as u8).collect();
    let (_job, stream, file) = cloud.job_create(&image, &[T1, T2]);
    assert_legit_device_served(cloud.addr, &cloud.pki, T2, "the cloud started").await;
    let idle = cloud.rss_kib();

    let mut dev = RawConn::open(cloud.addr, &cloud.layout(), T1).await;
    dev.send(&mqtt::connect(T1, 60, false)).await.unwrap();
    let ack = dev.expect_frame("CONNACK").await;
    assert_eq!(ack.connack_code(), 0);
    let base = format!("$aws/things/{T1}/streams/{stream}");
    dev.send(&mqtt::subscribe(1, &[(&format!("{base}/data/cbor"), 1)]))
        .await
        .unwrap();
    dev.expect_kind(mqtt::SUBACK).await;

    let RawConn { mut rx, mut tx } = dev;
    // Reads everything, acknowledges nothing.
    let reader = tokio::spawn(async move {
        let mut publishes = 0usize;
        loop {
            match rx.next().await {
                Got::Frame(f) if f.kind() == mqtt::PUBLISH => publishes += 1,
                Got::Frame(_) => {}
                Got::Closed(_) => return publishes,
            }
        }
    });
    let mut peak = idle;
    let mut written = 0usize;
    let attack = async {
        for i in 0..BIG_FILTERS {
            let mut filter = format!("$aws/things/{T1}/{i}/").into_bytes();
            filter.resize(BIG_FILTER_BYTES, b'f');
            let p = mqtt::subscribe_raw(0x82, (i % 60_000) as u16 + 2, &[(&filter, 1)]);
            tx.write_all(&p).await?;
            written += 1;
        }
        let get = format!("{base}/get/cbor");
        for i in 0..STREAM_REQUESTS {
            let req = get_stream_cbor("hog", file, 4096, 0, &[0xff], 8);
            tx.write_all(&mqtt::publish(&get, 1, (i % 60_000) as u16 + 2, &req))
                .await?;
            written += 1;
        }
        tx.flush().await?;
        tx.write_all(&mqtt::disconnect()).await?;
        tx.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(60), attack).await;
    peak = peak.max(cloud.rss_kib());
    drop(tx);
    let received = tokio::time::timeout(DEADLINE, reader)
        .await
        .ok()
        .and_then(|r| r.ok());
    peak = peak.max(cloud.peak_rss_kib());
    eprintln!(
        "memory attack: {written} packets written, {received:?} publishes received; idle {idle} KiB, peak {peak} KiB"
    );

    let mut samples = Vec::new();
    let back = poll_until(Duration::from_secs(10), || {
        let now = cloud.rss_kib();
        samples.push(now);
        if now <= 2 * idle { Ok(now) } else { Err(now) }.map_err(|n| format!("{n}"))
    })
    .await;
    assert!(
        back.is_ok(),
        "expected VmRSS back within 2x idle ({} KiB) after the persistent session went offline; \
         idle {idle} KiB, peak {peak} KiB, samples over 10 s (KiB): {samples:?}",
        2 * idle
    );
    assert_legit_device_served(cloud.addr, &cloud.pki, T2, "a memory attack").await;
}

// ---------------------------------------------------------------------------
// (d) takeovers of connections that stopped reading
// ---------------------------------------------------------------------------

const TAKEOVERS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_takeovers_of_non_reading_connections_leave_only_the_live_socket() {
    let cloud = CloudProc::start(&[T1, T2], &[]);
    let image: Vec<u8> = (0..160 * 1024u32).map(|i| (i % 239) as u8).collect();
    let (_job, stream, file) = cloud.job_create(&image, &[T1]);
    let layout = cloud.layout();
    let mut old = Vec::new();
    let start = Instant::now();
    let budget = Duration::from_secs(90);
    for i in 0..TAKEOVERS {
        let mut c = RawConn::from_stream(tls_stream(cloud.addr, &layout, T1, Some(4096)).await);
        c.send(&mqtt::connect(T1, 60, true)).await.unwrap();
        let ack = c.expect_frame("CONNACK").await;
        assert_eq!(ack.connack_code(), 0, "takeover {i}");
        request_more_than_it_reads(&mut c, T1, &stream, file).await;
        old.push(c); // kept open, never read again
        assert!(
            start.elapsed() < budget,
            "{i} takeovers took over {budget:?} (each new CONNACK waits for the stuck old connection?); \
             ESTABLISHED sockets of the cloud on its port now: {}",
            cloud.established()
        );
    }
    let mut live = RawConn::connected(cloud.addr, &layout, T1, 60).await;
    let settled = until_one_established(Duration::from_secs(30), || cloud.established()).await;
    assert!(
        settled.is_ok(),
        "expected 1 ESTABLISHED gateway socket (the live connection) after {TAKEOVERS} takeovers of \
         non-reading connections; counts while polling 30 s: {:?}",
        settled.unwrap_err()
    );
    live.send(&mqtt::pingreq()).await.unwrap();
    assert_eq!(
        live.expect_kind(mqtt::PINGRESP).await.kind(),
        mqtt::PINGRESP
    );
    drop(old);
    assert_legit_device_served(cloud.addr, &cloud.pki, T2, "100 takeovers").await;
}

// ---------------------------------------------------------------------------
// (e) keep-alive with the default limits: slow-loris
// ---------------------------------------------------------------------------

/// With the default 30 s minimum, keep-alive 30 is honoured: 45 s without a
/// complete packet ends the connection, however many bytes trickle in.
#[tokio::test]
async fn slow_loris_bytes_of_an_incomplete_packet_do_not_keep_a_connection_alive() {
    let bench = scoped_bench().await;
    let mut c = RawConn::connected(bench.addr(), &bench.layout(), T1, 30).await;
    let topic = format!("$aws/things/{T1}/loris");
    // A PUBLISH announcing 10,000 bytes, sent one byte a second: never complete.
    let never_done = mqtt::publish(&topic, 0, 0, &[b'x'; 10_000]);
    let start = Instant::now();
    let (closed, i) = trickle(
        &mut c,
        &never_done,
        Duration::from_secs(1),
        Duration::from_secs(45 + 10),
    )
    .await;
    assert!(
        matches!(closed, Some(Got::Closed(_))),
        "expected the connection closed 45 s (1.5 x keep-alive 30) after its last complete packet \
         although a byte of an unfinished packet arrived every second; after {:?} and {i} bytes: {closed:?}",
        start.elapsed()
    );
    served(&bench, "a slow-loris").await;
}

// ---------------------------------------------------------------------------
// (f) client id length
// ---------------------------------------------------------------------------

#[tokio::test]
async fn client_id_of_129_bytes_is_refused_with_code_2() {
    // Permissive: under thing-scoped any id but the CN is refused with 5 anyway.
    let bench = permissive_bench().await;
    let mut c = RawConn::open(bench.addr(), &bench.layout(), T1).await;
    c.send(&mqtt::connect(&"c".repeat(129), 60, true))
        .await
        .unwrap();
    let ack = c.expect_frame("CONNACK").await;
    assert_eq!(
        ack.connack_code(),
        2,
        "expected CONNACK 2 (identifier rejected) for a 129-byte client id (AWS IoT limit 128), got {}",
        ack.connack_code()
    );
    c.closed_within(DEADLINE)
        .await
        .expect("closed after CONNACK 2");
    served(&bench, "a 129-byte client id").await;
}

#[tokio::test]
async fn client_id_of_128_bytes_is_accepted() {
    let bench = permissive_bench().await;
    let mut c = RawConn::open(bench.addr(), &bench.layout(), T1).await;
    c.send(&mqtt::connect(&"c".repeat(128), 60, true))
        .await
        .unwrap();
    assert_eq!(c.expect_frame("CONNACK").await.connack_code(), 0);
}

// ---------------------------------------------------------------------------
// (g) subscription and topic limits
// ---------------------------------------------------------------------------

fn own(n: usize) -> String {
    format!("$aws/things/{T1}/s/{n}")
}

#[tokio::test]
async fn nine_filters_in_one_subscribe_close_the_connection() {
    let bench = scoped_bench().await;
    let mut c = raw(&bench, T1).await;
    let filters: Vec<String> = (0..9).map(own).collect();
    let f: Vec<(&str, u8)> = filters.iter().map(|f| (f.as_str(), 1)).collect();
    c.send(&mqtt::subscribe(3, &f)).await.unwrap();
    let r = c.closed_without_reply(DEADLINE).await;
    assert!(
        r.is_ok(),
        "9 filters in one SUBSCRIBE (AWS IoT limit 8): {}",
        r.unwrap_err()
    );
    served(&bench, "a 9-filter SUBSCRIBE").await;
}

#[tokio::test]
async fn eight_filters_in_one_subscribe_are_all_granted() {
    let bench = scoped_bench().await;
    let mut c = raw(&bench, T1).await;
    let filters: Vec<String> = (0..8).map(own).collect();
    let f: Vec<(&str, u8)> = filters.iter().map(|f| (f.as_str(), 1)).collect();
    c.send(&mqtt::subscribe(3, &f)).await.unwrap();
    assert_eq!(c.expect_kind(mqtt::SUBACK).await.suback_codes(), [1; 8]);
}

#[tokio::test]
async fn fifty_first_subscription_on_a_connection_gets_0x80() {
    let bench = scoped_bench().await;
    let mut c = raw(&bench, T1).await;
    let mut codes = Vec::new();
    for chunk in 0..7 {
        // 8 + 8 + ... = 56 filters, 51st onwards beyond the limit
        let filters: Vec<String> = (chunk * 8..chunk * 8 + 8).map(own).collect();
        let f: Vec<(&str, u8)> = filters.iter().map(|f| (f.as_str(), 1)).collect();
        c.send(&mqtt::subscribe(chunk as u16 + 1, &f))
            .await
            .unwrap();
        codes.extend(c.expect_kind(mqtt::SUBACK).await.suback_codes());
    }
    let granted = codes.iter().filter(|c| **c != 0x80).count();
    assert_eq!(
        (&codes[..50], &codes[50..]),
        (&[1u8; 50][..], &[0x80u8; 6][..]),
        "expected the first 50 subscriptions granted and the rest 0x80 (AWS IoT: 50 per connection); {granted} granted"
    );
    // A filter already held is a replacement, not a 51st subscription.
    c.send(&mqtt::subscribe(9, &[(&own(0), 0)])).await.unwrap();
    assert_eq!(c.expect_kind(mqtt::SUBACK).await.suback_codes(), [0]);
    served(&bench, "56 subscriptions").await;
}

#[tokio::test]
async fn filter_of_257_bytes_gets_0x80_and_one_of_256_is_granted() {
    let bench = scoped_bench().await;
    let mut c = raw(&bench, T1).await;
    let prefix = format!("$aws/things/{T1}/");
    let long = |n: usize| format!("{prefix}{}", "L".repeat(n - prefix.len()));
    let (f256, f257) = (long(256), long(257));
    c.send(&mqtt::subscribe(4, &[(&f257, 1), (&f256, 1)]))
        .await
        .unwrap();
    assert_eq!(
        c.expect_kind(mqtt::SUBACK).await.suback_codes(),
        [0x80, 1],
        "expected [0x80 for 257 bytes, granted for 256] (AWS IoT topic limit 256 bytes)"
    );
}

#[tokio::test]
async fn filter_with_8_slashes_gets_0x80_and_one_with_7_is_granted() {
    let bench = scoped_bench().await;
    let mut c = raw(&bench, T1).await;
    let seven = format!("$aws/things/{T1}/a/b/c/d/e");
    let eight = format!("$aws/things/{T1}/a/b/c/d/e/f");
    assert_eq!(
        (seven.matches('/').count(), eight.matches('/').count()),
        (7, 8)
    );
    c.send(&mqtt::subscribe(5, &[(&eight, 1), (&seven, 1)]))
        .await
        .unwrap();
    assert_eq!(
        c.expect_kind(mqtt::SUBACK).await.suback_codes(),
        [0x80, 1],
        "expected [0x80 for 8 slashes, granted for 7] (AWS IoT: at most 7 slashes)"
    );
}

#[tokio::test]
async fn publish_to_a_topic_with_8_slashes_closes_the_connection() {
    let bench = scoped_bench().await;
    let mut c = raw(&bench, T1).await;
    let seven = format!("$aws/things/{T1}/a/b/c/d/e");
    c.send(&mqtt::subscribe(1, &[(&seven, 1)])).await.unwrap();
    c.expect_kind(mqtt::SUBACK).await;
    // 7 slashes is fine: it comes back.
    c.send(&mqtt::publish(&seven, 1, 2, b"ok")).await.unwrap();
    let back = c.expect_kind(mqtt::PUBLISH).await;
    assert_eq!(back.publish().0, seven);
    c.send(&mqtt::publish(&format!("{seven}/f"), 1, 3, b"8 slashes"))
        .await
        .unwrap();
    let r = c.closed_within(DEADLINE).await;
    assert!(
        r.is_ok(),
        "publish to a topic with 8 slashes (AWS IoT limit 7): {}",
        r.unwrap_err()
    );
    served(&bench, "an 8-slash publish").await;
}

#[tokio::test]
async fn publish_to_a_topic_of_257_bytes_closes_the_connection() {
    let bench = scoped_bench().await;
    let mut c = raw(&bench, T1).await;
    let prefix = format!("$aws/things/{T1}/");
    let topic = format!("{prefix}{}", "L".repeat(257 - prefix.len()));
    c.send(&mqtt::publish(&topic, 1, 2, b"too long"))
        .await
        .unwrap();
    let r = c.closed_within(DEADLINE).await;
    assert!(
        r.is_ok(),
        "publish to a 257-byte topic (AWS IoT limit 256): {}",
        r.unwrap_err()
    );
    served(&bench, "a 257-byte topic").await;
}

#[tokio::test]
async fn basic_ingest_prefix_does_not_count_toward_the_slash_limit() {
    let bench = permissive_bench().await;
    let mut c = raw(&bench, T1).await;
    // `$aws/rules/r/` + 7 slashes = 10 in all: allowed for Basic Ingest.
    let ingest = "$aws/rules/r/a/b/c/d/e/f/g";
    let probe = format!("$aws/things/{T1}/probe");
    c.send(&mqtt::subscribe(1, &[(&probe, 1)])).await.unwrap();
    c.expect_kind(mqtt::SUBACK).await;
    c.send(&mqtt::publish(ingest, 1, 2, b"ingest"))
        .await
        .unwrap();
    c.send(&mqtt::publish(&probe, 1, 3, b"probe"))
        .await
        .unwrap();
    let mut acks = Vec::new();
    loop {
        let f = c.expect_frame("PUBACKs and the probe").await;
        match f.kind() {
            mqtt::PUBACK => acks.push(f.pkid()),
            mqtt::PUBLISH if f.publish().0 == probe => break,
            _ => {}
        }
    }
    assert!(
        acks.contains(&2),
        "the Basic Ingest publish was not acknowledged: {acks:?}"
    );
}

// ---------------------------------------------------------------------------
// (h) malformed packets: closed without a reply
// ---------------------------------------------------------------------------

/// Opens TLS as Thing1, CONNECTs unless `bytes` is itself the CONNECT, sends
/// `bytes`, and expects the connection closed without any packet in reply;
/// then a legitimate device must be served.
async fn malformed_closes_silently(what: &str, connect_first: bool, bytes: Vec<u8>) {
    let bench = scoped_bench().await;
    let mut c = if connect_first {
        raw(&bench, T1).await
    } else {
        RawConn::open(bench.addr(), &bench.layout(), T1).await
    };
    c.send(&bytes).await.unwrap();
    if let Err(e) = c.closed_without_reply(DEADLINE).await {
        panic!("{what}: expected the connection closed without a reply: {e}");
    }
    served(&bench, what).await;
}

macro_rules! malformed {
    ($($name:ident, $connect_first:expr, $bytes:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            malformed_closes_silently(stringify!($name), $connect_first, $bytes).await;
        }
    )*};
}

fn own_topic() -> String {
    format!("$aws/things/{T1}/m")
}

malformed! {
    malformed_connect_with_the_reserved_flag_set_is_closed_without_connack, false,
        mqtt::connect_raw(T1.as_bytes(), 60, true, None, 0x01);
    malformed_connect_with_nul_in_the_client_id_is_closed_without_connack, false,
        mqtt::connect_raw(b"Thing1\0", 60, true, None, 0);
    malformed_subscribe_with_fixed_header_flags_0000_is_closed, true,
        mqtt::subscribe_raw(0x80, 1, &[(own_topic().as_bytes(), 1)]);
    malformed_subscribe_with_fixed_header_flags_0011_is_closed, true,
        mqtt::subscribe_raw(0x83, 1, &[(own_topic().as_bytes(), 1)]);
    malformed_unsubscribe_with_fixed_header_flags_0000_is_closed, true,
        mqtt::unsubscribe_raw(0xA0, 1, &[&own_topic()]);
    malformed_pingreq_with_reserved_flags_is_closed, true, vec![0xC1, 0x00];
    malformed_puback_with_reserved_flags_is_closed, true, mqtt::packet(0x42, &[0, 1]);
    malformed_disconnect_with_reserved_flags_is_closed, true, vec![0xE4, 0x00];
    malformed_publish_with_qos_bits_11_is_closed, true,
        mqtt::publish_raw(own_topic().as_bytes(), 3, 1, b"qos3");
    malformed_publish_with_nul_in_the_topic_is_closed, true,
        mqtt::publish_raw(format!("{}\0x", own_topic()).as_bytes(), 1, 1, b"nul");
    malformed_subscribe_with_nul_in_a_filter_is_closed, true,
        mqtt::subscribe_raw(0x82, 1, &[(format!("{}\0x", own_topic()).as_bytes(), 1)]);
    malformed_subscribe_without_any_filter_is_closed, true, mqtt::subscribe_raw(0x82, 1, &[]);
    malformed_unsubscribe_without_any_filter_is_closed, true, mqtt::unsubscribe_raw(0xA2, 1, &[]);
}

// ---------------------------------------------------------------------------
// (i) log injection
// ---------------------------------------------------------------------------

const FORGED: &str = "2026-12-05T00:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_and_topics_with_newlines_or_escapes_are_escaped_in_the_log() {
    // NO_COLOR: every ESC byte on stderr then comes from the attacker.
    let cloud = CloudProc::start(&[T1, T2], &[("OTARIG_LOG", "info"), ("NO_COLOR", "1")]);
    let evil = format!("evil\n{FORGED}  INFO forged line\x1b[2J");
    let mut c = RawConn::open(cloud.addr, &cloud.layout(), T1).await;
    c.send(&mqtt::connect(&evil, 60, true)).await.unwrap();
    let _ = c.rx.next_within(DEADLINE).await;
    drop(c);
    // A topic no policy allows (a wildcard in a topic name), logged when refused.
    let mut c = RawConn::connected(cloud.addr, &cloud.layout(), T1, 60).await;
    let topic = format!("$aws/things/{T1}/+\n{FORGED}  INFO forged topic\x1b[2J");
    c.send(&mqtt::publish(&topic, 1, 1, b"x")).await.unwrap();
    let _ = c.closed_within(DEADLINE).await;
    assert_legit_device_served(cloud.addr, &cloud.pki, T2, "log injection").await;

    let logged = poll_until(DEADLINE, || {
        let text = cloud.stderr_text();
        if text.contains("evil") && text.contains("forged topic") {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await
    .unwrap_or_else(|t| panic!("expected the cloud to log both attempts (escaped); stderr:\n{t}"));
    let forged: Vec<&str> = logged.lines().filter(|l| l.starts_with(FORGED)).collect();
    assert!(
        forged.is_empty(),
        "a device forged log lines (newline in a client id or topic not escaped): {forged:?}\nstderr:\n{logged}"
    );
    assert!(
        !logged.contains('\x1b'),
        "a raw ESC from a device reached the log (terminal escape not escaped):\n{}",
        logged.escape_debug()
    );
}

// ---------------------------------------------------------------------------
// (j) takeover and cut end with a TLS close_notify
// ---------------------------------------------------------------------------

#[tokio::test]
async fn taken_over_connection_reads_a_tls_close_notify() {
    let bench = scoped_bench().await;
    let mut old = raw(&bench, T1).await;
    let _new = raw(&bench, T1).await;
    match old.rx.next_within(DEADLINE).await {
        Some(Got::Closed(Closed::CloseNotify)) => {}
        other => panic!(
            "expected the taken-over connection to end with a TLS close_notify (read returns Ok(0)), got {other:?}"
        ),
    }
}

#[tokio::test]
async fn kicked_connection_reads_a_tls_close_notify() {
    let bench = scoped_bench().await;
    let mut c = raw(&bench, T1).await;
    assert_eq!(bench.gateway.kick(T1), 1);
    match c.rx.next_within(DEADLINE).await {
        Some(Got::Closed(Closed::CloseNotify)) => {}
        other => {
            panic!("expected a kicked connection to end with a TLS close_notify, got {other:?}")
        }
    }
}
