//! Stream service tests: plain calls, no broker, no runtime.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use ciborium::Value as Cbor;
use serde::Serialize;
use serde_json::{json, Value};

use super::*;

const THING: &str = "ota-test-thing";
const STREAM: &str = "AFR_OTA-stream-1";

/// Deterministic file content, so each block's bytes can be checked.
fn file(len: usize) -> Arc<[u8]> {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn service(len: usize) -> StreamService {
    let mut svc = StreamService::new();
    svc.add_stream(STREAM, vec![(0, file(len))]).unwrap();
    svc
}

/// A GetStream request as the v3 agent encodes it (keys c,f,l,o,b,n; `b` a byte string).
#[derive(Serialize)]
struct AgentRequest {
    c: &'static str,
    f: u32,
    l: u32,
    o: u32,
    #[serde(with = "serde_bytes")]
    b: Vec<u8>,
    n: u32,
}

fn cbor(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn get(svc: &StreamService, fmt: &str, payload: &[u8]) -> StreamOutcome {
    svc.handle(
        &format!("$aws/things/{THING}/streams/{STREAM}/get/{fmt}"),
        payload,
    )
}

fn cbor_map(payload: &[u8]) -> BTreeMap<String, Cbor> {
    let Cbor::Map(entries) = ciborium::de::from_reader(payload).unwrap() else {
        panic!("not a CBOR map");
    };
    entries
        .into_iter()
        .map(|(k, v)| (k.into_text().unwrap(), v))
        .collect()
}

fn int(v: &Cbor) -> i128 {
    v.as_integer().unwrap().into()
}

/// (block id, l, payload) of each CBOR data message, checked against the file.
fn cbor_blocks(outcome: &StreamOutcome, block_size: usize, content: &[u8]) -> Vec<(u32, usize)> {
    outcome
        .replies
        .iter()
        .map(|r| {
            assert_eq!(
                r.topic,
                format!("$aws/things/{THING}/streams/{STREAM}/data/cbor")
            );
            assert_eq!(r.route, Route::Requester);
            let m = cbor_map(&r.payload);
            let i = int(&m["i"]) as usize;
            let p = m["p"].as_bytes().expect("`p` is a CBOR byte string");
            assert_eq!(int(&m["l"]) as usize, p.len());
            assert_eq!(&p[..], &content[i * block_size..i * block_size + p.len()]);
            assert_eq!(int(&m["f"]), 0);
            (i as u32, p.len())
        })
        .collect()
}

fn json_get(svc: &StreamService, request: Value) -> StreamOutcome {
    get(svc, "json", request.to_string().as_bytes())
}

/// The error code of a single rejection in either format.
fn rejection(outcome: &StreamOutcome, fmt: &str) -> (String, Option<String>) {
    assert_eq!(outcome.replies.len(), 1, "{:?}", outcome.replies);
    let r = &outcome.replies[0];
    assert!(
        r.topic.ends_with(&format!("/rejected/{fmt}")),
        "{}",
        r.topic
    );
    assert!(outcome.served.is_none());
    if fmt == "cbor" {
        let m = cbor_map(&r.payload);
        assert!(!m["m"].as_text().unwrap().is_empty());
        (
            m["o"].as_text().unwrap().to_string(),
            m.get("c").map(|c| c.as_text().unwrap().to_string()),
        )
    } else {
        let v: Value = serde_json::from_slice(&r.payload).unwrap();
        assert!(!v["m"].as_str().unwrap().is_empty());
        (
            v["o"].as_str().unwrap().to_string(),
            v.get("c").map(|c| c.as_str().unwrap().to_string()),
        )
    }
}

#[test]
fn the_docs_bitmap_example_is_blocks_20_21_24_43_from_offset_20() {
    assert_eq!(encode_bitmap(20, &[20, 21, 24, 43]), [0x13, 0x00, 0x80]);
    assert_eq!(
        select_blocks(20, 32, Some(&[0x13, 0x00, 0x80]), 100),
        [20, 21, 24, 43]
    );
    // The docs' whole JSON request, against a 256-byte-block file of 50 blocks.
    let mut svc = StreamService::new();
    svc.add_stream(STREAM, vec![(1, file(50 * 256))]).unwrap();
    let outcome = json_get(
        &svc,
        json!({"c": "1", "s": 1, "l": 256, "f": 1, "o": 20, "n": 32, "b": "0x130080"}),
    );
    let ids: Vec<u64> = outcome
        .replies
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.payload).unwrap()["i"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [20, 21, 24, 43]);
}

#[test]
fn the_v3_agents_first_request_gets_three_blocks_and_a_short_last_one() {
    let svc = service(10_000);
    // good-update.device-publishes.jsonl: {"c":"rdy","f":0,"l":4096,"o":0,"b":h'07',"n":8}
    let request = cbor(&AgentRequest {
        c: "rdy",
        f: 0,
        l: 4096,
        o: 0,
        b: hex("07"),
        n: 8,
    });
    assert_eq!(
        request.len(),
        25,
        "same encoding as the agent's 25-byte publish"
    );
    let outcome = get(&svc, "cbor", &request);
    assert_eq!(
        cbor_blocks(&outcome, 4096, &file(10_000)),
        [(0, 4096), (1, 4096), (2, 1808)]
    );
    let m = cbor_map(&outcome.replies[0].payload);
    assert_eq!(m["c"].as_text(), Some("rdy"));
    let served = outcome.served.unwrap();
    assert_eq!((served.blocks.len(), served.block_count), (3, 3));
}

#[test]
fn the_v3_agents_re_requests_get_exactly_the_missing_blocks() {
    // dropped-blocks-re-requested: 101 blocks of 4096, n = 8.
    let len = 100 * 4096 + 1234;
    let svc = service(len);
    let content = file(len);
    let cases: [(&str, Vec<u32>); 4] = [
        ("ffffffffffffffffffffffff1f", (0..8).collect()),
        (
            "08ffffffffffffffffffffff1f",
            [3].into_iter().chain(8..15).collect(),
        ),
        ("0080ffffffffffffffffffff1f", (15..23).collect()),
        ("00000000000000000000000010", vec![100]),
    ];
    for (bitmap, expected) in cases {
        let request = cbor(&AgentRequest {
            c: "rdy",
            f: 0,
            l: 4096,
            o: 0,
            b: hex(bitmap),
            n: 8,
        });
        assert_eq!(request.len(), 37);
        let got: Vec<u32> = cbor_blocks(&get(&svc, "cbor", &request), 4096, &content)
            .iter()
            .map(|b| b.0)
            .collect();
        assert_eq!(got, expected, "bitmap {bitmap}");
    }
    let last = cbor(&AgentRequest {
        c: "rdy",
        f: 0,
        l: 4096,
        o: 0,
        b: hex("00000000000000000000000010"),
        n: 8,
    });
    assert_eq!(
        cbor_blocks(&get(&svc, "cbor", &last), 4096, &content),
        [(100, 1234)]
    );
}

#[test]
fn one_request_returns_at_most_128_kib() {
    let svc = service(300 * 1024);
    // The v1 agent: 1024-byte blocks, no `n`, the whole-file bitmap.
    #[derive(Serialize)]
    struct V1 {
        c: &'static str,
        f: u32,
        l: u32,
        o: u32,
        #[serde(with = "serde_bytes")]
        b: Vec<u8>,
    }
    let request = cbor(&V1 {
        c: "rdy",
        f: 0,
        l: 1024,
        o: 0,
        b: vec![0xff; 300 / 8],
    });
    let blocks = cbor_blocks(&get(&svc, "cbor", &request), 1024, &file(300 * 1024));
    assert_eq!(blocks.len(), 128);
    assert_eq!(blocks.last().unwrap().0, 127);

    let big_n = json_get(&svc, json!({"f": 0, "l": 1024, "n": 500}));
    assert_eq!(
        big_n.replies.len(),
        128,
        "n above the cap is capped, not refused"
    );
    let whole = json_get(&svc, json!({"f": 0, "l": 131072, "o": 1}));
    assert_eq!(whole.served.unwrap().blocks, [1]);
}

#[test]
fn without_a_bitmap_n_blocks_from_the_offset_are_sent_defaulting_to_131072_over_l() {
    let svc = service(1000 * 256);
    assert_eq!(json_get(&svc, json!({"f": 0, "l": 256})).replies.len(), 512);
    let some = json_get(&svc, json!({"f": 0, "l": 256, "o": 990, "n": 0}));
    assert_eq!(
        some.served.unwrap().blocks,
        (990..1000).collect::<Vec<u32>>(),
        "stops at the end of the file"
    );
    let three = json_get(&svc, json!({"f": 0, "l": 256, "o": 7, "n": 3}));
    assert_eq!(three.served.unwrap().blocks, [7, 8, 9]);
    let capped = json_get(&svc, json!({"f": 0, "l": 256, "b": "0xffff", "n": 1}));
    assert_eq!(
        capped.served.unwrap().blocks,
        [0],
        "n caps a bitmap request"
    );
}

#[test]
fn json_data_messages_carry_base64_payloads_and_the_token() {
    let svc = service(5000);
    let outcome = json_get(&svc, json!({"c": "tok", "f": 0, "l": 4096, "b": "0x02"}));
    assert_eq!(outcome.replies.len(), 1);
    let reply = &outcome.replies[0];
    assert_eq!(
        reply.topic,
        format!("$aws/things/{THING}/streams/{STREAM}/data/json")
    );
    let v: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(
        (
            v["c"].as_str(),
            v["f"].as_u64(),
            v["i"].as_u64(),
            v["l"].as_u64()
        ),
        (Some("tok"), Some(0), Some(1), Some(904))
    );
    let p = base64::engine::general_purpose::STANDARD
        .decode(v["p"].as_str().unwrap())
        .unwrap();
    assert_eq!(&p[..], &file(5000)[4096..]);
}

#[test]
fn every_out_of_range_or_malformed_request_is_rejected_with_its_code() {
    let svc = service(10_000);
    let cases = [
        (json!({"f": 0, "l": 255}), "BlockSizeOutOfBounds"),
        (json!({"f": 0, "l": 131_073}), "BlockSizeOutOfBounds"),
        (json!({"f": 0, "l": 4096, "o": 98_305}), "OffsetOutOfBounds"),
        (json!({"f": 0, "l": 4096, "o": -1}), "OffsetOutOfBounds"),
        (
            json!({"f": 0, "l": 4096, "n": 98_305}),
            "BlockCountLimitExceeded",
        ),
        (
            json!({"f": 0, "l": 4096, "b": format!("0x{}", "ff".repeat(12_288))}),
            "BlockBitmapLimitExceeded",
        ),
        (json!({"f": 5, "l": 4096}), "ResourceNotFound"),
        (json!({"f": 0, "l": 4096, "o": 3}), "ResourceNotFound"),
        (json!({"f": 0, "l": 4096, "b": "0x00"}), "ResourceNotFound"),
        (json!({"f": 0, "l": 4096, "s": 2}), "VersionMismatch"),
        (json!({"f": "0", "l": 4096}), "InvalidRequest"),
        (json!({"f": 0}), "InvalidRequest"),
        (json!({"f": 0, "l": 4096.5}), "InvalidRequest"),
        (json!({"f": 0, "l": 4096, "b": "0x130"}), "InvalidRequest"),
        (json!({"f": 0, "l": 4096, "b": [1, 2]}), "InvalidRequest"),
        (json!(["f", 0]), "InvalidRequest"),
    ];
    for (request, code) in cases {
        let outcome = json_get(&svc, request.clone());
        assert_eq!(rejection(&outcome, "json").0, code, "{request}");
    }
    let ok = json_get(
        &svc,
        json!({"f": 0, "l": 4096, "s": 1, "b": format!("0x{}", "00".repeat(12_286) + "01")}),
    );
    assert!(ok.served.is_none(), "bit 98288 lies past the file");
    assert_eq!(
        rejection(&ok, "json").0,
        "ResourceNotFound",
        "but a 12287-byte bitmap is allowed"
    );
    assert_eq!(
        rejection(&get(&svc, "json", b"{\"f\":"), "json").0,
        "InvalidJson"
    );
}

#[test]
fn cbor_requests_are_rejected_in_cbor() {
    let svc = service(10_000);
    let (code, token) = rejection(&get(&svc, "cbor", &[0xff, 0x00, 0x13]), "cbor");
    assert_eq!((code.as_str(), token), ("InvalidCbor", None));
    #[derive(Serialize)]
    struct TextBitmap {
        c: &'static str,
        f: u32,
        l: u32,
        b: &'static str,
    }
    let (code, token) = rejection(
        &get(
            &svc,
            "cbor",
            &cbor(&TextBitmap {
                c: "rdy",
                f: 0,
                l: 4096,
                b: "0x07",
            }),
        ),
        "cbor",
    );
    assert_eq!(
        (code.as_str(), token.as_deref()),
        ("InvalidRequest", Some("rdy"))
    );
    #[derive(Serialize)]
    struct Unknown {
        c: &'static str,
        f: u32,
        l: u32,
    }
    let mut other = StreamService::new();
    other.add_stream("other", vec![(0, file(10))]).unwrap();
    let (code, token) = rejection(
        &get(
            &other,
            "cbor",
            &cbor(&Unknown {
                c: "rdy",
                f: 0,
                l: 4096,
            }),
        ),
        "cbor",
    );
    assert_eq!(
        (code.as_str(), token.as_deref()),
        ("ResourceNotFound", Some("rdy")),
        "unknown stream"
    );
}

#[test]
fn a_bad_client_token_is_invalid_and_echoed_only_when_it_is_text() {
    let svc = service(10_000);
    let long = "x".repeat(65);
    // Echoed as sent, so a requester that correlates by token sees its error.
    assert_eq!(
        rejection(
            &json_get(&svc, json!({"c": long, "f": 0, "l": 4096})),
            "json"
        ),
        ("InvalidRequest".into(), Some(long.clone()))
    );
    assert_eq!(
        rejection(&json_get(&svc, json!({"c": 7, "f": 0, "l": 4096})), "json"),
        ("InvalidRequest".into(), None)
    );
    let (_, token) = rejection(
        &json_get(&svc, json!({"c": "x".repeat(64), "f": 0, "l": 1})),
        "json",
    );
    assert_eq!(token.map(|t| t.len()), Some(64));
}

#[test]
fn topics_that_name_no_stream_api_are_invalid_topics() {
    let svc = service(10);
    for (api, fmt) in [("get/xml", "json"), ("frob/cbor", "cbor"), ("get", "json")] {
        let outcome = svc.handle(
            &format!("$aws/things/{THING}/streams/{STREAM}/{api}"),
            b"{}",
        );
        assert_eq!(rejection(&outcome, fmt).0, "InvalidTopic", "{api}");
    }
}

#[test]
fn the_services_own_output_topics_are_not_answered() {
    let svc = service(10);
    for api in ["data/cbor", "description/json", "rejected/cbor"] {
        let outcome = svc.handle(
            &format!("$aws/things/{THING}/streams/{STREAM}/{api}"),
            b"{}",
        );
        assert!(outcome.replies.is_empty(), "{api}");
    }
    assert!(svc
        .handle("$aws/things/t/jobs/get", b"{}")
        .replies
        .is_empty());
}

#[test]
fn describe_lists_version_and_file_sizes() {
    let mut svc = StreamService::new();
    svc.add_stream(STREAM, vec![(1, file(51_200)), (0, file(131_072))])
        .unwrap();
    let outcome = svc.handle(
        &format!("$aws/things/{THING}/streams/{STREAM}/describe/json"),
        br#"{"c":"d1"}"#,
    );
    assert_eq!(
        outcome.replies[0].topic,
        format!("$aws/things/{THING}/streams/{STREAM}/description/json")
    );
    let v: Value = serde_json::from_slice(&outcome.replies[0].payload).unwrap();
    assert_eq!(
        v,
        json!({"c": "d1", "s": 1, "r": [{"f": 0, "z": 131_072}, {"f": 1, "z": 51_200}]})
    );
    let outcome = svc.handle(
        &format!("$aws/things/{THING}/streams/{STREAM}/describe/cbor"),
        b"",
    );
    let m = cbor_map(&outcome.replies[0].payload);
    assert_eq!(int(&m["s"]), 1);
    assert_eq!(m["r"].as_array().unwrap().len(), 2);
}

#[test]
fn replacing_a_stream_bumps_its_version_and_removing_it_hides_it() {
    let mut svc = service(10_000);
    assert_eq!(
        svc.add_stream(STREAM, vec![(0, file(20))]).unwrap().version,
        2
    );
    let stale = json_get(&svc, json!({"f": 0, "l": 256, "s": 1}));
    assert_eq!(rejection(&stale, "json").0, "VersionMismatch");
    assert_eq!(
        json_get(&svc, json!({"f": 0, "l": 256, "s": 2}))
            .served
            .unwrap()
            .block_count,
        1
    );
    assert!(svc.remove_stream(STREAM));
    assert_eq!(
        rejection(&json_get(&svc, json!({"f": 0, "l": 256})), "json").0,
        "ResourceNotFound"
    );
}

#[test]
fn add_stream_refuses_bad_ids_and_files() {
    let mut svc = StreamService::new();
    let err = svc.add_stream("bad/id", vec![(0, file(1))]).unwrap_err();
    assert_eq!(
        err,
        StreamError::InvalidStreamId {
            stream_id: "bad/id".into()
        }
    );
    assert!(err.to_string().contains("`bad/id`"));
    assert_eq!(
        svc.add_stream("s", vec![]).unwrap_err(),
        StreamError::NoFiles {
            stream_id: "s".into()
        }
    );
    assert_eq!(
        svc.add_stream("s", vec![(256, file(1))]).unwrap_err(),
        StreamError::FileIdOutOfRange {
            stream_id: "s".into(),
            file_id: 256
        }
    );
    assert_eq!(
        svc.add_stream("s", vec![(1, file(1)), (1, file(2))])
            .unwrap_err(),
        StreamError::DuplicateFileId {
            stream_id: "s".into(),
            file_id: 1
        }
    );
    assert!(svc.stream("s").is_none());
}

#[test]
fn progress_counts_distinct_blocks_and_reports_every_eight_and_the_last() {
    let mut tracker = ProgressTracker::default();
    let served = |blocks: Vec<u32>| Served {
        thing: THING.into(),
        stream_id: STREAM.into(),
        file_id: 0,
        block_size: 4096,
        blocks,
        block_count: 20,
    };
    let first = tracker
        .record(&served(vec![0, 1]))
        .expect("the first blocks are reported");
    assert_eq!(first.blocks_served, 2);
    assert_eq!(tracker.record(&served(vec![2, 3, 4, 5])), None);
    assert_eq!(
        tracker.record(&served(vec![0, 1, 2, 3, 4, 5])),
        None,
        "re-sends are not progress"
    );
    let eight = tracker
        .record(&served((6..10).collect()))
        .expect("8 new blocks since the last report");
    assert_eq!((eight.blocks_served, eight.blocks_sent), (10, 16));
    let last = tracker
        .record(&served(vec![19]))
        .expect("the last block is always reported");
    assert_eq!(
        last,
        Progress {
            blocks_served: 11,
            blocks_sent: 17,
            block_count: 20
        }
    );
    assert_eq!(tracker.get(THING, STREAM, 0), Some(last));
    tracker.forget_stream(STREAM);
    assert_eq!(tracker.get(THING, STREAM, 0), None);
}
