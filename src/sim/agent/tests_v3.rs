//! The v3 agent against what the real v3 agent published and printed
//! (`vectors/`, copied from the shared v3-agent vectors), plus golden cases.

use std::collections::BTreeSet;
use std::time::Duration;

use ciborium::Value;

use super::testpal::FakePal;
use super::{
    new_agent, new_agent_tuned, Action, Agent, AgentConfig, AgentKind, AgentTuning, Input,
    SelfTest, TimerId,
};
use crate::sim::pal::PalError;

const THING: &str = "ota-test-thing";
const DATA: &str = "$aws/things/ota-test-thing/streams/AFR_OTA-stream-1/data/cbor";
const NOTIFY: &str = "$aws/things/ota-test-thing/jobs/notify-next";
const ACCEPTED: &str = "$aws/things/ota-test-thing/jobs/$next/get/accepted";
/// The demo build behind the vectors reports progress every 25 blocks.
const DEMO: AgentTuning = AgentTuning {
    v3_status_frequency: 25,
};

fn cfg(version: (u8, u8, u16)) -> AgentConfig {
    AgentConfig {
        thing_name: THING.into(),
        version,
        self_test: SelfTest::Pass,
        self_test_timeout: Duration::from_millis(16_000),
        file_request_wait: Duration::from_millis(10_000),
        log2_block_size: 12,
        blocks_per_request: 8,
    }
}

/// A job document like the bench's: `sig_head` is the 32 characters the agent prints.
fn doc(job: &str, sig_head: &str, certfile: bool, status_details: &str) -> Vec<u8> {
    let cert = if certfile {
        r#""certfile":"certs/signer.crt","#
    } else {
        ""
    };
    format!(
        r#"{{"clientToken":":ota-test-thing","timestamp":1700000000,"execution":{{"jobId":"{job}","status":"QUEUED","statusDetails":{{{status_details}}},"jobDocument":{{"afr_ota":{{"protocols":["MQTT"],"streamname":"AFR_OTA-stream-1","files":[{{"filepath":"ota_received.bin","filesize":10000,"fileid":0,{cert}"sig-sha256-ecdsa":"{sig_head}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}]}}}}}}}}"#
    )
    .into_bytes()
}

fn block(i: u32, len: usize) -> Vec<u8> {
    let v = Value::Map(vec![
        (Value::Text("c".into()), Value::Text("rdy".into())),
        (Value::Text("f".into()), Value::Integer(0.into())),
        (Value::Text("l".into()), Value::Integer(len.into())),
        (Value::Text("i".into()), Value::Integer(i.into())),
        (Value::Text("p".into()), Value::Bytes(vec![0x5a; len])),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&v, &mut out).unwrap();
    out
}

fn msg(topic: &str, payload: Vec<u8>) -> Input {
    Input::Message {
        topic: topic.into(),
        payload,
    }
}

/// The OTA library's own lines of a vector console (the PAL's lines are the PAL's business).
fn ota_lines(console: &str) -> Vec<String> {
    console
        .lines()
        .filter(|l| {
            l.contains("] [OTA] [")
                && !l.contains("ota_pal_posix.c")
                && !l.contains("ota_os_posix.c")
        })
        .map(str::to_string)
        .collect()
}

/// The vector's lines up to and including the first line containing `last`.
fn ota_lines_until(console: &str, last: &str) -> Vec<String> {
    let all = ota_lines(console);
    let end = all
        .iter()
        .position(|l| l.contains(last))
        .expect("cut line in vector")
        + 1;
    all[..end].to_vec()
}

/// One publish normalised for comparison with a vector line.
fn normalise(topic: &str, payload: &[u8], qos: u8) -> serde_json::Value {
    let body = if topic.ends_with("/get/cbor") {
        let v: Value = ciborium::from_reader(payload).unwrap();
        let mut m = serde_json::Map::new();
        for (k, v) in v.as_map().unwrap() {
            let jv = match v {
                Value::Text(t) => serde_json::json!(t),
                Value::Integer(i) => serde_json::json!(i128::from(*i) as i64),
                Value::Bytes(b) => {
                    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                    serde_json::json!({"hex": hex, "len": b.len()})
                }
                other => panic!("unexpected CBOR value {other:?}"),
            };
            m.insert(k.as_text().unwrap().to_string(), jv);
        }
        serde_json::json!({"cbor": m, "_raw_len": payload.len()})
    } else {
        serde_json::json!({"json": serde_json::from_slice::<serde_json::Value>(payload).unwrap()})
    };
    serde_json::json!({"topic": topic, "qos": qos, "body": body})
}

fn vector_publishes(jsonl: &str) -> Vec<serde_json::Value> {
    jsonl
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let body = match v.get("cbor") {
                Some(c) => serde_json::json!({"cbor": c, "_raw_len": v["_raw_len"]}),
                None => serde_json::json!({"json": v["json"]}),
            };
            serde_json::json!({"topic": v["topic"], "qos": v["qos"], "body": body})
        })
        .collect()
}

fn our_publishes(acts: &[Action]) -> Vec<serde_json::Value> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Publish {
                topic,
                payload,
                qos,
            } => Some(normalise(topic, payload, *qos)),
            _ => None,
        })
        .collect()
}

/// Runs one boot: connect, then the given inputs; returns every action.
fn boot(agent: &mut Box<dyn Agent + Send>, pal: &mut FakePal, inputs: Vec<Input>) -> Vec<Action> {
    let mut acts = agent.start(pal);
    acts.extend(agent.handle(Input::Connected, pal));
    for input in inputs {
        acts.extend(agent.handle(input, pal));
    }
    acts
}

fn download(job_doc: Vec<u8>) -> Vec<Input> {
    vec![
        msg(ACCEPTED, job_doc),
        msg(DATA, block(0, 4096)),
        msg(DATA, block(1, 4096)),
        msg(DATA, block(2, 1808)),
    ]
}

fn empty_notify() -> Input {
    msg(NOTIFY, br#"{"timestamp":1700000100}"#.to_vec())
}

#[test]
fn good_update_matches_the_real_agent_on_both_boots() {
    let publishes = vector_publishes(include_str!("vectors/good-update.device-publishes.jsonl"));
    let mut pal = FakePal::default();
    let mut agent = new_agent_tuned(AgentKind::V3, cfg((0, 9, 2)), DEMO);
    let acts = boot(
        &mut agent,
        &mut pal,
        download(doc(
            "ota-job-A",
            "MEYCIQCYkqGttkWB4TMZdKNELB667UCs",
            true,
            "",
        )),
    );
    assert_eq!(our_publishes(&acts), publishes[..4]);
    assert_eq!(
        acts.last(),
        Some(&Action::Reset),
        "activation resets the board"
    );
    let console = include_str!("vectors/good-update.console-1.log");
    assert_eq!(
        pal.lines,
        ota_lines_until(
            console,
            "Received entire update and validated the signature."
        )
    );

    let mut pal = FakePal::pending();
    let mut agent = new_agent_tuned(AgentKind::V3, cfg((0, 9, 3)), DEMO);
    let details = r#""self_test":"ready","updatedBy":"0x00090002""#;
    let inputs = vec![
        msg(
            ACCEPTED,
            doc(
                "ota-job-A",
                "MEYCIQCYkqGttkWB4TMZdKNELB667UCs",
                true,
                details,
            ),
        ),
        empty_notify(),
    ];
    let acts = boot(&mut agent, &mut pal, inputs);
    assert_eq!(our_publishes(&acts), publishes[4..]);
    assert!(acts.contains(&Action::StartTimer {
        id: TimerId::SelfTest,
        after: Duration::from_millis(16_000)
    }));
    assert!(acts.contains(&Action::StopTimer(TimerId::SelfTest)));
    assert!(!acts.contains(&Action::Reset));
    assert_eq!(
        pal.lines,
        ota_lines(include_str!("vectors/good-update.console-2.log"))
    );
    assert!(pal.calls.iter().any(|c| c == "set_image_state(Accepted)"));
}

#[test]
fn bad_signature_matches_the_real_agent() {
    let mut pal = FakePal {
        close_result: Some(PalError { code: 0xe3, sub: 0 }),
        ..Default::default()
    };
    let mut agent = new_agent_tuned(AgentKind::V3, cfg((0, 9, 2)), DEMO);
    let mut inputs = download(doc(
        "ota-job-B-badsig",
        "MEYCIQD8w1ldIJlPU8Q2IWpNJw0rdAl5",
        true,
        "",
    ));
    inputs.push(empty_notify());
    let acts = boot(&mut agent, &mut pal, inputs);
    assert_eq!(
        our_publishes(&acts),
        vector_publishes(include_str!("vectors/bad-signature.device-publishes.jsonl"))
    );
    assert!(!acts.contains(&Action::Reset));
    assert_eq!(
        pal.lines,
        ota_lines(include_str!("vectors/bad-signature.console-1.log"))
    );
}

#[test]
fn missing_certfile_matches_the_real_agent() {
    // The PAL may answer in v1 numbering; the agent reports v3 codes either way.
    let mut pal = FakePal {
        close_result: Some(PalError {
            code: 0x0200_0000,
            sub: 0,
        }),
        ..Default::default()
    };
    let mut agent = new_agent_tuned(AgentKind::V3, cfg((0, 9, 2)), DEMO);
    let acts = boot(
        &mut agent,
        &mut pal,
        download(doc(
            "ota-job-s4-no-certfile",
            "MEQCIE+kgGMuh9ItBomD/7yZ7WZVWspl",
            false,
            "",
        )),
    );
    assert_eq!(
        our_publishes(&acts),
        vector_publishes(include_str!("vectors/no-certfile.device-publishes.jsonl"))
    );
    assert_eq!(
        pal.lines,
        ota_lines(include_str!("vectors/no-certfile.console-1.log"))
    );
}

#[test]
fn same_version_in_self_test_matches_the_real_agent() {
    let publishes = vector_publishes(include_str!(
        "vectors/same-version-in-self-test.device-publishes.jsonl"
    ));
    let sig = "MEUCIGV5JGdEO+Jw6pzrmXpnGFW/8Frl";
    let mut pal = FakePal::default();
    let mut agent = new_agent_tuned(AgentKind::V3, cfg((0, 9, 2)), DEMO);
    let acts = boot(
        &mut agent,
        &mut pal,
        download(doc("ota-job-samever-1", sig, true, "")),
    );
    assert_eq!(our_publishes(&acts), publishes[..4]);
    let console = include_str!("vectors/same-version-in-self-test.console-1.log");
    assert_eq!(
        pal.lines,
        ota_lines_until(
            console,
            "Received entire update and validated the signature."
        )
    );

    let mut pal = FakePal::pending();
    let mut agent = new_agent_tuned(AgentKind::V3, cfg((0, 9, 2)), DEMO);
    let details = r#""self_test":"ready","updatedBy":"0x00090002""#;
    let acts = boot(
        &mut agent,
        &mut pal,
        vec![msg(ACCEPTED, doc("ota-job-samever-1", sig, true, details))],
    );
    assert_eq!(our_publishes(&acts), publishes[4..]);
    assert_eq!(acts.last(), Some(&Action::Reset));
    let console = include_str!("vectors/same-version-in-self-test.console-2.log");
    assert_eq!(
        pal.lines,
        ota_lines_until(console, "New image is being rejected")
    );
}

/// A stand-in stream service: serves up to `n` requested blocks, withholding
/// each block in `withhold` once, and fires the request timer when nothing moves.
#[test]
fn dropped_blocks_are_re_requested_exactly_as_the_real_agent_does() {
    let expected = vector_publishes(include_str!(
        "vectors/dropped-blocks-re-requested.device-publishes.jsonl"
    ));
    let file_size = 100 * 4096 + 700;
    let job = String::from_utf8(doc(
        "ota-job-drop-1",
        "MEYCIQCYkqGttkWB4TMZdKNELB667UCs",
        true,
        "",
    ))
    .unwrap()
    .replace(r#""filesize":10000"#, &format!(r#""filesize":{file_size}"#));
    let mut pal = FakePal::default();
    let mut agent = new_agent_tuned(AgentKind::V3, cfg((0, 9, 2)), DEMO);
    let mut all = agent.handle(Input::Connected, &mut pal);
    all.extend(agent.handle(msg(ACCEPTED, job.into_bytes()), &mut pal));
    let mut withhold: BTreeSet<u32> = [3, 100].into();
    let mut served = 0;
    for _round in 0..100 {
        let Some(Action::Publish { payload, .. }) = all[served..]
            .iter()
            .rev()
            .find(|a| matches!(a, Action::Publish { topic, .. } if topic.ends_with("/get/cbor")))
        else {
            break;
        };
        let v: Value = ciborium::from_reader(&payload[..]).unwrap();
        let m = v.as_map().unwrap();
        let bitmap = m
            .iter()
            .find(|(k, _)| k.as_text() == Some("b"))
            .unwrap()
            .1
            .as_bytes()
            .unwrap()
            .clone();
        served = all.len();
        let wanted: Vec<u32> = (0..bitmap.len() as u32 * 8)
            .filter(|i| bitmap[*i as usize / 8] & (1 << (i % 8)) != 0)
            .take(8)
            .collect();
        for i in wanted {
            if withhold.remove(&i) {
                continue;
            }
            let len = if i == 100 { 700 } else { 4096 };
            all.extend(agent.handle(msg(DATA, block(i, len)), &mut pal));
        }
        if all.contains(&Action::Reset) {
            break;
        }
        if !all[served..]
            .iter()
            .any(|a| matches!(a, Action::Publish { topic, .. } if topic.ends_with("/get/cbor")))
        {
            all.extend(agent.handle(Input::Timer(TimerId::Request), &mut pal));
        }
    }
    assert_eq!(our_publishes(&all), expected);
}

#[test]
fn wrong_thing_empty_answer_publishes_nothing_and_the_self_test_timer_resets() {
    let mut pal = FakePal::pending();
    let mut agent = new_agent(AgentKind::V3, cfg((0, 9, 3)));
    let acts = boot(
        &mut agent,
        &mut pal,
        vec![msg(
            ACCEPTED,
            br#"{"clientToken":":ota-test-thing","timestamp":1700000000}"#.to_vec(),
        )],
    );
    assert_eq!(our_publishes(&acts).len(), 1, "only the $next/get request");
    assert!(pal.lines.contains(
        &"[INFO] [OTA] [ota.c:2297] No active job available in received job document: OtaJobParseErr_t=OtaJobParseErrNoActiveJobs"
            .to_string()
    ));
    pal.lines.clear();
    let acts = agent.handle(Input::Timer(TimerId::SelfTest), &mut pal);
    assert_eq!(acts, [Action::Reset]);
    assert_eq!(
        pal.lines,
        ["[ERROR] [OTA] [ota.c:637] Self test failed to complete within 16000ms"]
    );
}

fn self_test_case(pal: &mut FakePal, version: (u8, u8, u16), updated_by: &str) -> Vec<Action> {
    let mut agent = new_agent(AgentKind::V3, cfg(version));
    let details = format!(r#""self_test":"ready","updatedBy":"{updated_by}""#);
    boot(
        &mut agent,
        pal,
        vec![msg(
            ACCEPTED,
            doc("job-1", "MEYCIQCYkqGttkWB4TMZdKNELB667UCs", true, &details),
        )],
    )
}

fn statuses(acts: &[Action]) -> Vec<String> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Publish { topic, payload, .. } if topic.ends_with("/update") => {
                Some(String::from_utf8_lossy(payload).into_owned())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn downgrade_is_rejected_with_0x0f_and_resets() {
    let mut pal = FakePal::pending();
    let acts = self_test_case(&mut pal, (0, 9, 2), "0x00090003");
    assert_eq!(
        statuses(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"rejected: 0x0000000f"}}"#]
    );
    assert_eq!(acts.last(), Some(&Action::Reset));
}

#[test]
fn job_in_self_test_on_a_committed_platform_is_a_state_mismatch() {
    let mut pal = FakePal::default();
    let acts = self_test_case(&mut pal, (0, 9, 3), "0x00090002");
    assert_eq!(
        statuses(&acts),
        [
            r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":"active","updatedBy":"0x00090003"}}"#,
            r#"{"status":"FAILED","statusDetails":{"reason":"rejected: 0x00000011"}}"#,
        ]
    );
    assert_eq!(acts.last(), Some(&Action::Reset));
}

#[test]
fn pending_platform_with_a_plain_job_reboots_without_a_status() {
    let mut pal = FakePal::pending();
    let mut agent = new_agent(AgentKind::V3, cfg((0, 9, 3)));
    let acts = boot(
        &mut agent,
        &mut pal,
        vec![msg(
            ACCEPTED,
            doc("job-2", "MEYCIQCYkqGttkWB4TMZdKNELB667UCs", true, ""),
        )],
    );
    assert!(statuses(&acts).is_empty());
    assert_eq!(acts.last(), Some(&Action::Reset));
    assert_eq!(
        pal.lines.last().unwrap(),
        "[WARN] [OTA] [ota.c:984] Rejecting new image and rebooting:The platform is in the self-test state while the job is not."
    );
}

#[test]
fn malformed_job_with_an_id_fails_with_the_parser_code() {
    let mut pal = FakePal::default();
    let mut agent = new_agent(AgentKind::V3, cfg((0, 9, 2)));
    let bad = String::from_utf8(doc("job-3", "MEYCIQCYkqGttkWB4TMZdKNELB667UCs", true, ""))
        .unwrap()
        .replace(r#""filesize":10000,"#, "");
    let acts = boot(&mut agent, &mut pal, vec![msg(ACCEPTED, bad.into_bytes())]);
    assert_eq!(
        statuses(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"0x0000000c: 0x00000004"}}"#]
    );
}

#[test]
fn thirty_two_unanswered_requests_abort_and_stop_the_agent() {
    let mut pal = FakePal::default();
    let mut agent = new_agent(AgentKind::V3, cfg((0, 9, 2)));
    boot(
        &mut agent,
        &mut pal,
        vec![msg(
            ACCEPTED,
            doc("job-4", "MEYCIQCYkqGttkWB4TMZdKNELB667UCs", true, ""),
        )],
    );
    for _ in 0..31 {
        assert_eq!(
            statuses(&agent.handle(Input::Timer(TimerId::Request), &mut pal)).len(),
            0
        );
    }
    let acts = agent.handle(Input::Timer(TimerId::Request), &mut pal);
    assert_eq!(
        statuses(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"aborted: 0x00000000"}}"#]
    );
    assert!(pal
        .lines
        .contains(&"[INFO] [OTA] [ota.c:1352] OTA Agent is shutting down.".to_string()));
    assert!(
        agent.handle(Input::Connected, &mut pal).is_empty(),
        "a stopped agent stays stopped"
    );
}

#[test]
fn progress_with_the_library_default_is_first_block_then_every_64() {
    let mut pal = FakePal::default();
    let mut c = cfg((0, 9, 2));
    c.log2_block_size = 10;
    c.blocks_per_request = 1;
    let mut agent = new_agent(AgentKind::V3, c);
    let job = String::from_utf8(doc("job-5", "MEYCIQCYkqGttkWB4TMZdKNELB667UCs", true, ""))
        .unwrap()
        .replace(r#""filesize":10000"#, r#""filesize":133120"#);
    let mut acts = boot(&mut agent, &mut pal, vec![msg(ACCEPTED, job.into_bytes())]);
    let requests_before = acts.len();
    acts.clear();
    for i in 0..129 {
        acts.extend(agent.handle(
            msg(
                "$aws/things/ota-test-thing/streams/AFR_OTA-stream-1/data/cbor",
                block(i, 1024),
            ),
            &mut pal,
        ));
    }
    assert!(requests_before > 0);
    let progress: Vec<_> = statuses(&acts)
        .into_iter()
        .filter(|s| s.contains("receive"))
        .collect();
    assert_eq!(
        progress,
        [
            r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"1/130"}}"#,
            r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"64/130"}}"#,
            r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"128/130"}}"#,
        ]
    );
    let requests = acts
        .iter()
        .filter(|a| matches!(a, Action::Publish { topic, .. } if topic.ends_with("/get/cbor")))
        .count();
    assert_eq!(
        requests, 129,
        "with n=1 every accepted block asks for the next one at once"
    );
}
