//! One scenario run: open the cloud, connect the boards, baseline, steps in order (boards
//! act concurrently within a step), `never` guards, the recovery check, verdicts,
//! teardown. Everything observed goes onto the scenario's timeline; verdicts are decided
//! from it (`super::verdict`).

mod baseline;
mod checks;
mod cloud_steps;
mod connect;
mod flash;
mod record;
mod step_text;
mod steps;
#[cfg(test)]
mod tests;
mod verdicts;

pub use step_text::step_text;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::bench::BenchBoard;
use super::cloud_session::CloudSession;
use super::fixtures::FixtureStore;
use super::run_cloud::RunCloud;
use super::verdict::{decide, BoardEvidence};
use super::watch::Watch;
use super::{BoundBoard, Scenario};
use crate::board::PartEvents;
use crate::config::Rig;
use crate::report::events::{RunEvent, RunEvents};
use crate::report::model::{BoardResult, ScenarioResult, Versions};
use crate::timeline::{EventKind, EventSink, Source, Timeline};

/// Lines of console kept with a verdict.
const TAIL_LINES: usize = 30;

/// What a scenario run needs from the run around it.
pub struct RunContext {
    pub rig: Arc<Rig>,
    pub boards: BTreeMap<String, Arc<BenchBoard>>,
    pub fixtures: Arc<FixtureStore>,
    /// The run's cloud: shared by the scenarios, or one per scenario.
    pub cloud: RunCloud,
    /// Becomes true on SIGINT/SIGTERM.
    pub interrupt: watch::Receiver<bool>,
    /// Where the run's events go ([`RunEvent`]): the runner tells what it does and waits
    /// for, and never names a display or reporter; the CLI wires this to them.
    pub events: RunEvents,
}

impl RunContext {
    /// Tells that `board` of `scenario` now waits for `what`, at most `left`.
    fn waiting(&self, scenario: &str, board: &str, what: &str, left: Option<Duration>) {
        (self.events)(&RunEvent::BoardWaiting {
            scenario,
            board,
            what,
            left,
        });
    }
}

/// Why the steps stopped early.
enum Stop {
    /// An expectation failed (recorded per role).
    Failed,
    /// The bench failed (recorded per role).
    Bench,
    Interrupted,
    TimedOut,
}

/// One scenario in progress: what it has learnt so far, per role.
struct Run<'a> {
    ctx: &'a RunContext,
    scenario: &'a Scenario,
    timeline: Timeline,
    /// Each board as its events show it: what every wait and check reads.
    watch: Arc<Watch>,
    bound: Vec<BoundBoard>,
    cloud: CloudSession,
    /// Console lines are matched from here on: the start of the latest action step.
    cursor: usize,
    failures: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
    /// The jobs the steps created, with where (file:line).
    created_jobs: BTreeMap<String, String>,
    /// Per role, why some of its checks did not run.
    not_judged: BTreeMap<String, String>,
    /// Per role, where the rig last reset, flashed or power-cycled the board: a boot that
    /// proves it healthy must come after.
    rebooted_at: BTreeMap<String, usize>,
}

/// Runs one scenario on the boards bound to its roles, recording into `dir/events.jsonl`.
pub async fn run_scenario(
    ctx: &RunContext,
    scenario: &Scenario,
    binding: &BTreeMap<String, String>,
    dir: &Path,
) -> (ScenarioResult, Timeline) {
    let started = Instant::now();
    let timeline = open_timeline(scenario, dir);
    let bound = bind(ctx, scenario, binding);
    let watch = Watch::start(&timeline, &bound);
    // The runner's own lag delays the cloud for every board of the scenario.
    let lag_sink = timeline.clone();
    let lag_monitor = tokio::spawn(crate::model::lag::report_lag(move |text| {
        lag_sink.emit(Source::Runner, EventKind::Note { text })
    }));
    let _lag_monitor = AbortOnDrop(lag_monitor);
    let started_wall_ms = wall_ms_now();
    let result = |boards: Vec<BoardResult>| ScenarioResult {
        name: scenario.name.clone(),
        summary: scenario.summary.clone(),
        attempt: 1,
        started_wall_ms,
        duration: started.elapsed(),
        seeds: Vec::new(), // set from the cloud session once its faults have run
        boards,
        skipped: None,
        retry: 0,
        run_stopped: false,
    };
    let board_names: Vec<String> = bound.iter().map(|b| b.board.clone()).collect();
    let cloud = match CloudSession::open(&ctx.cloud, &ctx.rig, &board_names, &timeline).await {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            timeline.emit(
                Source::Cloud,
                EventKind::BenchError {
                    message: msg.clone(),
                },
            );
            let evidence = BoardEvidence {
                bench_error: Some(msg),
                ..BoardEvidence::default()
            };
            let boards = bound
                .iter()
                .map(|b| board_result(b, &evidence, &watch, Versions::default()))
                .collect();
            return (result(boards), timeline);
        }
    };
    note_cloud(scenario, &cloud, &bound, &timeline);
    let mut run = Run {
        ctx,
        scenario,
        timeline: timeline.clone(),
        watch,
        bound,
        cloud,
        cursor: 0,
        failures: BTreeMap::new(),
        errors: BTreeMap::new(),
        rebooted_at: BTreeMap::new(),
        not_judged: BTreeMap::new(),
        created_jobs: BTreeMap::new(),
    };
    let pumps = run.connect_boards().await;
    // An interrupt stops every wait at once: the baseline's, the steps', the recovery's.
    let mut interrupt = ctx.interrupt.clone();
    let mut interrupted = false;
    let before = if run.errors.is_empty() {
        tokio::select! {
            before = run.baseline() => before,
            _ = interrupt.wait_for(|i| *i) => {
                interrupted = true;
                BTreeMap::new()
            }
        }
    } else {
        BTreeMap::new()
    };
    // Scenario-level guards watch the steps, not the baseline: re-flashing a board that a
    // previous scenario left bricked (or that is fresh and erased) prints what they forbid.
    run.watch_guards(&scenario.never);
    let stop = if interrupted {
        Some(Stop::Interrupted)
    } else if run.errors.is_empty() {
        run.steps().await
    } else {
        Some(Stop::Bench)
    };
    if matches!(stop, Some(Stop::TimedOut)) {
        run.fail_all_timed_out();
    }
    let boards = if matches!(stop, Some(Stop::Interrupted)) {
        run.unfinished(&before)
    } else {
        run.verdicts(&before).await
    };
    for b in &boards {
        timeline.emit(
            Source::board(&b.board),
            EventKind::Verdict {
                verdict: b.verdict,
                message: b.message.clone(),
            },
        );
    }
    // The seeds the link faults used: the steps' own and those drawn for this attempt.
    let seeds = run.cloud.link_seeds();
    run.teardown(pumps).await;
    timeline.flush();
    (
        ScenarioResult {
            seeds,
            ..result(boards)
        },
        timeline,
    )
}

/// Stops a background task with the scenario, however the scenario ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The scenario's timeline, recorded to `dir/events.jsonl`; kept in memory only when the
/// folder cannot be written (the run goes on; its report says less).
fn open_timeline(scenario: &Scenario, dir: &Path) -> Timeline {
    match std::fs::create_dir_all(dir)
        .and_then(|_| Timeline::recording_to(&dir.join("events.jsonl")))
    {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(
                "scenario {}: cannot record its timeline in {}: {e}",
                scenario.name,
                dir.display()
            );
            Timeline::in_memory()
        }
    }
}

fn bind(
    ctx: &RunContext,
    scenario: &Scenario,
    binding: &BTreeMap<String, String>,
) -> Vec<BoundBoard> {
    scenario
        .roles
        .iter()
        .map(|role| {
            let board = &ctx.boards[&binding[&role.name]];
            BoundBoard {
                role: role.name.clone(),
                board: board.name().to_string(),
                thing: board.config.thing_name.clone(),
                profile: board.config.profile.clone(),
            }
        })
        .collect()
}

fn note_cloud(
    scenario: &Scenario,
    cloud: &CloudSession,
    bound: &[BoundBoard],
    timeline: &Timeline,
) {
    timeline.emit(
        Source::Runner,
        EventKind::Note {
            text: format!(
                "scenario {}: cloud at {}:{} ({}), boards {}",
                scenario.name,
                cloud.host,
                cloud.port,
                if cloud.tls { "TLS" } else { "plain TCP" },
                bound
                    .iter()
                    .map(|b| format!("{}={}", b.role, b.board))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    );
}

/// A board's result: its verdict decided from `evidence`, with its console tail.
fn board_result(
    b: &BoundBoard,
    evidence: &BoardEvidence,
    watch: &Watch,
    versions: Versions,
) -> BoardResult {
    let (verdict, message) = decide(evidence);
    BoardResult {
        role: b.role.clone(),
        board: b.board.clone(),
        thing: b.thing.clone(),
        verdict,
        message,
        console_tail: watch.state(&b.board).console_tail(TAIL_LINES),
        versions,
        events: Vec::new(),
    }
}

fn wall_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Run<'_> {
    fn bench(&self, b: &BoundBoard) -> &Arc<BenchBoard> {
        &self.ctx.boards[&b.board]
    }

    fn part_events(&self, b: &BoundBoard) -> PartEvents {
        PartEvents {
            board: b.board.clone(),
            sink: Arc::new(self.timeline.clone()),
        }
    }

    fn roles(&self, names: &[String]) -> Vec<BoundBoard> {
        self.bound
            .iter()
            .filter(|b| names.contains(&b.role))
            .cloned()
            .collect()
    }

    fn role(&self, name: &str) -> BoundBoard {
        self.bound
            .iter()
            .find(|b| b.role == name)
            .cloned()
            .expect("roles are resolved by config")
    }

    fn note(&self, text: String) {
        self.timeline.emit(Source::Runner, EventKind::Note { text });
    }
}
