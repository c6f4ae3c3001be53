//! The files of a run under `reports/<run-id>/`, and the `reports/latest` link.
//!
//! ```text
//! reports/
//!   latest -> <run-id>
//!   <run-id>/
//!     index.html             the run at a glance: failures first, links to everything
//!     otarig.css             the pages' stylesheet (not inline: Jenkins' CSP blocks that)
//!     junit.xml
//!     summary.json
//!     <scenario>/            (attempt 1; attempt n of --repeat: <scenario>.<n>/; retry k
//!                             of --retries: <scenario>.retry<k>/, <scenario>.<n>.retry<k>/)
//!       events.jsonl         written live by the runner (see try_dir)
//!       timeline.html
//!       <board>.console.log  the annotated console (console.html: the same, with anchors)
//!       <board>.console.html
//!       <board>.mqtt.jsonl
//! ```
//!
//! Every report is read from the scenarios' `events.jsonl` in one streaming pass each
//! ([`super::scenario_pages`]), so writing them needs memory for the boards, not the
//! events. Every file is written to a temporary name and renamed, so a reader (or a run
//! killed mid-write) never sees half a file. A scenario try's files are written as soon
//! as it finishes ([`write_scenario`], by the CLI from the runner's `ScenarioFinished`
//! event), so a run killed later keeps them; at the end [`write_run_after`] writes the
//! run's own files (index, JUnit, summary) and only the pages not written yet. After
//! SIGINT/SIGTERM (`interrupted = true`) started scenarios without a result become error
//! cases.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

pub use super::model::ScenarioTimeline;
use super::model::{BoardResult, RunResult, ScenarioResult};
pub use super::scenario_pages::{write_scenario, BoardPaths, ScenarioPages, ScenarioPaths};
use super::{index, jsonl, junit, summary};
use crate::timeline::{Event, EventKind};

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
    #[error("cannot read the timeline {path}: {source} (the reports are written from it; check that it is readable)")]
    Read {
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
    /// The run at a glance: open it first.
    pub index: PathBuf,
    pub junit: PathBuf,
    pub summary: PathBuf,
    pub latest: PathBuf,
    pub scenarios: Vec<ScenarioPaths>,
    /// What could not be read while writing (unreadable timeline lines), as sentences.
    pub notes: Vec<String>,
}

/// `reports/<run-id>`.
pub fn run_dir(report_dir: &Path, run_id: &str) -> PathBuf {
    report_dir.join(safe_name(run_id))
}

/// A scenario attempt's folder (its first try): `<scenario>` for attempt 1,
/// `<scenario>.<n>` after.
pub fn scenario_dir(run_dir: &Path, scenario: &str, attempt: u32) -> PathBuf {
    try_dir(run_dir, scenario, attempt, 0)
}

/// A scenario try's folder: [`scenario_dir`] for an attempt's first try, then
/// `.retry<k>` for its k-th retry (`<scenario>.retry1`, `<scenario>.3.retry1`). The runner
/// records `events.jsonl` here while the try runs.
pub fn try_dir(run_dir: &Path, scenario: &str, attempt: u32, retry: u32) -> PathBuf {
    let mut name = safe_name(scenario);
    if attempt > 1 {
        name = format!("{name}.{attempt}");
    }
    if retry > 0 {
        name = format!("{name}.retry{retry}");
    }
    run_dir.join(name)
}

/// Writes every report of a run and points `reports/latest` at it.
pub fn write_run(
    report_dir: &Path,
    run: &RunResult,
    timelines: &[ScenarioTimeline],
) -> Result<RunPaths, ReportError> {
    write_run_after(report_dir, run, timelines, Vec::new())
}

/// As [`write_run`], after the pages in `written` were written as their tries finished:
/// those are not written again, only the pages of the other timelines (tries an
/// interrupt cut short, a page whose writing failed) and the run's own files.
pub fn write_run_after(
    report_dir: &Path,
    run: &RunResult,
    timelines: &[ScenarioTimeline],
    mut written: Vec<ScenarioPages>,
) -> Result<RunPaths, ReportError> {
    let dir = run_dir(report_dir, &run.run_id);
    create_dir(&dir)?;
    let run = with_unfinished(run, timelines);

    let mut scenarios = Vec::new();
    let mut notes = Vec::new();
    let mut evidence = junit::Evidence::default();
    for timeline in timelines {
        let done = written.iter().position(|p| {
            p.paths.scenario == timeline.scenario
                && p.paths.attempt == timeline.attempt
                && p.paths.retry == timeline.retry
        });
        let pages = match done {
            Some(i) => written.swap_remove(i),
            None => {
                let result = run.scenarios.iter().find(|s| timeline.is_of(s));
                write_scenario(&dir, result, timeline)?
            }
        };
        for (role, thing) in &timeline.pinned {
            evidence
                .pinned
                .insert((timeline.scenario.clone(), role.clone()), thing.clone());
        }
        for board in &pages.paths.boards {
            let tail = pages.tails.get(&board.board).cloned().unwrap_or_default();
            evidence.boards.insert(
                (
                    timeline.scenario.clone(),
                    timeline.attempt,
                    timeline.retry,
                    board.board.clone(),
                ),
                junit::BoardEvidence {
                    console: tail.lines,
                    total_lines: tail.total,
                    attachments: vec![
                        board.console_log.clone(),
                        board.mqtt_jsonl.clone(),
                        pages.paths.timeline_html.clone(),
                    ],
                },
            );
        }
        notes.extend(pages.notes);
        scenarios.push(pages.paths);
    }

    let junit_path = dir.join("junit.xml");
    let xml = junit::to_xml_with(&run, &evidence).map_err(|source| ReportError::Junit {
        path: junit_path.clone(),
        source,
    })?;
    drop(evidence);
    write_atomic(&junit_path, xml.as_bytes())?;
    drop(xml);

    let summary_path = dir.join("summary.json");
    let json = summary::to_json(&run).map_err(|source| ReportError::Json {
        path: summary_path.clone(),
        source,
    })?;
    write_atomic(&summary_path, json.as_bytes())?;

    write_atomic(
        &dir.join(super::html::STYLESHEET),
        super::html::stylesheet().as_bytes(),
    )?;
    let index_path = dir.join("index.html");
    let page = index::render(&run, &dir, &scenarios, &notes);
    write_atomic(&index_path, page.as_bytes())?;

    let latest = point_latest(report_dir, &dir)?;
    Ok(RunPaths {
        dir,
        index: index_path,
        junit: junit_path,
        summary: summary_path,
        latest,
        scenarios,
        notes,
    })
}

/// The run with a result for every timeline the interrupt cut short: each board of such
/// a scenario is an error case saying it was unfinished, with its last console lines
/// and the time its timeline covers (read from its `events.jsonl`, streaming).
pub fn with_unfinished(run: &RunResult, timelines: &[ScenarioTimeline]) -> RunResult {
    let mut run = run.clone();
    if !run.interrupted {
        return run;
    }
    for tl in timelines {
        let known = run.scenarios.iter().any(|s| tl.is_of(s));
        if known {
            continue;
        }
        let mut first: Option<(f64, u64)> = None;
        let mut last_t: Option<f64> = None;
        let mut tails: BTreeMap<&str, VecDeque<String>> = tl
            .things
            .keys()
            .map(|b| (b.as_str(), VecDeque::new()))
            .collect();
        // An unreadable timeline leaves the cases without tails; they stay errors.
        let _ = jsonl::for_each_event(&tl.events_path, |e: &Event| {
            first.get_or_insert((e.t, e.wall_ms));
            last_t = Some(e.t);
            if let (Some(board), EventKind::Console { line }) = (e.source.board_name(), &e.kind) {
                if let Some(tail) = tails.get_mut(board) {
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line.clone());
                }
            }
        });
        let boards = tl
            .things
            .iter()
            .map(|(board, thing)| BoardResult {
                console_tail: tails.remove(board.as_str()).unwrap_or_default().into(),
                ..BoardResult::unfinished(board.as_str(), board.as_str(), thing.as_str())
            })
            .collect();
        run.scenarios.push(ScenarioResult {
            name: tl.scenario.clone(),
            summary: String::new(),
            attempt: tl.attempt,
            retry: tl.retry,
            started_wall_ms: first.map_or(0, |f| f.1),
            duration: std::time::Duration::from_secs_f64(
                match (first, last_t) {
                    (Some(a), Some(b)) => b - a.0,
                    _ => 0.0,
                }
                .max(0.0),
            ),
            seeds: Vec::new(),
            boards,
            skipped: None,
            run_stopped: false,
        });
    }
    run
}

/// A board's slice of a timeline: what it printed, what the rig did to it, and what
/// the cloud saw of its thing.
pub fn board_events(events: &[Event], board: &str, thing: &str) -> Vec<Event> {
    events
        .iter()
        .filter(|e| match &e.source {
            crate::timeline::Source::Board(b) if b == board => true,
            _ => e.kind.thing_or_client() == Some(thing),
        })
        .cloned()
        .collect()
}

pub use super::console_log::console_log_text;

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

pub(crate) fn create_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// `a.log` → `a.log.tmp-<pid>`: where a file is written before it is renamed into place.
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    path.with_extension(format!(
        "{}.tmp-{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ))
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = temp_name(path);
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
