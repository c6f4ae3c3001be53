//! Queue tests: start-next, get, which execution is next, notify and
//! notify-next, several things, step timeouts.

use serde_json::json;

use super::tests::{answer, at, document, json_of, notifications, send, service_with, t0, THING};
use super::*;

/// The `jobId`s of a list of execution summaries, in order.
fn job_ids(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("{list} is not a list of summaries"))
        .iter()
        .map(|s| s["jobId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn start_next_starts_the_queued_execution_once() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    let payload = r#"{"statusDetails":{"step":"download"},"clientToken":"s"}"#;
    let replies = send(&mut svc, THING, "start-next", payload, at(3));
    let exec = answer(&replies, THING, "start-next", "accepted")["execution"].clone();
    assert_eq!(exec["status"], "IN_PROGRESS");
    assert_eq!(exec["statusDetails"], json!({"step": "download"}));
    assert_eq!(exec["startedAt"], 1_700_000_003u64);
    assert_eq!(exec["jobDocument"], document());
    assert!(
        notifications(&replies, "notify-next").is_empty(),
        "the next job did not change"
    );
    assert_eq!(
        notifications(&replies, "notify").len(),
        1,
        "the pending list changed"
    );

    let again = send(
        &mut svc,
        THING,
        "start-next",
        r#"{"statusDetails":{"step":"other"}}"#,
        at(4),
    );
    let exec = answer(&again, THING, "start-next", "accepted")["execution"].clone();
    assert_eq!(
        exec["statusDetails"],
        json!({"step": "download"}),
        "IN_PROGRESS is left unchanged"
    );
    assert_eq!(exec["versionNumber"], 2);
    assert_eq!(again.len(), 1);
}

#[test]
fn start_next_with_nothing_pending_answers_without_execution() {
    let mut svc = JobsService::new();
    let body = answer(
        &send(&mut svc, THING, "start-next", "{}", t0()),
        THING,
        "start-next",
        "accepted",
    );
    assert_eq!(body, json!({"timestamp": 1_700_000_000u64}));
}

#[test]
fn get_lists_in_progress_then_queued_summaries() {
    let mut svc = service_with(&[
        ("job-1", &[THING]),
        ("job-2", &[THING]),
        ("job-3", &[THING]),
    ]);
    send(
        &mut svc,
        THING,
        "job-2/update",
        r#"{"status":"IN_PROGRESS"}"#,
        at(1),
    );
    send(
        &mut svc,
        THING,
        "job-3/update",
        r#"{"status":"SUCCEEDED"}"#,
        at(1),
    );
    let body = answer(
        &send(&mut svc, THING, "get", r#"{"clientToken":"g"}"#, at(2)),
        THING,
        "get",
        "accepted",
    );
    assert_eq!(job_ids(&body["inProgressJobs"]), ["job-2"]);
    assert_eq!(job_ids(&body["queuedJobs"]), ["job-1"]);
    assert_eq!(body["inProgressJobs"][0]["startedAt"], 1_700_000_001u64);
    assert!(body["queuedJobs"][0].get("jobDocument").is_none());
    assert_eq!(body["clientToken"], "g");
}

#[test]
fn next_prefers_in_progress_then_creation_order() {
    let mut svc = service_with(&[("job-1", &[THING]), ("job-2", &[THING])]);
    let next = |svc: &mut JobsService| {
        answer(
            &send(svc, THING, "$next/get", "{}", t0()),
            THING,
            "$next/get",
            "accepted",
        )["execution"]["jobId"]
            .clone()
    };
    assert_eq!(next(&mut svc), "job-1");
    let replies = send(
        &mut svc,
        THING,
        "job-2/update",
        r#"{"status":"IN_PROGRESS"}"#,
        t0(),
    );
    assert_eq!(next(&mut svc), "job-2");
    let nn = notifications(&replies, "notify-next");
    assert_eq!(nn.len(), 1, "an IN_PROGRESS job became first");
    assert_eq!(json_of(nn[0])["execution"]["jobId"], "job-2");
}

#[test]
fn notify_next_is_sent_only_when_the_next_execution_changes() {
    let mut svc = JobsService::new();
    let created = svc
        .create_job(JobSpec::new("job-1", document(), vec![THING.into()]), t0())
        .unwrap();
    let nn = notifications(&created, "notify-next");
    assert_eq!(nn.len(), 1);
    assert_eq!(nn[0].topic, "$aws/things/ota-test-thing/jobs/notify-next");
    let body = json_of(nn[0]);
    assert_eq!(body["execution"]["jobId"], "job-1");
    assert_eq!(body["execution"]["jobDocument"], document());
    assert!(body.get("clientToken").is_none());
    assert_eq!(notifications(&created, "notify").len(), 1);

    let second = svc
        .create_job(JobSpec::new("job-2", document(), vec![THING.into()]), t0())
        .unwrap();
    assert!(
        notifications(&second, "notify-next").is_empty(),
        "job-1 is still next"
    );
    assert_eq!(
        notifications(&second, "notify").len(),
        1,
        "the pending list grew"
    );

    let progress = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"1/3"}}"#,
        t0(),
    );
    let details = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"2/3"}}"#,
        t0(),
    );
    assert!(notifications(&progress, "notify-next").is_empty());
    assert!(
        details.iter().all(|r| r.route == Route::Requester),
        "details changes notify no one"
    );

    let done = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"SUCCEEDED"}"#,
        t0(),
    );
    let nn = notifications(&done, "notify-next");
    assert_eq!(json_of(nn[0])["execution"]["jobId"], "job-2");
    assert_eq!(
        done[0].route,
        Route::Requester,
        "the answer comes before notifications"
    );

    let last = send(
        &mut svc,
        THING,
        "job-2/update",
        r#"{"status":"FAILED"}"#,
        at(9),
    );
    let nn = notifications(&last, "notify-next");
    assert_eq!(
        json_of(nn[0]),
        json!({"timestamp": 1_700_000_009u64}),
        "queue empty: no execution"
    );
    assert_eq!(
        json_of(notifications(&last, "notify")[0]),
        json!({"timestamp": 1_700_000_009u64, "jobs": {}})
    );
}

#[test]
fn one_job_for_two_things_keeps_their_executions_apart() {
    let mut svc = JobsService::new();
    let created = svc
        .create_job(
            JobSpec::new("job-1", document(), vec!["Thing1".into(), "Thing2".into()]),
            t0(),
        )
        .unwrap();
    let topics: Vec<&str> = notifications(&created, "notify-next")
        .iter()
        .map(|r| r.topic.as_str())
        .collect();
    assert_eq!(
        topics,
        [
            "$aws/things/Thing1/jobs/notify-next",
            "$aws/things/Thing2/jobs/notify-next"
        ]
    );

    send(
        &mut svc,
        "Thing2",
        "job-1/update",
        r#"{"status":"SUCCEEDED"}"#,
        t0(),
    );
    let body = answer(
        &send(&mut svc, "Thing1", "$next/get", "{}", t0()),
        "Thing1",
        "$next/get",
        "accepted",
    );
    assert_eq!(body["execution"]["status"], "QUEUED");
    assert_eq!(
        svc.execution("job-1", "Thing2").unwrap().status,
        ExecutionStatus::Succeeded
    );
    assert_eq!(svc.execution("job-1", "Thing1").unwrap().version_number, 1);
}

#[test]
fn the_topics_thing_decides_the_queue() {
    // A board built with Thing2's name asks on Thing2's topics and sees Thing2's queue.
    let mut svc = service_with(&[("job-1", &["Thing1"])]);
    let body = answer(
        &send(
            &mut svc,
            "Thing2",
            "$next/get",
            r#"{"clientToken":"0:Thing2"}"#,
            t0(),
        ),
        "Thing2",
        "$next/get",
        "accepted",
    );
    assert!(body.get("execution").is_none());
}

#[test]
fn a_device_step_timeout_times_the_execution_out_at_tick() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":2}"#,
        t0(),
    );
    assert_eq!(svc.next_deadline(), Some(at(120)));
    assert!(svc.tick(at(119)).is_empty());
    let replies = svc.tick(at(120));
    assert_eq!(
        svc.execution("job-1", THING).unwrap().status,
        ExecutionStatus::TimedOut
    );
    assert_eq!(
        json_of(notifications(&replies, "notify-next")[0]),
        json!({"timestamp": 1_700_000_120u64})
    );

    let mut svc = service_with(&[("job-1", &[THING])]);
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":2}"#,
        t0(),
    );
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":-1}"#,
        at(60),
    );
    assert!(svc.tick(at(600)).is_empty(), "-1 clears the step timer");
    assert_eq!(svc.next_deadline(), None);
}

#[test]
fn notify_lists_at_most_ten_executions_in_progress_first_then_by_queue_time() {
    let ids: Vec<String> = (0..12).map(|i| format!("job-{i:02}")).collect();
    let jobs: Vec<(&str, &[&str])> = ids.iter().map(|id| (id.as_str(), &[THING][..])).collect();
    let mut svc = service_with(&jobs);
    let replies = send(
        &mut svc,
        THING,
        "job-05/update",
        r#"{"status":"IN_PROGRESS"}"#,
        at(5),
    );
    let body = json_of(notifications(&replies, "notify")[0]);
    assert_eq!(job_ids(&body["jobs"]["IN_PROGRESS"]), ["job-05"]);
    let queued: Vec<String> = [0, 1, 2, 3, 4, 6, 7, 8, 9]
        .iter()
        .map(|i| format!("job-{i:02}"))
        .collect();
    assert_eq!(
        job_ids(&body["jobs"]["QUEUED"]),
        queued,
        "nine more: ten in all"
    );
}
