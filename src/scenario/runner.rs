//! A whole run: scenarios × repeats scheduled on disjoint boards, at most `jobs` at
//! once, each with its own cloud and timeline. How attempts, retries and `--max-fail`
//! are scheduled is [`super::schedule`]'s: by default a scenario's attempts run one
//! after another on the boards its first attempt took, and a retry always runs on the
//! boards of the try it repeats. What happens is told as [`RunEvent`]s to the callback
//! the caller gives (the CLI wires it to the progress display and to the writer of each
//! finished try's pages); the results are handed back as data for the reports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use super::bench::BenchBoard;
use super::execute::{run_scenario, RunContext};
use super::fixtures::FixtureStore;
use super::run_cloud::RunCloud;
use super::schedule::{FailBudget, Schedule};
use super::Scenario;
use crate::config::scenario::Step;
use crate::config::{bind_roles, bind_roles_sparing, Rig};
use crate::report::events::{RunEvent, RunEvents};
use crate::report::model::{BoardResult, RunResult, ScenarioResult, ScenarioTimeline};

/// A scenario try's folder, from its name, attempt (1-based) and retry (0: the first try).
pub type ScenarioDir = dyn Fn(&str, u32, u32) -> PathBuf + Send + Sync;

pub struct RunPlan {
    pub rig: Rig,
    pub scenarios: Vec<Scenario>,
    pub jobs: usize,
    /// `--repeat`, `--repeat-parallel`, `--retries`, `--max-fail`.
    pub schedule: Schedule,
    pub run_id: String,
    /// Where a scenario try records its timeline (`events.jsonl`) as it runs, by scenario
    /// name, attempt (1-based) and retry: the caller's choice (the CLI: the try's folder
    /// in the run's reports).
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

/// Boards a scenario holds: given back to the pool when dropped, however the scenario
/// ended (a panic included), so later scenarios never wait for them forever.
struct Lease {
    pool: Arc<Pool>,
    binding: BTreeMap<String, String>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.release(&self.binding);
    }
}

impl Pool {
    /// Takes boards for every role of `scenario`, waiting until they are free.
    async fn lease(self: &Arc<Self>, scenario: &Scenario, rig: &Rig) -> Lease {
        Lease {
            pool: self.clone(),
            binding: self.acquire(scenario, rig).await,
        }
    }

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

/// What every task of the run shares.
struct Shared {
    ctx: Arc<RunContext>,
    rig: Arc<Rig>,
    pool: Arc<Pool>,
    slots: Arc<Semaphore>,
    events: RunEvents,
    interrupt: watch::Receiver<bool>,
    /// A scenario that restarts the broker has a shared cloud to itself.
    cloud_turns: tokio::sync::RwLock<()>,
    shared_cloud: bool,
    schedule: Schedule,
    budget: FailBudget,
    scenario_dir: Box<ScenarioDir>,
}

impl Shared {
    fn interrupted(&self) -> bool {
        *self.interrupt.borrow()
    }

    /// Records a result and tells it (with its timeline, if it ran).
    fn finished(
        &self,
        out: &mut Vec<(ScenarioResult, Option<ScenarioTimeline>)>,
        result: ScenarioResult,
        timeline: Option<ScenarioTimeline>,
    ) {
        (self.events)(&RunEvent::ScenarioFinished {
            result: &result,
            timeline: timeline.as_ref(),
        });
        out.push((result, timeline));
    }
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
    let shared = Arc::new(Shared {
        ctx: ctx.clone(),
        rig: rig.clone(),
        pool,
        slots: Arc::new(Semaphore::new(plan.jobs.max(1))),
        events: events.clone(),
        interrupt: interrupt.clone(),
        cloud_turns: tokio::sync::RwLock::new(()),
        shared_cloud,
        schedule: plan.schedule,
        budget: FailBudget::new(plan.schedule.max_fail),
        scenario_dir: plan.scenario_dir,
    });
    // Slots are handed out here, in the start order (the plan's with `--jobs 1`; tasks
    // would race for them), and nothing more is handed out once the run stops starting
    // scenarios or is interrupted.
    let mut units = plan.schedule.units(plan.scenarios.len());
    let order = Schedule::start_order(&units, plan.jobs, |s| plan.scenarios[s].roles.len());
    let mut tasks = Vec::new();
    for index in order {
        let scenario = plan.scenarios[units[index].scenario].clone();
        let runnable = bind_roles(&scenario, &rig).is_ok();
        let slot = if runnable && !shared.budget.stopped() && !shared.interrupted() {
            let mut interrupt = interrupt.clone();
            tokio::select! {
                slot = shared.slots.clone().acquire_owned() => Some(slot.expect("semaphore open")),
                () = shared.budget.wait_stopped() => None,
                _ = interrupt.wait_for(|i| *i) => None,
            }
        } else {
            None
        };
        let task = tokio::spawn(run_unit(
            shared.clone(),
            scenario,
            std::mem::take(&mut units[index].attempts),
            slot,
        ));
        tasks.push((index, task));
    }
    // Results in the plan's order, whatever order the units started in.
    tasks.sort_by_key(|(index, _)| *index);
    let mut result = RunResult {
        run_id: plan.run_id.clone(),
        started_wall_ms,
        duration: Duration::ZERO,
        rig: rig.name.clone(),
        scenarios: Vec::new(),
        interrupted: false,
    };
    let mut timelines = Vec::new();
    for (_, task) in tasks {
        match task.await {
            Ok(tries) => {
                for (r, t) in tries {
                    result.scenarios.push(r);
                    timelines.extend(t);
                }
            }
            Err(e) => {
                tracing::error!("a scenario task of the run failed outside its scenario: {e}")
            }
        }
    }
    events(&RunEvent::RunFinished);
    drop(shared);
    if let Ok(ctx) = Arc::try_unwrap(ctx) {
        ctx.cloud.stop().await;
    }
    result.duration = started.elapsed();
    result.interrupted = *interrupt.borrow();
    Ok(RunOutput { result, timelines })
}

/// One scenario's `attempts`, one after another on one set of boards, each with its
/// retries on the same boards, in the `slot` the run gave it. Without a slot, the run
/// had stopped starting attempts (`--max-fail`: they are skipped with the reason) or was
/// interrupted (they have no result).
async fn run_unit(
    sh: Arc<Shared>,
    scenario: Scenario,
    attempts: Vec<u32>,
    slot: Option<OwnedSemaphorePermit>,
) -> Vec<(ScenarioResult, Option<ScenarioTimeline>)> {
    let mut out = Vec::new();
    if let Err(reason) = bind_roles(&scenario, &sh.rig) {
        for attempt in attempts {
            let result = skipped(
                &scenario,
                attempt,
                format!("the rig cannot run it: {reason}"),
                false,
            );
            sh.finished(&mut out, result, None);
        }
        return out;
    }
    let stopped = |out: &mut Vec<_>, attempts: &[u32]| {
        for &attempt in attempts {
            let result = skipped(&scenario, attempt, sh.budget.reason(), true);
            sh.finished(out, result, None);
        }
    };
    let Some(_slot) = slot else {
        if sh.budget.stopped() {
            stopped(&mut out, &attempts);
        }
        return out;
    };
    // Each wait for a turn gives up when the run stops starting attempts.
    let restarts_broker = scenario
        .steps
        .iter()
        .any(|s| matches!(s, Step::BrokerRestart { .. }));
    let _turn = if sh.shared_cloud && restarts_broker {
        tokio::select! {
            turn = sh.cloud_turns.write() => (Some(turn), None),
            () = sh.budget.wait_stopped() => {
                stopped(&mut out, &attempts);
                return out;
            }
        }
    } else {
        tokio::select! {
            turn = sh.cloud_turns.read() => (None, Some(turn)),
            () = sh.budget.wait_stopped() => {
                stopped(&mut out, &attempts);
                return out;
            }
        }
    };
    if sh.interrupted() {
        return out;
    }
    let lease = tokio::select! {
        lease = sh.pool.lease(&scenario, &sh.rig) => lease,
        () = sh.budget.wait_stopped() => {
            stopped(&mut out, &attempts);
            return out;
        }
    };
    for (i, &attempt) in attempts.iter().enumerate() {
        if sh.interrupted() {
            break;
        }
        if sh.budget.stopped() {
            stopped(&mut out, &attempts[i..]);
            break;
        }
        let mut retry = 0;
        loop {
            let (result, timeline) = run_try(&sh, &scenario, &lease.binding, attempt, retry).await;
            let again = sh.schedule.retries_after(&result, retry, sh.interrupted());
            sh.finished(&mut out, result, timeline);
            if !again {
                // The attempt's final try: it alone counts for --max-fail, once told (so
                // the attempts it keeps from starting are told after it).
                sh.budget.record(&out[out.len() - 1].0);
                break;
            }
            retry += 1;
        }
    }
    drop(lease);
    out
}

/// One try of one attempt on the leased boards.
async fn run_try(
    sh: &Shared,
    scenario: &Scenario,
    binding: &BTreeMap<String, String>,
    attempt: u32,
    retry: u32,
) -> (ScenarioResult, Option<ScenarioTimeline>) {
    let dir = (sh.scenario_dir)(&scenario.name, attempt, retry);
    let boards: Vec<String> = binding.values().cloned().collect();
    (sh.events)(&RunEvent::ScenarioStarted {
        scenario: &scenario.name,
        attempt,
        retry,
        boards: &boards,
    });
    let things: BTreeMap<String, String> = binding
        .values()
        .map(|b| {
            (
                b.clone(),
                sh.rig
                    .board(b)
                    .map(|b| b.thing_name.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let run = run_scenario(&sh.ctx, scenario, binding, &dir);
    let (mut result, timeline) = match caught(run).await {
        Ok((result, timeline)) => (result, Some(timeline)),
        Err(panic) => (after_panic(&sh.ctx, scenario, binding, &panic).await, None),
    };
    result.attempt = attempt;
    result.retry = retry;
    // What a panicking scenario recorded is still in its folder.
    let events_path = timeline
        .as_ref()
        .and_then(|t| t.path())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| dir.join("events.jsonl"));
    let pinned = scenario
        .roles
        .iter()
        .filter_map(|r| Some((r.name.clone(), r.thing_name.clone()?)))
        .collect();
    let recorded = ScenarioTimeline::new(&scenario.name, events_path, things)
        .with_attempt(attempt)
        .with_retry(retry)
        .with_pinned(pinned);
    (result, Some(recorded))
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

/// An attempt that did not run: the rig cannot run it, or (`run_stopped`) the run had
/// stopped starting attempts.
fn skipped(scenario: &Scenario, attempt: u32, reason: String, run_stopped: bool) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name.clone(),
        summary: scenario.summary.clone(),
        attempt,
        retry: 0,
        started_wall_ms: 0,
        duration: Duration::ZERO,
        seeds: Vec::new(),
        boards: Vec::new(),
        skipped: Some(reason),
        run_stopped,
    }
}

/// Runs a scenario, catching a panic of otarig's own code in it: the message.
async fn caught<T>(run: impl std::future::Future<Output = T>) -> Result<T, String> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(run)
        .catch_unwind()
        .await
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(a panic without a message)".into())
        })
}

/// A scenario whose run panicked: its boards are switched off and their consoles closed
/// (the teardown did not run), and each is an `error` naming the panic, never a verdict
/// on the firmware.
async fn after_panic(
    ctx: &RunContext,
    scenario: &Scenario,
    binding: &BTreeMap<String, String>,
    panic: &str,
) -> ScenarioResult {
    let message = format!(
        "otarig itself failed while running this scenario (panic: {panic}): no verdict on the firmware; this is a bug in otarig, please report it with this run's reports"
    );
    tracing::error!("scenario {}: {message}", scenario.name);
    let mut boards = Vec::new();
    for (role, board) in binding {
        let thing = ctx
            .boards
            .get(board)
            .map(|b| b.config.thing_name.clone())
            .unwrap_or_default();
        if let Some(bench) = ctx.boards.get(board) {
            let events = crate::board::PartEvents {
                board: board.clone(),
                sink: Arc::new(crate::timeline::NullSink),
            };
            let _ = bench.power_off(&events).await;
            bench.console.detach().await;
        }
        boards.push(BoardResult {
            message: Some(message.clone()),
            ..BoardResult::unfinished(role.as_str(), board.as_str(), thing)
        });
    }
    ScenarioResult {
        name: scenario.name.clone(),
        summary: scenario.summary.clone(),
        attempt: 1,
        retry: 0,
        started_wall_ms: 0,
        duration: Duration::ZERO,
        seeds: Vec::new(),
        boards,
        skipped: None,
        run_stopped: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_scenario_is_caught_with_its_message() {
        let ok = caught(async { 7 }).await;
        assert_eq!(ok, Ok(7));
        let panicked = caught(async {
            let v: Vec<u8> = Vec::new();
            v[3]
        })
        .await;
        let message = panicked.unwrap_err();
        assert!(message.contains("index out of bounds"), "{message}");
        let formatted = caught(async { panic!("board {} lost", "sim-1") }).await;
        assert_eq!(formatted, Err("board sim-1 lost".to_string()));
    }

    #[tokio::test]
    async fn a_lease_gives_its_boards_back_when_dropped_even_by_a_panicking_task() {
        let pool = Arc::new(Pool {
            free: Mutex::new(BTreeSet::from(["sim-1".to_string()])),
            released: Notify::new(),
            queue: tokio::sync::Mutex::new(()),
            spare: BTreeSet::new(),
        });
        let binding = BTreeMap::from([("dut".to_string(), "sim-1".to_string())]);
        pool.free.lock().unwrap().clear();
        let lease = Lease {
            pool: pool.clone(),
            binding,
        };
        let task = tokio::spawn(async move {
            let _lease = lease;
            panic!("scenario bug");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert!(pool.free.lock().unwrap().contains("sim-1"));
    }
}
