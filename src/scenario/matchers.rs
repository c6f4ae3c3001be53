//! Pure predicates over a recorded timeline. Expectations, guards, the recovery
//! check and verdict messages all ask these questions; none touches a board.

use std::collections::BTreeMap;

use regex::Regex;

use crate::config::rig::Profile;
use crate::model::ExecutionStatus;
use crate::timeline::{Event, EventKind, Source};

/// A board as the timeline knows it: console lines carry its rig name, the
/// cloud's events carry its thing name (the certificate CN it connects with).
#[derive(Clone, Copy, Debug)]
pub struct BoardRef<'a> {
    pub board: &'a str,
    pub thing: &'a str,
}

fn console_line<'e>(event: &'e Event, board: &str) -> Option<&'e str> {
    match (&event.source, &event.kind) {
        (Source::Board(name), EventKind::Console { line }) if name == board => Some(line),
        _ => None,
    }
}

/// Index of the first console line the board itself printed at or after `from` (the
/// rig's own notes on a native board's console, such as "process exited", are not it).
pub fn board_spoke(events: &[Event], from: usize, board: &str) -> Option<usize> {
    let prefix = crate::board::native::RIG_LINE_PREFIX;
    (from..events.len())
        .find(|&i| console_line(&events[i], board).is_some_and(|l| !l.starts_with(prefix)))
}

/// Index of the first console line of `board` at or after `from` that matches.
pub fn find_console(events: &[Event], from: usize, board: &str, re: &Regex) -> Option<usize> {
    events
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, e)| console_line(e, board).is_some_and(|l| re.is_match(l)))
        .map(|(i, _)| i)
}

/// Matches `res` in order; `Ok(index of the last match)`, or `Err(how many matched)`.
pub fn find_sequence(
    events: &[Event],
    from: usize,
    board: &str,
    res: &[Regex],
) -> Result<usize, usize> {
    let mut at = from;
    let mut last = from;
    for (n, re) in res.iter().enumerate() {
        match find_console(events, at, board, re) {
            Some(i) => {
                last = i;
                at = i + 1;
            }
            None => return Err(n),
        }
    }
    Ok(last)
}

/// The latest state of a thing's execution of `job` (or of any job when `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    pub job_id: String,
    pub status: ExecutionStatus,
    pub status_details: BTreeMap<String, String>,
}

pub fn job_state(events: &[Event], thing: &str, job: Option<&str>) -> Option<JobState> {
    events.iter().rev().find_map(|e| match &e.kind {
        EventKind::JobExecution {
            job_id,
            thing: t,
            status,
            status_details,
            ..
        } if t == thing && job.is_none_or(|j| j == job_id) => Some(JobState {
            job_id: job_id.clone(),
            status: *status,
            status_details: status_details.clone(),
        }),
        _ => None,
    })
}

/// The running version: the `version` capture of the board's latest banner line.
pub fn running_version(events: &[Event], board: &str, version_re: &Regex) -> Option<String> {
    events.iter().rev().find_map(|e| {
        let line = console_line(e, board)?;
        let caps = version_re.captures(line)?;
        caps.name("version")
            .or_else(|| caps.get(1))
            .map(|m| m.as_str().to_string())
    })
}

/// Index of the board's latest console line matching `re`.
pub fn last_console(events: &[Event], board: &str, re: &Regex) -> Option<usize> {
    events
        .iter()
        .enumerate()
        .rev()
        .find(|(_, e)| console_line(e, board).is_some_and(|l| re.is_match(l)))
        .map(|(i, _)| i)
}

/// Whether the thing holds an open connection at the gateway (its latest connection event).
pub fn online(events: &[Event], thing: &str) -> bool {
    online_since(events, thing).is_some()
}

/// Index of the connect event of the thing's open connection, if it has one. In client
/// mode the lab's broker owns the connections and none is seen: there, the thing's latest
/// request to the cloud is the evidence that it is online.
pub fn online_since(events: &[Event], thing: &str) -> Option<usize> {
    let connection = events
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, e)| match &e.kind {
            EventKind::Connection {
                thing: Some(t),
                connected,
                ..
            } if t == thing => Some((i, *connected)),
            _ => None,
        });
    match connection {
        Some((i, connected)) => connected.then_some(i),
        None => events.iter().rposition(|e| {
            matches!(&e.kind, EventKind::Mqtt {
                thing: Some(t),
                dir: crate::timeline::Direction::In,
                packet,
                ..
            } if t == thing && packet == "PUBLISH")
        }),
    }
}

/// Download progress (0..=1) of the thing, from the stream service or the board's own
/// `receive` reports, whichever is further, since `from`.
pub fn progress(events: &[Event], from: usize, thing: &str, job: Option<&str>) -> f64 {
    let mut best: f64 = 0.0;
    for e in events.iter().skip(from) {
        match &e.kind {
            EventKind::StreamProgress {
                thing: t,
                blocks_served,
                block_count,
                ..
            } if t == thing && *block_count > 0 => {
                best = best.max(*blocks_served as f64 / *block_count as f64);
            }
            EventKind::JobExecution {
                thing: t,
                job_id,
                status_details,
                ..
            } if t == thing && job.is_none_or(|j| j == job_id) => {
                if let Some(fraction) = crate::timeline::query::reported_progress(status_details) {
                    best = best.max(fraction);
                }
            }
            _ => {}
        }
    }
    best.min(1.0)
}

/// Index of the cloud's first answer to the thing's `$next/get` at or after `from`: the
/// agent has asked for its job and heard back, so a job created now is news to it.
pub fn jobs_answered(events: &[Event], from: usize, thing: &str) -> Option<usize> {
    let answer = format!("$aws/things/{thing}/jobs/$next/get/");
    events
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, e)| {
            matches!(&e.kind, EventKind::Mqtt { dir: crate::timeline::Direction::Out, topic: Some(t), .. } if t.starts_with(&answer))
        })
        .map(|(i, _)| i)
}

/// Healthy = booted (the latest banner names a version), and connected to the cloud since
/// that boot: the cloud saw the connection after the banner, or the board, online now,
/// printed its `connected` line after it (a serial port read later than the network, as
/// after a USB-serial adapter re-enumerates, puts the banner after the CONNECT).
/// Returns the running version when healthy.
pub fn healthy(events: &[Event], board: BoardRef<'_>, profile: &Profile) -> Option<String> {
    healthy_since(events, board, profile, 0).map(|(version, _)| version)
}

/// [`healthy`], on a boot that came at or after `since` (a board the rig has just reset or
/// switched on has not booted until it prints a banner again). Also returns the index of
/// that boot's banner.
pub fn healthy_since(
    events: &[Event],
    board: BoardRef<'_>,
    profile: &Profile,
    since: usize,
) -> Option<(String, usize)> {
    let boot = last_console(events, board.board, &profile.banner).filter(|&i| i >= since)?;
    let connected = online_since(events, board.thing)?;
    let says_connected = || {
        events[boot..]
            .iter()
            .filter_map(|e| console_line(e, board.board))
            .any(|l| profile.connected.is_match(l))
    };
    if connected < boot && !says_connected() {
        return None;
    }
    running_version(&events[boot..], board.board, &profile.version).map(|v| (v, boot))
}

/// Whether the thing's agent is still deciding about a new image: its latest execution
/// update is IN_PROGRESS with a `self_test` status (accepted or rejected not yet said).
pub fn self_test_pending(events: &[Event], thing: &str) -> bool {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::JobExecution {
                thing: t,
                status,
                status_details,
                ..
            } if t == thing => Some(
                *status == ExecutionStatus::InProgress && status_details.contains_key("self_test"),
            ),
            _ => None,
        })
        .unwrap_or(false)
}

/// A request on one thing's Jobs or stream topics that came from another thing's
/// connection: a board speaking for a thing that is not its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignRequest {
    /// The thing of the connection that sent it (its certificate CN / client id).
    pub sender: String,
    pub client_id: String,
    /// The thing whose topic it was published on.
    pub owner: String,
    pub topic: String,
}

/// Every request that changes `owner`'s job executions or takes its stream (an execution
/// update, start-next, a stream's blocks or description) published from a connection whose
/// thing is not `owner`, in order, once per (sender, owner, topic). Reads of a job (get,
/// describe) do not count: looking is not speaking for another thing.
pub fn foreign_requests(events: &[Event]) -> Vec<ForeignRequest> {
    let mut out: Vec<ForeignRequest> = Vec::new();
    for e in events {
        let EventKind::Mqtt {
            thing: Some(sender),
            client_id,
            dir: crate::timeline::Direction::In,
            packet,
            topic: Some(topic),
            ..
        } = &e.kind
        else {
            continue;
        };
        let Some(owner) = topic
            .strip_prefix("$aws/things/")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(_, api)| changes_or_takes(api))
            .map(|(owner, _)| owner)
        else {
            continue;
        };
        let found = ForeignRequest {
            sender: sender.clone(),
            client_id: client_id.clone(),
            owner: owner.to_string(),
            topic: topic.clone(),
        };
        if packet == "PUBLISH" && owner != sender && !out.contains(&found) {
            out.push(found);
        }
    }
    out
}

/// `api` is the topic after `$aws/things/{thing}/`.
fn changes_or_takes(api: &str) -> bool {
    let jobs_write = api
        .strip_prefix("jobs/")
        .is_some_and(|rest| rest.ends_with("/update") || rest == "start-next");
    jobs_write || api.starts_with("streams/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(source: Source, kind: EventKind) -> Event {
        Event {
            wall_ms: 0,
            t: 0.0,
            source,
            kind,
        }
    }
    fn line(board: &str, text: &str) -> Event {
        ev(
            Source::board(board),
            EventKind::Console { line: text.into() },
        )
    }
    fn conn(thing: &str, connected: bool) -> Event {
        ev(
            Source::Cloud,
            EventKind::Connection {
                conn: 1,
                client_id: thing.into(),
                thing: Some(thing.into()),
                connected,
                reason: None,
            },
        )
    }
    fn job(thing: &str, status: &str, details: &[(&str, &str)]) -> Event {
        ev(
            Source::Cloud,
            EventKind::JobExecution {
                job_id: "j".into(),
                thing: thing.into(),
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
    fn re(s: &str) -> Regex {
        Regex::new(s).unwrap()
    }

    fn request(thing: &str) -> Event {
        ev(
            Source::Cloud,
            EventKind::Mqtt {
                conn: 0,
                client_id: "otarig-cloud".into(),
                thing: Some(thing.into()),
                dir: crate::timeline::Direction::In,
                packet: "PUBLISH".into(),
                topic: Some(format!("$aws/things/{thing}/jobs/$next/get")),
                qos: Some(1),
                payload: None,
                len: 0,
            },
        )
    }

    #[test]
    fn without_connection_events_a_request_proves_the_thing_online() {
        // Client mode: the lab's broker owns the connections.
        assert_eq!(online_since(&[line("b", "boot")], "T1"), None);
        let events = [line("b", "boot"), request("T1"), request("T2")];
        assert_eq!(online_since(&events, "T1"), Some(1));
        // Where the gateway reports connections, a closed one is offline whatever came before.
        let events = [request("T1"), conn("T1", true), conn("T1", false)];
        assert_eq!(online_since(&events, "T1"), None);
    }

    #[test]
    fn console_matches_only_the_named_board_from_the_cursor_on() {
        let events = vec![line("a", "x 1"), line("b", "x 2"), line("a", "x 3")];
        assert_eq!(find_console(&events, 0, "a", &re("x")), Some(0));
        assert_eq!(find_console(&events, 1, "a", &re("x")), Some(2));
        assert_eq!(find_console(&events, 0, "b", &re("3")), None);
    }

    #[test]
    fn a_sequence_must_appear_in_order_and_reports_how_far_it_got() {
        let events = vec![line("a", "one"), line("a", "three"), line("a", "two")];
        assert_eq!(
            find_sequence(&events, 0, "a", &[re("one"), re("two")]),
            Ok(2)
        );
        assert_eq!(
            find_sequence(&events, 0, "a", &[re("one"), re("two"), re("three")]),
            Err(2)
        );
    }

    #[test]
    fn job_state_is_the_latest_execution_event_of_the_thing() {
        let events = vec![
            job("T1", "IN_PROGRESS", &[("receive", "64/128")]),
            job("T2", "SUCCEEDED", &[]),
            job("T1", "FAILED", &[("reason", "rejected: 0x23000000")]),
        ];
        let s = job_state(&events, "T1", Some("j")).unwrap();
        assert_eq!(s.status, ExecutionStatus::Failed);
        assert_eq!(s.status_details["reason"], "rejected: 0x23000000");
        assert!(job_state(&events, "T1", Some("other")).is_none());
        assert_eq!(progress(&events, 0, "T1", None), 0.5);
    }

    const BOARD_A: BoardRef<'static> = BoardRef {
        board: "a",
        thing: "T1",
    };

    fn profile() -> Profile {
        Profile {
            banner: re("app version"),
            version: re(r"app version (?P<version>\d+\.\d+\.\d+)"),
            connected: re("MQTT connection established"),
        }
    }

    #[test]
    fn health_needs_a_banner_and_a_connection_after_it() {
        let (p, b) = (profile(), BOARD_A);
        let mut events = vec![conn("T1", true), line("a", "app version 0.9.4")];
        assert_eq!(
            healthy(&events, b, &p),
            None,
            "connection is older than the boot"
        );
        events.push(conn("T1", false));
        events.push(conn("T1", true));
        assert_eq!(healthy(&events, b, &p).as_deref(), Some("0.9.4"));
        events.push(conn("T1", false));
        assert_eq!(healthy(&events, b, &p), None, "offline now");
    }

    #[test]
    fn a_console_read_late_counts_the_connected_line_of_a_board_online_now() {
        let (p, b) = (profile(), BOARD_A);
        let mut events = vec![conn("T1", true), line("a", "app version 0.9.5")];
        assert_eq!(healthy(&events, b, &p), None);
        events.push(line(
            "a",
            "MQTT connection established with 127.0.0.1:8883.",
        ));
        assert_eq!(healthy(&events, b, &p).as_deref(), Some("0.9.5"));
        events.push(conn("T1", false));
        assert_eq!(healthy(&events, b, &p), None, "offline now");
    }
}
