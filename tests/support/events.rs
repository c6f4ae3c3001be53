//! Timeline events and report results built by hand, for the tests of the reports. Each
//! builder fills what a test does not care about; a test sets the rest with struct update
//! syntax (`BoardResult { message: …, ..board("dut", Verdict::Failed) }`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use otarig::board::PartEvents;
use otarig::report::{BoardResult, RunResult, ScenarioResult, Verdict, Versions};
use otarig::timeline::{Direction, Event, EventKind, Source, Timeline};

/// Wall-clock milliseconds at t = 0 in these events and results.
pub const WALL_MS: u64 = 1_700_000_000_000;

/// An event `t` seconds into the run.
pub fn ev(t: f64, source: Source, kind: EventKind) -> Event {
    Event {
        wall_ms: WALL_MS + (t * 1000.0) as u64,
        t,
        source,
        kind,
    }
}

/// A console line of `board`.
pub fn line(t: f64, board: &str, text: &str) -> Event {
    ev(
        t,
        Source::board(board),
        EventKind::Console { line: text.into() },
    )
}

/// `thing`'s connection `conn` opening or (taken over) closing, as the cloud records it.
pub fn conn(t: f64, thing: &str, conn: u64, connected: bool) -> Event {
    ev(
        t,
        Source::Cloud,
        EventKind::Connection {
            conn,
            client_id: thing.into(),
            thing: Some(thing.into()),
            connected,
            reason: (!connected).then(|| "taken over".into()),
        },
    )
}

/// A QoS 1 PUBLISH of `{}` from `thing` on `topic`, on connection 1.
pub fn mqtt(t: f64, thing: &str, topic: &str) -> Event {
    ev(
        t,
        Source::Cloud,
        EventKind::Mqtt {
            conn: 1,
            client_id: thing.into(),
            thing: Some(thing.into()),
            dir: Direction::In,
            packet: "publish".into(),
            topic: Some(topic.into()),
            qos: Some(1),
            payload: Some("{}".into()),
            len: 2,
        },
    )
}

/// `thing`'s execution of job `update-v5` reaching `status` with `details`.
pub fn job(t: f64, thing: &str, status: &str, details: &[(&str, &str)]) -> Event {
    ev(
        t,
        Source::Cloud,
        EventKind::JobExecution {
            job_id: "update-v5".into(),
            thing: thing.into(),
            status: otarig::model::ExecutionStatus::from_wire(status).expect("a status name"),
            status_details: details
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            version_number: 1,
            execution_number: 1,
        },
    )
}

/// Role `role` on board `sim-{role}` (thing `Thing-{role}`) with `verdict`, and nothing else.
pub fn board(role: &str, verdict: Verdict) -> BoardResult {
    BoardResult {
        role: role.into(),
        board: format!("sim-{role}"),
        thing: format!("Thing-{role}"),
        verdict,
        message: None,
        console_tail: vec![],
        versions: Versions::default(),
        events: vec![],
    }
}

/// Attempt `attempt` of scenario `name`, 10 s long, with `boards`.
pub fn scenario(name: &str, attempt: u32, boards: Vec<BoardResult>) -> ScenarioResult {
    ScenarioResult {
        name: name.into(),
        summary: String::new(),
        attempt,
        started_wall_ms: WALL_MS,
        duration: Duration::from_secs(10),
        seeds: vec![],
        boards,
        skipped: None,
        retry: 0,
        run_stopped: false,
    }
}

/// Run `run_id` on the `sim` rig, one minute long, not interrupted.
pub fn run(run_id: &str, scenarios: Vec<ScenarioResult>) -> RunResult {
    RunResult {
        run_id: run_id.into(),
        started_wall_ms: WALL_MS,
        duration: Duration::from_secs(60),
        rig: "sim".into(),
        scenarios,
        interrupted: false,
    }
}

/// What a board part records, for `board`, on a new in-memory timeline.
pub fn part_events(board: &str) -> (Arc<Timeline>, PartEvents) {
    let timeline = Arc::new(Timeline::in_memory());
    let events = PartEvents {
        board: board.into(),
        sink: timeline.clone(),
    };
    (timeline, events)
}

/// Writes `events` as `dir/<name>/events.jsonl`, as the recorder would; returns its path.
pub fn events_file(dir: &Path, name: &str, events: &[Event]) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("events.jsonl");
    let text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}
