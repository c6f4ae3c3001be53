//! The live gateway fuzzed with mutated real sessions over fresh mutual-TLS
//! connections: a corpus of what an OTA agent sends (CONNECT, SUBSCRIBE to
//! the Jobs and stream topics, `$next/get`, GetStream, PUBACK, PINGREQ,
//! DISCONNECT) is mutated by a seeded ChaCha RNG (bit flips, truncation,
//! splicing, rewritten lengths, packet drops and repeats, random bytes). After
//! every case the gateway must not have panicked, must have let go of every
//! connection, and must still serve a legitimate device.
//!
//! `OTARIG_FUZZ_SEED=<n>` replays a run (the seed is printed);
//! `OTARIG_FUZZ_ITERS=<n>` sets the number of cases (default 300, a few
//! seconds). The long run is in docs/hostile-devices.md.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::gateway::*;
use crate::support::hostile::mqtt::{self, Will};
use crate::support::hostile::*;
use otarig::cloud::gateway::Policy;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;

const T1: &str = "Thing1";
const T2: &str = "Thing2";
const DEFAULT_ITERS: usize = 300;
const PARALLEL: usize = 4;

type Session = Vec<Vec<u8>>;

/// Real sessions, packet by packet, as the agents and rumqttc devices send them.
fn corpus(job: &str, stream: &str, file: u32) -> Vec<Session> {
    let jobs = format!("$aws/things/{T1}/jobs");
    let streams = format!("$aws/things/{T1}/streams/{stream}");
    let get = get_stream_cbor("rdy", file, 4096, 0, &[0xff], 8);
    let get_v1 = {
        use ciborium::Value;
        let map = Value::Map(vec![
            (Value::Text("c".into()), Value::Text("rdy".into())),
            (Value::Text("f".into()), Value::Integer(file.into())),
            (Value::Text("l".into()), Value::Integer(1024.into())),
            (Value::Text("o".into()), Value::Integer(0.into())),
            (Value::Text("b".into()), Value::Bytes(vec![0xff; 4])),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&map, &mut out).unwrap();
        out
    };
    let token = format!(r#"{{"clientToken":"0:{T1}"}}"#);
    vec![
        // v3 agent: notify-next and the data topic only.
        vec![
            mqtt::connect(T1, 30, true),
            mqtt::subscribe(1, &[(&format!("{jobs}/notify-next"), 1)]),
            mqtt::subscribe(2, &[(&format!("{streams}/data/cbor"), 0)]),
            mqtt::publish(&format!("{jobs}/$next/get"), 1, 3, token.as_bytes()),
            mqtt::publish(&format!("{streams}/get/cbor"), 0, 0, &get),
            mqtt::puback(1),
            mqtt::pingreq(),
            mqtt::publish(
                &format!("{jobs}/{job}/update"),
                1,
                4,
                br#"{"status":"IN_PROGRESS","statusDetails":{"receive":"8/16"}}"#,
            ),
            mqtt::disconnect(),
        ],
        // v1 agent: persistent session, both job topics in one SUBSCRIBE.
        vec![
            mqtt::connect(T1, 1200, false),
            mqtt::subscribe(
                7,
                &[
                    (&format!("{jobs}/$next/get/accepted"), 1),
                    (&format!("{jobs}/notify-next"), 1),
                ],
            ),
            mqtt::publish(&format!("{jobs}/$next/get"), 1, 8, token.as_bytes()),
            mqtt::publish(&format!("{streams}/get/cbor"), 1, 9, &get_v1),
            mqtt::puback(1),
            mqtt::puback(2),
            mqtt::unsubscribe_raw(0xA2, 10, &[&format!("{jobs}/notify-next")]),
            mqtt::pingreq(),
            mqtt::disconnect(),
        ],
        // A rumqttc-style device with a Last Will on its own topic and JSON streams.
        vec![
            mqtt::connect_raw(
                T1.as_bytes(),
                60,
                true,
                Some(Will {
                    topic: &format!("$aws/things/{T1}/status"),
                    payload: b"gone",
                    qos: 1,
                }),
                0,
            ),
            mqtt::subscribe(
                1,
                &[
                    (&format!("{streams}/data/json"), 1),
                    (&format!("{streams}/rejected/json"), 1),
                ],
            ),
            mqtt::publish(
                &format!("{streams}/get/json"),
                1,
                2,
                format!(r#"{{"c":"j","f":{file},"l":256,"o":0,"b":"ff","n":2}}"#).as_bytes(),
            ),
            mqtt::publish(&format!("{streams}/describe/json"), 0, 0, b"{}"),
            mqtt::publish(&format!("{jobs}/get"), 1, 3, b"{}"),
            mqtt::publish(&format!("{jobs}/start-next"), 1, 4, b"{}"),
            mqtt::pingreq(),
        ],
    ]
}

fn mutate(rng: &mut ChaCha8Rng, corpus: &[Session]) -> Vec<u8> {
    let mut packets = corpus[rng.gen_range(0..corpus.len())].clone();
    // Packet-level first: the structure survives deeper into the gateway.
    for _ in 0..rng.gen_range(0..3) {
        if packets.len() < 2 {
            break;
        }
        let i = rng.gen_range(1..packets.len());
        match rng.gen_range(0..4) {
            0 => {
                packets.remove(i);
            }
            1 => {
                let p = packets[i].clone();
                for _ in 0..rng.gen_range(1..200) {
                    packets.insert(i, p.clone());
                }
            }
            2 => {
                let j = rng.gen_range(1..packets.len());
                packets.swap(i, j);
            }
            _ => {
                let other = &corpus[rng.gen_range(0..corpus.len())];
                packets.insert(i, other[rng.gen_range(0..other.len())].clone());
            }
        }
    }
    // Rewrite one packet's remaining length.
    if rng.gen_bool(0.3) {
        let i = rng.gen_range(0..packets.len());
        let p = &packets[i];
        let mut at = 1;
        while at < p.len() && p[at] & 0x80 != 0 {
            at += 1;
        }
        let body = p.get(at + 1..).unwrap_or_default().to_vec();
        let len = match rng.gen_range(0..4) {
            0 => 0,
            1 => body.len() + rng.gen_range(1..64),
            2 => body.len().saturating_sub(rng.gen_range(1..8)),
            _ => rng.gen_range(0..268_435_456),
        };
        let mut q = vec![p[0]];
        q.extend(mqtt::remaining_length(len));
        q.extend(body);
        packets[i] = q;
    }
    let mut bytes: Vec<u8> = packets.concat();
    for _ in 0..rng.gen_range(1..4) {
        if bytes.is_empty() {
            break;
        }
        match rng.gen_range(0..6) {
            0 => {
                for _ in 0..rng.gen_range(1..9) {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] ^= 1 << rng.gen_range(0..8);
                }
            }
            1 => {
                let at = rng.gen_range(0..bytes.len());
                bytes.truncate(at);
            }
            2 => {
                let other = corpus[rng.gen_range(0..corpus.len())].concat();
                let a = rng.gen_range(0..=bytes.len());
                let b = rng.gen_range(0..other.len());
                bytes.truncate(a);
                bytes.extend_from_slice(&other[b..]);
            }
            3 => {
                let i = rng.gen_range(0..bytes.len());
                let n = rng.gen_range(1..5).min(bytes.len() - i);
                for b in &mut bytes[i..i + n] {
                    *b = if rng.gen_bool(0.5) { 0xff } else { rng.gen() };
                }
            }
            4 => {
                let i = rng.gen_range(0..=bytes.len());
                let junk: Vec<u8> = (0..rng.gen_range(1..64)).map(|_| rng.gen()).collect();
                bytes.splice(i..i, junk);
            }
            _ => {
                let a = rng.gen_range(0..bytes.len());
                let b = rng.gen_range(a..=bytes.len().min(a + 512));
                let chunk = bytes[a..b].to_vec();
                bytes.splice(b..b, chunk);
            }
        }
    }
    bytes
}

/// Sends `bytes` in random-sized writes over a fresh connection, reads what
/// comes back for a moment, and hangs up.
async fn feed(
    addr: std::net::SocketAddr,
    layout: otarig::cloud::pki::PkiLayout,
    thing: &'static str,
    bytes: Vec<u8>,
    chunk_seed: u64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(chunk_seed);
    let RawConn { mut rx, mut tx } =
        RawConn::from_stream(tls_stream(addr, &layout, thing, None).await);
    let reader = tokio::spawn(async move {
        while let Some(Got::Frame(_)) = rx.next_within(Duration::from_millis(300)).await {}
    });
    let write = async {
        let mut at = 0;
        while at < bytes.len() {
            let n = rng
                .gen_range(1..=bytes.len() - at)
                .min(rng.gen_range(1..4096));
            tx.write_all(&bytes[at..at + n]).await?;
            tx.flush().await?;
            at += n;
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), write).await;
    let _ = tokio::time::timeout(Duration::from_secs(3), reader).await;
}

/// The first panic's message, taken out of its lock before anyone panics with it.
fn first(first_panic: &Mutex<Option<String>>) -> String {
    let first = first_panic.lock().unwrap_or_else(|e| e.into_inner());
    first.clone().unwrap_or_default()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

thread_local! {
    /// Set on the threads of this test's own runtime, where its gateway runs: the panic
    /// hook is process-wide and the other tests of the binary run (and may panic) beside it.
    static FUZZ_RUNTIME_THREAD: Cell<bool> = const { Cell::new(false) };
}

#[test]
fn mutated_real_sessions_neither_panic_nor_wedge_the_gateway() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gateway-fuzz")
        .on_thread_start(|| FUZZ_RUNTIME_THREAD.with(|t| t.set(true)))
        .enable_all()
        .build()
        .unwrap()
        .block_on(fuzz());
}

async fn fuzz() {
    let seed = env_u64("OTARIG_FUZZ_SEED").unwrap_or_else(rand::random);
    let iters = env_u64("OTARIG_FUZZ_ITERS").map_or(DEFAULT_ITERS, |n| n as usize);
    println!("gateway fuzz: OTARIG_FUZZ_SEED={seed} OTARIG_FUZZ_ITERS={iters}");

    let panics = Arc::new(AtomicUsize::new(0));
    let first_panic = Arc::new(Mutex::new(None::<String>));
    {
        let (panics, first) = (panics.clone(), first_panic.clone());
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Only the gateway's threads (and the fuzz clients beside it) count.
            if FUZZ_RUNTIME_THREAD.with(Cell::get) {
                panics.fetch_add(1, Ordering::SeqCst);
                let thread = std::thread::current().name().unwrap_or("?").to_string();
                // Never panic in here: a panic in a panic hook aborts the whole binary
                // and its captured output, the first panic's message with it.
                first
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(format!("thread {thread}: {info}"));
            }
            default(info);
        }));
    }

    let bench = start_bench(&[T1, T2], Policy::ThingScoped, |_| {}).await;
    let image: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
    let built = create_job(&bench, "fuzz-job", &image, &[T1, T2]);
    let corpus = corpus("fuzz-job", &built.stream_id, u32::from(built.file_id));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..iters {
        let bytes = mutate(&mut rng, &corpus);
        let chunk_seed: u64 = rng.gen();
        if tasks.len() >= PARALLEL {
            tasks
                .join_next()
                .await
                .unwrap()
                .expect("a fuzz client task");
        }
        tasks.spawn(feed(bench.addr(), bench.layout(), T1, bytes, chunk_seed));
        if panics.load(Ordering::SeqCst) > 0 {
            panic!(
                "case {i} (OTARIG_FUZZ_SEED={seed}): {}",
                first(&first_panic)
            );
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("a fuzz client task");
    }
    println!("gateway fuzz: {iters} cases in {:?}", start.elapsed());

    assert_eq!(
        panics.load(Ordering::SeqCst),
        0,
        "the gateway panicked (OTARIG_FUZZ_SEED={seed}): {}",
        first(&first_panic)
    );
    let left = poll_until(DEADLINE, || {
        let things = bench.gateway.connected_things();
        if things.is_empty() {
            Ok(())
        } else {
            Err(format!("{things:?}"))
        }
    })
    .await;
    assert!(
        left.is_ok(),
        "every fuzz connection was closed by the client, but the gateway still lists {} (OTARIG_FUZZ_SEED={seed})",
        left.unwrap_err()
    );
    assert_legit_device_served(
        bench.addr(),
        bench.dir.path(),
        T2,
        &format!("{iters} fuzz cases (OTARIG_FUZZ_SEED={seed})"),
    )
    .await;
}
