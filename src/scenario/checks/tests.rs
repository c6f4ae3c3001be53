//! Checks as a board's events arrive: met, failed fast, or out of time (on the paused
//! test clock).

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use tokio::time::Instant;

use super::*;
use crate::config::rig::Profile;
use crate::model::ExecutionStatus;
use crate::scenario::watch::Watch;
use crate::timeline::{EventKind, EventSink, Source, Timeline};

fn board() -> BoundBoard {
    BoundBoard {
        role: "dut".into(),
        board: "a".into(),
        thing: "T1".into(),
        profile: Profile {
            banner: Regex::new("app version").unwrap(),
            version: Regex::new(r"app version (?P<version>\d+\.\d+\.\d+)").unwrap(),
            connected: Regex::new("connected").unwrap(),
        },
    }
}

struct Bench {
    t: Timeline,
    watch: std::sync::Arc<Watch>,
}

impl Bench {
    fn new() -> Self {
        let t = Timeline::in_memory();
        let watch = Watch::start(&t, &[board()]);
        Bench { t, watch }
    }

    /// Emits `what` after `secs` seconds (of the paused test clock).
    fn later(&self, secs: u64, what: impl FnOnce(&Timeline) + Send + 'static) {
        let t = self.t.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            what(&t);
        });
    }

    async fn expect(&self, check: Check, within_secs: u64) -> (Result<(), Unmet>, Duration) {
        let start = Instant::now();
        let within = Duration::from_secs(within_secs);
        // By the board's events alone, as every kind but `no_execution` is decided.
        let r = wait::follow_board(&self.watch, check.kind(), &board(), 0, within)
            .await
            .map_err(|seen| Unmet {
                expected: check.describe(within),
                seen,
            });
        (r, start.elapsed())
    }
}

fn say(t: &Timeline, line: &str) {
    t.emit(Source::board("a"), EventKind::Console { line: line.into() });
}

fn execution(t: &Timeline, job: &str, status: ExecutionStatus, details: &[(&str, &str)]) {
    t.emit(
        Source::Cloud,
        EventKind::JobExecution {
            job_id: job.into(),
            thing: "T1".into(),
            status,
            status_details: details
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            version_number: 1,
            execution_number: 1,
        },
    );
}

fn job(status: ExecutionStatus) -> Check {
    Check::Job(JobStatus {
        job: Some("j".into()),
        status,
        reason: None,
    })
}

#[tokio::test(start_paused = true)]
async fn a_job_that_ends_otherwise_fails_the_expectation_at_once_not_at_its_deadline() {
    let b = Bench::new();
    execution(&b.t, "j", ExecutionStatus::Queued, &[]);
    b.later(2, |t| {
        execution(
            t,
            "j",
            ExecutionStatus::Failed,
            &[("reason", "rejected: 0x23000000")],
        )
    });
    let (r, took) = b.expect(job(ExecutionStatus::Succeeded), 600).await;
    let unmet = r.unwrap_err();
    assert_eq!(took, Duration::from_secs(2), "not the 10 minutes");
    assert!(unmet.expected.contains("SUCCEEDED within 10m"), "{unmet}");
    assert!(unmet.seen.contains("FAILED"), "{unmet}");
    assert!(unmet.seen.contains("0x23000000"), "{unmet}");
}

#[tokio::test(start_paused = true)]
async fn a_final_state_with_the_wrong_reason_fails_at_once() {
    let b = Bench::new();
    execution(&b.t, "j", ExecutionStatus::Failed, &[("reason", "other")]);
    let check = Check::Job(JobStatus {
        job: Some("j".into()),
        status: ExecutionStatus::Failed,
        reason: Some(Regex::new("0x23000000").unwrap()),
    });
    let (r, took) = b.expect(check, 600).await;
    assert!(r.is_err());
    assert_eq!(took, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn the_latest_job_is_only_settled_once_every_job_of_the_board_is() {
    let b = Bench::new();
    execution(&b.t, "j", ExecutionStatus::Queued, &[]);
    execution(&b.t, "k", ExecutionStatus::Failed, &[]);
    b.later(5, |t| execution(t, "j", ExecutionStatus::Succeeded, &[]));
    let check = Check::Job(JobStatus {
        job: None,
        status: ExecutionStatus::Succeeded,
        reason: None,
    });
    let (r, took) = b.expect(check, 60).await;
    assert_eq!(r, Ok(()));
    assert_eq!(took, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn another_version_booted_with_no_update_under_way_fails_at_once() {
    let b = Bench::new();
    say(&b.t, "app version 0.9.4");
    execution(&b.t, "j", ExecutionStatus::InProgress, &[]);
    b.later(3, |t| {
        say(t, "app version 0.9.5");
        execution(
            t,
            "j",
            ExecutionStatus::InProgress,
            &[("self_test", "active")],
        );
    });
    b.later(6, |t| say(t, "app version 0.9.4"));
    b.later(8, |t| execution(t, "j", ExecutionStatus::Failed, &[]));
    let (r, took) = b.expect(Check::Version(Version("0.9.5".into())), 600).await;
    // Met at 3 s: 0.9.5 booted. The same board expected back on 0.9.4 passes through
    // 0.9.5 while it self-tests, without failing.
    assert_eq!((r, took), (Ok(()), Duration::from_secs(3)));
    let (r, took) = b.expect(Check::Version(Version("0.9.6".into())), 600).await;
    let unmet = r.unwrap_err();
    assert_eq!(took, Duration::from_secs(5), "when the job ended, at 8 s");
    assert!(unmet.seen.contains("booted 0.9.4"), "{unmet}");
}

#[tokio::test(start_paused = true)]
async fn a_rollback_passes_through_the_new_version_while_it_self_tests() {
    let b = Bench::new();
    say(&b.t, "app version 0.9.4");
    execution(&b.t, "j", ExecutionStatus::InProgress, &[]);
    b.later(1, |t| {
        say(t, "app version 0.9.5");
        execution(
            t,
            "j",
            ExecutionStatus::InProgress,
            &[("self_test", "active")],
        );
    });
    b.later(4, |t| say(t, "app version 0.9.4"));
    // Expected back on 0.9.4 from when the new image booted.
    let wait = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        b.expect(Check::Version(Version("0.9.4".into())), 60).await
    };
    let (r, took) = wait.await;
    assert_eq!((r, took), (Ok(()), Duration::from_secs(2)));
}

#[tokio::test(start_paused = true)]
async fn a_download_whose_job_ended_short_of_the_mark_fails_at_once() {
    let b = Bench::new();
    execution(
        &b.t,
        "j",
        ExecutionStatus::InProgress,
        &[("receive", "1/4")],
    );
    b.later(1, |t| execution(t, "j", ExecutionStatus::Failed, &[]));
    let check = Check::Progress(Progress {
        job: Some("j".into()),
        at_least: 0.5,
    });
    let (r, took) = b.expect(check, 600).await;
    let unmet = r.unwrap_err();
    assert_eq!(took, Duration::from_secs(1));
    assert!(unmet.seen.contains("download at 25%"), "{unmet}");
}

#[tokio::test(start_paused = true)]
async fn a_guard_hit_ends_the_wait() {
    let b = Bench::new();
    b.watch
        .arm_guard("a", 0, &Regex::new("Hard fault").unwrap());
    b.later(4, |t| say(t, "Hard fault at 0x0"));
    let (r, took) = b
        .expect(Check::Console(Console(Regex::new("never").unwrap())), 600)
        .await;
    let unmet = r.unwrap_err();
    assert_eq!(took, Duration::from_secs(4));
    assert!(unmet.seen.contains("Hard fault at 0x0"), "{unmet}");
}

#[tokio::test(start_paused = true)]
async fn a_forbidden_line_fails_at_once_and_its_absence_passes_at_the_deadline() {
    let b = Bench::new();
    let forbid = || Check::NotConsole(NotConsole(Regex::new("panic").unwrap()));
    let (r, took) = b.expect(forbid(), 30).await;
    assert_eq!((r, took), (Ok(()), Duration::from_secs(30)));
    b.later(2, |t| say(t, "panic!"));
    let (r, took) = b.expect(forbid(), 30).await;
    assert!(r.is_err());
    assert_eq!(took, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_sequence_is_read_across_what_was_printed_and_what_comes() {
    let b = Bench::new();
    say(&b.t, "one");
    say(&b.t, "three");
    b.later(1, |t| say(t, "two"));
    b.later(2, |t| say(t, "three"));
    let check = Check::Sequence(Sequence(vec![
        Regex::new("one").unwrap(),
        Regex::new("two").unwrap(),
        Regex::new("three").unwrap(),
    ]));
    let (r, took) = b.expect(check, 60).await;
    assert_eq!((r, took), (Ok(()), Duration::from_secs(2)));
    let check = Check::Sequence(Sequence(vec![
        Regex::new("three").unwrap(),
        Regex::new("one").unwrap(),
    ]));
    let (r, _) = b.expect(check, 5).await;
    let unmet = r.unwrap_err();
    assert!(
        unmet
            .seen
            .starts_with("1 of 2 lines in order, still missing /one/"),
        "{unmet}"
    );
}
