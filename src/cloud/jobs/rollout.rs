//! Rolling a job's executions out at its rate (AWS `jobExecutionsRolloutConfig`): targets
//! get their execution (QUEUED, and its notifications) one at a time, in target order,
//! 60 s / rate apart, the first when the job is created. The rate is read anew for each
//! target, so an exponential rate grows as things are notified or succeed. `tick` releases
//! the next target once it is due; `next_deadline` says when that is.
//!
//! The bench spreads a minute's things evenly over the minute where AWS may send them in
//! bursts: the same count per minute, a steadier picture. A late tick does not catch up in
//! a burst either: the cadence starts again from the late release.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use super::{ExecutionStatus, Job, JobsService, Reply, Rollout};

pub(super) struct RolloutState {
    config: Rollout,
    /// Targets without an execution yet, in the order they get one.
    pub waiting: VecDeque<String>,
    /// When the latest target was released (`None` before the first).
    last_at: Option<SystemTime>,
}

impl RolloutState {
    pub fn new(config: Rollout, targets: &[String]) -> Self {
        RolloutState {
            config,
            waiting: targets.iter().cloned().collect(),
            last_at: None,
        }
    }
}

impl Job {
    /// The time between two releases at the job's rate now.
    fn rollout_interval(&self) -> Option<Duration> {
        let rollout = self.rollout.as_ref()?;
        let notified = (self.spec.targets.len() - rollout.waiting.len()) as u32;
        let succeeded = self
            .latest_of_targets()
            .filter(|e| e.status == ExecutionStatus::Succeeded)
            .count() as u32;
        let rate = rollout.config.rate_per_minute(notified, succeeded);
        Some(Duration::from_secs_f64(60.0 / rate))
    }

    /// When the next target is due; `None` when none is left (or the job was canceled).
    /// Before the first release: at once (`UNIX_EPOCH`, earlier than any `now`).
    pub(super) fn rollout_due(&self) -> Option<SystemTime> {
        let rollout = self.rollout.as_ref()?;
        if self.canceled || rollout.waiting.is_empty() {
            return None;
        }
        match rollout.last_at {
            None => Some(SystemTime::UNIX_EPOCH),
            Some(last) => Some(last + self.rollout_interval()?),
        }
    }
}

impl JobsService {
    /// Releases the next target of every job whose rollout is due at `now`.
    pub(super) fn roll_out(&mut self, now: SystemTime) -> Vec<Reply> {
        let due: Vec<String> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.rollout_due().is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        due.iter()
            .flat_map(|id| self.release_next(id, now))
            .collect()
    }

    /// Gives the job's next waiting target its execution, with its notifications.
    pub(super) fn release_next(&mut self, job_id: &str, now: SystemTime) -> Vec<Reply> {
        let job = self
            .jobs
            .get_mut(job_id)
            .expect("release for an existing job");
        let due = job.rollout_due();
        let interval = job.rollout_interval().unwrap_or_default();
        let Some(rollout) = job.rollout.as_mut() else {
            return Vec::new();
        };
        let Some(thing) = rollout.waiting.pop_front() else {
            return Vec::new();
        };
        let late = due.map_or(Duration::MAX, |d| {
            now.duration_since(d).unwrap_or(Duration::ZERO)
        });
        rollout.last_at = Some(match due {
            Some(d) if late < interval => d,
            _ => now,
        });
        let before = self.shape(&thing);
        self.enqueue(job_id, &thing, now);
        self.notifications(&thing, &before, now)
    }
}
