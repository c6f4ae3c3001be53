//! Fleet controls on a virtual clock: rollout rates (plain and exponential, on each
//! criterion), abort criteria (threshold, minimum, what the cancel does to queued,
//! in-progress and not-yet-rolled-out targets) and retries per failure type.

use std::time::{Duration, SystemTime};

use super::tests::{answer, at, document, json_of, notifications, send, t0};
use super::*;

fn things(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("T{i}")).collect()
}

fn rate(maximum_per_minute: u32) -> Rollout {
    Rollout {
        maximum_per_minute,
        exponential: None,
    }
}

fn exponential(base: u32, factor: f64, increase: RateIncrease, max: u32) -> Rollout {
    Rollout {
        maximum_per_minute: max,
        exponential: Some(ExponentialRate {
            base_per_minute: base,
            increment_factor: factor,
            increase,
        }),
    }
}

fn abort_on(on: AbortOn, threshold_percentage: f64, min_executed_things: u32) -> AbortCriterion {
    AbortCriterion {
        on,
        threshold_percentage,
        min_executed_things,
    }
}

fn report(svc: &mut JobsService, thing: &str, status: &str, now: SystemTime) -> Vec<Reply> {
    let payload = format!(r#"{{"status":"{status}"}}"#);
    let replies = send(svc, thing, "job-1/update", &payload, now);
    answer(&replies, thing, "job-1/update", "accepted");
    replies
}

fn status_of(svc: &JobsService, thing: &str) -> Option<ExecutionStatus> {
    svc.execution("job-1", thing).map(|e| e.status)
}

/// Seconds after t0 of each release, ticking at each deadline until none is left.
fn release_times(svc: &mut JobsService, limit: usize) -> Vec<f64> {
    let mut times = vec![0.0];
    while let Some(due) = svc.next_deadline() {
        let before = svc.job("job-1").unwrap().waiting.len();
        svc.tick(due);
        assert_eq!(
            svc.job("job-1").unwrap().waiting.len(),
            before - 1,
            "one target per deadline"
        );
        times.push(due.duration_since(t0()).unwrap().as_secs_f64());
        if times.len() == limit {
            break;
        }
    }
    times
}

#[test]
fn a_rollout_gives_targets_their_execution_one_at_a_time_at_its_rate() {
    let mut svc = JobsService::new();
    let spec = JobSpec::new("job-1", document(), things(4)).with_rollout(rate(6));
    let created = svc.create_job(spec, t0()).unwrap();
    let told: Vec<&str> = notifications(&created, "notify-next")
        .iter()
        .map(|r| r.topic.as_str())
        .collect();
    assert_eq!(
        told,
        ["$aws/things/T1/jobs/notify-next"],
        "only T1 is notified"
    );
    assert_eq!(status_of(&svc, "T1"), Some(ExecutionStatus::Queued));
    assert_eq!(status_of(&svc, "T2"), None, "not rolled out: no execution");
    let next = answer(
        &send(&mut svc, "T2", "$next/get", "{}", at(1)),
        "T2",
        "$next/get",
        "accepted",
    );
    assert!(
        next.get("execution").is_none(),
        "T2 has nothing yet: {next}"
    );
    let view = svc.job("job-1").unwrap();
    assert_eq!(view.waiting, ["T2", "T3", "T4"]);
    assert_eq!(view.status, JobStatus::InProgress);

    // 6 a minute: one every 10 s.
    assert_eq!(svc.next_deadline(), Some(at(10)));
    assert!(svc.tick(at(9)).is_empty(), "not due yet");
    let released = svc.tick(at(10));
    assert_eq!(
        notifications(&released, "notify-next")[0].topic,
        "$aws/things/T2/jobs/notify-next"
    );
    assert_eq!(status_of(&svc, "T2"), Some(ExecutionStatus::Queued));
    assert_eq!(svc.next_deadline(), Some(at(20)));
    // A late tick releases one, and the cadence starts again from it: no burst.
    svc.tick(at(45));
    assert_eq!(svc.job("job-1").unwrap().waiting, ["T4"]);
    assert_eq!(svc.next_deadline(), Some(at(55)));
    svc.tick(at(55));
    assert!(svc.job("job-1").unwrap().waiting.is_empty());
    assert_eq!(svc.next_deadline(), None, "nothing left to roll out");

    for t in ["T1", "T2", "T3"] {
        report(&mut svc, t, "SUCCEEDED", at(60));
    }
    assert_eq!(svc.job("job-1").unwrap().status, JobStatus::InProgress);
    report(&mut svc, "T4", "SUCCEEDED", at(61));
    assert_eq!(svc.job("job-1").unwrap().status, JobStatus::Completed);
}

#[test]
fn an_exponential_rate_grows_with_each_batch_of_notified_things_up_to_its_maximum() {
    let mut svc = JobsService::new();
    let rollout = exponential(2, 2.0, RateIncrease::NotifiedThings(2), 8);
    let spec = JobSpec::new("job-1", document(), things(7)).with_rollout(rollout);
    svc.create_job(spec, t0()).unwrap();
    // 2/min (30 s) for the first two, 4/min (15 s) for the next two, then 8/min (7.5 s).
    assert_eq!(
        release_times(&mut svc, 10),
        [0.0, 30.0, 45.0, 60.0, 67.5, 75.0, 82.5]
    );
}

#[test]
fn an_exponential_rate_on_succeeded_things_waits_for_successes() {
    let mut svc = JobsService::new();
    let rollout = exponential(1, 3.0, RateIncrease::SucceededThings(1), 10);
    let spec = JobSpec::new("job-1", document(), things(5)).with_rollout(rollout);
    svc.create_job(spec, t0()).unwrap();
    assert_eq!(
        svc.next_deadline(),
        Some(at(60)),
        "1 a minute to begin with"
    );
    report(&mut svc, "T1", "FAILED", at(5));
    assert_eq!(svc.next_deadline(), Some(at(60)), "a failure is no success");
    svc.tick(at(60));
    report(&mut svc, "T2", "SUCCEEDED", at(61));
    assert_eq!(
        svc.next_deadline(),
        Some(at(80)),
        "one success: 3 a minute, 20 s after the last release"
    );
}

#[test]
fn an_abort_waits_for_its_minimum_then_cancels_queued_executions_and_spares_in_progress_ones() {
    let mut svc = JobsService::new();
    let spec =
        JobSpec::new("job-1", document(), things(5)).with_abort(abort_on(AbortOn::Failed, 50.0, 3));
    svc.create_job(spec, t0()).unwrap();
    report(&mut svc, "T4", "IN_PROGRESS", at(1));
    report(&mut svc, "T1", "FAILED", at(2));
    report(&mut svc, "T2", "FAILED", at(3));
    assert_eq!(
        svc.job("job-1").unwrap().status,
        JobStatus::InProgress,
        "2 of 2 failed, but fewer than 3 executed"
    );
    assert!(svc.take_aborts().is_empty());
    let replies = report(&mut svc, "T3", "SUCCEEDED", at(4));

    let view = svc.job("job-1").unwrap();
    assert_eq!(view.status, JobStatus::Canceled);
    assert_eq!(status_of(&svc, "T5"), Some(ExecutionStatus::Canceled));
    assert_eq!(
        status_of(&svc, "T4"),
        Some(ExecutionStatus::InProgress),
        "as AWS's cancel without force"
    );
    let told: Vec<&str> = notifications(&replies, "notify-next")
        .iter()
        .map(|r| r.topic.as_str())
        .collect();
    assert_eq!(
        told,
        [
            "$aws/things/T3/jobs/notify-next",
            "$aws/things/T5/jobs/notify-next"
        ],
        "T3's own queue emptied, and T5's execution was canceled"
    );
    assert_eq!(
        json_of(notifications(&replies, "notify-next")[1]),
        serde_json::json!({"timestamp": 1_700_000_004u64}),
        "T5 has nothing next"
    );
    let aborts = svc.take_aborts();
    assert_eq!(aborts.len(), 1);
    let (id, abort) = &aborts[0];
    assert_eq!(id, "job-1");
    assert_eq!(
        (abort.executed, abort.failures, abort.canceled_queued),
        (3, 2, 1)
    );
    assert_eq!((abort.never_rolled_out, abort.left_in_progress), (0, 1));
    assert_eq!(view.aborted.as_ref(), Some(abort));
    let text = abort.describe("job-1");
    assert!(
        text.contains("2 of 3 executed things FAILED (66.67% >= 50%, at least 3 executed)"),
        "{text}"
    );
    assert!(
        text.contains("1 IN_PROGRESS execution(s) left to finish"),
        "{text}"
    );

    // T4 may still finish; nothing aborts twice.
    report(&mut svc, "T4", "FAILED", at(5));
    assert!(svc.take_aborts().is_empty());
}

#[test]
fn an_abort_during_a_rollout_leaves_the_rest_without_an_execution() {
    let mut svc = JobsService::new();
    let spec = JobSpec::new("job-1", document(), things(5))
        .with_rollout(rate(1))
        .with_abort(abort_on(AbortOn::All, 100.0, 1));
    svc.create_job(spec, t0()).unwrap();
    report(&mut svc, "T1", "REJECTED", at(5));
    let view = svc.job("job-1").unwrap();
    assert_eq!(view.status, JobStatus::Canceled);
    assert!(view.waiting.is_empty());
    assert_eq!(view.aborted.as_ref().unwrap().never_rolled_out, 4);
    assert_eq!(svc.next_deadline(), None);
    assert!(svc.tick(at(600)).is_empty(), "nothing rolls out any more");
    for t in ["T2", "T3", "T4", "T5"] {
        assert_eq!(status_of(&svc, t), None, "{t} never got the job");
    }
}

#[test]
fn a_timeout_counts_for_an_abort_on_timed_out() {
    let mut svc = JobsService::new();
    let spec = JobSpec::new("job-1", document(), things(2))
        .with_in_progress_timeout(Duration::from_secs(60))
        .with_abort(abort_on(AbortOn::TimedOut, 50.0, 1));
    svc.create_job(spec, t0()).unwrap();
    report(&mut svc, "T1", "IN_PROGRESS", at(0));
    let replies = svc.tick(at(60));
    assert_eq!(status_of(&svc, "T1"), Some(ExecutionStatus::TimedOut));
    assert_eq!(status_of(&svc, "T2"), Some(ExecutionStatus::Canceled));
    assert_eq!(notifications(&replies, "notify-next").len(), 2);
    assert_eq!(svc.take_aborts()[0].1.criterion.on, AbortOn::TimedOut);
}

#[test]
fn an_abort_counts_only_the_failures_its_type_names() {
    let mut svc = JobsService::new();
    let spec = JobSpec::new("job-1", document(), things(3)).with_abort(abort_on(
        AbortOn::Rejected,
        50.0,
        2,
    ));
    svc.create_job(spec, t0()).unwrap();
    report(&mut svc, "T1", "FAILED", at(1));
    report(&mut svc, "T2", "FAILED", at(2));
    assert_eq!(svc.job("job-1").unwrap().status, JobStatus::InProgress);
    report(&mut svc, "T3", "REJECTED", at(3));
    assert_eq!(
        svc.job("job-1").unwrap().status,
        JobStatus::Completed,
        "1 REJECTED of 3 is 33%: every execution ended, no abort"
    );
}

#[test]
fn retries_are_counted_per_failure_type() {
    let mut svc = JobsService::new();
    let spec = JobSpec::new("job-1", document(), things(1))
        .with_in_progress_timeout(Duration::from_secs(10))
        .with_retry(RetryCriterion {
            on: RetryOn::Failed,
            retries: 1,
        })
        .with_retry(RetryCriterion {
            on: RetryOn::TimedOut,
            retries: 2,
        });
    svc.create_job(spec, t0()).unwrap();
    let number = |svc: &JobsService| svc.execution("job-1", "T1").unwrap().execution_number;
    report(&mut svc, "T1", "FAILED", at(1));
    assert_eq!(number(&svc), 2, "first failure: retried");
    report(&mut svc, "T1", "IN_PROGRESS", at(2));
    svc.tick(at(12));
    assert_eq!(number(&svc), 3, "a timeout has retries of its own");
    report(&mut svc, "T1", "FAILED", at(13));
    assert_eq!(
        (number(&svc), status_of(&svc, "T1")),
        (3, Some(ExecutionStatus::Failed)),
        "the FAILED retry is used up"
    );
}

#[test]
fn a_failure_being_retried_does_not_count_for_an_abort_until_its_retries_end() {
    let mut svc = JobsService::new();
    let spec = JobSpec::new("job-1", document(), things(2))
        .with_retry(RetryCriterion {
            on: RetryOn::Failed,
            retries: 1,
        })
        .with_abort(abort_on(AbortOn::Failed, 100.0, 1));
    svc.create_job(spec, t0()).unwrap();
    report(&mut svc, "T1", "FAILED", at(1));
    assert_eq!(svc.job("job-1").unwrap().status, JobStatus::InProgress);
    assert_eq!(status_of(&svc, "T1"), Some(ExecutionStatus::Queued));
    report(&mut svc, "T1", "FAILED", at(2));
    assert_eq!(svc.job("job-1").unwrap().status, JobStatus::Canceled);
    assert_eq!(status_of(&svc, "T2"), Some(ExecutionStatus::Canceled));
}

#[test]
fn canceling_a_rollout_drops_the_targets_it_has_not_reached() {
    let mut svc = JobsService::new();
    let spec = JobSpec::new("job-1", document(), things(3)).with_rollout(rate(60));
    svc.create_job(spec, t0()).unwrap();
    svc.cancel_job("job-1", false, at(0)).unwrap();
    let view = svc.job("job-1").unwrap();
    assert_eq!((view.status, view.waiting.len()), (JobStatus::Canceled, 0));
    assert_eq!(view.aborted, None, "a cancel is no abort");
    assert_eq!(svc.next_deadline(), None);
    assert_eq!(status_of(&svc, "T2"), None);
}

#[test]
fn controls_aws_would_refuse_are_refused_with_the_field_named() {
    let mut svc = JobsService::new();
    let spec = JobSpec::new("job-1", document(), things(1)).with_rollout(rate(0));
    let err = svc.create_job(spec, t0()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `job-1`: maximumPerMinute must be 1 to 1000 things a minute, got 0"
    );
    let spec =
        JobSpec::new("job-1", document(), things(1)).with_abort(abort_on(AbortOn::Failed, 0.0, 1));
    let err = svc.create_job(spec, t0()).unwrap_err();
    assert!(err.to_string().contains("thresholdPercentage"), "{err}");
    assert!(svc.jobs().is_empty());
}
