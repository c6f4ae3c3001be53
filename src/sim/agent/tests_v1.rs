//! Golden sequences of the 1.0.x agent: publishes and console lines in order.

use std::time::Duration;

use ciborium::Value;

use super::testpal::FakePal;
use super::{new_agent, Action, Agent, AgentConfig, AgentKind, Input, SelfTest, TimerId};
use crate::sim::pal::PalError;

const SIG: &str = "MEUCIGV5JGdEO+Jw6pzrmXpnGFW/8FrlAAAAAAAAAAAAAAAAAiEAqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";

fn cfg(thing: &str, version: (u8, u8, u16)) -> AgentConfig {
    AgentConfig {
        thing_name: thing.into(),
        version,
        self_test: SelfTest::Pass,
        self_test_timeout: Duration::from_millis(16_000),
        file_request_wait: Duration::from_millis(2_500),
        log2_block_size: 12,
        blocks_per_request: 1,
    }
}

fn job_doc(thing: &str, job: &str, size: u32, status_details: &str) -> Vec<u8> {
    format!(
        r#"{{"clientToken":"0:{thing}","timestamp":1700000000,"execution":{{"jobId":"{job}","status":"IN_PROGRESS","statusDetails":{{{status_details}}},"jobDocument":{{"afr_ota":{{"protocols":["MQTT"],"streamname":"s1","files":[{{"filepath":"app.bin","filesize":{size},"fileid":0,"certfile":"signer.crt","sig-sha256-ecdsa":"{SIG}"}}]}}}}}}}}"#
    )
    .into_bytes()
}

fn block(i: u32, len: usize) -> Vec<u8> {
    let v = Value::Map(vec![
        (Value::Text("f".into()), Value::Integer(0.into())),
        (Value::Text("i".into()), Value::Integer(i.into())),
        (Value::Text("l".into()), Value::Integer(len.into())),
        (Value::Text("p".into()), Value::Bytes(vec![0xa5; len])),
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

fn accepted(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/$next/get/accepted")
}

fn data(thing: &str) -> String {
    format!("$aws/things/{thing}/streams/s1/data/cbor")
}

/// (topic, payload text, qos) of every publish.
fn publishes(acts: &[Action]) -> Vec<(String, String, u8)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Publish {
                topic,
                payload,
                qos,
            } => Some((
                topic.clone(),
                String::from_utf8_lossy(payload).into_owned(),
                *qos,
            )),
            _ => None,
        })
        .collect()
}

fn status_publishes(acts: &[Action]) -> Vec<String> {
    publishes(acts)
        .into_iter()
        .filter(|p| p.0.ends_with("/update"))
        .map(|p| p.1)
        .collect()
}

/// Boots an agent, connects and feeds the job document; returns it mid-transfer.
fn downloading(pal: &mut FakePal, size: u32, log2: u8) -> Box<dyn Agent + Send> {
    let mut c = cfg("Thing1", (0, 9, 4));
    c.log2_block_size = log2;
    let mut agent = new_agent(AgentKind::V1, c);
    agent.start(pal);
    agent.handle(Input::Connected, pal);
    agent.handle(
        msg(&accepted("Thing1"), job_doc("Thing1", "job-1", size, "")),
        pal,
    );
    agent
}

#[test]
fn good_update_downloads_reports_ready_and_activates() {
    let mut pal = FakePal::default();
    let mut agent = new_agent(AgentKind::V1, cfg("Thing1", (0, 9, 4)));
    assert!(agent.start(&mut pal).is_empty());
    let acts = agent.handle(Input::Connected, &mut pal);
    assert_eq!(
        acts,
        vec![
            Action::Subscribe {
                topic: accepted("Thing1"),
                qos: 1
            },
            Action::Subscribe {
                topic: "$aws/things/Thing1/jobs/notify-next".into(),
                qos: 1
            },
            Action::Publish {
                topic: "$aws/things/Thing1/jobs/$next/get".into(),
                payload: br#"{"clientToken":"0:Thing1"}"#.to_vec(),
                qos: 1
            },
        ]
    );
    assert_eq!(
        pal.lines,
        [
            "[OTA Task] [prvSubscribeToJobNotificationTopics] OK: $aws/things/Thing1/jobs/$next/get/accepted",
            "[OTA Task] [prvSubscribeToJobNotificationTopics] OK: $aws/things/Thing1/jobs/notify-next",
            "[OTA Task] [OTA_AgentInit] Ready.",
            "[OTA Task] [OTA_CheckForUpdate] Request #0",
        ]
    );
    pal.lines.clear();
    let acts = agent.handle(
        msg(&accepted("Thing1"), job_doc("Thing1", "job-1", 10_000, "")),
        &mut pal,
    );
    assert_eq!(
        pal.lines.last().unwrap(),
        "[OTA Task] [prvSubscribeToDataStream] OK: $aws/things/Thing1/streams/s1/data/cbor"
    );
    assert!(pal.lines.contains(
        &"[OTA Task] [prvParseJobDoc] Job was accepted. Attempting to start transfer.".to_string()
    ));
    assert!(pal.calls.contains(&"create_file(10000)".to_string()));
    assert_eq!(
        acts[0],
        Action::Subscribe {
            topic: data("Thing1"),
            qos: 0
        }
    );
    assert_eq!(
        acts[1],
        Action::StartTimer {
            id: TimerId::Request,
            after: Duration::from_millis(2_500)
        }
    );
    assert_eq!(
        acts.len(),
        2,
        "the first request waits for the request timer"
    );

    // The request timer sends the first GetStream: whole-file bitmap, no `n`.
    let acts = agent.handle(Input::Timer(TimerId::Request), &mut pal);
    let Action::Publish {
        topic,
        payload,
        qos: 0,
    } = &acts[0]
    else {
        panic!("{acts:?}")
    };
    assert_eq!(topic, "$aws/things/Thing1/streams/s1/get/cbor");
    let v: Value = ciborium::from_reader(&payload[..]).unwrap();
    let m = v.as_map().unwrap();
    let keys: Vec<_> = m.iter().map(|(k, _)| k.as_text().unwrap()).collect();
    assert_eq!(keys, ["c", "f", "l", "o", "b"]);
    assert_eq!(
        m[4].1,
        Value::Bytes(vec![0x07]),
        "10000 bytes in 4 KiB blocks"
    );

    pal.lines.clear();
    agent.handle(msg(&data("Thing1"), block(0, 4096)), &mut pal);
    agent.handle(msg(&data("Thing1"), block(1, 4096)), &mut pal);
    let acts = agent.handle(msg(&data("Thing1"), block(2, 1808)), &mut pal);
    assert_eq!(pal.written, [(0, 4096), (4096, 4096), (8192, 1808)]);
    assert_eq!(
        status_publishes(&acts),
        [r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":"ready","updatedBy":"0x90004"}}"#]
    );
    assert_eq!(acts.last(), Some(&Action::Reset));
    let tail: Vec<_> = pal.lines.iter().rev().take(9).rev().cloned().collect();
    assert_eq!(
        tail,
        [
            "[OTA Task] [prvIngestDataBlock] Received file block 2, size 1808",
            "[OTA Task] [prvIngestDataBlock] Received final expected block of file.",
            "[OTA Task] [prvStopRequestTimer] Stopping file request timer.",
            "[OTA Task] [prvIngestDataBlock] File receive complete and signature is valid.",
            r#"[OTA Task] [prvUpdateJobStatus] Msg: {"status":"IN_PROGRESS","statusDetails":{"self_test":"ready","updatedBy":"0x90004"}}"#,
            "[OTA Task] [prvUpdateJobStatus] 'IN_PROGRESS' to $aws/things/Thing1/jobs/job-1/update",
            "[OTA Task] Received eOTA_JobEvent_Activate callback from OTA Agent.",
            "[OTA Task] [prvPAL_ActivateNewImage] Activating the new MCU image.",
            "[OTA Task] [prvPAL_ResetDevice] Resetting the device.",
        ]
    );
}

#[test]
fn new_image_in_self_test_goes_active_then_succeeded() {
    let mut pal = FakePal::pending();
    let mut agent = new_agent(AgentKind::V1, cfg("Thing1", (0, 9, 5)));
    let acts = agent.handle(Input::Connected, &mut pal);
    assert!(acts.contains(&Action::StartTimer {
        id: TimerId::SelfTest,
        after: Duration::from_millis(16_000)
    }));
    assert!(pal
        .lines
        .contains(&"[OTA Task] [OTA_CheckForSelfTest] Starting OTA_SelfTest timer.".to_string()));
    pal.lines.clear();
    let doc = job_doc(
        "Thing1",
        "job-1",
        10_000,
        r#""self_test":"ready","updatedBy":"0x90004""#,
    );
    let acts = agent.handle(msg(&accepted("Thing1"), doc), &mut pal);
    assert_eq!(
        status_publishes(&acts),
        [
            r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":"active","updatedBy":"0x90005"}}"#,
            r#"{"status":"SUCCEEDED","statusDetails":{"reason":"accepted v0.9.5"}}"#,
        ]
    );
    assert!(acts.contains(&Action::StopTimer(TimerId::SelfTest)));
    assert!(!acts.contains(&Action::Reset));
    let at = |s: &str| {
        pal.calls
            .iter()
            .position(|c| c.ends_with(s))
            .unwrap_or_else(|| panic!("{s} missing"))
    };
    assert!(at("In self test mode.") < at("set_image_state(Testing)"));
    assert!(
        at("Received eOTA_JobEvent_StartTest callback from OTA Agent.")
            < at("set_image_state(Accepted)")
    );
    assert!(
        at("set_image_state(Accepted)")
            < at("[prvStopSelfTestTimer] Stopping the self test timer.")
    );
    assert!(
        at("[prvStopSelfTestTimer] Stopping the self test timer.") < at(r#"accepted v0.9.5"}}"#)
    );
}

#[test]
fn wrong_thing_answer_lists_missing_parameters_and_publishes_nothing() {
    let mut pal = FakePal::pending();
    let mut agent = new_agent(AgentKind::V1, cfg("Thing2", (0, 9, 5)));
    agent.handle(Input::Connected, &mut pal);
    pal.lines.clear();
    let acts = agent.handle(
        msg(
            &accepted("Thing2"),
            br#"{"clientToken":"0:Thing2","timestamp":1700000000}"#.to_vec(),
        ),
        &mut pal,
    );
    assert!(acts.is_empty(), "{acts:?}");
    let mut expected = vec![
        "[OTA Task] [prvParseJSONbyModel] Extracted parameter [ clientToken: 0:Thing2 ]"
            .to_string(),
    ];
    for key in [
        "execution",
        "jobId",
        "jobDocument",
        "afr_ota",
        "streamname",
        "files",
        "filepath",
        "filesize",
        "fileid",
        "certfile",
        "sig-sha256-ecdsa",
    ] {
        expected.push(format!(
            "[OTA Task] [prvParseJSONbyModel] parameter not present: {key}"
        ));
    }
    expected.push("[OTA Task] [prvParseJobDoc] Ignoring job without ID.".into());
    assert_eq!(pal.lines, expected);
}

#[test]
fn a_job_without_self_test_while_pending_commit_starts_no_download() {
    // The "ready" status was lost to a power cut: the cloud still offers the plain job to the
    // image under test. Creating the file would erase the other bank, the only good image.
    let mut pal = FakePal::pending();
    let mut agent = new_agent(AgentKind::V1, cfg("Thing1", (0, 9, 5)));
    agent.handle(Input::Connected, &mut pal);
    let acts = agent.handle(
        msg(&accepted("Thing1"), job_doc("Thing1", "job-1", 10_000, "")),
        &mut pal,
    );
    assert!(
        !pal.calls.iter().any(|c| c.starts_with("create_file")),
        "{:#?}",
        pal.calls
    );
    assert!(publishes(&acts).iter().all(|p| !p.0.contains("/streams/")));
    // Nothing stops the self-test timer: it expires and the bootloader rolls back.
    assert!(!acts.contains(&Action::StopTimer(TimerId::SelfTest)));
    assert_eq!(
        agent.handle(Input::Timer(TimerId::SelfTest), &mut pal),
        [Action::Reset]
    );
}

#[test]
fn self_test_timer_expiry_resets_without_a_status() {
    let mut pal = FakePal::pending();
    let mut agent = new_agent(AgentKind::V1, cfg("Thing2", (0, 9, 5)));
    agent.handle(Input::Connected, &mut pal);
    pal.lines.clear();
    let acts = agent.handle(Input::Timer(TimerId::SelfTest), &mut pal);
    assert_eq!(acts, [Action::Reset]);
    assert_eq!(
        pal.lines,
        [
            "[Tmr Svc] [prvSelfTestTimer_Callback] Self test failed to complete within 16000ms",
            "[Tmr Svc] [prvPAL_ResetDevice] Resetting the device.",
        ]
    );
    assert!(
        agent.handle(Input::Connected, &mut pal).is_empty(),
        "a resetting board does nothing more"
    );
}

#[test]
fn same_version_after_reboot_fails_the_job_and_resets() {
    let mut pal = FakePal::default();
    let mut agent = new_agent(AgentKind::V1, cfg("Thing1", (0, 9, 4)));
    agent.handle(Input::Connected, &mut pal);
    pal.lines.clear();
    let doc = job_doc(
        "Thing1",
        "job-1",
        10_000,
        r#""self_test":"ready","updatedBy":"0x90004""#,
    );
    let acts = agent.handle(msg(&accepted("Thing1"), doc), &mut pal);
    assert_eq!(
        status_publishes(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"rejected: 0x23000000"}}"#]
    );
    assert_eq!(acts.last(), Some(&Action::Reset));
    let tail: Vec<_> = pal.lines.iter().rev().take(6).rev().cloned().collect();
    assert_eq!(
        tail,
        [
            "[OTA Task] [prvParseJobDoc] In self test mode.",
            "[OTA Task] [prvParseJobDoc] Failing job. We rebooted and the version is still the same.",
            r#"[OTA Task] [prvUpdateJobStatus] Msg: {"status":"FAILED","statusDetails":{"reason":"rejected: 0x23000000"}}"#,
            "[OTA Task] [prvUpdateJobStatus] 'FAILED' to $aws/things/Thing1/jobs/job-1/update",
            "[OTA Task] [prvResetDevice] Attempting forced reset of device...",
            "[OTA Task] [prvPAL_ResetDevice] Resetting the device.",
        ]
    );
}

#[test]
fn same_version_with_a_later_request_token_resets_without_failing() {
    let mut pal = FakePal::default();
    let mut agent = new_agent(AgentKind::V1, cfg("Thing1", (0, 9, 4)));
    let doc = String::from_utf8(job_doc(
        "Thing1",
        "job-1",
        10_000,
        r#""self_test":"ready","updatedBy":"0x90004""#,
    ))
    .unwrap()
    .replace("0:Thing1", "3:Thing1");
    let acts = agent.handle(msg(&accepted("Thing1"), doc.into_bytes()), &mut pal);
    assert!(status_publishes(&acts).is_empty());
    assert_eq!(acts.last(), Some(&Action::Reset));
    assert!(pal.lines.contains(
        &"[OTA Task] [prvParseJobDoc] Ignoring job. Device must be rebooted first.".to_string()
    ));
}

#[test]
fn older_running_version_is_a_downgrade() {
    let mut pal = FakePal::default();
    let mut agent = new_agent(AgentKind::V1, cfg("Thing1", (0, 9, 4)));
    let doc = job_doc(
        "Thing1",
        "job-1",
        10_000,
        r#""self_test":"active","updatedBy":"0x90005""#,
    );
    let acts = agent.handle(msg(&accepted("Thing1"), doc), &mut pal);
    assert_eq!(
        status_publishes(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"rejected: 0x22000000"}}"#]
    );
    assert_eq!(acts.last(), Some(&Action::Reset));
    assert!(pal.lines.contains(
        &"[OTA Task] [prvParseJobDoc] Rejecting image because version is older than previous."
            .to_string()
    ));
}

fn finish_download(agent: &mut Box<dyn Agent + Send>, pal: &mut FakePal) -> Vec<Action> {
    agent.handle(Input::Timer(TimerId::Request), pal);
    agent.handle(msg(&data("Thing1"), block(0, 4096)), pal);
    agent.handle(msg(&data("Thing1"), block(1, 4096)), pal);
    agent.handle(msg(&data("Thing1"), block(2, 1808)), pal)
}

#[test]
fn bad_signature_fails_the_job_without_reboot() {
    let mut pal = FakePal {
        close_result: Some(PalError {
            code: 0x0100_0000,
            sub: 0,
        }),
        ..Default::default()
    };
    let mut agent = downloading(&mut pal, 10_000, 12);
    let acts = finish_download(&mut agent, &mut pal);
    assert_eq!(
        status_publishes(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"0x01000000: 0xfffffffe"}}"#]
    );
    assert!(!acts.contains(&Action::Reset));
    assert!(acts.contains(&Action::Unsubscribe {
        topic: data("Thing1")
    }));
    assert!(pal.lines.contains(
        &"[OTA Task] [prvIngestDataBlock] Error (1:0x000000) closing OTA file.".to_string()
    ));
    assert!(pal.lines.contains(
        &"[OTA Task] [prvOTAUpdateTask] Aborting due to IngestResult_t error -2".to_string()
    ));
    assert!(pal.calls.contains(&"set_image_state(Rejected)".to_string()));
}

#[test]
fn missing_signer_certificate_is_a_close_failure() {
    let mut pal = FakePal {
        close_result: Some(PalError {
            code: 0x0200_0000,
            sub: 0,
        }),
        ..Default::default()
    };
    let mut agent = downloading(&mut pal, 10_000, 12);
    let acts = finish_download(&mut agent, &mut pal);
    assert_eq!(
        status_publishes(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"0x02000000: 0xfffffffd"}}"#]
    );
}

#[test]
fn thirty_two_unanswered_requests_abort_with_momentum() {
    let mut pal = FakePal::default();
    let mut agent = downloading(&mut pal, 10_000, 12);
    for n in 0..32 {
        let acts = agent.handle(Input::Timer(TimerId::Request), &mut pal);
        assert_eq!(publishes(&acts).len(), 1, "request {n}");
    }
    let acts = agent.handle(Input::Timer(TimerId::Request), &mut pal);
    assert_eq!(
        status_publishes(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"aborted: 0x21000020"}}"#]
    );
    assert!(pal.calls.contains(&"set_image_state(Aborted)".to_string()));
    assert!(acts.contains(&Action::Unsubscribe {
        topic: data("Thing1")
    }));
    assert!(agent
        .handle(Input::Timer(TimerId::Request), &mut pal)
        .is_empty());
}

#[test]
fn progress_is_reported_every_64_blocks_at_qos0() {
    let mut pal = FakePal::default();
    let mut agent = downloading(&mut pal, 130 * 1024, 10);
    let mut progress = Vec::new();
    for i in 0..129 {
        let acts = agent.handle(msg(&data("Thing1"), block(i, 1024)), &mut pal);
        progress.extend(
            publishes(&acts)
                .into_iter()
                .filter(|p| p.1.contains("receive")),
        );
    }
    let got: Vec<_> = progress.iter().map(|p| (p.1.as_str(), p.2)).collect();
    assert_eq!(
        got,
        [
            (
                r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"64/130"}}"#,
                0
            ),
            (
                r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"128/130"}}"#,
                0
            ),
        ]
    );
}

#[test]
fn block_with_wrong_size_fails_with_block_out_of_range() {
    let mut pal = FakePal::default();
    let mut agent = downloading(&mut pal, 10_000, 12);
    agent.handle(msg(&data("Thing1"), block(0, 4096)), &mut pal);
    let dup = agent.handle(msg(&data("Thing1"), block(0, 4096)), &mut pal);
    assert!(status_publishes(&dup).is_empty());
    assert!(pal.lines.contains(
        &"[OTA Task] [prvIngestDataBlock] block 0 is a DUPLICATE. 2 blocks remaining.".to_string()
    ));
    let acts = agent.handle(msg(&data("Thing1"), block(2, 4096)), &mut pal);
    assert_eq!(
        status_publishes(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"0x00000000: 0xfffffff9"}}"#]
    );
    assert!(pal.lines.contains(
        &"[OTA Task] [prvIngestDataBlock] Error! Block 2 out of expected range! Size 4096"
            .to_string()
    ));
}

#[test]
fn a_different_job_while_downloading_is_failed_as_busy() {
    let mut pal = FakePal::default();
    let mut agent = downloading(&mut pal, 10_000, 12);
    let acts = agent.handle(
        msg(
            "$aws/things/Thing1/jobs/notify-next",
            job_doc("Thing1", "job-2", 10_000, ""),
        ),
        &mut pal,
    );
    assert_eq!(
        publishes(&acts)
            .into_iter()
            .filter(|p| p.0.ends_with("/update"))
            .collect::<Vec<_>>(),
        [(
            "$aws/things/Thing1/jobs/job-2/update".to_string(),
            r#"{"status":"FAILED","statusDetails":{"reason":"0x24000000: 0x00000001"}}"#
                .to_string(),
            1
        )]
    );
    assert!(pal
        .lines
        .contains(&"[OTA Task] [prvParseJobDoc] Busy with existing job. Ignoring.".to_string()));
    assert!(pal.calls.contains(&"abort".to_string()));
}

#[test]
fn the_same_job_again_is_superfluous_and_ignored() {
    let mut pal = FakePal::default();
    let mut agent = downloading(&mut pal, 10_000, 12);
    pal.lines.clear();
    let acts = agent.handle(
        msg(
            "$aws/things/Thing1/jobs/notify-next",
            job_doc("Thing1", "job-1", 10_000, ""),
        ),
        &mut pal,
    );
    assert!(status_publishes(&acts).is_empty());
    let tail: Vec<_> = pal.lines.iter().rev().take(2).rev().cloned().collect();
    assert_eq!(
        tail,
        [
            "[OTA Task] [prvParseJobDoc] Superfluous report of current job.",
            "[OTA Task] [prvParseJobDoc] Ignoring job without ID.",
        ]
    );
}

#[test]
fn zero_file_size_is_rejected_with_the_parser_code() {
    let mut pal = FakePal::default();
    let mut agent = new_agent(AgentKind::V1, cfg("Thing1", (0, 9, 4)));
    let acts = agent.handle(
        msg(&accepted("Thing1"), job_doc("Thing1", "job-1", 0, "")),
        &mut pal,
    );
    assert_eq!(
        status_publishes(&acts),
        [r#"{"status":"FAILED","statusDetails":{"reason":"0x24000000: 0x00000004"}}"#]
    );
}
