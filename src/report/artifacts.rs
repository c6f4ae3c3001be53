//! The files of a run under `reports/<run-id>/`, and the `reports/latest` link.
//!
//! ```text
//! reports/
//!   latest -> <run-id>
//!   <run-id>/
//!     junit.xml
//!     summary.json
//!     <scenario>/            (attempt 1; attempt n of --repeat: <scenario>.<n>/)
//!       events.jsonl         written live by the runner (see scenario_dir)
//!       timeline.html
//!       <board>.console.log
//!       <board>.mqtt.jsonl
//! ```
//!
//! Every file is written to a temporary name and renamed, so a reader (or a run killed
//! mid-write) never sees half a file. [`write_run`] may be called again and again with
//! the results so far (after each scenario), and once more on SIGINT/SIGTERM with
//! `interrupted = true`: started scenarios without a result become error cases.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat};

pub use super::model::ScenarioTimeline;
use super::model::{BoardResult, RunResult, ScenarioResult};
use super::picture::{self, Lane};
use super::{junit, summary};
use crate::timeline::{Event, EventKind, Source};

/// Console lines kept in a synthesized (unfinished) board's tail.
const TAIL_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write report file {path}: {source} (check that the report directory is writable and the disk is not full)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize JUnit report {path}: {source}")]
    Junit {
        path: PathBuf,
        #[source]
        source: quick_junit::SerializeError,
    },
    #[error("cannot serialize {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} exists and is not a symbolic link; move it away so otarig can point it at the newest run")]
    LatestNotALink { path: PathBuf },
}

/// Where a run's files went.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPaths {
    pub dir: PathBuf,
    pub junit: PathBuf,
    pub summary: PathBuf,
    pub latest: PathBuf,
    pub scenarios: Vec<ScenarioPaths>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioPaths {
    pub scenario: String,
    pub attempt: u32,
    pub dir: PathBuf,
    pub timeline_html: PathBuf,
    pub boards: Vec<BoardPaths>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BoardPaths {
    pub board: String,
    pub console_log: PathBuf,
    pub mqtt_jsonl: PathBuf,
}

/// `reports/<run-id>`.
pub fn run_dir(report_dir: &Path, run_id: &str) -> PathBuf {
    report_dir.join(safe_name(run_id))
}

/// A scenario attempt's folder: `<scenario>` for attempt 1, `<scenario>.<n>` after.
/// The runner records `events.jsonl` here while the scenario runs.
pub fn scenario_dir(run_dir: &Path, scenario: &str, attempt: u32) -> PathBuf {
    let name = safe_name(scenario);
    if attempt <= 1 {
        run_dir.join(name)
    } else {
        run_dir.join(format!("{name}.{attempt}"))
    }
}

/// Writes every report of a run and points `reports/latest` at it.
pub fn write_run(
    report_dir: &Path,
    run: &RunResult,
    timelines: &[ScenarioTimeline],
) -> Result<RunPaths, ReportError> {
    let dir = run_dir(report_dir, &run.run_id);
    create_dir(&dir)?;
    let run = with_unfinished(run, timelines);

    let mut scenarios = Vec::new();
    for timeline in timelines {
        let result = run
            .scenarios
            .iter()
            .find(|s| s.name == timeline.scenario && s.attempt == timeline.attempt);
        scenarios.push(write_scenario(&dir, result, timeline)?);
    }

    let junit_path = dir.join("junit.xml");
    let xml = junit::to_xml(&run).map_err(|source| ReportError::Junit {
        path: junit_path.clone(),
        source,
    })?;
    write_atomic(&junit_path, xml.as_bytes())?;

    let summary_path = dir.join("summary.json");
    let json = summary::to_json(&run).map_err(|source| ReportError::Json {
        path: summary_path.clone(),
        source,
    })?;
    write_atomic(&summary_path, json.as_bytes())?;

    let latest = point_latest(report_dir, &dir)?;
    Ok(RunPaths {
        dir,
        junit: junit_path,
        summary: summary_path,
        latest,
        scenarios,
    })
}

/// The run with a result for every timeline the interrupt cut short: each board of such
/// a scenario is an error case saying it was unfinished.
pub fn with_unfinished(run: &RunResult, timelines: &[ScenarioTimeline]) -> RunResult {
    let mut run = run.clone();
    if !run.interrupted {
        return run;
    }
    for tl in timelines {
        let known = run
            .scenarios
            .iter()
            .any(|s| s.name == tl.scenario && s.attempt == tl.attempt);
        if known {
            continue;
        }
        let first = tl.events.first();
        let last = tl.events.last();
        let boards = tl
            .things
            .iter()
            .map(|(board, thing)| BoardResult {
                console_tail: crate::timeline::query::console_tail(&tl.events, board, TAIL_LINES),
                ..BoardResult::unfinished(board.as_str(), board.as_str(), thing.as_str())
            })
            .collect();
        run.scenarios.push(ScenarioResult {
            name: tl.scenario.clone(),
            summary: String::new(),
            attempt: tl.attempt,
            started_wall_ms: first.map_or(0, |e| e.wall_ms),
            duration: std::time::Duration::from_secs_f64(
                match (first, last) {
                    (Some(a), Some(b)) => b.t - a.t,
                    _ => 0.0,
                }
                .max(0.0),
            ),
            seeds: Vec::new(),
            boards,
            skipped: None,
        });
    }
    run
}

fn write_scenario(
    run_dir: &Path,
    result: Option<&ScenarioResult>,
    timeline: &ScenarioTimeline,
) -> Result<ScenarioPaths, ReportError> {
    let dir = scenario_dir(run_dir, &timeline.scenario, timeline.attempt);
    create_dir(&dir)?;
    let lanes = lanes(result, timeline);

    let mut boards = Vec::new();
    for lane in &lanes {
        let name = safe_name(&lane.board);
        let console_log = dir.join(format!("{name}.console.log"));
        write_atomic(
            &console_log,
            console_log_text(&timeline.events, &lane.board).as_bytes(),
        )?;
        let mqtt_jsonl = dir.join(format!("{name}.mqtt.jsonl"));
        let transcript =
            mqtt_transcript(&timeline.events, &lane.thing).map_err(|source| ReportError::Json {
                path: mqtt_jsonl.clone(),
                source,
            })?;
        write_atomic(&mqtt_jsonl, transcript.as_bytes())?;
        boards.push(BoardPaths {
            board: lane.board.clone(),
            console_log,
            mqtt_jsonl,
        });
    }

    let timeline_html = dir.join("timeline.html");
    let title = if timeline.attempt > 1 {
        format!("{} (attempt {})", timeline.scenario, timeline.attempt)
    } else {
        timeline.scenario.clone()
    };
    let summary = result.map_or("", |r| r.summary.as_str());
    let page = picture::render(&title, summary, &timeline.events, &lanes);
    write_atomic(&timeline_html, page.as_bytes())?;

    Ok(ScenarioPaths {
        scenario: timeline.scenario.clone(),
        attempt: timeline.attempt,
        dir,
        timeline_html,
        boards,
    })
}

/// Lanes in the result's role order; boards only the timeline knows come after.
fn lanes(result: Option<&ScenarioResult>, timeline: &ScenarioTimeline) -> Vec<Lane> {
    let mut lanes: Vec<Lane> = result
        .map(|r| {
            r.boards
                .iter()
                .map(|b| Lane {
                    role: b.role.clone(),
                    board: b.board.clone(),
                    thing: b.thing.clone(),
                    verdict: Some(b.verdict),
                    message: b.message.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    for (board, thing) in &timeline.things {
        if !lanes.iter().any(|l| &l.board == board) {
            lanes.push(Lane {
                role: board.clone(),
                board: board.clone(),
                thing: thing.clone(),
                verdict: None,
                message: None,
            });
        }
    }
    lanes
}

/// A board's slice of the timeline: what it printed, what the rig did to it, and what
/// the cloud saw of its thing.
pub fn board_events(events: &[Event], board: &str, thing: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| match &e.source {
            Source::Board(b) if b == board => true,
            _ => e.kind.thing_or_client() == Some(thing),
        })
        .cloned()
        .collect()
}

/// The board's console, one timestamped line per console event, with what the rig did
/// to the board (flash, power, faults, verdict) interleaved as `##` lines. Escape
/// sequences are kept (`less -R` shows colours); NUL becomes U+2400 so tools treat the
/// file as text.
pub fn console_log_text(events: &[Event], board: &str) -> String {
    let mut out = String::new();
    for e in events {
        if e.source.board_name() != Some(board) {
            continue;
        }
        let text = match &e.kind {
            EventKind::Console { line } => line.replace('\0', "\u{2400}"),
            EventKind::Flash { image, ok, detail } => format!(
                "## flash {image}: {}{}",
                if *ok { "ok" } else { "FAILED" },
                detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            EventKind::Power { state, reason } => format!("## power {state:?}: {reason}"),
            EventKind::Fault { what } => format!("## fault: {what}"),
            EventKind::BenchError { message } => format!("## bench error: {message}"),
            EventKind::Verdict { verdict, message } => format!(
                "## verdict {verdict}{}",
                message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            EventKind::Note { text } => format!("## {text}"),
            _ => continue,
        };
        out.push_str(&format!("{} [{:>10.3}] {text}\n", wall(e.wall_ms), e.t));
    }
    out
}

/// The thing's MQTT packets and connection changes, one JSON event per line.
pub fn mqtt_transcript(events: &[Event], thing: &str) -> serde_json::Result<String> {
    let mut out = String::new();
    for e in events {
        let is_mqtt = matches!(
            e.kind,
            EventKind::Mqtt { .. } | EventKind::Connection { .. }
        );
        if is_mqtt && e.kind.thing_or_client() == Some(thing) {
            out.push_str(&serde_json::to_string(e)?);
            out.push('\n');
        }
    }
    Ok(out)
}

fn wall(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| "-".to_string())
}

/// A file or folder name from a scenario, board or run id: no separators, no dot-names.
pub fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        cleaned.replace('.', "_") + "_"
    } else {
        cleaned
    }
}

fn create_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!(
        "{}.tmp-{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Points `report_dir/latest` at `run_dir` (relative) by renaming a fresh link over it.
fn point_latest(report_dir: &Path, run_dir: &Path) -> Result<PathBuf, ReportError> {
    let latest = report_dir.join("latest");
    if let Ok(meta) = std::fs::symlink_metadata(&latest) {
        if !meta.file_type().is_symlink() {
            return Err(ReportError::LatestNotALink { path: latest });
        }
    }
    let target = run_dir.file_name().map(PathBuf::from).unwrap_or_default();
    let tmp = report_dir.join(format!(".latest.tmp-{}", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&target, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &latest).map_err(io(&latest))?;
    Ok(latest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_report_folder() {
        assert_eq!(safe_name("../etc/passwd"), ".._etc_passwd");
        assert_eq!(safe_name(".."), "___");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("wrong-thing-name"), "wrong-thing-name");
    }
}
