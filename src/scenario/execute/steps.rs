//! The steps in order, each under the scenario's timeout and the run's interrupt; the
//! step kinds that act on boards. Cloud steps are in `cloud_steps`, checks in `checks`.

use std::time::Duration;

use futures::future::join_all;

use super::{step_text, Run, Stop};
use crate::config::scenario::{CutAt, PowerCut};
use crate::scenario::checks::{Check, Console, Progress, Sources};
use crate::scenario::Step;
use crate::timeline::{EventKind, EventSink, Source};

impl Run<'_> {
    /// Runs the steps until one stops the scenario; why it stopped, if it did.
    pub(super) async fn steps(&mut self) -> Option<Stop> {
        let deadline = self
            .scenario
            .timeout
            .map(|t| tokio::time::Instant::now() + t);
        let mut interrupt = self.ctx.interrupt.clone();
        for (index, step) in self.scenario.steps.iter().enumerate() {
            if *interrupt.borrow() {
                return Some(Stop::Interrupted);
            }
            let Some(step) = self.runnable(step, index) else {
                continue;
            };
            let step = &step;
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
                stop = self.step(step, index) => stop,
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
            // A failed board does not stop the others: later steps that need it are not
            // run (`runnable`), the rest go on.
            if matches!(outcome, Some(Stop::Interrupted | Stop::TimedOut)) {
                return outcome;
            }
        }
        tokio::select! {
            () = self.await_unawaited_jobs() => None,
            _ = interrupt.wait_for(|i| *i) => Some(Stop::Interrupted),
            _ = sleep_until(deadline) => Some(Stop::TimedOut),
        }
    }

    /// The step as it can still run: as written while every board it concerns is still
    /// being judged; an expectation narrowed to the boards that are; `None` (not run) when
    /// an action needs a board that already failed, its other boards then not judged.
    fn runnable(&mut self, step: &Step, index: usize) -> Option<Step> {
        let roles = self.step_roles(step);
        let (out, still): (Vec<String>, Vec<String>) =
            roles.iter().cloned().partition(|r| self.judged_out(r));
        if out.is_empty() {
            return Some(step.clone());
        }
        match step {
            Step::Expect(exp) => {
                let mut exp = exp.clone();
                exp.roles.retain(|r| still.contains(r));
                (!exp.roles.is_empty()).then_some(Step::Expect(exp))
            }
            Step::Never(_) => Some(step.clone()),
            _ => {
                let at = self.step_at(index);
                let needs: Vec<String> = self
                    .bound
                    .iter()
                    .filter(|b| out.contains(&b.role))
                    .map(|b| format!("{} ({})", b.role, b.board))
                    .collect();
                let why = format!(
                    "not judged: step {at} ({}) was not run, as it needs {}, which had already failed",
                    step_text(step),
                    needs.join(", ")
                );
                self.note(why.clone());
                for role in still {
                    self.not_judged.insert(role, why.clone());
                }
                None
            }
        }
    }

    /// The roles a step concerns; a job's targets for the steps that act on a job.
    fn step_roles(&self, step: &Step) -> Vec<String> {
        let job_targets = |id: &str| {
            self.scenario
                .steps
                .iter()
                .find_map(|s| match s {
                    Step::Job(j) if j.id == id => Some(j.targets.clone()),
                    _ => None,
                })
                .unwrap_or_default()
        };
        match step {
            Step::Flash { roles, .. } | Step::Reset { roles } | Step::PowerCycle { roles, .. } => {
                roles.clone()
            }
            Step::Job(job) => job.targets.clone(),
            Step::Cancel { job, .. } => job_targets(job),
            Step::Retry { job, roles } => roles.clone().unwrap_or_else(|| job_targets(job)),
            Step::PowerCut(cut) => vec![cut.role.clone()],
            Step::Kick { role } => vec![role.clone()],
            Step::Link(link) => vec![link.role.clone()],
            Step::Expect(exp) => exp.roles.clone(),
            Step::Never(guards) => guards.iter().flat_map(|g| g.roles.clone()).collect(),
            Step::Wait(_) | Step::BrokerRestart { .. } => Vec::new(),
        }
    }

    async fn step(&mut self, step: &Step, index: usize) -> Option<Stop> {
        // Checks look at what the latest action caused, so actions move the cursor.
        let is_action = !matches!(step, Step::Expect(_) | Step::Never(_) | Step::Wait(_));
        if is_action {
            self.cursor = self.timeline.len();
        }
        let rebooted: Vec<String> = match step {
            Step::Flash { roles, .. } | Step::Reset { roles } | Step::PowerCycle { roles, .. } => {
                roles.clone()
            }
            _ => Vec::new(), // a power cut marks the moment it cuts
        };
        for role in rebooted {
            self.rebooted_at.insert(role, self.cursor);
        }
        let at = self.step_at(index);
        match step {
            Step::Flash { roles, image } => self.flash_step(roles, image).await,
            Step::Job(job) => self.job_step(job, &at),
            Step::Cancel { job, force } => self.cancel_step(job, *force, &at),
            Step::Retry { job, roles } => self.retry_step(job, roles.as_deref(), &at),
            Step::Reset { roles } => self.reset_step(roles).await,
            Step::PowerCycle { roles, off_for } => self.power_cycle_step(roles, *off_for).await,
            Step::PowerCut(cut) => self.power_cut_step(cut).await,
            Step::Kick { role } => self.kick_step(role, &at),
            Step::Link(link) => self.link_step(link, &at),
            Step::BrokerRestart { down_for } => self.broker_restart_step(*down_for).await,
            Step::Wait(d) => {
                tokio::time::sleep(*d).await;
                None
            }
            Step::Never(guards) => {
                self.watch_guards(guards);
                None
            }
            Step::Expect(exp) => self.expect_step(exp, &at).await,
        }
    }

    /// Where step `index` is in its scenario file, for messages.
    fn step_at(&self, index: usize) -> String {
        let line = self.scenario.step_lines.get(index).copied().unwrap_or(0);
        format!("{}:{line}", self.scenario.file.display())
    }

    async fn flash_step(&mut self, roles: &[String], image: &str) -> Option<Stop> {
        let boards = self.roles(roles);
        let results = join_all(boards.iter().map(|b| self.flash(b, image))).await;
        self.bench_results(&boards, results)
    }

    async fn reset_step(&mut self, roles: &[String]) -> Option<Stop> {
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

    async fn power_cycle_step(&mut self, roles: &[String], off_for: Duration) -> Option<Stop> {
        let boards = self.roles(roles);
        let results = join_all(boards.iter().map(|b| async {
            self.bench(b)
                .power_cycle(off_for, &self.part_events(b))
                .await
                .map_err(|e| e.to_string())
        }))
        .await;
        self.bench_results(&boards, results)
    }

    /// Waits for the moment (progress, a console line, or now), then cuts the power.
    async fn power_cut_step(&mut self, cut: &PowerCut) -> Option<Stop> {
        let b = self.role(&cut.role);
        let limit = self.scenario.timeout.unwrap_or(Duration::from_secs(600));
        let check = match &cut.at {
            CutAt::Now => None,
            CutAt::Progress { job, fraction } => Some(Check::Progress(Progress {
                job: job.clone(),
                at_least: *fraction,
            })),
            CutAt::Console(re) => Some(Check::Console(Console(re.clone()))),
        };
        let on = Sources {
            watch: &self.watch,
            cloud: &self.cloud,
        };
        let reached = match check {
            None => true,
            Some(check) => check.wait(on, &b, self.cursor, limit).await.is_ok(),
        };
        if !reached {
            self.failures.insert(
                b.role.clone(),
                "power_cut: the moment to cut power never came".into(),
            );
            return Some(Stop::Failed);
        }
        self.rebooted_at.insert(b.role.clone(), self.timeline.len());
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
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
