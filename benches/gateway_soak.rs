//! Soak: N devices on one `otarig cloud` process over mutual TLS, legitimate
//! ones downloading a stream while a share of misbehaving ones never acknowledge
//! QoS 1, never read, trickle bytes (slow-loris) or reconnect in a storm. Prints
//! the legitimate devices' download rate, the cloud's peak RSS and CPU seconds,
//! next to the same legitimate load without the misbehaving devices.
//!
//! `cargo bench --bench gateway_soak`; `OTARIG_SOAK_DEVICES` (default 1000),
//! `OTARIG_SOAK_SECS` (default 60) per run, `OTARIG_SOAK_BAD_PERCENT` (default 10).
//! See docs/hostile-devices.md.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use otarig::cloud::pki::PkiLayout;
use rumqttc::QoS;
use support::gateway::{get_stream_cbor, DevEvent, Device};
use support::hostile::{mqtt, request_more_than_it_reads, tls_stream, CloudProc, Got, RawConn};

const BLOCK: u32 = 4096;
const PER_REQUEST: u32 = 8;
const IMAGE_BLOCKS: u32 = 64;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
}

#[derive(Clone, Copy, Debug)]
enum Bad {
    NeverAcks,
    NeverReads,
    SlowLoris,
    ReconnectStorm,
}

const BAD_KINDS: [Bad; 4] = [
    Bad::NeverAcks,
    Bad::NeverReads,
    Bad::SlowLoris,
    Bad::ReconnectStorm,
];

#[derive(Default)]
struct Counters {
    blocks: AtomicU64,
    connect_failures: AtomicU64,
    bad_connections: AtomicU64,
}

struct Target {
    addr: SocketAddr,
    pki: PathBuf,
    stream: String,
    file: u32,
}

/// A legitimate device: downloads `PER_REQUEST` blocks at a time, over and over.
async fn legit(
    t: Arc<Target>,
    thing: String,
    c: Arc<Counters>,
    go: Arc<tokio::sync::Barrier>,
    stop: Arc<AtomicBool>,
) {
    let opts = Device::options(t.addr, Some((&t.pki, &thing)), &thing, true);
    let mut dev = Device::start(opts, 64);
    let ok = matches!(
        tokio::time::timeout(Duration::from_secs(60), dev.rx.recv()).await,
        Ok(Some(DevEvent::ConnAck(a))) if a.code == rumqttc::ConnectReturnCode::Success
    );
    let base = format!("$aws/things/{thing}/streams/{}", t.stream);
    if ok {
        let _ = dev
            .client
            .subscribe(format!("{base}/data/cbor"), QoS::AtMostOnce)
            .await;
    } else {
        c.connect_failures.fetch_add(1, Ordering::Relaxed);
    }
    go.wait().await;
    if !ok {
        return;
    }
    let mut offset = 0;
    while !stop.load(Ordering::Relaxed) {
        let req = get_stream_cbor("soak", t.file, BLOCK, offset, &[0xff], PER_REQUEST);
        if dev
            .client
            .publish(format!("{base}/get/cbor"), QoS::AtMostOnce, false, req)
            .await
            .is_err()
        {
            c.connect_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut left = PER_REQUEST;
        while left > 0 && !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_secs(5), dev.rx.recv()).await {
                Ok(Some(DevEvent::Publish(p))) if p.topic.ends_with("/data/cbor") => {
                    left -= 1;
                    c.blocks.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Some(DevEvent::Down(_))) | Ok(None) => {
                    c.connect_failures.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(Some(_)) => {}
                Err(_) => break, // ask again
            }
        }
        offset = (offset + PER_REQUEST) % IMAGE_BLOCKS;
    }
    let _ = dev.client.disconnect().await;
}

async fn raw_connect(
    t: &Target,
    layout: &PkiLayout,
    thing: &str,
    rcvbuf: Option<u32>,
    keep_alive: u16,
) -> Option<RawConn> {
    let stream = tokio::time::timeout(
        Duration::from_secs(30),
        tls_stream(t.addr, layout, thing, rcvbuf),
    )
    .await
    .ok()?;
    let mut c = RawConn::from_stream(stream);
    c.send(&mqtt::connect(thing, keep_alive, true)).await.ok()?;
    match c.rx.next_within(Duration::from_secs(30)).await {
        Some(Got::Frame(f)) if f.kind() == mqtt::CONNACK && f.connack_code() == 0 => Some(c),
        _ => None,
    }
}

/// A misbehaving device, reconnecting whenever the cloud closes it.
async fn bad(t: Arc<Target>, thing: String, kind: Bad, c: Arc<Counters>, stop: Arc<AtomicBool>) {
    let layout = PkiLayout::new(&t.pki);
    let base = format!("$aws/things/{thing}/streams/{}", t.stream);
    while !stop.load(Ordering::Relaxed) {
        let rcvbuf = matches!(kind, Bad::NeverReads).then_some(4096);
        let Some(mut conn) = raw_connect(&t, &layout, &thing, rcvbuf, 30).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        c.bad_connections.fetch_add(1, Ordering::Relaxed);
        match kind {
            Bad::NeverAcks => {
                let _ = conn
                    .send(&mqtt::subscribe(1, &[(&format!("{base}/data/cbor"), 1)]))
                    .await;
                let RawConn { mut rx, mut tx } = conn;
                let reader =
                    tokio::spawn(async move { while let Got::Frame(_) = rx.next().await {} });
                let mut pkid = 1u16;
                while !stop.load(Ordering::Relaxed) && !reader.is_finished() {
                    let req = get_stream_cbor("bad", t.file, BLOCK, 0, &[0xff; 2], 16);
                    use tokio::io::AsyncWriteExt;
                    let packet = mqtt::publish(&format!("{base}/get/cbor"), 1, pkid, &req);
                    let w = tx.write_all(&packet);
                    if !matches!(
                        tokio::time::timeout(Duration::from_secs(5), w).await,
                        Ok(Ok(()))
                    ) {
                        break;
                    }
                    pkid = pkid.wrapping_add(1).max(1);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                reader.abort();
            }
            Bad::NeverReads => {
                request_more_than_it_reads(&mut conn, &thing, &t.stream, t.file).await;
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Bad::SlowLoris => {
                let junk = mqtt::publish(
                    &format!("$aws/things/{thing}/loris"),
                    0,
                    0,
                    &[b'x'; 100_000],
                );
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && i < junk.len() {
                    if let Some(Got::Closed(_)) = conn.rx.next_within(Duration::from_secs(1)).await
                    {
                        break;
                    }
                    if conn.send(&junk[i..i + 1]).await.is_err() {
                        break;
                    }
                    i += 1;
                }
            }
            Bad::ReconnectStorm => {
                drop(conn);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

struct RunResult {
    legit: usize,
    bad: usize,
    secs: f64,
    blocks: u64,
    cpu: f64,
    peak_rss_kib: u64,
    connect_failures: u64,
    bad_connections: u64,
}

async fn run(devices: usize, bad_count: usize, with_bad: bool, secs: u64) -> RunResult {
    let names: Vec<String> = (0..devices).map(|i| format!("Soak{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let cloud = CloudProc::start(&refs, &[]);
    let legit_names = &names[bad_count..];
    let image: Vec<u8> = (0..IMAGE_BLOCKS * BLOCK).map(|i| (i % 251) as u8).collect();
    let (_job, stream, file) = cloud.job_create(&image, &refs);
    let target = Arc::new(Target {
        addr: cloud.addr,
        pki: cloud.pki.clone(),
        stream,
        file,
    });
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let go = Arc::new(tokio::sync::Barrier::new(legit_names.len() + 1));
    let mut tasks = Vec::new();
    let cpu0 = cloud.cpu_seconds();
    for (i, thing) in legit_names.iter().enumerate() {
        tasks.push(tokio::spawn(legit(
            target.clone(),
            thing.clone(),
            counters.clone(),
            go.clone(),
            stop.clone(),
        )));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(50)).await; // a ramp, not a thundering herd
        }
    }
    go.wait().await;
    let bad_running = if with_bad { bad_count } else { 0 };
    for (i, thing) in names[..bad_running].iter().enumerate() {
        let kind = BAD_KINDS[i % BAD_KINDS.len()];
        tasks.push(tokio::spawn(bad(
            target.clone(),
            thing.clone(),
            kind,
            counters.clone(),
            stop.clone(),
        )));
    }
    let blocks0 = counters.blocks.load(Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let blocks = counters.blocks.load(Ordering::Relaxed) - blocks0;
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let cpu = cloud.cpu_seconds() - cpu0;
    let peak = cloud.peak_rss_kib();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    RunResult {
        legit: legit_names.len(),
        bad: bad_running,
        secs: elapsed,
        blocks,
        cpu,
        peak_rss_kib: peak,
        connect_failures: counters.connect_failures.load(Ordering::Relaxed),
        bad_connections: counters.bad_connections.load(Ordering::Relaxed),
    }
}

fn raise_fd_limit() {
    // SAFETY: plain getrlimit/setrlimit on this process's own limit.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours means another bench is wanted.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"gateway_soak".contains(a.as_str()))
    {
        return;
    }
    raise_fd_limit();
    let devices = env_or("OTARIG_SOAK_DEVICES", 1000) as usize;
    let secs = env_or("OTARIG_SOAK_SECS", 60);
    let pct = env_or("OTARIG_SOAK_BAD_PERCENT", 10) as usize;
    let bad_count = (devices * pct / 100).min(devices.saturating_sub(1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "gateway soak: {devices} devices ({bad_count} misbehaving: never-acking, never-reading, slow-loris, reconnect storm), \
             {secs} s per run, mutual TLS to an `otarig cloud` process, {BLOCK}-byte blocks, {PER_REQUEST} per request"
        );
        println!(
            "{:<16} {:>6} {:>5} {:>10} {:>9} {:>10} {:>12} {:>10} {:>12}",
            "run", "legit", "bad", "blocks", "MiB/s", "cloud CPU", "peak RSS", "failures", "bad conns"
        );
        for with_bad in [false, true] {
            let r = run(devices, bad_count, with_bad, secs).await;
            println!(
                "{:<16} {:>6} {:>5} {:>10} {:>9.2} {:>9.1}s {:>9} MiB {:>10} {:>12}",
                if with_bad { "with misbehaving" } else { "baseline" },
                r.legit,
                r.bad,
                r.blocks,
                r.blocks as f64 * f64::from(BLOCK) / (1024.0 * 1024.0) / r.secs,
                r.cpu,
                r.peak_rss_kib / 1024,
                r.connect_failures,
                r.bad_connections,
            );
        }
    });
}
