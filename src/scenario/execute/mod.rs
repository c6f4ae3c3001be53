//! One scenario run: baseline, steps in order (boards act concurrently within a step),
//! `never` guards, the recovery check, verdicts. Everything observed goes onto the
//! scenario's timeline; verdicts are computed from it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::sync::{mpsc, watch};

use super::bench::BenchBoard;
use super::cloud_session::CloudSession;
use super::expect::{self, describe, Unmet};
use super::fixtures::FixtureStore;
use super::fixtures::OtaImage;
use super::matchers;
use super::recovery::{self, Recovery};
use super::run_cloud::RunCloud;
use super::BoundBoard;
use crate::board::PartEvents;
use crate::config::scenario::{Check, CutAt, Guard, JobStep, Scenario, Step};
use crate::config::Rig;
use crate::report::model::{BoardResult, ScenarioResult, Verdict, Versions, UNFINISHED};
use crate::timeline::{EventKind, EventSink, Source, Timeline};

/// Lines of console kept with a verdict.
const TAIL_LINES: usize = 30;

/// Told what a board waits for: (scenario, board, what, time left). The runner never
/// sees a reporter; the CLI wires this to the progress display.
pub type WaitingFn = dyn Fn(&str, &str, &str, Option<Duration>) + Send + Sync;

/// What a scenario run needs from the run around it.
pub struct RunContext {
    pub rig: Arc<Rig>,
    pub boards: BTreeMap<String, Arc<BenchBoard>>,
    pub fixtures: Arc<FixtureStore>,
    /// The run's cloud: shared by the scenarios, or one per scenario.
    pub cloud: RunCloud,
    /// Becomes true on SIGINT/SIGTERM.
    pub interrupt: watch::Receiver<bool>,
    /// Reports what the run is waiting for (progress display).
    pub progress: Arc<WaitingFn>,
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

struct Run<'a> {
    ctx: &'a RunContext,
    scenario: &'a Scenario,
    timeline: Timeline,
    bound: Vec<BoundBoard>,
    cloud: CloudSession,
    /// Console lines are matched from here on: the start of the latest action step.
    cursor: usize,
    failures: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
    guards: Vec<(usize, Guard)>,
    captures: BTreeMap<String, String>,
}

/// Runs one scenario on the boards bound to its roles, recording into `dir/events.jsonl`.
pub async fn run_scenario(
    ctx: &RunContext,
    scenario: &Scenario,
    binding: &BTreeMap<String, String>,
    dir: &Path,
) -> (ScenarioResult, Timeline) {
    let started = Instant::now();
    let timeline = match std::fs::create_dir_all(dir)
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
    };
    let bound: Vec<BoundBoard> = scenario
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
        .collect();
    let started_wall_ms = wall_ms_now();
    let result = |boards: Vec<BoardResult>| ScenarioResult {
        name: scenario.name.clone(),
        summary: scenario.summary.clone(),
        attempt: 1,
        started_wall_ms,
        duration: started.elapsed(),
        seeds: scenario_seeds(scenario),
        boards,
        skipped: None,
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
            let boards = bound
                .iter()
                .map(|b| {
                    board_result(
                        b,
                        Verdict::Error,
                        Some(msg.clone()),
                        &timeline,
                        Versions::default(),
                    )
                })
                .collect();
            return (result(boards), timeline);
        }
    };
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
    let mut run = Run {
        ctx,
        scenario,
        timeline: timeline.clone(),
        bound,
        cloud,
        cursor: 0,
        failures: BTreeMap::new(),
        errors: BTreeMap::new(),
        guards: Vec::new(),
        captures: BTreeMap::new(),
    };
    let pumps = run.connect_boards().await;
    let before = if run.errors.is_empty() {
        run.baseline().await
    } else {
        BTreeMap::new()
    };
    // Scenario-level guards watch the steps, not the baseline: re-flashing a board that a
    // previous scenario left bricked (or that is fresh and erased) prints what they forbid.
    let steps_start = run.timeline.len();
    run.guards = scenario
        .never
        .iter()
        .map(|g| (steps_start, g.clone()))
        .collect();
    let stop = if run.errors.is_empty() {
        run.steps().await
    } else {
        Some(Stop::Bench)
    };
    let interrupted = matches!(stop, Some(Stop::Interrupted));
    if matches!(stop, Some(Stop::TimedOut)) {
        let limit = scenario
            .timeout
            .map(|d| humantime::format_duration(d).to_string())
            .unwrap_or_default();
        for b in &run.bound {
            run.failures.entry(b.role.clone()).or_insert_with(|| {
                format!("the scenario did not finish within its timeout of {limit}")
            });
        }
    }
    run.check_guards();
    let boards = if interrupted {
        run.bound
            .iter()
            .map(|b| {
                board_result(
                    b,
                    Verdict::Error,
                    Some(UNFINISHED.into()),
                    &timeline,
                    before.get(&b.role).cloned().unwrap_or_default(),
                )
            })
            .collect()
    } else {
        run.verdicts(&before).await
    };
    for b in &boards {
        timeline.emit(
            Source::board(&b.board),
            EventKind::Verdict {
                verdict: b.verdict.as_str().into(),
                message: b.message.clone(),
            },
        );
    }
    run.power_off_all().await;
    for b in &run.bound {
        ctx.boards[&b.board].console.detach().await;
    }
    let things: Vec<String> = run.bound.iter().map(|b| b.thing.clone()).collect();
    run.cloud.stop(&things).await;
    for pump in pumps {
        pump.abort();
    }
    (result(boards), timeline)
}

fn scenario_seeds(scenario: &Scenario) -> Vec<u64> {
    scenario
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Link(l) => l.seed,
            _ => None,
        })
        .collect()
}

fn board_result(
    b: &BoundBoard,
    verdict: Verdict,
    message: Option<String>,
    timeline: &Timeline,
    versions: Versions,
) -> BoardResult {
    BoardResult {
        role: b.role.clone(),
        board: b.board.clone(),
        thing: b.thing.clone(),
        verdict,
        message,
        console_tail: timeline.with_events(|e| matchers::console_tail(e, &b.board, TAIL_LINES)),
        versions,
        events: Vec::new(),
    }
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

    /// Each board: its identity, power, and its console lines onto the timeline, stamped as
    /// they arrive; before any flashing, so no boot output is lost. A failure is the bench's.
    async fn connect_boards(&mut self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut pumps = Vec::new();
        for b in self.bound.clone() {
            match self.connect(&b).await {
                Ok(pump) => pumps.push(pump),
                Err(message) => {
                    self.timeline.emit(
                        Source::board(&b.board),
                        EventKind::BenchError {
                            message: message.clone(),
                        },
                    );
                    self.errors.entry(b.role.clone()).or_insert(message);
                }
            }
        }
        pumps
    }

    async fn connect(&self, b: &BoundBoard) -> Result<tokio::task::JoinHandle<()>, String> {
        self.provision(b).await?;
        let bench = self.bench(b);
        bench
            .power_on(&self.part_events(b))
            .await
            .map_err(|e| format!("switching on board {}: {e}", b.board))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        bench.console.set_events(self.part_events(b));
        bench
            .console
            .attach(tx)
            .await
            .map_err(|e| format!("console of board {}: {e}", b.board))?;
        let timeline = self.timeline.clone();
        let name = b.board.clone();
        Ok(tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                timeline.emit(Source::board(&name), EventKind::Console { line });
            }
        }))
    }

    /// A fresh start for the board, then who it is and where this run's cloud is.
    async fn provision(&self, b: &BoundBoard) -> Result<(), String> {
        let cloud = &self.cloud;
        let identity =
            super::bench::identity(cloud.pki(), &b.thing, &cloud.host, cloud.port, cloud.tls);
        let bench = self.bench(b);
        let provisioned = match bench.start_fresh().await {
            Ok(()) => bench.provision(&identity).await,
            Err(e) => Err(e),
        };
        provisioned.map_err(|e| format!("provisioning board {}: {e}", b.board))
    }

    /// Flashes `image` onto a board and checks that it prints something afterwards;
    /// flashes again up to the board's `flash_retries`, then it is a bench error.
    async fn flash(&self, b: &BoundBoard, image: &str) -> Result<(), String> {
        let bench = self.bench(b);
        let flash_image = self
            .ctx
            .fixtures
            .flash_image(image, &bench.config)
            .map_err(|e| e.to_string())?;
        let events = self.part_events(b);
        let any_line = regex::Regex::new(".").expect("valid");
        let attempts = bench.config.flash_retries + 1;
        for attempt in 1..=attempts {
            let from = self.timeline.len();
            (self.ctx.progress)(
                &self.scenario.name,
                &b.board,
                &format!("flashing {image}"),
                Some(bench.config.timeouts.flash),
            );
            match tokio::time::timeout(
                bench.config.timeouts.flash,
                bench.flasher.flash(&flash_image, &events),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) if attempt == attempts => {
                    return Err(format!("flashing {image} onto board {}: {e}", b.board))
                }
                Ok(Err(e)) => {
                    self.note(format!(
                        "flashing {image} onto board {} failed ({e}); attempt {}/{attempts}",
                        b.board,
                        attempt + 1
                    ));
                    continue;
                }
                Err(_) => {
                    return Err(format!(
                        "flashing {image} onto board {} took longer than {:?}",
                        b.board, bench.config.timeouts.flash
                    ))
                }
            }
            let check = Check::Console {
                regex: any_line.clone(),
                capture: false,
            };
            if expect::wait_for(&self.timeline, &check, from, b, bench.config.timeouts.boot)
                .await
                .is_ok()
            {
                return Ok(());
            }
            self.note(format!(
                "board {} printed nothing within {} of being flashed; attempt {}/{attempts}",
                b.board,
                humantime::format_duration(bench.config.timeouts.boot),
                attempt + 1
            ));
        }
        Err(format!(
            "board {} stayed silent after {attempts} flashes of {image}: check its console port and power",
            b.board
        ))
    }

    /// Every board: the baseline image, and healthy before the steps start.
    async fn baseline(&mut self) -> BTreeMap<String, Versions> {
        let baseline =
            crate::config::effective_baseline(self.scenario, &self.ctx.rig).map(str::to_string);
        let this: &Self = self;
        let runs = this.bound.iter().map(|b| {
            let baseline = baseline.clone();
            async move {
                // Marked before the board can boot: a fast board asks for its job (and is
                // answered) before the flasher returns.
                let booted_at = this.timeline.len();
                if let Some(image) = &baseline {
                    this.flash(b, image).await?;
                }
                let window = this.bench(b).config.timeouts.boot;
                (this.ctx.progress)(&this.scenario.name, &b.board, "healthy on the baseline", Some(window));
                let version = recovery::wait_healthy(&this.timeline, b, window).await;
                // Steps start once the agent has asked for its job and been answered, so a
                // job created by the first step reaches it once, as news (not twice, racing).
                if version.is_some() {
                    recovery::wait_jobs_answered(&this.timeline, b, booted_at, window).await;
                }
                version.ok_or_else(|| {
                    format!(
                        "board {} did not come up healthy on the baseline {} within {} (banner /{}/ and a connection to the cloud): the bench or the baseline is broken, not the update under test",
                        b.board,
                        baseline.as_deref().unwrap_or("(none)"),
                        humantime::format_duration(window),
                        b.profile.banner
                    )
                })
            }
        });
        let results = join_all(runs).await;
        let mut before = BTreeMap::new();
        for (b, r) in self.bound.clone().iter().zip(results) {
            match r {
                Ok(version) => {
                    before.insert(
                        b.role.clone(),
                        Versions {
                            before: Some(version),
                            after: None,
                        },
                    );
                }
                Err(message) => {
                    self.timeline.emit(
                        Source::board(&b.board),
                        EventKind::BenchError {
                            message: message.clone(),
                        },
                    );
                    self.errors.insert(b.role.clone(), message);
                }
            }
        }
        self.cursor = self.timeline.len();
        before
    }

    async fn steps(&mut self) -> Option<Stop> {
        let deadline = self
            .scenario
            .timeout
            .map(|t| tokio::time::Instant::now() + t);
        let mut interrupt = self.ctx.interrupt.clone();
        for (index, step) in self.scenario.steps.iter().enumerate() {
            if *interrupt.borrow() {
                return Some(Stop::Interrupted);
            }
            let text = step_text(step);
            self.timeline.emit(
                Source::Runner,
                EventKind::Step {
                    index,
                    text: text.clone(),
                    finished: false,
                    ok: None,
                },
            );
            let outcome = tokio::select! {
                stop = self.step(step) => stop,
                _ = interrupt.wait_for(|i| *i) => Some(Stop::Interrupted),
                _ = sleep_until(deadline) => Some(Stop::TimedOut),
            };
            self.timeline.emit(
                Source::Runner,
                EventKind::Step {
                    index,
                    text,
                    finished: true,
                    ok: Some(outcome.is_none()),
                },
            );
            if outcome.is_some() {
                return outcome;
            }
        }
        None
    }

    async fn step(&mut self, step: &Step) -> Option<Stop> {
        let is_action = !matches!(step, Step::Expect(_) | Step::Never(_) | Step::Wait(_));
        if is_action {
            self.cursor = self.timeline.len();
        }
        let step_line = format!("{}:{}", self.scenario.file.display(), self.line_of(step));
        match step {
            Step::Flash { roles, image } => {
                let boards = self.roles(roles);
                let results = join_all(boards.iter().map(|b| self.flash(b, image))).await;
                self.bench_results(&boards, results)
            }
            Step::Job(job) => {
                let targets = self.roles(&job.targets);
                let mut things: Vec<String> = targets.iter().map(|b| b.thing.clone()).collect();
                things.dedup();
                let image = match self.job_image(job, &targets) {
                    Ok(image) => image,
                    Err(e) => return self.bench_error_all(format!("{step_line}: {e}")),
                };
                let filepath = job
                    .document
                    .filepath
                    .as_deref()
                    .unwrap_or(crate::cloud::jobdoc::DEFAULT_FILE_PATH);
                for b in &targets {
                    self.bench(b).receives_image_at(filepath);
                }
                match self
                    .cloud
                    .create_job(job, &image.bytes, things, &self.timeline)
                {
                    Ok(()) => None,
                    Err(e) => self.bench_error_all(format!("{step_line}: {e}")),
                }
            }
            Step::Cancel { job, force } => match self.cloud.cancel_job(job, *force) {
                Ok(()) => None,
                Err(e) => self.bench_error_all(format!("{step_line}: {e}")),
            },
            Step::Retry { job, roles } => {
                let things: Option<Vec<String>> = roles
                    .as_ref()
                    .map(|r| self.roles(r).iter().map(|b| b.thing.clone()).collect());
                match self.cloud.retry_job(job, things.as_deref()) {
                    Ok(()) => None,
                    Err(e) => self.bench_error_all(format!("{step_line}: {e}")),
                }
            }
            Step::Reset { roles } => {
                let boards = self.roles(roles);
                let results = join_all(boards.iter().map(|b| async {
                    self.bench(b)
                        .reset(&self.part_events(b))
                        .await
                        .map_err(|e| e.to_string())
                }))
                .await;
                self.bench_results(&boards, results)
            }
            Step::PowerCycle { roles, off_for } => {
                let boards = self.roles(roles);
                let results = join_all(boards.iter().map(|b| async {
                    self.bench(b)
                        .power_cycle(*off_for, &self.part_events(b))
                        .await
                        .map_err(|e| e.to_string())
                }))
                .await;
                self.bench_results(&boards, results)
            }
            Step::PowerCut(cut) => self.power_cut(cut).await,
            Step::Kick { role } => {
                let b = self.role(role);
                self.timeline.emit(
                    Source::board(&b.board),
                    EventKind::Fault {
                        what: format!("kick: a second client connects with client id {}", b.thing),
                    },
                );
                match self.cloud.kick(&b.thing) {
                    Ok(()) => None,
                    Err(e) => self.bench_error_all(format!("{step_line}: {e}")),
                }
            }
            Step::Link(link) => {
                let b = self.role(&link.role);
                match self.cloud.set_link_faults(&b.thing, link) {
                    Ok(()) => None,
                    Err(e) => self.bench_error_all(format!("{step_line}: {e}")),
                }
            }
            Step::BrokerRestart { down_for } => {
                self.timeline.emit(
                    Source::Cloud,
                    EventKind::Fault {
                        what: format!(
                            "broker restart: down for {}",
                            humantime::format_duration(*down_for)
                        ),
                    },
                );
                match self.cloud.restart_broker(*down_for).await {
                    Ok(()) => None,
                    Err(e) => self.bench_error_all(e.to_string()),
                }
            }
            Step::Wait(d) => {
                tokio::time::sleep(*d).await;
                None
            }
            Step::Never(guards) => {
                let at = self.timeline.len();
                self.guards.extend(guards.iter().map(|g| (at, g.clone())));
                None
            }
            Step::Expect(exp) => {
                let boards = self.roles(&exp.roles);
                let what = describe(&exp.check, exp.within);
                for b in &boards {
                    (self.ctx.progress)(&self.scenario.name, &b.board, &what, Some(exp.within));
                }
                let cursor = self.cursor;
                let results =
                    join_all(boards.iter().map(|b| {
                        expect::wait_for(&self.timeline, &exp.check, cursor, b, exp.within)
                    }))
                    .await;
                let mut failed = false;
                for (b, r) in boards.iter().zip(results) {
                    match r {
                        Ok(caps) => self.captures.extend(
                            caps.into_iter()
                                .map(|(k, v)| (format!("{}.{k}", b.role), v)),
                        ),
                        Err(Unmet { expected, seen }) => {
                            failed = true;
                            let msg = format!("{step_line}: expected {expected}; seen {seen}");
                            self.timeline.emit(
                                Source::board(&b.board),
                                EventKind::Note {
                                    text: format!("expectation failed: {msg}"),
                                },
                            );
                            self.failures.entry(b.role.clone()).or_insert(msg);
                        }
                    }
                }
                failed.then_some(Stop::Failed)
            }
        }
    }

    /// The one file a job streams: each target board's platform build of the job's
    /// fixture. A job is one file for all its targets, as an AWS OTA job is: targets that
    /// need different files are refused.
    fn job_image(&self, job: &JobStep, targets: &[BoundBoard]) -> Result<OtaImage, String> {
        let mut chosen: Option<(OtaImage, String)> = None;
        for b in targets {
            let config = &self.bench(b).config;
            let image = self
                .ctx
                .fixtures
                .ota_image(&job.image, config)
                .map_err(|e| e.to_string())?;
            match &chosen {
                None => chosen = Some((image, b.board.clone())),
                Some((first, first_board)) if first.bytes != image.bytes => {
                    return Err(format!(
                        "job {} needs different files for its targets ({first_board}: {}, {}: {}); an OTA job delivers one file: split it into one job per platform",
                        job.id, first.source, b.board, image.source
                    ))
                }
                Some(_) => {}
            }
        }
        chosen
            .map(|(image, _)| image)
            .ok_or_else(|| format!("job {} has no target board", job.id))
    }

    fn line_of(&self, step: &Step) -> usize {
        self.scenario
            .steps
            .iter()
            .position(|s| std::ptr::eq(s, step))
            .and_then(|i| self.scenario.step_lines.get(i).copied())
            .unwrap_or(0)
    }

    async fn power_cut(&mut self, cut: &crate::config::scenario::PowerCut) -> Option<Stop> {
        let b = self.role(&cut.role);
        let limit = self.scenario.timeout.unwrap_or(Duration::from_secs(600));
        let reached = match &cut.at {
            CutAt::Now => true,
            CutAt::Progress { job, fraction } => {
                let check = Check::Progress {
                    job: job.clone(),
                    at_least: *fraction,
                };
                expect::wait_for(&self.timeline, &check, self.cursor, &b, limit)
                    .await
                    .is_ok()
            }
            CutAt::Console(re) => {
                let check = Check::Console {
                    regex: re.clone(),
                    capture: false,
                };
                expect::wait_for(&self.timeline, &check, self.cursor, &b, limit)
                    .await
                    .is_ok()
            }
        };
        if !reached {
            self.failures.insert(
                b.role.clone(),
                "power_cut: the moment to cut power never came".into(),
            );
            return Some(Stop::Failed);
        }
        self.timeline.emit(
            Source::board(&b.board),
            EventKind::Fault {
                what: format!("power cut for {}", humantime::format_duration(cut.off_for)),
            },
        );
        let result = self
            .bench(&b)
            .power_cycle(cut.off_for, &self.part_events(&b))
            .await
            .map_err(|e| e.to_string());
        self.bench_results(&[b], vec![result])
    }

    fn bench_results(
        &mut self,
        boards: &[BoundBoard],
        results: Vec<Result<(), String>>,
    ) -> Option<Stop> {
        let mut stop = None;
        for (b, r) in boards.iter().zip(results) {
            if let Err(message) = r {
                self.timeline.emit(
                    Source::board(&b.board),
                    EventKind::BenchError {
                        message: message.clone(),
                    },
                );
                self.errors.entry(b.role.clone()).or_insert(message);
                stop = Some(Stop::Bench);
            }
        }
        stop
    }

    fn bench_error_all(&mut self, message: String) -> Option<Stop> {
        self.timeline.emit(
            Source::Runner,
            EventKind::BenchError {
                message: message.clone(),
            },
        );
        for b in &self.bound {
            self.errors
                .entry(b.role.clone())
                .or_insert_with(|| message.clone());
        }
        Some(Stop::Bench)
    }

    /// `never` guards: a matching line from where the guard was declared fails the board.
    fn check_guards(&mut self) {
        for (from, guard) in self.guards.clone() {
            for b in self.roles(&guard.roles) {
                let hit = self.timeline.with_events(|events| {
                    matchers::find_console(events, from, &b.board, &guard.console).map(|i| {
                        match &events[i].kind {
                            EventKind::Console { line } => line.clone(),
                            _ => String::new(),
                        }
                    })
                });
                if let Some(line) = hit {
                    self.failures.entry(b.role.clone()).or_insert_with(|| {
                        format!(
                            "never /{}/ was violated by console line {line:?}",
                            guard.console
                        )
                    });
                }
            }
        }
    }

    /// The recovery check for every board, then each board's verdict.
    async fn verdicts(&mut self, before: &BTreeMap<String, Versions>) -> Vec<BoardResult> {
        let checks = self.bound.iter().map(|b| async {
            if self.errors.contains_key(&b.role) {
                return None;
            }
            let window = self
                .scenario
                .recovery
                .within
                .unwrap_or(self.bench(b).config.timeouts.recovery);
            (self.ctx.progress)(
                &self.scenario.name,
                &b.board,
                "recovery check",
                Some(window),
            );
            Some(recovery::recover(&self.timeline, self.bench(b), b, window).await)
        });
        let recoveries = join_all(checks).await;
        let mut out = Vec::new();
        for (b, rec) in self.bound.iter().zip(recoveries) {
            let mut versions = before.get(&b.role).cloned().unwrap_or_default();
            let failure = self.failures.get(&b.role).cloned();
            let (verdict, message) = match (self.errors.get(&b.role), rec) {
                (Some(e), _) => (Verdict::Error, Some(e.clone())),
                (None, None) => (
                    Verdict::Error,
                    Some("no recovery check was possible".into()),
                ),
                (None, Some(Recovery::BenchError(e))) => (Verdict::Error, Some(e)),
                (None, Some(Recovery::Never { tried })) => (
                    Verdict::Bricked,
                    Some(join_reasons(
                        failure,
                        format!(
                            "the board never came back healthy (tried: {})",
                            tried.join(", ")
                        ),
                    )),
                ),
                (None, Some(Recovery::ByPowerCycle(v))) => {
                    versions.after = Some(v.clone());
                    (
                        Verdict::RecoveredByPowerCycle,
                        Some(join_reasons(
                            failure,
                            format!("only a power cycle brought the board back (on {v})"),
                        )),
                    )
                }
                (None, Some(Recovery::ByReset(v))) => {
                    versions.after = Some(v.clone());
                    (Verdict::Failed, Some(join_reasons(failure, format!("the board did not recover by itself; a reset brought it back (on {v})"))))
                }
                (None, Some(Recovery::ByItself(v))) => {
                    versions.after = Some(v);
                    match failure {
                        Some(f) => (Verdict::Failed, Some(f)),
                        None => (Verdict::Passed, None),
                    }
                }
            };
            out.push(board_result(b, verdict, message, &self.timeline, versions));
        }
        // Bricked boards are re-flashed to the baseline so the next scenario can use them.
        let baseline =
            crate::config::effective_baseline(self.scenario, &self.ctx.rig).map(str::to_string);
        if let Some(image) = baseline {
            for r in out.iter().filter(|r| r.verdict == Verdict::Bricked) {
                let b = self
                    .bound
                    .iter()
                    .find(|b| b.board == r.board)
                    .expect("bound")
                    .clone();
                if let Err(e) = self.flash(&b, &image).await {
                    self.timeline.emit(
                        Source::board(&b.board),
                        EventKind::BenchError {
                            message: format!(
                                "re-flashing the bricked board to {image} failed: {e}"
                            ),
                        },
                    );
                }
            }
        }
        out
    }

    async fn power_off_all(&self) {
        for b in &self.bound {
            let _ = self.bench(b).power_off(&self.part_events(b)).await;
        }
    }
}

fn join_reasons(failure: Option<String>, extra: String) -> String {
    match failure {
        Some(f) => format!("{f}; {extra}"),
        None => extra,
    }
}

fn wall_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One line per step for the timeline and the progress display.
pub fn step_text(step: &Step) -> String {
    match step {
        Step::Flash { roles, image } => format!("flash {image} → {}", roles.join(", ")),
        Step::Expect(e) => format!(
            "expect {}: {}",
            e.roles.join(", "),
            describe(&e.check, e.within)
        ),
        Step::Job(j) => {
            let faults = if j.faults.is_empty() {
                String::new()
            } else {
                format!(" with faults {:?}", j.faults)
            };
            format!(
                "job {} ({} → {}){faults}",
                j.id,
                j.image,
                j.targets.join(", ")
            )
        }
        Step::Cancel { job, force } => {
            format!("cancel {job}{}", if *force { " (force)" } else { "" })
        }
        Step::Retry { job, roles } => format!(
            "retry {job}{}",
            roles
                .as_ref()
                .map(|r| format!(" for {}", r.join(", ")))
                .unwrap_or_default()
        ),
        Step::Reset { roles } => format!("reset {}", roles.join(", ")),
        Step::PowerCycle { roles, off_for } => format!(
            "power cycle {} (off {})",
            roles.join(", "),
            humantime::format_duration(*off_for)
        ),
        Step::PowerCut(c) => format!("power cut {} ({:?})", c.role, c.at),
        Step::Kick { role } => format!("kick {role}"),
        Step::Link(l) => format!("link faults on {}: {} fault(s)", l.role, l.faults.len()),
        Step::BrokerRestart { down_for } => format!(
            "broker restart (down {})",
            humantime::format_duration(*down_for)
        ),
        Step::Wait(d) => format!("wait {}", humantime::format_duration(*d)),
        Step::Never(g) => format!("never: {} guard(s)", g.len()),
    }
}
