//! MQTT-based file delivery (docs/protocol.md §3) through the gateway over mutual
//! TLS, with rumqttc as the device: one behaviour per test, exact wire fields.
//!
//! Every request is followed by a probe publish on the same connection; the
//! service answers the requester at once, so everything the request caused
//! arrives before the probe and "nothing else came" is a fact, not a wait.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::support::gateway::*;
use base64::Engine as _;
use ciborium::Value as Cbor;
use otarig::cloud::gateway::Policy;
use rumqttc::{Publish, QoS};
use serde_json::json;

const THING: &str = "Thing1";
const BLOCK: usize = 4096;

fn stream_topic(stream: &str, op: &str) -> String {
    format!("$aws/things/{THING}/streams/{stream}/{op}")
}

/// Bytes that differ from block to block, so a wrong block cannot pass.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
        .collect()
}

/// A TLS gateway serving file `file` of `stream`, and a device on it with its probe.
async fn bench_with(stream: &str, file: u32, data: &[u8]) -> (Bench, Device) {
    let bench = start_bench(&[THING], Policy::ThingScoped, |_| {}).await;
    bench
        .services
        .add_stream(stream, vec![(file, Arc::from(data))])
        .unwrap();
    let mut dev = bench.device(THING, THING).await;
    dev.subscribe(&probe_topic(), QoS::AtLeastOnce).await;
    (bench, dev)
}

fn probe_topic() -> String {
    format!("$aws/things/{THING}/probe")
}

/// Publishes `payload` on `topic` and returns everything the device receives
/// before its probe comes back.
async fn exchange(dev: &mut Device, topic: &str, payload: Vec<u8>) -> Vec<Publish> {
    dev.publish(topic, QoS::AtMostOnce, payload).await;
    dev.before_probe(&probe_topic()).await
}

fn topics(got: &[Publish]) -> Vec<&str> {
    got.iter().map(|p| p.topic.as_str()).collect()
}

fn cbor(entries: &[(&str, Cbor)]) -> Vec<u8> {
    let map = Cbor::Map(
        entries
            .iter()
            .map(|(k, v)| (Cbor::Text(k.to_string()), v.clone()))
            .collect(),
    );
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).unwrap();
    out
}

fn int(fields: &BTreeMap<String, Cbor>, key: &str) -> i128 {
    match fields.get(key) {
        Some(Cbor::Integer(n)) => i128::from(*n),
        other => panic!("`{key}` is not a CBOR integer: {other:?}"),
    }
}

fn text<'a>(fields: &'a BTreeMap<String, Cbor>, key: &str) -> &'a str {
    match fields.get(key) {
        Some(Cbor::Text(t)) => t,
        other => panic!("`{key}` is not CBOR text: {other:?}"),
    }
}

/// A CBOR data message checked field by field against the file; returns its block id.
fn check_cbor_block(p: &Publish, stream: &str, token: &str, file: u32, data: &[u8]) -> u32 {
    assert_eq!(p.topic, stream_topic(stream, "data/cbor"));
    let fields = cbor_map(&p.payload);
    let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(keys, ["c", "f", "i", "l", "p"]);
    assert_eq!(text(&fields, "c"), token);
    assert_eq!(int(&fields, "f"), i128::from(file));
    let i = int(&fields, "i") as usize;
    let want = &data[i * BLOCK..((i + 1) * BLOCK).min(data.len())];
    assert_eq!(int(&fields, "l"), want.len() as i128, "block {i}");
    match fields.get("p") {
        Some(Cbor::Bytes(b)) => assert!(b == want, "block {i}: wrong bytes"),
        other => panic!("`p` is not a CBOR byte string: {other:?}"),
    }
    i as u32
}

/// The bitmap with exactly `blocks` set (bit j of byte k = block `offset + 8k + j`).
fn bitmap(offset: u32, blocks: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in blocks {
        let bit = (b - offset) as usize;
        if out.len() <= bit / 8 {
            out.resize(bit / 8 + 1, 0);
        }
        out[bit / 8] |= 1 << (bit % 8);
    }
    out
}

#[tokio::test]
async fn json_get_stream_returns_base64_blocks_with_their_file_index_length_and_token() {
    let data = pattern(10_000);
    let (_bench, mut dev) = bench_with("s7", 3, &data).await;
    // Blocks 0 and 2 of three; block 2 is the short last one.
    let request = json!({"c": "tok-7", "f": 3, "l": 4096, "o": 0, "b": "0x05", "n": 2});
    let got = exchange(
        &mut dev,
        &stream_topic("s7", "get/json"),
        request.to_string().into(),
    )
    .await;
    let data_topic = stream_topic("s7", "data/json");
    assert_eq!(topics(&got), [data_topic.as_str(), data_topic.as_str()]);
    for (p, (i, len)) in got.iter().zip([(0usize, 4096usize), (2, 1808)]) {
        let body = json(p);
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["c", "f", "i", "l", "p"], "{body}");
        assert_eq!(
            (&body["c"], &body["f"], &body["i"], &body["l"]),
            (&json!("tok-7"), &json!(3), &json!(i), &json!(len))
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body["p"].as_str().expect("p is base64 text"))
            .unwrap();
        assert!(bytes == data[i * BLOCK..i * BLOCK + len], "block {i}");
    }
}

#[tokio::test]
async fn describe_stream_answers_version_and_file_sizes_in_cbor_and_json() {
    let (bench, mut dev) = bench_with("s8", 0, &pattern(100)).await;
    // Replacing the stream bumps its version.
    let files = vec![(0, Arc::from(pattern(6000))), (7, Arc::from(pattern(123)))];
    assert_eq!(bench.services.add_stream("s8", files).unwrap(), 2);

    let request = cbor(&[("c", Cbor::Text("d-cbor".into()))]);
    let got = exchange(&mut dev, &stream_topic("s8", "describe/cbor"), request).await;
    assert_eq!(topics(&got), [stream_topic("s8", "description/cbor")]);
    let fields = cbor_map(&got[0].payload);
    let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(keys, ["c", "r", "s"], "no description was set, so no `d`");
    assert_eq!(text(&fields, "c"), "d-cbor");
    assert_eq!(int(&fields, "s"), 2);
    let files: Vec<(i128, i128)> = fields["r"]
        .as_array()
        .expect("`r` is an array")
        .iter()
        .map(|f| {
            let f: BTreeMap<String, Cbor> = f
                .as_map()
                .expect("a file entry is a map")
                .iter()
                .map(|(k, v)| (k.as_text().unwrap().to_string(), v.clone()))
                .collect();
            assert_eq!(f.len(), 2, "{f:?}");
            (int(&f, "f"), int(&f, "z"))
        })
        .collect();
    assert_eq!(files, [(0, 6000), (7, 123)]);

    let request = json!({"c": "d-json"}).to_string().into();
    let got = exchange(&mut dev, &stream_topic("s8", "describe/json"), request).await;
    assert_eq!(topics(&got), [stream_topic("s8", "description/json")]);
    assert_eq!(
        json(&got[0]),
        json!({"c": "d-json", "s": 2, "r": [{"f": 0, "z": 6000}, {"f": 7, "z": 123}]})
    );

    let request = json!({"c": "d-none"}).to_string().into();
    let got = exchange(&mut dev, &stream_topic("nope", "describe/json"), request).await;
    assert_eq!(topics(&got), [stream_topic("nope", "rejected/json")]);
    let body = json(&got[0]);
    assert_eq!(
        (&body["o"], &body["c"]),
        (&json!("ResourceNotFound"), &json!("d-none"))
    );
}

#[tokio::test]
async fn a_request_for_more_than_128_kib_gets_the_first_128_kib_of_the_blocks_it_selects() {
    let data = pattern(200_000);
    let (_bench, mut dev) = bench_with("s9", 0, &data).await;
    let count = data.len().div_ceil(BLOCK) as u32;
    // Every block but 1 and 5 (already held), and `n` asks for more than the cap.
    let wanted: Vec<u32> = (0..count).filter(|b| ![1, 5].contains(b)).collect();
    let request = get_stream_cbor("cap", 0, BLOCK as u32, 0, &bitmap(0, &wanted), 100);
    let got = exchange(&mut dev, &stream_topic("s9", "get/cbor"), request).await;

    let blocks: Vec<u32> = got
        .iter()
        .map(|p| check_cbor_block(p, "s9", "cap", 0, &data))
        .collect();
    let cap = 131_072 / BLOCK;
    assert_eq!(
        blocks,
        wanted[..cap],
        "the first {cap} selected blocks, in order"
    );
    let bytes: usize = got.iter().map(|p| decode_block(&p.payload).2.len()).sum();
    assert_eq!(bytes, 128 * 1024);
}

#[tokio::test]
async fn the_last_block_of_a_file_carries_its_real_short_length() {
    let data = pattern(200_000);
    let (_bench, mut dev) = bench_with("s9", 0, &data).await;
    // 200000 = 48 × 4096 + 3392: blocks 40..56 from offset 40, only 40..=48 exist.
    let last = (data.len() / BLOCK) as u32;
    let request = get_stream_cbor("tail", 0, BLOCK as u32, 40, &[0xff, 0xff], 16);
    let got = exchange(&mut dev, &stream_topic("s9", "get/cbor"), request).await;
    let blocks: Vec<u32> = got
        .iter()
        .map(|p| check_cbor_block(p, "s9", "tail", 0, &data))
        .collect();
    assert_eq!(blocks, (40..=last).collect::<Vec<_>>());
    let fields = cbor_map(&got.last().unwrap().payload);
    assert_eq!(int(&fields, "l"), 3392);
}

#[tokio::test]
async fn blocks_past_the_end_or_an_offset_out_of_range_are_rejected_and_the_stream_keeps_serving() {
    let data = pattern(10_000); // blocks 0, 1 and a short 2
    let (_bench, mut dev) = bench_with("s10", 0, &data).await;
    let get = stream_topic("s10", "get/cbor");
    let rejected_cbor = stream_topic("s10", "rejected/cbor");

    // §3.2: `o` is 0..=98304; beyond is OffsetOutOfBounds (§3.5), in either format.
    let got = exchange(
        &mut dev,
        &get,
        get_stream_cbor("far", 0, 4096, 98_305, &[1], 1),
    )
    .await;
    assert_eq!(topics(&got), [rejected_cbor.as_str()]);
    let fields = cbor_map(&got[0].payload);
    assert_eq!(text(&fields, "o"), "OffsetOutOfBounds");
    assert_eq!(text(&fields, "c"), "far");
    assert!(!text(&fields, "m").is_empty());
    let request = json!({"c": "far-j", "f": 0, "l": 4096, "o": 98_305}).to_string();
    let got = exchange(&mut dev, &stream_topic("s10", "get/json"), request.into()).await;
    assert_eq!(topics(&got), [stream_topic("s10", "rejected/json")]);
    let body = json(&got[0]);
    assert_eq!(
        (&body["o"], &body["c"]),
        (&json!("OffsetOutOfBounds"), &json!("far-j"))
    );

    // A valid offset past the last block: nothing to send. docs/protocol.md does not
    // name a code for this; the service answers ResourceNotFound.
    let got = exchange(&mut dev, &get, get_stream_cbor("past", 0, 4096, 3, &[1], 1)).await;
    assert_eq!(topics(&got), [rejected_cbor.as_str()]);
    let fields = cbor_map(&got[0].payload);
    assert_eq!(text(&fields, "o"), "ResourceNotFound");
    assert_eq!(text(&fields, "c"), "past");

    // Straddling the end: the blocks that exist are sent, the rest skipped.
    let cases = [
        ("edge", 2, 0x0f, 4, vec![2]),
        ("again", 0, 0x03, 2, vec![0, 1]),
    ];
    for (token, offset, bits, n, want) in cases {
        let request = get_stream_cbor(token, 0, 4096, offset, &[bits], n);
        let got = exchange(&mut dev, &get, request).await;
        let blocks: Vec<u32> = got
            .iter()
            .map(|p| check_cbor_block(p, "s10", token, 0, &data))
            .collect();
        assert_eq!(blocks, want, "{token}");
    }
}
