//! One scenario attempt's files, from its `events.jsonl` in one streaming pass: each
//! board's annotated console (`.console.log`, then `.console.html` from it), its
//! thing's MQTT transcript (`.mqtt.jsonl`), and `timeline.html`. What the run's other
//! reports need from the pass (each board's last console lines for JUnit, notes about
//! unreadable lines) comes back with the paths. Memory is bounded by boards: events
//! are routed to their board as they are read and never kept.

use std::collections::{BTreeMap, VecDeque};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::artifacts::{create_dir, safe_name, temp_name, try_dir, ReportError};
use super::console_log::{self, Annotator};
use super::jsonl::for_each_event;
use super::model::{try_title, ScenarioResult, ScenarioTimeline, Verdict};
use super::picture::{Builder, Lane, PictureOptions};
use super::spool::Spool;
use crate::timeline::{Event, EventKind, Source};

/// Annotated console lines kept for JUnit's `system-out`: more for a board that did not
/// pass (the story of its failure), a few for one that did.
const TAIL_FAILED: usize = 200;
const TAIL_PASSED: usize = 30;

/// Where a scenario attempt's files went.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioPaths {
    pub scenario: String,
    pub attempt: u32,
    pub retry: u32,
    pub dir: PathBuf,
    pub timeline_html: PathBuf,
    pub boards: Vec<BoardPaths>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BoardPaths {
    pub board: String,
    pub console_log: PathBuf,
    pub console_html: PathBuf,
    pub mqtt_jsonl: PathBuf,
}

/// The last lines of a board's annotated console, and how many it had.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsoleTail {
    pub lines: Vec<String>,
    pub total: usize,
}

/// What writing a scenario attempt produced.
#[derive(Clone, Debug)]
pub struct ScenarioPages {
    pub paths: ScenarioPaths,
    /// Board → its console's last lines.
    pub tails: BTreeMap<String, ConsoleTail>,
    /// Lines of `events.jsonl` that could not be read, as sentences.
    pub notes: Vec<String>,
}

struct BoardOut {
    annotator: Annotator,
    console: Spool,
    mqtt: Spool,
    lines: usize,
    tail: VecDeque<String>,
    tail_max: usize,
}

impl BoardOut {
    /// Writes `e` to this board's console if it belongs there; its line number if so.
    fn console(&mut self, e: &Event) -> Result<Option<usize>, ReportError> {
        let Some(line) = self.annotator.line(e) else {
            return Ok(None);
        };
        self.console.line(&line)?;
        self.lines += 1;
        if self.tail.len() == self.tail_max {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
        Ok(Some(self.lines))
    }
}

/// Writes a scenario try's files into its folder under `run_dir`. The runner's caller
/// does this as each try finishes (so a run killed later keeps them); the run's own
/// files come at its end ([`super::artifacts::write_run_after`]).
pub fn write_scenario(
    run_dir: &Path,
    result: Option<&ScenarioResult>,
    timeline: &ScenarioTimeline,
) -> Result<ScenarioPages, ReportError> {
    let dir = try_dir(
        run_dir,
        &timeline.scenario,
        timeline.attempt,
        timeline.retry,
    );
    create_dir(&dir)?;
    super::artifacts::write_atomic(
        &run_dir.join(super::html::STYLESHEET),
        super::html::stylesheet().as_bytes(),
    )?;
    let lanes = lanes(result, timeline);
    let mut outs: Vec<BoardOut> = lanes
        .iter()
        .map(|lane| {
            let name = safe_name(&lane.board);
            let passed = lane.verdict == Some(Verdict::Passed);
            BoardOut {
                annotator: Annotator::new(&lane.board, &lane.thing),
                console: Spool::new(&dir.join(format!("{name}.console.log"))),
                mqtt: Spool::new(&dir.join(format!("{name}.mqtt.jsonl"))),
                lines: 0,
                tail: VecDeque::new(),
                tail_max: if passed { TAIL_PASSED } else { TAIL_FAILED },
            }
        })
        .collect();
    let options = PictureOptions {
        links: true,
        ..PictureOptions::default()
    };
    let mut picture = Builder::new(lanes.clone(), options);

    let mut failed: Option<ReportError> = None;
    let read = for_each_event(&timeline.events_path, |e| {
        if failed.is_some() {
            return;
        }
        if let Err(err) = route(e, &mut outs, &mut picture) {
            failed = Some(err);
        }
    })?;
    if let Some(err) = failed {
        return Err(err);
    }

    let mut boards = Vec::new();
    let mut tails = BTreeMap::new();
    for (lane, out) in lanes.iter().zip(outs) {
        let console_log = out.console.finish()?;
        let mqtt_jsonl = out.mqtt.finish()?;
        let console_html = console_log.with_extension("html");
        write_console_html(&console_log, &console_html, lane, &timeline.scenario)?;
        tails.insert(
            lane.board.clone(),
            ConsoleTail {
                lines: out.tail.into(),
                total: out.lines,
            },
        );
        boards.push(BoardPaths {
            board: lane.board.clone(),
            console_log,
            console_html,
            mqtt_jsonl,
        });
    }

    let notes = read.messages();
    let timeline_html = dir.join("timeline.html");
    let title = try_title(&timeline.scenario, timeline.attempt, timeline.retry);
    let summary = result.map_or("", |r| r.summary.as_str());
    let page = picture.finish().render(&title, summary, &notes);
    super::artifacts::write_atomic(&timeline_html, page.as_bytes())?;

    Ok(ScenarioPages {
        paths: ScenarioPaths {
            scenario: timeline.scenario.clone(),
            attempt: timeline.attempt,
            retry: timeline.retry,
            dir,
            timeline_html,
            boards,
        },
        tails,
        notes,
    })
}

/// Sends one event to the board it concerns (console, transcript) and to the picture.
/// Steps and the runner's notes go to every board's console (a note only where it
/// names the board or its thing).
fn route(e: &Event, outs: &mut [BoardOut], picture: &mut Builder) -> Result<(), ReportError> {
    match picture.lane_of(e) {
        Some(i) => {
            let out = &mut outs[i];
            let line = out.console(e)?;
            if matches!(
                e.kind,
                EventKind::Mqtt { .. } | EventKind::Connection { .. }
            ) {
                let json = serde_json::to_string(e).map_err(|source| ReportError::Json {
                    path: out.mqtt.path().to_path_buf(),
                    source,
                })?;
                out.mqtt.line(&json)?;
            }
            picture.add(e, line);
        }
        None => {
            let for_all = matches!(e.kind, EventKind::Step { .. })
                || (e.source == Source::Runner && matches!(e.kind, EventKind::Note { .. }));
            if for_all {
                for out in outs.iter_mut() {
                    out.console(e)?;
                }
            }
            picture.add(e, None);
        }
    }
    Ok(())
}

fn write_console_html(
    log: &Path,
    html: &Path,
    lane: &Lane,
    scenario: &str,
) -> Result<(), ReportError> {
    let tmp = temp_name(html);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut out = BufWriter::new(file);
    let title = format!(
        "{scenario}: {} ({}, thing {})",
        lane.role, lane.board, lane.thing
    );
    let name = safe_name(&lane.board);
    let links = format!(
        "<a href=\"../index.html\">← the run</a> · <a href=\"timeline.html\">timeline</a> · <a href=\"{log}\">plain text</a> · <a href=\"{mqtt}\">MQTT transcript</a> · lines starting <code>##</code> are otarig's",
        log = super::html::href(&format!("{name}.console.log")),
        mqtt = super::html::href(&format!("{name}.mqtt.jsonl")),
    );
    console_log::write_html(log, &title, &links, &mut out).map_err(io(&tmp))?;
    std::io::Write::flush(&mut out).map_err(io(&tmp))?;
    drop(out);
    std::fs::rename(&tmp, html).map_err(io(html))
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
