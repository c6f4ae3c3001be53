//! Device API tests: plain calls, no broker, no runtime.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::*;

pub(super) const THING: &str = "ota-test-thing";

pub(super) fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

pub(super) fn at(secs: u64) -> SystemTime {
    t0() + Duration::from_secs(secs)
}

pub(super) fn document() -> Value {
    json!({"afr_ota": {"protocols": ["MQTT"], "streamname": "AFR_OTA-stream-1",
        "files": [{"filepath": "/ota/image", "filesize": 10000, "fileid": 0,
                   "certfile": "signer.crt", "sig-sha256-ecdsa": "MEQCIA=="}]}})
}

pub(super) fn service_with(jobs: &[(&str, &[&str])]) -> JobsService {
    let mut svc = JobsService::new();
    for (id, targets) in jobs {
        let targets = targets.iter().map(|t| t.to_string()).collect();
        svc.create_job(JobSpec::new(*id, document(), targets), t0())
            .unwrap();
    }
    svc.take_changes();
    svc
}

pub(super) fn send(
    svc: &mut JobsService,
    thing: &str,
    api: &str,
    payload: &str,
    now: SystemTime,
) -> Vec<Reply> {
    svc.handle(
        &format!("$aws/things/{thing}/jobs/{api}"),
        payload.as_bytes(),
        now,
    )
}

pub(super) fn json_of(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.payload).unwrap()
}

/// The single reply to the requester, checked to be on `{request}/{outcome}`.
pub(super) fn answer(replies: &[Reply], thing: &str, api: &str, outcome: &str) -> Value {
    let to_requester: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.route == Route::Requester)
        .collect();
    assert_eq!(
        to_requester.len(),
        1,
        "one reply to the requester: {replies:?}"
    );
    assert_eq!(
        to_requester[0].topic,
        format!("$aws/things/{thing}/jobs/{api}/{outcome}")
    );
    json_of(to_requester[0])
}

pub(super) fn notifications<'a>(replies: &'a [Reply], name: &str) -> Vec<&'a Reply> {
    replies
        .iter()
        .filter(|r| r.route == Route::Subscribers && r.topic.ends_with(&format!("/jobs/{name}")))
        .collect()
}

fn code(replies: &[Reply], api: &str) -> String {
    answer(replies, THING, api, "rejected")["code"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn next_get_with_the_v3_counter_zero_token_returns_the_queued_execution_with_an_embedded_document()
{
    let mut svc = service_with(&[("ota-job-A", &[THING])]);
    let replies = send(
        &mut svc,
        THING,
        "$next/get",
        r#"{"clientToken":":ota-test-thing"}"#,
        at(5),
    );
    let body = answer(&replies, THING, "$next/get", "accepted");
    assert_eq!(body["clientToken"], ":ota-test-thing");
    assert_eq!(body["timestamp"], 1_700_000_005u64);
    let exec = &body["execution"];
    assert_eq!(exec["jobId"], "ota-job-A");
    assert_eq!(exec["status"], "QUEUED");
    assert_eq!(exec["queuedAt"], 1_700_000_000u64);
    assert_eq!(exec["versionNumber"], 1);
    assert_eq!(exec["executionNumber"], 1);
    assert!(
        exec["jobDocument"].is_object(),
        "jobDocument must be an object, not a string"
    );
    assert_eq!(exec["jobDocument"], document());
    assert!(exec.get("statusDetails").is_none());
    assert_eq!(
        replies.len(),
        1,
        "a read changes nothing, so no notification"
    );
}

#[test]
fn next_get_with_nothing_pending_answers_without_execution() {
    let mut svc = JobsService::new();
    let replies = send(
        &mut svc,
        THING,
        "$next/get",
        r#"{"clientToken":"0:ota-test-thing"}"#,
        t0(),
    );
    let body = answer(&replies, THING, "$next/get", "accepted");
    assert_eq!(
        body,
        json!({"clientToken": "0:ota-test-thing", "timestamp": 1_700_000_000u64})
    );
}

#[test]
fn self_test_details_survive_until_the_next_get_after_reboot() {
    let mut svc = service_with(&[("ota-job-A", &[THING])]);
    let progress = r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"1/3"}}"#;
    answer(
        &send(&mut svc, THING, "ota-job-A/update", progress, at(1)),
        THING,
        "ota-job-A/update",
        "accepted",
    );
    let ready = r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":"ready","updatedBy":"0x00090002"}}"#;
    answer(
        &send(&mut svc, THING, "ota-job-A/update", ready, at(2)),
        THING,
        "ota-job-A/update",
        "accepted",
    );

    let replies = send(
        &mut svc,
        THING,
        "$next/get",
        r#"{"clientToken":":ota-test-thing"}"#,
        at(6),
    );
    let exec = answer(&replies, THING, "$next/get", "accepted")["execution"].clone();
    assert_eq!(exec["status"], "IN_PROGRESS");
    // Given details replace the previous ones, as AWS does: `receive` is gone.
    assert_eq!(
        exec["statusDetails"],
        json!({"self_test": "ready", "updatedBy": "0x00090002"})
    );
    assert_eq!(exec["versionNumber"], 3);
    assert_eq!(exec["startedAt"], 1_700_000_001u64);
    assert_eq!(exec["lastUpdatedAt"], 1_700_000_002u64);
}

#[test]
fn an_update_without_status_details_keeps_the_stored_ones() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":"ready"}}"#,
        t0(),
    );
    let replies = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","includeJobExecutionState":true}"#,
        at(1),
    );
    let state = &answer(&replies, THING, "job-1/update", "accepted")["executionState"];
    assert_eq!(state["statusDetails"], json!({"self_test": "ready"}));
    assert_eq!(state["versionNumber"], 3);
}

/// A job id, the agent's jobs publishes (API, payload) and the final status.
type Run<'a> = (&'a str, &'a [(&'a str, &'a str)], ExecutionStatus);

/// Every jobs publish of the v3 agent's recorded runs (vectors/v3-agent), in order.
#[test]
fn the_recorded_v3_agent_requests_are_all_accepted() {
    let runs: [Run; 4] = [
        (
            "ota-job-A",
            &[
                ("$next/get", r#"{"clientToken": ":ota-test-thing"}"#),
                (
                    "ota-job-A/update",
                    r#"{"status": "IN_PROGRESS", "statusDetails": {"receive": "1/3"}}"#,
                ),
                (
                    "ota-job-A/update",
                    r#"{"status": "IN_PROGRESS", "statusDetails": {"self_test": "ready", "updatedBy": "0x00090002"}}"#,
                ),
                ("$next/get", r#"{"clientToken": ":ota-test-thing"}"#),
                (
                    "ota-job-A/update",
                    r#"{"status": "IN_PROGRESS", "statusDetails": {"self_test": "active", "updatedBy": "0x00090003"}}"#,
                ),
                (
                    "ota-job-A/update",
                    r#"{"status": "SUCCEEDED", "statusDetails": {"reason": "accepted  v.9.3", "updatedBy": "  v.9.2"}}"#,
                ),
            ],
            ExecutionStatus::Succeeded,
        ),
        (
            "ota-job-B-badsig",
            &[
                ("$next/get", r#"{"clientToken": ":ota-test-thing"}"#),
                (
                    "ota-job-B-badsig/update",
                    r#"{"status": "IN_PROGRESS", "statusDetails": {"receive": "1/3"}}"#,
                ),
                (
                    "ota-job-B-badsig/update",
                    r#"{"status": "FAILED", "statusDetails": {"reason": "0x000000e3: 0x00000000"}}"#,
                ),
            ],
            ExecutionStatus::Failed,
        ),
        (
            "ota-job-s4-no-certfile",
            &[
                ("$next/get", r#"{"clientToken": ":ota-test-thing"}"#),
                (
                    "ota-job-s4-no-certfile/update",
                    r#"{"status": "IN_PROGRESS", "statusDetails": {"receive": "1/3"}}"#,
                ),
                (
                    "ota-job-s4-no-certfile/update",
                    r#"{"status": "FAILED", "statusDetails": {"reason": "0x000000e7: 0x00000000"}}"#,
                ),
            ],
            ExecutionStatus::Failed,
        ),
        (
            "ota-job-samever-1",
            &[
                ("$next/get", r#"{"clientToken": ":ota-test-thing"}"#),
                (
                    "ota-job-samever-1/update",
                    r#"{"status": "IN_PROGRESS", "statusDetails": {"receive": "1/3"}}"#,
                ),
                (
                    "ota-job-samever-1/update",
                    r#"{"status": "IN_PROGRESS", "statusDetails": {"self_test": "ready", "updatedBy": "0x00090002"}}"#,
                ),
                ("$next/get", r#"{"clientToken": ":ota-test-thing"}"#),
                (
                    "ota-job-samever-1/update",
                    r#"{"status": "FAILED", "statusDetails": {"reason": "rejected: 0x00000010"}}"#,
                ),
            ],
            ExecutionStatus::Failed,
        ),
    ];
    for (job_id, publishes, last) in runs {
        let mut svc = service_with(&[(job_id, &[THING])]);
        for (i, (api, payload)) in publishes.iter().enumerate() {
            let replies = send(&mut svc, THING, api, payload, at(i as u64));
            let body = answer(&replies, THING, api, "accepted");
            if *api == "$next/get" {
                assert_eq!(body["execution"]["jobId"], job_id, "{job_id}: publish {i}");
            }
        }
        let exec = svc.execution(job_id, THING).unwrap();
        assert_eq!(exec.status, last, "{job_id}");
        let final_details: Value = serde_json::from_str(publishes.last().unwrap().1).unwrap();
        let details: BTreeMap<String, String> =
            serde_json::from_value(final_details["statusDetails"].clone()).unwrap();
        assert_eq!(exec.status_details, details, "{job_id}");
    }
}

#[test]
fn an_update_without_status_is_an_invalid_request() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    let replies = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"statusDetails":{"a":"b"},"clientToken":"tok"}"#,
        t0(),
    );
    let body = answer(&replies, THING, "job-1/update", "rejected");
    assert_eq!(body["code"], "InvalidRequest");
    assert_eq!(body["clientToken"], "tok");
    assert_eq!(body["timestamp"], 1_700_000_000u64);
    assert!(body.get("executionState").is_none());
    assert_eq!(svc.execution("job-1", THING).unwrap().version_number, 1);
}

#[test]
fn fields_of_the_wrong_type_are_invalid_requests() {
    let cases = [
        r#"{"status":1}"#,
        r#"{"status":"DONE"}"#,
        r#"{"status":"IN_PROGRESS","statusDetails":"ready"}"#,
        r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":1}}"#,
        r#"{"status":"IN_PROGRESS","statusDetails":{"self_test":{"x":"y"}}}"#,
        r#"{"status":"IN_PROGRESS","expectedVersion":"1"}"#,
        r#"{"status":"IN_PROGRESS","expectedVersion":1.5}"#,
        r#"{"status":"IN_PROGRESS","executionNumber":-1}"#,
        r#"{"status":"IN_PROGRESS","includeJobDocument":"yes"}"#,
        r#"{"status":"IN_PROGRESS","includeJobExecutionState":1}"#,
        r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":0}"#,
        r#"{"status":"IN_PROGRESS","clientToken":7}"#,
        r#"["status","IN_PROGRESS"]"#,
    ];
    let mut svc = service_with(&[("job-1", &[THING])]);
    for payload in cases {
        let replies = send(&mut svc, THING, "job-1/update", payload, t0());
        assert_eq!(
            code(&replies, "job-1/update"),
            "InvalidRequest",
            "{payload}"
        );
    }
    let replies = send(
        &mut svc,
        THING,
        "job-1/get",
        r#"{"includeJobDocument":"false"}"#,
        t0(),
    );
    assert_eq!(code(&replies, "job-1/get"), "InvalidRequest");
    assert_eq!(
        svc.execution("job-1", THING).unwrap().version_number,
        1,
        "nothing changed"
    );
}

#[test]
fn status_details_must_be_a_string_map_within_the_aws_limits() {
    let too_many: BTreeMap<String, String> =
        (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
    let invalid = [
        json!({"bad key": "v"}),
        json!({"": "v"}),
        json!({"k": ""}),
        json!({"k": "line\nbreak"}),
        json!({"k": "x".repeat(1025)}),
        json!(too_many),
    ];
    let mut svc = service_with(&[("job-1", &[THING])]);
    for details in invalid {
        let payload = json!({"status": "IN_PROGRESS", "statusDetails": details}).to_string();
        let replies = send(&mut svc, THING, "job-1/update", &payload, t0());
        assert_eq!(
            code(&replies, "job-1/update"),
            "InvalidRequest",
            "{payload}"
        );
    }
    let ok = json!({"status": "IN_PROGRESS", "statusDetails": {"updatedBy": "  v.9.2", "a:b_c-d": "x".repeat(1024)}});
    let replies = send(&mut svc, THING, "job-1/update", &ok.to_string(), t0());
    answer(&replies, THING, "job-1/update", "accepted");
}

#[test]
fn a_payload_that_is_not_json_is_rejected_as_invalid_json() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    for payload in [&b"{\"status\":"[..], &[0xff, 0xfe, b'{'][..]] {
        let replies = svc.handle(
            "$aws/things/ota-test-thing/jobs/job-1/update",
            payload,
            t0(),
        );
        let body = answer(&replies, THING, "job-1/update", "rejected");
        assert_eq!(body["code"], "InvalidJson");
        assert!(body.get("clientToken").is_none());
    }
}

#[test]
fn a_topic_that_names_no_jobs_api_is_rejected_as_invalid_topic() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    for api in ["job-1/delete", "frobnicate", "job-1/update/extra"] {
        let replies = send(&mut svc, THING, api, "{}", t0());
        assert_eq!(code(&replies, api), "InvalidTopic", "{api}");
    }
}

#[test]
fn the_services_own_output_topics_are_not_answered() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    for api in [
        "notify-next",
        "notify",
        "$next/get/accepted",
        "job-1/update/rejected",
    ] {
        assert!(send(&mut svc, THING, api, "{}", t0()).is_empty(), "{api}");
    }
    assert!(svc
        .handle("$aws/things/ota-test-thing/shadow/get", b"{}", t0())
        .is_empty());
}

#[test]
fn an_update_on_a_terminal_execution_is_an_invalid_state_transition_with_its_state() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"SUCCEEDED","statusDetails":{"reason":"accepted v1.0.1"}}"#,
        t0(),
    );
    let replies = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","clientToken":"c1"}"#,
        at(1),
    );
    let body = answer(&replies, THING, "job-1/update", "rejected");
    assert_eq!(body["code"], "InvalidStateTransition");
    assert_eq!(body["clientToken"], "c1");
    assert_eq!(
        body["executionState"],
        json!({"status": "SUCCEEDED", "statusDetails": {"reason": "accepted v1.0.1"}, "versionNumber": 2})
    );
    assert_eq!(replies.len(), 1);
}

#[test]
fn a_device_cannot_set_service_owned_statuses() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    for status in ["QUEUED", "CANCELED", "TIMED_OUT", "REMOVED"] {
        let payload = format!(r#"{{"status":"{status}"}}"#);
        let replies = send(&mut svc, THING, "job-1/update", &payload, t0());
        let body = answer(&replies, THING, "job-1/update", "rejected");
        assert_eq!(body["code"], "InvalidStateTransition", "{status}");
        assert_eq!(body["executionState"]["status"], "QUEUED");
    }
}

#[test]
fn a_queued_execution_may_go_straight_to_failed() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    let payload = r#"{"status":"FAILED","statusDetails":{"reason":"0x24000000: 0x00000005"}}"#;
    answer(
        &send(&mut svc, THING, "job-1/update", payload, t0()),
        THING,
        "job-1/update",
        "accepted",
    );
    let exec = svc.execution("job-1", THING).unwrap();
    assert_eq!(exec.status, ExecutionStatus::Failed);
    assert_eq!(exec.started_at, None);
}

#[test]
fn a_stale_expected_version_is_a_version_mismatch_with_the_current_state() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS"}"#,
        t0(),
    );
    let replies = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"SUCCEEDED","expectedVersion":1}"#,
        t0(),
    );
    let body = answer(&replies, THING, "job-1/update", "rejected");
    assert_eq!(body["code"], "VersionMismatch");
    assert_eq!(
        body["executionState"],
        json!({"status": "IN_PROGRESS", "versionNumber": 2})
    );
    let replies = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"SUCCEEDED","expectedVersion":2}"#,
        t0(),
    );
    answer(&replies, THING, "job-1/update", "accepted");
}

#[test]
fn version_numbers_count_every_accepted_update() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    for expected in 2..=5u64 {
        let payload = r#"{"status":"IN_PROGRESS","includeJobExecutionState":true}"#;
        let replies = send(&mut svc, THING, "job-1/update", payload, t0());
        let body = answer(&replies, THING, "job-1/update", "accepted");
        assert_eq!(body["executionState"]["versionNumber"], expected);
    }
}

#[test]
fn update_accepted_carries_state_and_document_only_when_asked() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    let plain = answer(
        &send(
            &mut svc,
            THING,
            "job-1/update",
            r#"{"status":"IN_PROGRESS","clientToken":"t"}"#,
            t0(),
        ),
        THING,
        "job-1/update",
        "accepted",
    );
    assert_eq!(
        plain,
        json!({"timestamp": 1_700_000_000u64, "clientToken": "t"})
    );
    let payload =
        r#"{"status":"IN_PROGRESS","includeJobExecutionState":true,"includeJobDocument":true}"#;
    let full = answer(
        &send(&mut svc, THING, "job-1/update", payload, t0()),
        THING,
        "job-1/update",
        "accepted",
    );
    assert_eq!(full["executionState"]["status"], "IN_PROGRESS");
    assert_eq!(full["jobDocument"], document());
}

#[test]
fn unknown_jobs_are_resource_not_found() {
    let mut svc = service_with(&[("job-1", &["OtherThing"])]);
    for api in ["job-1/update", "job-2/update", "job-1/get", "$next/update"] {
        let replies = send(&mut svc, THING, api, r#"{"status":"IN_PROGRESS"}"#, t0());
        assert_eq!(code(&replies, api), "ResourceNotFound", "{api}");
    }
    let replies = send(
        &mut svc,
        "OtherThing",
        "job-1/get",
        r#"{"executionNumber":2}"#,
        t0(),
    );
    assert_eq!(
        answer(&replies, "OtherThing", "job-1/get", "rejected")["code"],
        "ResourceNotFound"
    );
}

#[test]
fn describing_a_terminal_execution_is_terminal_state_reached() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"SUCCEEDED"}"#,
        t0(),
    );
    let replies = send(&mut svc, THING, "job-1/get", r#"{"clientToken":"d"}"#, t0());
    let body = answer(&replies, THING, "job-1/get", "rejected");
    assert_eq!(body["code"], "TerminalStateReached");
    assert_eq!(body["clientToken"], "d");
}

#[test]
fn describe_includes_the_document_unless_asked_not_to() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    let with = answer(
        &send(&mut svc, THING, "job-1/get", "", t0()),
        THING,
        "job-1/get",
        "accepted",
    );
    assert_eq!(with["execution"]["jobDocument"], document());
    let without = answer(
        &send(
            &mut svc,
            THING,
            "job-1/get",
            r#"{"includeJobDocument":false}"#,
            t0(),
        ),
        THING,
        "job-1/get",
        "accepted",
    );
    assert!(without["execution"].get("jobDocument").is_none());
    assert_eq!(without["execution"]["jobId"], "job-1");
    let next = answer(
        &send(
            &mut svc,
            THING,
            "$next/get",
            r#"{"includeJobDocument":false}"#,
            t0(),
        ),
        THING,
        "$next/get",
        "accepted",
    );
    assert!(next["execution"].get("jobDocument").is_none());
}

#[test]
fn an_empty_payload_counts_as_an_empty_request() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    let body = answer(
        &send(&mut svc, THING, "$next/get", "", t0()),
        THING,
        "$next/get",
        "accepted",
    );
    assert_eq!(body["execution"]["jobId"], "job-1");
    assert!(body.get("clientToken").is_none());
}

#[test]
fn every_execution_object_names_its_thing() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    let thing_of = |body: &Value| body["execution"]["thingName"].clone();
    let replies = send(&mut svc, THING, "$next/get", "{}", t0());
    let next = answer(&replies, THING, "$next/get", "accepted");
    assert_eq!(thing_of(&next), THING, "{next}");
    let replies = send(&mut svc, THING, "job-1/get", "{}", t0());
    let described = answer(&replies, THING, "job-1/get", "accepted");
    assert_eq!(thing_of(&described), THING, "{described}");
    let replies = send(&mut svc, THING, "start-next", "{}", at(1));
    let started = answer(&replies, THING, "start-next", "accepted");
    assert_eq!(thing_of(&started), THING, "{started}");

    // The next execution changes when this one ends and a second job is queued.
    svc.create_job(JobSpec::new("job-2", document(), vec![THING.into()]), at(2))
        .unwrap();
    let replies = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"SUCCEEDED"}"#,
        at(3),
    );
    let notify = notifications(&replies, "notify-next");
    assert_eq!(notify.len(), 1, "{replies:?}");
    let body = json_of(notify[0]);
    assert_eq!(body["execution"]["jobId"], "job-2");
    assert_eq!(thing_of(&body), THING, "{body}");
}

#[test]
fn an_over_long_client_token_is_refused_and_echoed_as_given() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    let at_limit = "t".repeat(64);
    let replies = send(
        &mut svc,
        THING,
        "$next/get",
        &json!({ "clientToken": at_limit }).to_string(),
        t0(),
    );
    assert_eq!(
        answer(&replies, THING, "$next/get", "accepted")["clientToken"],
        at_limit.as_str()
    );
    // 65 bytes in 64 characters: the limit counts bytes.
    let long = format!("{}é", "x".repeat(63));
    assert_eq!(long.len(), 65);
    for api in [
        "$next/get",
        "get",
        "start-next",
        "job-1/get",
        "job-1/update",
    ] {
        let payload = json!({ "clientToken": long, "status": "IN_PROGRESS" }).to_string();
        let replies = send(&mut svc, THING, api, &payload, t0());
        let body = answer(&replies, THING, api, "rejected");
        assert_eq!(body["code"], "InvalidRequest", "{api}: {body}");
        assert_eq!(body["clientToken"], long.as_str(), "{api}: {body}");
        assert!(body["message"].as_str().unwrap().contains("64"), "{body}");
    }
    assert_eq!(
        svc.execution("job-1", THING).unwrap().version_number,
        1,
        "nothing changed"
    );
}
