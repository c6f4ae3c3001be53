//! `reports/<run-id>/`: the layout, the per-board logs, summary.json, the `latest`
//! link, and what an interrupted run leaves behind.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use otarig::report::artifacts::{board_events, console_log_text, mqtt_transcript};
use otarig::report::summary;
use otarig::report::{
    write_run, BoardResult, ReportError, RunResult, ScenarioResult, ScenarioTimeline, Verdict,
    Versions,
};
use otarig::timeline::{Event, EventKind, PowerState, Source};

use crate::support::events::{self, conn, ev, events_file, line, mqtt};
use quick_junit::{Report, TestCaseStatus};

fn timeline_events() -> Vec<Event> {
    vec![
        ev(
            0.0,
            Source::board("sim-1"),
            EventKind::Power {
                state: PowerState::On,
                reason: "start".into(),
            },
        ),
        line(0.5, "sim-1", "otarig-sim app version 0.9.4"),
        line(0.6, "sim-2", "otarig-sim app version 0.9.4"),
        line(0.7, "sim-1", "\u{1b}[32mgreen\u{1b}[0m with a \0 NUL"),
        conn(1.0, "Thing1", 1, true),
        conn(1.1, "Thing2", 1, true),
        mqtt(2.0, "Thing1", "$aws/things/Thing1/jobs/$next/get"),
        mqtt(2.1, "Thing2", "$aws/things/Thing2/jobs/$next/get"),
        ev(
            3.0,
            Source::Cloud,
            EventKind::Note {
                text: "cloud note".into(),
            },
        ),
        conn(4.0, "Thing1", 1, false),
    ]
}

fn things() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("sim-1".to_string(), "Thing1".to_string()),
        ("sim-2".to_string(), "Thing2".to_string()),
    ])
}

/// The story above recorded as scenario `name`'s timeline (in `dir`, not the reports).
fn timeline(dir: &Path, name: &str) -> ScenarioTimeline {
    let path = events_file(dir, name, &timeline_events());
    ScenarioTimeline::new(name, path, things())
}

fn board(role: &str, board: &str, thing: &str, verdict: Verdict) -> BoardResult {
    BoardResult {
        board: board.into(),
        thing: thing.into(),
        message: (verdict != Verdict::Passed).then(|| "expected version 0.9.5, saw 0.9.4".into()),
        console_tail: vec!["last line".into()],
        versions: Versions {
            before: Some("0.9.4".into()),
            after: None,
        },
        ..events::board(role, verdict)
    }
}

fn run(run_id: &str, interrupted: bool, scenarios: Vec<ScenarioResult>) -> RunResult {
    RunResult {
        duration: Duration::from_secs(5),
        interrupted,
        ..events::run(run_id, scenarios)
    }
}

fn finished() -> ScenarioResult {
    ScenarioResult {
        summary: "An image built for Thing2 goes to both boards".into(),
        duration: Duration::from_secs(4),
        seeds: vec![42],
        ..events::scenario(
            "wrong-thing-name",
            1,
            vec![
                board("thing1", "sim-1", "Thing1", Verdict::Failed),
                board("thing2", "sim-2", "Thing2", Verdict::Passed),
            ],
        )
    }
}

#[test]
fn a_run_writes_the_documented_layout_and_points_latest_at_it() {
    let reports = tempfile::tempdir().unwrap();
    let recorded = tempfile::tempdir().unwrap();
    let tl = timeline(recorded.path(), "wrong-thing-name");
    let paths = write_run(
        reports.path(),
        &run("run-1", false, vec![finished()]),
        std::slice::from_ref(&tl),
    )
    .unwrap();

    let dir = reports.path().join("run-1");
    assert_eq!(paths.dir, dir);
    for file in [
        "index.html",
        "junit.xml",
        "summary.json",
        "wrong-thing-name/timeline.html",
        "wrong-thing-name/sim-1.console.log",
        "wrong-thing-name/sim-1.console.html",
        "wrong-thing-name/sim-1.mqtt.jsonl",
        "wrong-thing-name/sim-2.console.log",
        "wrong-thing-name/sim-2.console.html",
        "wrong-thing-name/sim-2.mqtt.jsonl",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let leftovers: Vec<_> = walk(reports.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let latest = reports.path().join("latest");
    assert_eq!(
        std::fs::read_link(&latest).unwrap(),
        Path::new("run-1"),
        "relative link"
    );
    assert!(latest.join("junit.xml").is_file());

    // A newer run takes the link over.
    write_run(
        reports.path(),
        &run("run-2", false, vec![finished()]),
        &[tl],
    )
    .unwrap();
    assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("run-2"));
    assert!(dir.join("junit.xml").is_file(), "the older run stays");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn console_logs_are_timestamped_per_board_and_keep_the_raw_line() {
    let log = console_log_text(&timeline_events(), "sim-1", "Thing1");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.len(),
        5,
        "power, two console lines and the connection's two changes, sim-1 only:\n{log}"
    );
    assert_eq!(
        lines[0],
        "2023-11-14T22:13:20.000Z [     0.000] ## power on: start"
    );
    assert_eq!(
        lines[1],
        "2023-11-14T22:13:20.500Z [     0.500] otarig-sim app version 0.9.4"
    );
    assert!(
        lines[2].ends_with("\u{1b}[32mgreen\u{1b}[0m with a \u{2400} NUL"),
        "{}",
        lines[2]
    );
    assert_eq!(
        lines[3],
        "2023-11-14T22:13:21.000Z [     1.000] ## mqtt connected (connection 1, client id Thing1)"
    );
    assert!(lines[4].ends_with("## mqtt disconnected (connection 1, client id Thing1): taken over"));
}

#[test]
fn the_mqtt_transcript_holds_only_that_things_packets_and_connections() {
    let text = mqtt_transcript(&timeline_events(), "Thing1").unwrap();
    let events: Vec<Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    assert!(matches!(
        events[0].kind,
        EventKind::Connection {
            connected: true,
            ..
        }
    ));
    assert!(
        matches!(&events[1].kind, EventKind::Mqtt { topic: Some(t), .. } if t.contains("Thing1"))
    );
    assert!(matches!(
        events[2].kind,
        EventKind::Connection {
            connected: false,
            ..
        }
    ));

    let slice = board_events(&timeline_events(), "sim-2", "Thing2");
    assert_eq!(slice.len(), 3, "banner, connect, publish of sim-2/Thing2");
}

#[test]
fn summary_json_round_trips_with_stats_and_exit_code() {
    let reports = tempfile::tempdir().unwrap();
    let mut result = run("run-1", false, vec![finished()]);
    result.scenarios[0].boards[0].events = vec![line(0.5, "sim-1", "kept")];
    let paths = write_run(reports.path(), &result, &[]).unwrap();
    let back = summary::from_json(&std::fs::read_to_string(&paths.summary).unwrap()).unwrap();
    assert_eq!(back.run, result);
    assert_eq!(back.exit_code, 1);
    assert_eq!(back.stats.failed, 1);
    assert_eq!(back.stats.passed, 1);
    assert_eq!(back.schema_version, summary::SCHEMA_VERSION);
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths.summary).unwrap()).unwrap();
    assert_eq!(raw["scenarios"][0]["boards"][0]["verdict"], "failed");
    assert_eq!(raw["scenarios"][0]["duration_secs"], 4.0);
}

#[test]
fn an_interrupted_run_marks_every_board_of_unfinished_scenarios_as_an_error() {
    let reports = tempfile::tempdir().unwrap();
    let recorded = tempfile::tempdir().unwrap();
    let done = timeline(recorded.path(), "wrong-thing-name");
    let cut = timeline(recorded.path(), "power-cut-mid-download");
    let paths = write_run(
        reports.path(),
        &run("run-int", true, vec![finished()]),
        &[done, cut],
    )
    .unwrap();

    let xml = std::fs::read_to_string(&paths.junit).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    let suite = report
        .test_suites
        .iter()
        .find(|s| s.name.as_str() == "power-cut-mid-download")
        .expect("the unfinished scenario is reported");
    assert_eq!(suite.test_cases.len(), 2);
    for case in &suite.test_cases {
        match &case.status {
            TestCaseStatus::NonSuccess { kind, ty, .. } => {
                assert_eq!(*kind, quick_junit::NonSuccessKind::Error);
                assert_eq!(ty.as_deref(), Some("unfinished"));
            }
            other => panic!("{:?} is not an error: {other:?}", case.name),
        }
    }
    let tail = suite.test_cases[0]
        .system_out
        .as_ref()
        .expect("tail from the timeline");
    assert!(
        tail.as_str().contains("green with a \u{2400} NUL"),
        "{}",
        tail.as_str()
    );

    let back = summary::from_json(&std::fs::read_to_string(&paths.summary).unwrap()).unwrap();
    assert!(back.run.interrupted);
    assert_eq!(back.stats.errors, 2);
    assert_eq!(
        back.exit_code, 1,
        "the finished scenario's firmware failure still wins"
    );
    assert!(reports
        .path()
        .join("run-int/power-cut-mid-download/timeline.html")
        .is_file());
}

#[test]
fn an_interrupt_before_any_verdict_exits_as_a_bench_error() {
    let reports = tempfile::tempdir().unwrap();
    let recorded = tempfile::tempdir().unwrap();
    let cut = timeline(recorded.path(), "s");
    let paths = write_run(reports.path(), &run("r", true, vec![]), &[cut]).unwrap();
    let back = summary::from_json(&std::fs::read_to_string(&paths.summary).unwrap()).unwrap();
    assert_eq!(back.exit_code, 3);
}

#[test]
fn repeats_get_their_own_folders() {
    let reports = tempfile::tempdir().unwrap();
    let mut second = finished();
    second.attempt = 2;
    let recorded = tempfile::tempdir().unwrap();
    let tls = [
        timeline(recorded.path(), "wrong-thing-name"),
        timeline(recorded.path(), "wrong-thing-name").with_attempt(2),
    ];
    let paths = write_run(
        reports.path(),
        &run("r", false, vec![finished(), second]),
        &tls,
    )
    .unwrap();
    assert_eq!(
        paths.scenarios[1].dir,
        reports.path().join("r/wrong-thing-name.2")
    );
    assert!(paths.scenarios[1].timeline_html.is_file());
}

#[test]
fn a_real_directory_named_latest_is_left_alone_with_a_clear_error() {
    let reports = tempfile::tempdir().unwrap();
    std::fs::create_dir(reports.path().join("latest")).unwrap();
    let err = write_run(reports.path(), &run("r", false, vec![]), &[]).unwrap_err();
    assert!(matches!(err, ReportError::LatestNotALink { .. }));
    assert!(err.to_string().contains("latest"), "{err}");
}

#[test]
fn a_truncated_last_line_is_skipped_and_noted_on_the_pages() {
    let reports = tempfile::tempdir().unwrap();
    let recorded = tempfile::tempdir().unwrap();
    let tl = timeline(recorded.path(), "wrong-thing-name");
    // A run killed while writing: half an event at the end.
    let whole = serde_json::to_string(&line(5.0, "sim-1", "never finished")).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&tl.events_path)
        .unwrap();
    std::io::Write::write_all(&mut file, &whole.as_bytes()[..whole.len() / 2]).unwrap();
    let paths = write_run(
        reports.path(),
        &run("run-cut", false, vec![finished()]),
        &[tl],
    )
    .unwrap();
    let lines = timeline_events().len() + 1;
    assert_eq!(paths.notes.len(), 1, "{:?}", paths.notes);
    assert!(
        paths.notes[0].contains(&format!(
            "events.jsonl:{lines}: skipped an unreadable event"
        )),
        "{}",
        paths.notes[0]
    );
    for page in [&paths.index, &paths.scenarios[0].timeline_html] {
        let html = std::fs::read_to_string(page).unwrap();
        assert!(
            html.contains("skipped an unreadable event"),
            "{}",
            page.display()
        );
    }
    let log = std::fs::read_to_string(&paths.scenarios[0].boards[0].console_log).unwrap();
    assert!(
        log.contains("otarig-sim app version 0.9.4"),
        "the readable events are kept"
    );
}
