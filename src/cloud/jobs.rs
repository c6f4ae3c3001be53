//! The AWS IoT Jobs device MQTT API as a sans-IO state machine
//! (`topic, payload, now → replies`; no clock reads, no I/O).
//!
//! Reproduces what FreeRTOS OTA agents depend on (docs/protocol.md §1, §8):
//! - `get`, `start-next`, `{jobId}/get` (`$next` = IN_PROGRESS first, then
//!   by creation order), `{jobId}/update`; replies on `…/accepted` and
//!   `…/rejected` go to the requester only ([`Route::Requester`]).
//! - execution states and device transitions of §1.4 (QUEUED → terminal is
//!   accepted; anything on a terminal execution is `InvalidStateTransition`
//!   with `executionState`); `versionNumber` +1 per change, `executionNumber`
//!   +1 per retry; `statusDetails` replaced when given, unchanged when omitted
//!   (so `self_test`/`updatedBy` survive the reboot); `expectedVersion`.
//! - `notify-next` only when *which* execution is next changes (keyed by job
//!   id and execution number), without `execution` when the queue empties;
//!   `notify` when the pending list changes. Both use [`Route::Subscribers`].
//! - `jobDocument` embedded as a JSON object, `timestamp` in seconds,
//!   `thingName` in every execution object, `clientToken` echoed (an over-long
//!   one too, in its rejection); every ErrorResponse code of §1.5.
//! - Admin side (the runner, as the AWS control plane): create, cancel (force
//!   or not), in-progress and step timeouts fired by [`JobsService::tick`],
//!   automatic retries (`jobExecutionsRetryConfig`) and explicit ones. Each change
//!   is kept for the timeline until [`JobsService::take_changes`].
//! - Fleet controls: a rollout rate (targets get their execution over time, released
//!   by `tick`, see `rollout`) and abort criteria (the job cancels itself, see `abort`;
//!   each abort is kept until [`JobsService::take_aborts`]).
//!
//! Topics the service itself publishes (`…/accepted`, `…/rejected`,
//! `notify`, `notify-next`) are ignored when they come back, so client mode
//! does not answer its own replies.

mod abort;
mod admin;
pub mod controls_json;
mod error;
mod model;
mod rollout;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_admin;
#[cfg(test)]
mod tests_queue;
#[cfg(test)]
mod tests_rollout;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

pub use error::{ErrorCode, JobsError};
pub use model::{
    is_valid_job_id, is_valid_thing_name, AbortCriterion, AbortOn, Execution, ExecutionChange,
    ExecutionStatus, ExponentialRate, FleetControls, JobAbort, JobSpec, JobStatus, JobView,
    RateIncrease, Reach, RetryCriterion, RetryOn, Rollout,
};

use super::{Reply, Route};
use error::Rejection;
use rollout::RolloutState;
use wire::{Request, StepTimeout};

struct Job {
    spec: JobSpec,
    created_seq: u64,
    canceled: bool,
    /// thing → executions, ascending execution number (last = latest).
    executions: BTreeMap<String, Vec<Execution>>,
    /// (thing, retry criterion index) → automatic retries used.
    auto_retries: BTreeMap<(String, usize), u32>,
    /// Targets still to be rolled out, when the job has a rollout rate.
    rollout: Option<RolloutState>,
    aborted: Option<JobAbort>,
}

impl Job {
    fn latest(&self, thing: &str) -> Option<&Execution> {
        self.executions.get(thing).and_then(|v| v.last())
    }

    fn latest_mut(&mut self, thing: &str) -> Option<&mut Execution> {
        self.executions.get_mut(thing).and_then(|v| v.last_mut())
    }

    /// The latest execution of each target that has one, in target order.
    fn latest_of_targets(&self) -> impl Iterator<Item = &Execution> {
        self.spec.targets.iter().filter_map(|t| self.latest(t))
    }

    /// Targets the rollout has not reached yet.
    fn waiting(&self) -> Vec<String> {
        self.rollout
            .as_ref()
            .map(|r| r.waiting.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn view(&self) -> JobView {
        let executions: Vec<Execution> = self
            .spec
            .targets
            .iter()
            .filter_map(|t| self.executions.get(t))
            .flatten()
            .cloned()
            .collect();
        let waiting = self.waiting();
        let status = if self.canceled {
            JobStatus::Canceled
        } else if waiting.is_empty()
            && self
                .executions
                .values()
                .filter_map(|v| v.last())
                .all(|e| e.status.is_terminal())
        {
            JobStatus::Completed
        } else {
            JobStatus::InProgress
        };
        JobView {
            id: self.spec.id.clone(),
            document: self.spec.document.clone(),
            targets: self.spec.targets.clone(),
            status,
            executions,
            controls: self.spec.controls.clone(),
            waiting,
            aborted: self.aborted.clone(),
        }
    }
}

/// A refused request and, where AWS sends it, the execution's state.
struct Refusal {
    rejection: Rejection,
    state: Option<Execution>,
}

/// An accepted request's body and the notifications it caused, or a refusal.
type Answer = Result<(Vec<u8>, Vec<Reply>), Box<Refusal>>;

fn refuse(rejection: Rejection) -> Box<Refusal> {
    Box::new(Refusal {
        rejection,
        state: None,
    })
}

fn refuse_with(rejection: Rejection, state: Execution) -> Box<Refusal> {
    Box::new(Refusal {
        rejection,
        state: Some(state),
    })
}

/// One thing's queue as far as notifications care.
#[derive(PartialEq, Eq)]
struct QueueShape {
    next: Option<(String, u64)>,
    pending: Vec<(String, u64, ExecutionStatus)>,
}

/// The Jobs device API and its admin side for every thing of the bench.
#[derive(Default)]
pub struct JobsService {
    jobs: BTreeMap<String, Job>,
    next_seq: u64,
    changes: Vec<ExecutionChange>,
    /// Aborts since the last [`JobsService::take_aborts`]: (job id, abort).
    aborts: Vec<(String, JobAbort)>,
}

/// Which device API a topic names.
enum Api<'a> {
    GetPending,
    StartNext,
    Describe(&'a str),
    Update(&'a str),
}

enum TopicKind<'a> {
    Request(Api<'a>),
    /// Something the service publishes itself: not a request.
    ServiceOutput,
    Invalid,
}

/// Splits `$aws/things/{thing}/jobs/{rest}`.
fn split_topic(topic: &str) -> Option<(&str, &str)> {
    let (thing, rest) = topic.strip_prefix("$aws/things/")?.split_once('/')?;
    Some((thing, rest.strip_prefix("jobs/")?))
}

fn classify(rest: &str) -> TopicKind<'_> {
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["get"] => TopicKind::Request(Api::GetPending),
        ["start-next"] => TopicKind::Request(Api::StartNext),
        ["notify"] | ["notify-next"] => TopicKind::ServiceOutput,
        [.., "accepted" | "rejected"] => TopicKind::ServiceOutput,
        [job, "get"] if !job.is_empty() => TopicKind::Request(Api::Describe(job)),
        [job, "update"] if !job.is_empty() => TopicKind::Request(Api::Update(job)),
        _ => TopicKind::Invalid,
    }
}

/// True for a topic in the Jobs namespace that the service answers or ignores.
pub fn is_jobs_topic(topic: &str) -> bool {
    split_topic(topic).is_some()
}

fn reply(topic: String, payload: Vec<u8>, route: Route) -> Reply {
    Reply {
        topic,
        payload,
        route,
    }
}

impl JobsService {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers one device publish on `$aws/things/{thing}/jobs/…`. The queue
    /// is the one of the thing named in the topic, as in AWS. Returns the
    /// reply to the requester followed by any notifications the change caused.
    pub fn handle(&mut self, topic: &str, payload: &[u8], now: SystemTime) -> Vec<Reply> {
        let Some((thing, rest)) = split_topic(topic) else {
            return Vec::new();
        };
        let api = match classify(rest) {
            TopicKind::ServiceOutput => return Vec::new(),
            TopicKind::Invalid => None,
            TopicKind::Request(api) => Some(api),
        };
        let rejected_topic = format!("{topic}/rejected");
        let rejected = |token: Option<&str>, rej: Rejection, state: Option<&Execution>| {
            let body = wire::rejected(token, now, &rej, state);
            vec![reply(rejected_topic.clone(), body, Route::Requester)]
        };
        let Some(api) = api.filter(|_| is_valid_thing_name(thing)) else {
            let rej = Rejection::new(
                ErrorCode::InvalidTopic,
                format!("topic `{topic}` names no Jobs API"),
            );
            return rejected(None, rej, None);
        };
        let request = match Request::parse(payload) {
            Ok(r) => r,
            Err(unparsed) => {
                let token = unparsed.client_token.as_deref();
                return rejected(token, unparsed.rejection, None);
            }
        };
        let token = request.client_token.as_deref();
        let accepted_topic = format!("{topic}/accepted");
        let outcome = match api {
            Api::GetPending => Ok(self.get_pending(thing, token, now)),
            Api::Describe(job_id) => self.describe(thing, job_id, &request, now),
            Api::StartNext => self.start_next(thing, &request, now),
            Api::Update(job_id) => self.update(thing, job_id, &request, now),
        };
        match outcome {
            Ok((body, notifications)) => {
                let mut out = vec![reply(accepted_topic, body, Route::Requester)];
                out.extend(notifications);
                out
            }
            Err(refusal) => rejected(token, refusal.rejection, refusal.state.as_ref()),
        }
    }

    fn get_pending(
        &self,
        thing: &str,
        token: Option<&str>,
        now: SystemTime,
    ) -> (Vec<u8>, Vec<Reply>) {
        let pending = self.pending(thing);
        let (in_progress, queued): (Vec<&Execution>, Vec<&Execution>) = pending
            .into_iter()
            .partition(|e| e.status == ExecutionStatus::InProgress);
        (
            wire::pending_accepted(token, now, &in_progress, &queued),
            Vec::new(),
        )
    }

    fn describe(&self, thing: &str, job_id: &str, request: &Request, now: SystemTime) -> Answer {
        let req = request.describe().map_err(refuse)?;
        let token = request.client_token.as_deref();
        let with_doc = |e: &Execution| {
            let doc = &self.jobs[&e.job_id].spec.document;
            (req.include_job_document).then_some(doc)
        };
        if job_id == "$next" {
            let next = self.pending(thing).into_iter().next();
            let body = wire::execution_accepted(token, now, next.map(|e| (e, with_doc(e))));
            return Ok((body, Vec::new()));
        }
        let execution = self
            .find_execution(thing, job_id, req.execution_number)
            .map_err(refuse)?;
        if execution.status.is_terminal() {
            let rej = Rejection::new(
                ErrorCode::TerminalStateReached,
                format!(
                    "job execution {job_id} (execution {}) on thing {thing} is {}",
                    execution.execution_number, execution.status
                ),
            );
            return Err(refuse(rej));
        }
        let body = wire::execution_accepted(token, now, Some((execution, with_doc(execution))));
        Ok((body, Vec::new()))
    }

    fn start_next(&mut self, thing: &str, request: &Request, now: SystemTime) -> Answer {
        let req = request.start_next().map_err(refuse)?;
        let token = request.client_token.as_deref();
        let before = self.shape(thing);
        let Some((job_id, _)) = before.next.clone() else {
            return Ok((wire::execution_accepted(token, now, None), Vec::new()));
        };
        let job = self
            .jobs
            .get_mut(&job_id)
            .expect("next names an existing job");
        let timeout = job.spec.in_progress_timeout;
        let exec = job.latest_mut(thing).expect("next names an execution");
        if exec.status == ExecutionStatus::Queued {
            start(exec, now, timeout);
            if let Some(details) = req.status_details {
                exec.status_details = details;
            }
            apply_step_timeout(exec, req.step_timeout, now);
            bump(exec, now);
            self.changes.push(exec.change());
        }
        let job = &self.jobs[&job_id];
        let exec = job.latest(thing).expect("next names an execution");
        let body = wire::execution_accepted(token, now, Some((exec, Some(&job.spec.document))));
        Ok((body, self.notifications(thing, &before, now)))
    }

    fn update(&mut self, thing: &str, job_id: &str, request: &Request, now: SystemTime) -> Answer {
        let req = request.update().map_err(refuse)?;
        let token = request.client_token.as_deref();
        let current = self
            .find_execution(thing, job_id, req.execution_number)
            .map_err(refuse)?
            .clone();
        if let Some(expected) = req.expected_version {
            if expected != current.version_number {
                let rej = Rejection::new(
                    ErrorCode::VersionMismatch,
                    format!(
                        "expectedVersion {expected} does not match version {} of job execution {job_id} on thing {thing}",
                        current.version_number
                    ),
                );
                return Err(refuse_with(rej, current));
            }
        }
        if current.status.is_terminal() || !req.status.is_device_settable() {
            let rej = Rejection::new(
                ErrorCode::InvalidStateTransition,
                format!(
                    "job execution {job_id} on thing {thing} cannot go from {} to {}",
                    current.status, req.status
                ),
            );
            return Err(refuse_with(rej, current));
        }
        let before = self.shape(thing);
        let job = self.jobs.get_mut(job_id).expect("found above");
        let timeout = job.spec.in_progress_timeout;
        let exec = job
            .executions
            .get_mut(thing)
            .and_then(|v| {
                v.iter_mut()
                    .find(|e| e.execution_number == current.execution_number)
            })
            .expect("found above");
        if exec.status == ExecutionStatus::Queued && req.status == ExecutionStatus::InProgress {
            start(exec, now, timeout);
        }
        exec.status = req.status;
        if let Some(details) = req.status_details {
            exec.status_details = details;
        }
        if req.status.is_terminal() {
            exec.in_progress_deadline = None;
            exec.step_deadline = None;
        } else {
            apply_step_timeout(exec, req.step_timeout, now);
        }
        bump(exec, now);
        let updated = exec.clone();
        self.changes.push(updated.change());
        self.auto_retry(job_id, thing, now);
        // Other things' executions the abort cancels notify them; this thing's own
        // notifications follow from `before` below.
        let mut notifications = Vec::new();
        if req.status.is_terminal() {
            notifications = self.check_abort(job_id, Some(thing), now);
        }
        let document = &self.jobs[job_id].spec.document;
        let body = wire::update_accepted(
            token,
            now,
            req.include_job_execution_state.then_some(&updated),
            req.include_job_document.then_some(document),
        );
        let mut out = self.notifications(thing, &before, now);
        out.extend(notifications);
        Ok((body, out))
    }

    /// The execution named by a topic's job id (and optional number).
    fn find_execution(
        &self,
        thing: &str,
        job_id: &str,
        number: Option<u64>,
    ) -> Result<&Execution, Rejection> {
        let not_found = || {
            Rejection::new(
                ErrorCode::ResourceNotFound,
                format!("no job execution for job {job_id} on thing {thing}"),
            )
        };
        let all = self
            .jobs
            .get(job_id)
            .and_then(|j| j.executions.get(thing))
            .ok_or_else(not_found)?;
        match number {
            None => all.last().ok_or_else(not_found),
            Some(n) => all.iter().find(|e| e.execution_number == n).ok_or_else(|| {
                Rejection::new(
                    ErrorCode::ResourceNotFound,
                    format!("job {job_id} on thing {thing} has no execution number {n}"),
                )
            }),
        }
    }

    /// Pending executions of a thing: IN_PROGRESS first, then QUEUED, each in creation order.
    fn pending(&self, thing: &str) -> Vec<&Execution> {
        let mut pending: Vec<&Execution> = self
            .jobs
            .values()
            .filter_map(|j| j.latest(thing))
            .filter(|e| !e.status.is_terminal())
            .collect();
        pending.sort_by_key(|e| (e.status != ExecutionStatus::InProgress, e.queue_seq));
        pending
    }

    fn shape(&self, thing: &str) -> QueueShape {
        let pending = self.pending(thing);
        QueueShape {
            next: pending
                .first()
                .map(|e| (e.job_id.clone(), e.execution_number)),
            pending: pending
                .iter()
                .map(|e| (e.job_id.clone(), e.execution_number, e.status))
                .collect(),
        }
    }

    /// notify-next (if the next execution changed) and notify (if the pending list did).
    fn notifications(&self, thing: &str, before: &QueueShape, now: SystemTime) -> Vec<Reply> {
        let after = self.shape(thing);
        let mut out = Vec::new();
        if after.next != before.next {
            let next = self.pending(thing).into_iter().next();
            let body =
                wire::notify_next(now, next.map(|e| (e, &self.jobs[&e.job_id].spec.document)));
            let topic = format!("$aws/things/{thing}/jobs/notify-next");
            out.push(reply(topic, body, Route::Subscribers));
        }
        if after.pending != before.pending {
            let body = wire::notify(now, &self.pending(thing));
            let topic = format!("$aws/things/{thing}/jobs/notify");
            out.push(reply(topic, body, Route::Subscribers));
        }
        out
    }

    /// Queues a new execution of `job_id` for `thing` (first run or retry).
    fn enqueue(&mut self, job_id: &str, thing: &str, now: SystemTime) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let job = self
            .jobs
            .get_mut(job_id)
            .expect("enqueue for an existing job");
        let runs = job.executions.entry(thing.to_string()).or_default();
        let execution = Execution {
            job_id: job_id.to_string(),
            thing: thing.to_string(),
            status: ExecutionStatus::Queued,
            status_details: BTreeMap::new(),
            queued_at: now,
            started_at: None,
            last_updated_at: now,
            version_number: 1,
            execution_number: runs.last().map_or(1, |e| e.execution_number + 1),
            queue_seq: seq,
            in_progress_deadline: None,
            step_deadline: None,
        };
        self.changes.push(execution.change());
        runs.push(execution);
    }

    /// Applies the job's retry criteria after `thing`'s execution ended: the criterion
    /// that covers its status re-queues it while that criterion has retries left.
    fn auto_retry(&mut self, job_id: &str, thing: &str, now: SystemTime) {
        let job = &self.jobs[job_id];
        let Some(latest) = job.latest(thing) else {
            return;
        };
        let Some((index, criterion)) = job.spec.controls.retry_for(latest.status) else {
            return;
        };
        let key = (thing.to_string(), index);
        let used = job.auto_retries.get(&key).copied().unwrap_or(0);
        if job.canceled || used >= criterion.retries {
            return;
        }
        let job = self.jobs.get_mut(job_id).expect("checked above");
        job.auto_retries.insert(key, used + 1);
        self.enqueue(job_id, thing, now);
    }
}

/// QUEUED → IN_PROGRESS bookkeeping: start time and the job's in-progress deadline.
fn start(exec: &mut Execution, now: SystemTime, timeout: Option<Duration>) {
    exec.status = ExecutionStatus::InProgress;
    exec.started_at = Some(now);
    exec.in_progress_deadline = timeout.map(|t| now + t);
}

fn apply_step_timeout(exec: &mut Execution, step: Option<StepTimeout>, now: SystemTime) {
    match step {
        Some(StepTimeout::Set(d)) => exec.step_deadline = Some(now + d),
        Some(StepTimeout::Clear) => exec.step_deadline = None,
        None => {}
    }
}

fn bump(exec: &mut Execution, now: SystemTime) {
    exec.version_number += 1;
    exec.last_updated_at = now;
}
