//! How long writing a run's reports takes, and how much memory, for a large timeline
//! (`cargo bench --bench report_write`): a synthetic scenario of 1,000 boards × 600
//! events each (`OTARIG_REPORT_BOARDS`, `OTARIG_REPORT_EVENTS` change it), written as
//! `events.jsonl` the way the recorder writes it, then `report::write_run` over it. The
//! reports stream the file, so the peak memory should grow with boards, not events.
//! A benchmark, not a test: it prints, it asserts nothing.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use otarig::model::ExecutionStatus;
use otarig::report::{
    write_run, BoardResult, RunResult, ScenarioResult, ScenarioTimeline, Verdict,
};
use otarig::timeline::{Direction, Event, EventKind, PowerState, Source};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `i`-th event of board `b`: a flash and power-on, a connection, then console
/// lines, MQTT packets and job updates with download progress, a verdict at the end.
fn event(b: usize, i: usize, n: usize) -> Event {
    let board = format!("sim-{b}");
    let thing = format!("Thing{b}");
    let t = i as f64 * 0.05 + b as f64 * 0.0001;
    let kind = match i {
        0 => EventKind::Flash {
            image: "app-v4".into(),
            ok: true,
            detail: None,
        },
        1 => EventKind::Power {
            state: PowerState::On,
            reason: "released after flashing".into(),
        },
        2 => EventKind::Connection {
            conn: b as u64,
            client_id: thing.clone(),
            thing: Some(thing.clone()),
            connected: true,
            reason: None,
        },
        i if i == n - 1 => EventKind::Verdict {
            verdict: if b % 50 == 0 {
                Verdict::Failed
            } else {
                Verdict::Passed
            },
            message: None,
        },
        i if i % 6 == 0 => EventKind::JobExecution {
            job_id: "rollout".into(),
            thing: thing.clone(),
            status: ExecutionStatus::InProgress,
            status_details: BTreeMap::from([("receive".into(), format!("{i}/{n}"))]),
            version_number: i as u64,
            execution_number: 1,
        },
        i if i % 3 == 0 => EventKind::Mqtt {
            conn: b as u64,
            client_id: thing.clone(),
            thing: Some(thing.clone()),
            dir: Direction::In,
            packet: "publish".into(),
            topic: Some(format!("$aws/things/{thing}/streams/s1/get/cbor")),
            qos: Some(0),
            payload: Some(r#"{"c":"abc","f":0,"l":1024,"o":3}"#.into()),
            len: 40,
        },
        i => EventKind::Console {
            line: format!(
                "{i} {} [OTA Task] [prvIngestDataBlock] Received file block {i}, size 1024",
                i * 3
            ),
        },
    };
    Event {
        wall_ms: 1_700_000_000_000 + (t * 1000.0) as u64,
        t,
        source: if matches!(
            kind,
            EventKind::Mqtt { .. } | EventKind::Connection { .. } | EventKind::JobExecution { .. }
        ) {
            Source::Cloud
        } else {
            Source::board(board)
        },
        kind,
    }
}

/// Peak resident memory of this process since the last reset (kB), from /proc.
fn peak_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_size(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let boards = env("OTARIG_REPORT_BOARDS", 1000);
    let per_board = env("OTARIG_REPORT_EVENTS", 600).max(8);
    let tmp = tempfile::tempdir().expect("temp dir");
    let reports = tmp.path().join("reports");
    let events_path = tmp.path().join("recorded/events.jsonl");
    std::fs::create_dir_all(events_path.parent().unwrap()).unwrap();

    let start = Instant::now();
    let mut out = BufWriter::new(std::fs::File::create(&events_path).unwrap());
    for i in 0..per_board {
        for b in 1..=boards {
            serde_json::to_writer(&mut out, &event(b, i, per_board)).unwrap();
            out.write_all(b"\n").unwrap();
        }
    }
    out.flush().unwrap();
    drop(out);
    let size = std::fs::metadata(&events_path).unwrap().len();
    println!(
        "timeline: {boards} boards × {per_board} events = {} events, {:.1} MB of events.jsonl (made in {:.1} s)",
        boards * per_board,
        size as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );

    let things: BTreeMap<String, String> = (1..=boards)
        .map(|b| (format!("sim-{b}"), format!("Thing{b}")))
        .collect();
    let results: Vec<BoardResult> = (1..=boards)
        .map(|b| BoardResult {
            role: format!("b{b:04}"),
            board: format!("sim-{b}"),
            thing: format!("Thing{b}"),
            verdict: if b % 50 == 0 {
                Verdict::Failed
            } else {
                Verdict::Passed
            },
            message: (b % 50 == 0).then(|| "expected job SUCCEEDED within 5m, saw FAILED".into()),
            console_tail: Vec::new(),
            versions: Default::default(),
            events: Vec::new(),
        })
        .collect();
    let run = RunResult {
        run_id: "bench".into(),
        started_wall_ms: 1_700_000_000_000,
        duration: Duration::from_secs(60),
        rig: "synthetic".into(),
        scenarios: vec![ScenarioResult {
            name: "fleet".into(),
            summary: "synthetic fleet".into(),
            attempt: 1,
            started_wall_ms: 1_700_000_000_000,
            duration: Duration::from_secs(60),
            seeds: Vec::new(),
            boards: results,
            skipped: None,
            retry: 0,
            run_stopped: false,
        }],
        interrupted: false,
    };
    let timeline = ScenarioTimeline::new("fleet", &events_path, things);

    let before = rss_kb();
    // Resets the peak (VmHWM) to the current RSS, so the peak below is the writing's.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let start = Instant::now();
    let paths =
        write_run(&reports, &run, std::slice::from_ref(&timeline)).expect("reports written");
    let took = start.elapsed();
    let peak = peak_kb();
    let fmt = |kb: Option<u64>| kb.map_or("?".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));
    println!(
        "write_run: {:.2} s; RSS before {}, peak while writing {}{}",
        took.as_secs_f64(),
        fmt(before),
        fmt(peak),
        if reset {
            ""
        } else {
            " (peak since start: /proc/self/clear_refs not writable)"
        }
    );
    println!(
        "reports: {:.1} MB in {} ({} files per board + timeline, index, junit, summary)",
        dir_size(&paths.dir) as f64 / 1e6,
        paths.dir.display(),
        3
    );
    for (name, file) in [
        ("index.html", &paths.index),
        ("junit.xml", &paths.junit),
        ("timeline.html", &paths.scenarios[0].timeline_html),
    ] {
        let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        println!("  {name}: {:.1} MB", len as f64 / 1e6);
    }
}
