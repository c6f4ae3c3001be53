use super::*;
use crate::config::rig::Profile;
use crate::timeline::{Direction, EventSink, Source};

fn bound(board: &str, thing: &str) -> BoundBoard {
    BoundBoard {
        role: board.into(),
        board: board.into(),
        thing: thing.into(),
        profile: Profile {
            banner: Regex::new("app version").unwrap(),
            version: Regex::new(r"app version (?P<version>\d+\.\d+\.\d+)").unwrap(),
            connected: Regex::new("connected").unwrap(),
        },
    }
}

fn say(t: &Timeline, board: &str, line: &str) {
    t.emit(
        Source::board(board),
        EventKind::Console { line: line.into() },
    );
}

fn drain(w: &mut Waiter<'_>) -> Vec<String> {
    std::iter::from_fn(|| w.next_line())
        .map(|(_, l)| l)
        .collect()
}

#[test]
fn a_waiter_reads_each_line_of_its_board_once_from_where_it_asked() {
    let t = Timeline::in_memory();
    let watch = Watch::start(&t, &[bound("a", "T1"), bound("b", "T2")]);
    say(&t, "a", "one");
    say(&t, "b", "other board");
    say(&t, "a", "two");
    let mut w = watch.waiter("a", Some(1));
    say(&t, "a", "three");
    assert_eq!(drain(&mut w), ["two", "three"]);
    say(&t, "a", "four");
    assert_eq!(drain(&mut w), ["four"]);
    assert!(drain(&mut w).is_empty());
}

#[test]
fn lines_older_than_those_kept_are_read_back_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let t = Timeline::recording_to(&dir.path().join("events.jsonl")).unwrap();
    let watch = Watch::start(&t, &[bound("a", "T1")]);
    let total = CONSOLE_KEPT + 5;
    for i in 0..total {
        say(&t, "a", &format!("line {i}"));
    }
    let mut w = watch.waiter("a", Some(0));
    let lines = drain(&mut w);
    assert_eq!(lines.len(), total);
    assert_eq!(lines[0], "line 0");
    assert_eq!(lines[total - 1], format!("line {}", total - 1));
}

#[test]
fn the_cloud_events_of_a_thing_reach_its_board() {
    let t = Timeline::in_memory();
    let watch = Watch::start(&t, &[bound("a", "T1")]);
    t.emit(
        Source::Cloud,
        EventKind::JobExecution {
            job_id: "j".into(),
            thing: "T1".into(),
            status: crate::model::ExecutionStatus::Failed,
            status_details: Default::default(),
            version_number: 2,
            execution_number: 1,
        },
    );
    let status = watch.state("a").job(Some("j")).map(|s| s.status);
    assert_eq!(status, Some(crate::model::ExecutionStatus::Failed));
}

#[test]
fn a_guard_sees_lines_from_where_it_was_armed_including_those_already_printed() {
    let t = Timeline::in_memory();
    let watch = Watch::start(&t, &[bound("a", "T1")]);
    say(&t, "a", "Hard fault before");
    let from = t.len();
    say(&t, "a", "fine");
    watch.arm_guard("a", from, &Regex::new("Hard fault").unwrap());
    assert!(watch.guard_hits("a").is_empty());
    say(&t, "a", "Hard fault after");
    say(&t, "a", "Hard fault again");
    let hits = watch.guard_hits("a");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].1 .1, "Hard fault after");
}

#[test]
fn a_request_on_another_things_topics_is_found_once() {
    let t = Timeline::in_memory();
    let watch = Watch::start(&t, &[bound("a", "T1"), bound("b", "T2")]);
    let publish = |topic: &str| {
        t.emit(
            Source::board("a"),
            EventKind::Mqtt {
                conn: 1,
                client_id: "T1".into(),
                thing: Some("T1".into()),
                dir: Direction::In,
                packet: "PUBLISH".into(),
                topic: Some(topic.into()),
                qos: Some(1),
                payload: None,
                len: 0,
            },
        )
    };
    publish("$aws/things/T1/jobs/j/update");
    publish("$aws/things/T2/jobs/$next/get"); // looking is not speaking for T2
    publish("$aws/things/T2/jobs/j/update");
    publish("$aws/things/T2/jobs/j/update");
    publish("$aws/things/T2/streams/s/get/cbor");
    let found = watch.foreign_requests();
    let topics: Vec<&str> = found.iter().map(|f| f.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "$aws/things/T2/jobs/j/update",
            "$aws/things/T2/streams/s/get/cbor"
        ]
    );
    assert_eq!(found[0].sender, "T1");
    assert_eq!(found[0].owner, "T2");
}

#[tokio::test(start_paused = true)]
async fn a_wait_wakes_on_its_boards_events_and_gives_up_at_its_deadline() {
    let t = Timeline::in_memory();
    let watch = Watch::start(&t, &[bound("a", "T1")]);
    let later = t.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        say(&later, "a", "app version 1.2.3");
    });
    let start = Instant::now();
    let v = watch
        .wait_until("a", Duration::from_secs(60), |s| {
            s.running_version().map(str::to_string)
        })
        .await;
    assert_eq!(v.as_deref(), Some("1.2.3"));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let none = watch
        .wait_until("a", Duration::from_secs(10), |s| s.online().then_some(()))
        .await;
    assert_eq!(none, None);
}

#[tokio::test]
async fn a_plain_line_wakes_only_waiters_that_read_lines() {
    use futures::FutureExt;
    let t = Timeline::in_memory();
    let watch = Watch::start(&t, &[bound("a", "T1")]);
    let later = Instant::now() + Duration::from_secs(3600);
    let mut state_only = watch.waiter("a", None);
    let mut reader = watch.waiter("a", Some(0));
    say(&t, "a", "Received file block 7");
    assert_eq!(state_only.changed(later).now_or_never(), None);
    assert_eq!(reader.changed(later).now_or_never(), Some(true));
    assert_eq!(drain(&mut reader), ["Received file block 7"]);
    say(&t, "a", "app version 1.2.3");
    assert_eq!(state_only.changed(later).now_or_never(), Some(true));
    assert!(watch.wait_spoke("a", 1, Duration::ZERO).await);
    assert!(!watch.wait_spoke("a", 2, Duration::ZERO).await);
}

#[test]
fn the_runners_lag_touches_every_board() {
    use crate::model::lag::lag_note;
    let t = Timeline::in_memory();
    let watch = Watch::start(&t, &[bound("a", "T1"), bound("b", "T2")]);
    say(&t, "a", &lag_note(Duration::from_millis(1500)));
    assert_eq!(watch.lag("a"), Duration::from_millis(1500));
    assert_eq!(
        watch.lag("b"),
        Duration::ZERO,
        "a board's own lag is its own"
    );
    let note = |source: Source, secs: u64| {
        t.emit(
            source,
            EventKind::Note {
                text: lag_note(Duration::from_secs(secs)),
            },
        )
    };
    note(Source::Cloud, 2);
    assert_eq!(
        watch.lag("b"),
        Duration::ZERO,
        "only the runner measures its lag"
    );
    note(Source::Runner, 3);
    assert_eq!(watch.lag("a"), Duration::from_secs(3));
    assert_eq!(watch.lag("b"), Duration::from_secs(3));
}
