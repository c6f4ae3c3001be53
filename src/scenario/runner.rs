//! A whole run: scenarios × repeats scheduled on disjoint boards, at most `jobs` at
//! once, each with its own cloud and timeline. What happens is told as
//! [`RunEvent`]s to the callback the caller gives (the CLI wires it to the progress
//! display); the results are handed back as data for the reports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify, Semaphore};

use super::bench::BenchBoard;
use super::execute::{run_scenario, RunContext};
use super::fixtures::FixtureStore;
use super::run_cloud::RunCloud;
use crate::config::scenario::Step;
use crate::config::{bind_roles, bind_roles_sparing, Rig, Scenario, SkipReason};
use crate::report::events::{RunEvent, RunEvents};
use crate::report::model::{RunResult, ScenarioResult, ScenarioTimeline};

/// A scenario attempt's folder, from its name and attempt.
pub type ScenarioDir = dyn Fn(&str, u32) -> PathBuf + Send + Sync;

pub struct RunPlan {
    pub rig: Rig,
    pub scenarios: Vec<Scenario>,
    pub jobs: usize,
    pub repeat: u32,
    pub run_id: String,
    /// Where a scenario attempt records its timeline (`events.jsonl`) as it runs, by
    /// scenario name and attempt (1-based): the caller's choice (the CLI: the attempt's
    /// folder in the run's reports).
    pub scenario_dir: Box<ScenarioDir>,
    /// The executable that runs simulated boards (`otarig` itself).
    pub sim_program: PathBuf,
    /// Simulated boards' folders and built fixtures live here.
    pub state_dir: PathBuf,
}

/// A failure of the rig before any scenario ran (PKI, board parts): exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("board {board}: {message}")]
    Board { board: String, message: String },
    #[error("{0}")]
    Cloud(String),
}

/// Free boards; a scenario takes all its boards at once, in arrival order.
struct Pool {
    free: Mutex<BTreeSet<String>>,
    released: Notify,
    /// Serialises acquisition so a scenario needing many boards is not starved.
    queue: tokio::sync::Mutex<()>,
    /// Boards some scenario of the run needs by thing name: others take them last.
    spare: BTreeSet<String>,
}

impl Pool {
    async fn acquire(&self, scenario: &Scenario, rig: &Rig) -> BTreeMap<String, String> {
        let _turn = self.queue.lock().await;
        loop {
            let notified = self.released.notified();
            {
                let mut free = self.free.lock().expect("pool lock");
                let mut subset = rig.clone();
                subset.boards.retain(|b| free.contains(&b.name));
                if let Ok(binding) = bind_roles_sparing(scenario, &subset, &self.spare) {
                    for board in binding.values() {
                        free.remove(board);
                    }
                    return binding;
                }
            }
            notified.await;
        }
    }

    fn release(&self, binding: &BTreeMap<String, String>) {
        self.free
            .lock()
            .expect("pool lock")
            .extend(binding.values().cloned());
        self.released.notify_waiters();
    }
}

/// Everything the run produced.
pub struct RunOutput {
    pub result: RunResult,
    pub timelines: Vec<ScenarioTimeline>,
}

/// Builds the board parts and runs every scenario. The rig's PKI is ready
/// (`cloud::pki::prepare`).
pub async fn run(
    plan: RunPlan,
    events: RunEvents,
    interrupt: watch::Receiver<bool>,
) -> Result<RunOutput, SetupError> {
    let started = Instant::now();
    let started_wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let rig = Arc::new(plan.rig);
    let state_dir = plan.state_dir.clone();
    let mut boards = BTreeMap::new();
    for board in &rig.boards {
        let bench = BenchBoard::build(board, &state_dir.join("boards"), &plan.sim_program)
            .map_err(|e| SetupError::Board {
                board: board.name.clone(),
                message: e.to_string(),
            })?;
        boards.insert(board.name.clone(), Arc::new(bench));
    }
    let fixtures = Arc::new(FixtureStore::new(
        &rig.root.join("firmware-fixtures"),
        &rig.cloud.pki,
        &state_dir.join("fixtures"),
    ));
    let cloud = RunCloud::for_rig(&rig)
        .await
        .map_err(|e| SetupError::Cloud(e.to_string()))?;
    // A scenario that restarts the broker has a shared cloud to itself.
    let cloud_turns = Arc::new(tokio::sync::RwLock::new(()));
    let shared_cloud = cloud.is_shared();
    let ctx = Arc::new(RunContext {
        rig: rig.clone(),
        boards,
        fixtures,
        cloud,
        interrupt: interrupt.clone(),
        events: events.clone(),
    });
    let pool = Arc::new(Pool {
        free: Mutex::new(rig.boards.iter().map(|b| b.name.clone()).collect()),
        released: Notify::new(),
        queue: tokio::sync::Mutex::new(()),
        spare: named_boards(&rig, &plan.scenarios),
    });
    let slots = Arc::new(Semaphore::new(plan.jobs.max(1)));
    let mut tasks = Vec::new();
    for attempt in 1..=plan.repeat.max(1) {
        for scenario in &plan.scenarios {
            let scenario = scenario.clone();
            let cloud_turns = cloud_turns.clone();
            let (ctx, pool, slots, events, rig) = (
                ctx.clone(),
                pool.clone(),
                slots.clone(),
                events.clone(),
                rig.clone(),
            );
            let dir = (plan.scenario_dir)(&scenario.name, attempt);
            let interrupt = interrupt.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(reason) = bind_roles(&scenario, &rig) {
                    let result = skipped(&scenario, attempt, &reason);
                    events(&RunEvent::ScenarioFinished { result: &result });
                    return Some((result, None));
                }
                let _slot = slots.acquire().await.expect("semaphore open");
                let restarts_broker = scenario
                    .steps
                    .iter()
                    .any(|s| matches!(s, Step::BrokerRestart { .. }));
                let (_alone, _shared) = if shared_cloud && restarts_broker {
                    (Some(cloud_turns.write().await), None)
                } else {
                    (None, Some(cloud_turns.read().await))
                };
                if *interrupt.borrow() {
                    return None;
                }
                let binding = pool.acquire(&scenario, &rig).await;
                if *interrupt.borrow() {
                    pool.release(&binding);
                    return None;
                }
                let boards: Vec<String> = binding.values().cloned().collect();
                events(&RunEvent::ScenarioStarted {
                    scenario: &scenario.name,
                    attempt,
                    boards: &boards,
                });
                let (mut result, timeline) = run_scenario(&ctx, &scenario, &binding, &dir).await;
                pool.release(&binding);
                result.attempt = attempt;
                events(&RunEvent::ScenarioFinished { result: &result });
                let things = binding
                    .values()
                    .map(|b| {
                        (
                            b.clone(),
                            rig.board(b)
                                .map(|b| b.thing_name.clone())
                                .unwrap_or_default(),
                        )
                    })
                    .collect();
                let events_path = timeline
                    .path()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_else(|| dir.join("events.jsonl"));
                let pinned = scenario
                    .roles
                    .iter()
                    .filter_map(|r| Some((r.name.clone(), r.thing_name.clone()?)))
                    .collect();
                let recorded = ScenarioTimeline::new(&scenario.name, events_path, things)
                    .with_attempt(attempt)
                    .with_pinned(pinned);
                Some((result, Some(recorded)))
            }));
        }
    }
    let mut result = RunResult {
        run_id: plan.run_id.clone(),
        started_wall_ms,
        duration: Duration::ZERO,
        rig: rig.name.clone(),
        scenarios: Vec::new(),
        interrupted: false,
    };
    let mut timelines = Vec::new();
    for task in tasks {
        if let Ok(Some((r, t))) = task.await {
            result.scenarios.push(r);
            timelines.extend(t);
        }
    }
    events(&RunEvent::RunFinished);
    if let Ok(ctx) = Arc::try_unwrap(ctx) {
        ctx.cloud.stop().await;
    }
    result.duration = started.elapsed();
    result.interrupted = *interrupt.borrow();
    Ok(RunOutput { result, timelines })
}

/// The boards whose thing name a role of some scenario requires.
fn named_boards(rig: &Rig, scenarios: &[Scenario]) -> BTreeSet<String> {
    let named: BTreeSet<&str> = scenarios
        .iter()
        .flat_map(|s| &s.roles)
        .filter_map(|r| r.thing_name.as_deref())
        .collect();
    rig.boards
        .iter()
        .filter(|b| named.contains(b.thing_name.as_str()))
        .map(|b| b.name.clone())
        .collect()
}

fn skipped(scenario: &Scenario, attempt: u32, reason: &SkipReason) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name.clone(),
        summary: scenario.summary.clone(),
        attempt,
        started_wall_ms: 0,
        duration: Duration::ZERO,
        seeds: Vec::new(),
        boards: Vec::new(),
        skipped: Some(format!("the rig cannot run it: {reason}")),
    }
}
