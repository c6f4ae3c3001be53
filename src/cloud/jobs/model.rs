//! The Jobs data model: execution statuses, executions, job specs and the
//! views the runner inspects. Names follow AWS IoT (docs/protocol.md §1.4).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use crate::model::{ExecutionStatus, JobStatus};

/// Which failures a job's retry policy re-queues (AWS `RetryCriteria.failureType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOn {
    Failed,
    TimedOut,
    All,
}

impl RetryOn {
    pub fn covers(self, status: ExecutionStatus) -> bool {
        match self {
            RetryOn::Failed => status == ExecutionStatus::Failed,
            RetryOn::TimedOut => status == ExecutionStatus::TimedOut,
            RetryOn::All => {
                matches!(status, ExecutionStatus::Failed | ExecutionStatus::TimedOut)
            }
        }
    }
}

/// Per-job automatic retry (AWS `jobExecutionsRetryConfig`, one criterion):
/// an execution ending in a covered status is followed by a new QUEUED one
/// with `executionNumber + 1`, at most `max_retries` times per thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub on: RetryOn,
    /// 0..=10, as AWS allows.
    pub max_retries: u32,
}

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
    pub retry: Option<RetryPolicy>,
}

impl JobSpec {
    pub fn new(id: impl Into<String>, document: Value, targets: Vec<String>) -> Self {
        JobSpec {
            id: id.into(),
            document,
            targets,
            in_progress_timeout: None,
            retry: None,
        }
    }

    pub fn with_in_progress_timeout(mut self, timeout: Duration) -> Self {
        self.in_progress_timeout = Some(timeout);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
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
}

impl JobView {
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
