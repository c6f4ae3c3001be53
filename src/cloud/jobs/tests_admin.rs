//! Admin API tests: create, cancel, timeouts, retries, inspection.

use std::time::Duration;

use serde_json::json;

use super::tests::{answer, at, document, json_of, notifications, send, service_with, t0, THING};
use super::*;

fn things(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn create_refuses_bad_ids_duplicates_bad_things_and_non_object_documents() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    let mut create = |spec: JobSpec| svc.create_job(spec, t0()).unwrap_err();
    assert_eq!(
        create(JobSpec::new("job 2", document(), things(&[THING]))),
        JobsError::InvalidJobId {
            job_id: "job 2".into()
        }
    );
    assert!(matches!(
        create(JobSpec::new("x".repeat(65), document(), things(&[THING]))),
        JobsError::InvalidJobId { .. }
    ));
    assert_eq!(
        create(JobSpec::new("job-1", document(), things(&[THING]))),
        JobsError::DuplicateJob {
            job_id: "job-1".into()
        }
    );
    assert_eq!(
        create(JobSpec::new("job-2", document(), things(&["Thing/1"]))),
        JobsError::InvalidThingName {
            job_id: "job-2".into(),
            thing: "Thing/1".into()
        }
    );
    assert_eq!(
        create(JobSpec::new("job-2", document(), vec![])),
        JobsError::NoTargets {
            job_id: "job-2".into()
        }
    );
    assert_eq!(
        create(JobSpec::new(
            "job-2",
            json!("{\"afr_ota\":{}}"),
            things(&[THING])
        )),
        JobsError::DocumentNotObject {
            job_id: "job-2".into(),
            got: "a string"
        }
    );
    let retry = RetryCriterion {
        on: RetryOn::All,
        retries: 11,
    };
    let refused = create(JobSpec::new("job-2", document(), things(&[THING])).with_retry(retry));
    assert!(
        matches!(&refused, JobsError::InvalidControls { job_id, problem }
            if job_id == "job-2" && problem.field == "numberOfRetries"),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "job `job-2`: numberOfRetries must be 0 to 10, got 11"
    );
    assert!(svc.job("job-2").is_none());
    let message = JobsError::UnknownJob { job_id: "j".into() }.to_string();
    assert!(message.contains("`j`"), "{message}");
}

#[test]
fn cancel_without_force_cancels_queued_executions_and_lets_in_progress_ones_finish() {
    let mut svc = service_with(&[("job-1", &["Thing1", "Thing2"])]);
    send(
        &mut svc,
        "Thing1",
        "job-1/update",
        r#"{"status":"IN_PROGRESS"}"#,
        t0(),
    );
    let replies = svc.cancel_job("job-1", false, at(1)).unwrap();
    assert_eq!(
        svc.execution("job-1", "Thing1").unwrap().status,
        ExecutionStatus::InProgress
    );
    assert_eq!(
        svc.execution("job-1", "Thing2").unwrap().status,
        ExecutionStatus::Canceled
    );
    let nn = notifications(&replies, "notify-next");
    assert_eq!(nn.len(), 1);
    assert_eq!(nn[0].topic, "$aws/things/Thing2/jobs/notify-next");
    assert_eq!(json_of(nn[0]), json!({"timestamp": 1_700_000_001u64}));

    let done = send(
        &mut svc,
        "Thing1",
        "job-1/update",
        r#"{"status":"SUCCEEDED"}"#,
        at(2),
    );
    answer(&done, "Thing1", "job-1/update", "accepted");
    assert_eq!(svc.job("job-1").unwrap().status, JobStatus::Canceled);
}

#[test]
fn cancel_with_force_cancels_in_progress_executions_too() {
    let mut svc = service_with(&[("job-1", &[THING])]);
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"5/9"}}"#,
        t0(),
    );
    let replies = svc.cancel_job("job-1", true, at(1)).unwrap();
    let exec = svc.execution("job-1", THING).unwrap();
    assert_eq!(exec.status, ExecutionStatus::Canceled);
    assert_eq!(exec.version_number, 3);
    assert_eq!(
        json_of(notifications(&replies, "notify-next")[0]),
        json!({"timestamp": 1_700_000_001u64})
    );

    let late = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"SUCCEEDED"}"#,
        at(2),
    );
    let body = answer(&late, THING, "job-1/update", "rejected");
    assert_eq!(body["code"], "InvalidStateTransition");
    assert_eq!(body["executionState"]["status"], "CANCELED");
    assert_eq!(
        svc.cancel_job("nope", true, t0()),
        Err(JobsError::UnknownJob {
            job_id: "nope".into()
        })
    );
}

#[test]
fn the_in_progress_timeout_fires_at_tick_and_not_before() {
    let mut svc = JobsService::new();
    let spec = JobSpec::new("job-1", document(), things(&[THING]))
        .with_in_progress_timeout(Duration::from_secs(30));
    svc.create_job(spec, t0()).unwrap();
    assert!(
        svc.tick(at(100)).is_empty(),
        "a QUEUED execution does not time out"
    );
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS"}"#,
        at(100),
    );
    // Updates do not restart the in-progress timer.
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"1/3"}}"#,
        at(120),
    );
    assert!(svc.tick(at(129)).is_empty());
    let replies = svc.tick(at(130));
    let exec = svc.execution("job-1", THING).unwrap();
    assert_eq!(exec.status, ExecutionStatus::TimedOut);
    assert_eq!(
        exec.status_details.get("receive").map(String::as_str),
        Some("1/3")
    );
    assert_eq!(notifications(&replies, "notify-next").len(), 1);
    assert!(svc.tick(at(200)).is_empty(), "fires once");
}

#[test]
fn a_retry_criterion_queues_execution_number_two_after_a_failure() {
    let mut svc = JobsService::new();
    let retry = RetryCriterion {
        on: RetryOn::Failed,
        retries: 1,
    };
    svc.create_job(
        JobSpec::new("job-1", document(), things(&[THING])).with_retry(retry),
        t0(),
    )
    .unwrap();
    let failed = send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"FAILED","statusDetails":{"reason":"rejected: 0x23000000"}}"#,
        at(1),
    );
    let nn = notifications(&failed, "notify-next");
    assert_eq!(nn.len(), 1, "a new execution is next");
    assert_eq!(json_of(nn[0])["execution"]["executionNumber"], 2);

    let next = answer(
        &send(&mut svc, THING, "$next/get", "{}", at(2)),
        THING,
        "$next/get",
        "accepted",
    );
    assert_eq!(next["execution"]["executionNumber"], 2);
    assert_eq!(next["execution"]["versionNumber"], 1);
    assert!(
        next["execution"].get("statusDetails").is_none(),
        "a new execution starts clean"
    );

    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"FAILED"}"#,
        at(3),
    );
    assert_eq!(
        svc.execution("job-1", THING).unwrap().execution_number,
        2,
        "only one retry allowed"
    );
    let view = svc.job("job-1").unwrap();
    assert_eq!(view.executions.len(), 2);
    assert_eq!(view.status, JobStatus::Completed);

    let old = send(
        &mut svc,
        THING,
        "job-1/get",
        r#"{"executionNumber":1}"#,
        at(4),
    );
    assert_eq!(
        answer(&old, THING, "job-1/get", "rejected")["code"],
        "TerminalStateReached"
    );
}

#[test]
fn a_timed_out_retry_criterion_ignores_failures() {
    let mut svc = JobsService::new();
    let retry = RetryCriterion {
        on: RetryOn::TimedOut,
        retries: 3,
    };
    let spec = JobSpec::new("job-1", document(), things(&["A", "B"]))
        .with_retry(retry)
        .with_in_progress_timeout(Duration::from_secs(10));
    svc.create_job(spec, t0()).unwrap();
    send(
        &mut svc,
        "A",
        "job-1/update",
        r#"{"status":"FAILED"}"#,
        t0(),
    );
    send(
        &mut svc,
        "B",
        "job-1/update",
        r#"{"status":"IN_PROGRESS"}"#,
        t0(),
    );
    svc.tick(at(10));
    assert_eq!(svc.execution("job-1", "A").unwrap().execution_number, 1);
    let b = svc.execution("job-1", "B").unwrap();
    assert_eq!((b.execution_number, b.status), (2, ExecutionStatus::Queued));
}

#[test]
fn an_explicit_retry_reruns_one_board_of_twenty_one() {
    let names: Vec<String> = (1..=21).map(|i| format!("Thing{i}")).collect();
    let mut svc = JobsService::new();
    svc.create_job(JobSpec::new("fleet", document(), names.clone()), t0())
        .unwrap();
    for (i, thing) in names.iter().enumerate() {
        let status = if i == 6 { "FAILED" } else { "SUCCEEDED" };
        send(
            &mut svc,
            thing,
            "fleet/update",
            &format!(r#"{{"status":"{status}"}}"#),
            at(1),
        );
    }
    svc.take_changes();
    let replies = svc
        .retry_job("fleet", Some(&things(&["Thing7"])), at(2))
        .unwrap();
    assert_eq!(
        notifications(&replies, "notify-next")[0].topic,
        "$aws/things/Thing7/jobs/notify-next"
    );
    let changes = svc.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].thing.as_str(), changes[0].execution_number),
        ("Thing7", 2)
    );
    assert!(names.iter().filter(|t| *t != "Thing7").all(|t| svc
        .execution("fleet", t)
        .unwrap()
        .execution_number
        == 1));

    assert!(matches!(
        svc.retry_job("fleet", Some(&things(&["Thing1"])), at(3)),
        Err(JobsError::NotRetryable {
            status: ExecutionStatus::Succeeded,
            ..
        })
    ));
    assert!(matches!(
        svc.retry_job("fleet", Some(&things(&["Thing99"])), at(3)),
        Err(JobsError::UnknownExecution { .. })
    ));
    assert!(
        svc.retry_job("fleet", None, at(3)).unwrap().is_empty(),
        "nothing else is retry-able"
    );
}

#[test]
fn every_execution_change_is_recorded_in_order() {
    let mut svc = JobsService::new();
    svc.create_job(JobSpec::new("job-1", document(), things(&[THING])), t0())
        .unwrap();
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"IN_PROGRESS","statusDetails":{"receive":"1/3"}}"#,
        t0(),
    );
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"SUCCEEDED"}"#,
        t0(),
    );
    send(
        &mut svc,
        THING,
        "job-1/update",
        r#"{"status":"FAILED"}"#,
        t0(),
    ); // rejected: no change
    let changes: Vec<(ExecutionStatus, u64)> = svc
        .take_changes()
        .iter()
        .map(|c| (c.status, c.version_number))
        .collect();
    assert_eq!(
        changes,
        [
            (ExecutionStatus::Queued, 1),
            (ExecutionStatus::InProgress, 2),
            (ExecutionStatus::Succeeded, 3)
        ]
    );
    assert!(svc.take_changes().is_empty());
}

#[test]
fn jobs_are_listed_in_creation_order_with_their_status() {
    let mut svc = service_with(&[("zeta", &[THING]), ("alpha", &[THING])]);
    send(
        &mut svc,
        THING,
        "zeta/update",
        r#"{"status":"SUCCEEDED"}"#,
        t0(),
    );
    let listed: Vec<(String, JobStatus)> =
        svc.jobs().into_iter().map(|j| (j.id, j.status)).collect();
    assert_eq!(
        listed,
        [
            ("zeta".to_string(), JobStatus::Completed),
            ("alpha".to_string(), JobStatus::InProgress)
        ]
    );
    let view = svc.job("zeta").unwrap();
    assert_eq!(
        view.latest(THING).unwrap().status,
        ExecutionStatus::Succeeded
    );
    assert_eq!(view.document, document());
}
