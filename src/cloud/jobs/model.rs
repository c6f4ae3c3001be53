//! The Jobs data model: execution statuses, executions, job specs and the
//! views the runner inspects. Names follow AWS IoT (docs/protocol.md §1.4).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use crate::model::{
    AbortCriterion, AbortOn, ExecutionStatus, ExponentialRate, FleetControls, JobStatus,
    RateIncrease, RetryCriterion, RetryOn, Rollout,
};

/// What the runner asks for when it creates a job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    pub id: String,
    /// The job document; must be a JSON object (sent embedded, never as a string).
    pub document: Value,
    pub targets: Vec<String>,
    /// AWS `timeoutConfig.inProgressTimeoutInMinutes`: an execution still
    /// IN_PROGRESS this long after it started becomes TIMED_OUT at the next `tick`.
    pub in_progress_timeout: Option<Duration>,
    /// Rollout rate, abort criteria and automatic retries.
    pub controls: FleetControls,
}

impl JobSpec {
    pub fn new(id: impl Into<String>, document: Value, targets: Vec<String>) -> Self {
        JobSpec {
            id: id.into(),
            document,
            targets,
            in_progress_timeout: None,
            controls: FleetControls::default(),
        }
    }

    pub fn with_in_progress_timeout(mut self, timeout: Duration) -> Self {
        self.in_progress_timeout = Some(timeout);
        self
    }

    /// Adds an automatic retry criterion (AWS `jobExecutionsRetryConfig`).
    pub fn with_retry(mut self, retry: RetryCriterion) -> Self {
        self.controls.retry.push(retry);
        self
    }

    /// Adds an abort criterion (AWS `abortConfig`).
    pub fn with_abort(mut self, abort: AbortCriterion) -> Self {
        self.controls.abort.push(abort);
        self
    }

    /// Rolls the executions out at a rate (AWS `jobExecutionsRolloutConfig`).
    pub fn with_rollout(mut self, rollout: Rollout) -> Self {
        self.controls.rollout = Some(rollout);
        self
    }

    pub fn with_controls(mut self, controls: FleetControls) -> Self {
        self.controls = controls;
        self
    }
}

/// One job execution: the state machine of one thing's run of one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    pub job_id: String,
    pub thing: String,
    pub status: ExecutionStatus,
    pub status_details: BTreeMap<String, String>,
    pub queued_at: SystemTime,
    pub started_at: Option<SystemTime>,
    pub last_updated_at: SystemTime,
    /// Starts at 1, +1 on every change.
    pub version_number: u64,
    /// 1 for the first execution of a job on a thing, +1 per retry.
    pub execution_number: u64,
    /// Global creation order: `$next` takes IN_PROGRESS first, then by this.
    pub(super) queue_seq: u64,
    /// Deadline from the job's in-progress timeout (set when started).
    pub(super) in_progress_deadline: Option<SystemTime>,
    /// Deadline from the device's `stepTimeoutInMinutes`.
    pub(super) step_deadline: Option<SystemTime>,
}

impl Execution {
    /// The earliest timeout deadline, if the execution has one.
    pub(super) fn deadline(&self) -> Option<SystemTime> {
        match (self.in_progress_deadline, self.step_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn change(&self) -> ExecutionChange {
        ExecutionChange {
            job_id: self.job_id.clone(),
            thing: self.thing.clone(),
            status: self.status,
            status_details: self.status_details.clone(),
            version_number: self.version_number,
            execution_number: self.execution_number,
        }
    }
}

/// One observed change of an execution, for the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionChange {
    pub job_id: String,
    pub thing: String,
    pub status: ExecutionStatus,
    pub status_details: BTreeMap<String, String>,
    pub version_number: u64,
    pub execution_number: u64,
}

/// What the runner sees of a job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobView {
    pub id: String,
    pub document: Value,
    pub targets: Vec<String>,
    pub status: JobStatus,
    /// Every execution, all execution numbers, grouped by thing in target order.
    pub executions: Vec<Execution>,
    pub controls: FleetControls,
    /// Targets the rollout has not reached yet, in the order it will (empty once the job
    /// is canceled: they never get an execution).
    pub waiting: Vec<String>,
    /// Set when an abort criterion canceled the job.
    pub aborted: Option<JobAbort>,
}

/// An abort: the criterion met, the counts that met it, and what the cancel did.
#[derive(Clone, Debug, PartialEq)]
pub struct JobAbort {
    pub criterion: AbortCriterion,
    /// Things whose latest execution had finished (SUCCEEDED, FAILED, REJECTED, TIMED_OUT).
    pub executed: u32,
    /// Of those, the ones whose status the criterion counts.
    pub failures: u32,
    /// QUEUED executions canceled with the job.
    pub canceled_queued: u32,
    /// Targets the rollout never reached: they get no execution.
    pub never_rolled_out: u32,
    /// IN_PROGRESS executions left to finish, as AWS's cancel without force leaves them.
    pub left_in_progress: u32,
}

impl JobAbort {
    /// One sentence for the timeline and the cloud's log.
    pub fn describe(&self, job_id: &str) -> String {
        let c = &self.criterion;
        let mut text = format!(
            "job {job_id} aborted (canceled): {} of {} executed things {} ({:.2}% >= {}%, at least {} executed); ",
            self.failures,
            self.executed,
            if c.on == AbortOn::All { "FAILED, REJECTED or TIMED_OUT".to_string() } else { c.on.as_str().to_string() },
            f64::from(self.failures) * 100.0 / f64::from(self.executed.max(1)),
            c.threshold_percentage,
            c.min_executed_things,
        );
        text.push_str(&format!(
            "{} QUEUED execution(s) canceled, {} target(s) never rolled out to",
            self.canceled_queued, self.never_rolled_out
        ));
        if self.left_in_progress > 0 {
            text.push_str(&format!(
                ", {} IN_PROGRESS execution(s) left to finish",
                self.left_in_progress
            ));
        }
        text
    }
}

/// Whether a job has given a thing an execution, or can no longer, or may yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// It has one: its latest, by number and status.
    Reached(u64, ExecutionStatus),
    /// It never will: why.
    Never(String),
    /// Not yet, but it may: where the rollout stands.
    Pending(String),
}

impl JobView {
    /// Whether this job reached `thing`; `name` is how messages call the job.
    pub fn reach(&self, thing: &str, name: &str) -> Reach {
        if let Some(e) = self.latest(thing) {
            return Reach::Reached(e.execution_number, e.status);
        }
        if !self.targets.iter().any(|t| t == thing) {
            return Reach::Never(format!("thing {thing} is not a target of job {name}"));
        }
        if let Some(place) = self.waiting.iter().position(|t| t == thing) {
            return Reach::Pending(format!(
                "job {name} is rolling out ({} of {} targets reached); thing {thing} is number {} in line",
                self.targets.len() - self.waiting.len(),
                self.targets.len(),
                place + 1
            ));
        }
        let why = match &self.aborted {
            Some(abort) => abort.describe(name),
            None => format!("job {name} was canceled"),
        };
        Reach::Never(format!("{why}; thing {thing} never got an execution"))
    }

    /// The latest execution of `thing` in this job.
    pub fn latest(&self, thing: &str) -> Option<&Execution> {
        self.executions
            .iter()
            .filter(|e| e.thing == thing)
            .max_by_key(|e| e.execution_number)
    }
}

/// Seconds since the epoch, as the Jobs service stamps its messages.
pub(super) fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// AWS jobId: 1..64 of `[a-zA-Z0-9_-]`.
pub fn is_valid_job_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// AWS thingName: 1..128 of `[a-zA-Z0-9:_-]`.
pub fn is_valid_thing_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}
