use super::*;
use crate::timeline::Source;

fn ev(source: Source, kind: EventKind) -> Event {
    Event {
        wall_ms: 0,
        t: 0.0,
        source,
        kind,
    }
}
fn line(text: &str) -> Event {
    ev(Source::board("a"), EventKind::Console { line: text.into() })
}
fn conn(connected: bool) -> Event {
    conn_n(1, connected)
}
fn conn_n(n: u64, connected: bool) -> Event {
    ev(
        Source::Cloud,
        EventKind::Connection {
            conn: n,
            client_id: "T1".into(),
            thing: Some("T1".into()),
            connected,
            reason: None,
        },
    )
}
fn job(id: &str, status: &str, details: &[(&str, &str)]) -> Event {
    ev(
        Source::Cloud,
        EventKind::JobExecution {
            job_id: id.into(),
            thing: "T1".into(),
            status: ExecutionStatus::from_wire(status).expect("a status name"),
            status_details: details
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            version_number: 1,
            execution_number: 1,
        },
    )
}
fn mqtt(dir: Direction, topic: &str) -> Event {
    ev(
        Source::board("a"),
        EventKind::Mqtt {
            conn: 0,
            client_id: "T1".into(),
            thing: Some("T1".into()),
            dir,
            packet: "PUBLISH".into(),
            topic: Some(topic.into()),
            qos: Some(1),
            payload: None,
            len: 0,
        },
    )
}
fn re(s: &str) -> Regex {
    Regex::new(s).unwrap()
}
fn profile() -> Profile {
    Profile {
        banner: re("app version"),
        version: re(r"app version (?P<version>\d+\.\d+\.\d+)"),
        connected: re("MQTT connection established"),
    }
}

/// The board's state after `events`, numbered from 0.
fn state(events: &[Event]) -> BoardState {
    let mut s = BoardState::new("a", "T1", profile());
    for (index, e) in events.iter().enumerate() {
        s.apply(Mark { index, offset: 0 }, e);
    }
    s
}

#[test]
fn without_connection_events_a_request_proves_the_thing_online() {
    // Client mode: the lab's broker owns the connections.
    assert_eq!(state(&[line("boot")]).online_since(), None);
    let get = mqtt(Direction::In, "$aws/things/T1/jobs/$next/get");
    assert_eq!(state(&[line("boot"), get.clone()]).online_since(), Some(1));
    // Where the gateway reports connections, a closed one is offline whatever came before.
    assert_eq!(state(&[get, conn(true), conn(false)]).online_since(), None);
}

#[test]
fn health_needs_a_banner_and_a_connection_after_it() {
    let mut events = vec![conn(true), line("app version 0.9.4")];
    assert_eq!(
        state(&events).healthy_since(0),
        None,
        "the connection is older than the boot"
    );
    events.push(conn(false));
    events.push(conn(true));
    assert_eq!(
        state(&events).healthy_since(0),
        Some(("0.9.4".to_string(), 1))
    );
    assert_eq!(state(&events).healthy_since(2), None, "no boot since 2");
    events.push(conn(false));
    assert_eq!(state(&events).healthy_since(0), None, "offline now");
}

#[test]
fn a_console_read_late_counts_the_connected_line_of_a_board_online_now() {
    let mut events = vec![conn(true), line("app version 0.9.5")];
    assert_eq!(state(&events).healthy_since(0), None);
    events.push(line("MQTT connection established with 127.0.0.1:8883."));
    assert_eq!(state(&events).running_version(), Some("0.9.5"));
    assert!(state(&events).healthy_since(0).is_some());
    // A new banner forgets the old boot's connected line.
    events.push(line("app version 0.9.4"));
    assert_eq!(state(&events).healthy_since(0), None);
}

#[test]
fn job_state_is_the_latest_execution_of_each_job() {
    let s = state(&[
        job("j", "IN_PROGRESS", &[("receive", "64/128")]),
        job("k", "QUEUED", &[]),
        job("j", "FAILED", &[("reason", "rejected: 0x23000000")]),
    ]);
    let j = s.job(Some("j")).unwrap();
    assert_eq!(j.status, ExecutionStatus::Failed);
    assert_eq!(j.status_details["reason"], "rejected: 0x23000000");
    assert_eq!(s.job(None).unwrap().job_id, "j", "the latest to change");
    assert!(s.job(Some("other")).is_none());
    assert!(s.update_pending(), "k is still queued");
    assert_eq!(s.progress_since(0, Some("j")), 0.5);
    assert_eq!(s.progress_since(1, None), 0.0, "nothing reported since 1");
}

#[test]
fn progress_since_an_index_is_the_best_reported_from_there_on() {
    let stream = |served: u64| {
        ev(
            Source::Cloud,
            EventKind::StreamProgress {
                thing: "T1".into(),
                stream: "s".into(),
                file_id: 0,
                blocks_served: served,
                block_count: 10,
            },
        )
    };
    let s = state(&[stream(8), stream(2), stream(5), stream(3)]);
    assert_eq!(s.progress_since(0, None), 0.8);
    assert_eq!(s.progress_since(1, None), 0.5);
    assert_eq!(s.progress_since(3, None), 0.3);
    assert_eq!(s.progress_since(4, None), 0.0);
}

#[test]
fn the_agent_has_asked_for_its_job_once_the_cloud_answered_next_get() {
    let s = state(&[
        mqtt(Direction::In, "$aws/things/T1/jobs/$next/get"),
        mqtt(Direction::Out, "$aws/things/T10/jobs/$next/get/accepted"),
    ]);
    assert!(!s.jobs_answered_since(0), "another thing's answer");
    let s = state(&[mqtt(
        Direction::Out,
        "$aws/things/T1/jobs/$next/get/accepted",
    )]);
    assert!(s.jobs_answered_since(0));
    assert!(!s.jobs_answered_since(1));
}

#[test]
fn a_self_test_is_pending_until_the_agent_decides() {
    let mut events = vec![job("j", "IN_PROGRESS", &[("self_test", "active")])];
    assert!(state(&events).self_test_pending());
    events.push(job("j", "SUCCEEDED", &[]));
    assert!(!state(&events).self_test_pending());
    assert!(!state(&events).update_pending());
}

#[test]
fn console_lines_beyond_those_kept_are_found_by_where_they_are() {
    let events: Vec<Event> = (0..CONSOLE_KEPT + 10)
        .map(|i| line(&format!("line {i}")))
        .collect();
    let s = state(&events);
    let (spilled, kept) = s.console_since(0);
    assert_eq!(spilled.len(), 10);
    assert_eq!(kept.count(), CONSOLE_KEPT);
    let (spilled, mut kept) = s.console_since(5);
    assert_eq!(spilled.first().map(|m| m.index), Some(5));
    assert_eq!(kept.next().map(|(at, _)| *at), Some(10));
    let (spilled, mut kept) = s.console_since(20);
    assert!(spilled.is_empty());
    assert_eq!(kept.next().map(|(at, _)| *at), Some(20));
    let last = CONSOLE_KEPT + 9;
    assert_eq!(
        s.console_tail(2),
        vec![format!("line {}", last - 1), format!("line {last}")]
    );
    assert!(s.spoke_since(last));
}

#[test]
fn the_rigs_own_notes_on_a_console_are_not_the_board_speaking() {
    let note = format!("{} booting app", crate::board::native::RIG_LINE_PREFIX);
    let s = state(&[line("x"), line(&note)]);
    assert!(s.spoke_since(0));
    assert!(!s.spoke_since(1));
}

#[test]
fn a_connection_taken_over_does_not_take_its_successor_offline() {
    // A board reboots without a DISCONNECT (a power cut, a watchdog): its new connection
    // opens, then the gateway closes the old one it took over.
    let boot = [line("app version 0.9.5"), conn_n(2, true), conn_n(1, false)];
    let mut events = vec![conn_n(1, true)];
    events.extend(boot);
    let s = state(&events);
    assert_eq!(s.online_since(), Some(2));
    assert!(s.healthy_since(0).is_some());
    events.push(conn_n(2, false));
    assert_eq!(state(&events).online_since(), None);
}
