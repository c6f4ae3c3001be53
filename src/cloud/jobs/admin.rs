//! The runner's side of Jobs (the AWS control plane): create, cancel, retry,
//! timeouts and inspection. Calls return the notifications they cause
//! (`notify-next`, `notify`, [`Route::Subscribers`]) for the caller to publish.

use std::time::SystemTime;

use super::model::{is_valid_job_id, is_valid_thing_name};
use super::rollout::RolloutState;
#[cfg(doc)]
use super::Route;
use super::{
    bump, Execution, ExecutionChange, ExecutionStatus, Job, JobAbort, JobSpec, JobView, JobsError,
    JobsService, Reply,
};

impl JobsService {
    /// Creates a job and queues one execution per target thing (duplicates
    /// in `targets` count once).
    pub fn create_job(&mut self, spec: JobSpec, now: SystemTime) -> Result<Vec<Reply>, JobsError> {
        let job_id = spec.id.clone();
        if !is_valid_job_id(&job_id) {
            return Err(JobsError::InvalidJobId { job_id });
        }
        if self.jobs.contains_key(&job_id) {
            return Err(JobsError::DuplicateJob { job_id });
        }
        if spec.targets.is_empty() {
            return Err(JobsError::NoTargets { job_id });
        }
        if let Some(thing) = spec.targets.iter().find(|t| !is_valid_thing_name(t)) {
            return Err(JobsError::InvalidThingName {
                job_id,
                thing: thing.clone(),
            });
        }
        if !spec.document.is_object() {
            let got = match spec.document {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::Object(_) => "an object",
            };
            return Err(JobsError::DocumentNotObject { job_id, got });
        }
        if let Err(problem) = spec.controls.check() {
            return Err(JobsError::InvalidControls { job_id, problem });
        }
        let mut spec = spec;
        let mut seen = std::collections::BTreeSet::new();
        spec.targets.retain(|t| seen.insert(t.clone()));
        let targets = spec.targets.clone();
        let created_seq = self.next_seq;
        let rollout = spec
            .controls
            .rollout
            .map(|config| RolloutState::new(config, &targets));
        let staged = rollout.is_some();
        self.jobs.insert(
            job_id.clone(),
            Job {
                spec,
                created_seq,
                canceled: false,
                executions: Default::default(),
                auto_retries: Default::default(),
                rollout,
                aborted: None,
            },
        );
        if staged {
            // The first target at once; the rest as `tick` finds them due.
            return Ok(self.release_next(&job_id, now));
        }
        let mut out = Vec::new();
        for thing in &targets {
            let before = self.shape(thing);
            self.enqueue(&job_id, thing, now);
            out.extend(self.notifications(thing, &before, now));
        }
        Ok(out)
    }

    /// Cancels a job. Without `force` only QUEUED executions become CANCELED
    /// and IN_PROGRESS ones may still finish (as AWS CancelJob); with `force`
    /// IN_PROGRESS ones are CANCELED too. Targets not rolled out yet never get one.
    pub fn cancel_job(
        &mut self,
        job_id: &str,
        force: bool,
        now: SystemTime,
    ) -> Result<Vec<Reply>, JobsError> {
        self.job_mut(job_id)?;
        Ok(self.cancel(job_id, force, None, now).0)
    }

    /// Cancels an existing job; returns the notifications (none for `except`, whose
    /// caller sends its own) and how many executions became CANCELED.
    pub(super) fn cancel(
        &mut self,
        job_id: &str,
        force: bool,
        except: Option<&str>,
        now: SystemTime,
    ) -> (Vec<Reply>, u32) {
        let job = self
            .jobs
            .get_mut(job_id)
            .expect("cancel of an existing job");
        job.canceled = true;
        if let Some(rollout) = job.rollout.as_mut() {
            rollout.waiting.clear();
        }
        let targets = job.spec.targets.clone();
        let mut out = Vec::new();
        let mut canceled = 0;
        for thing in &targets {
            let before = self.shape(thing);
            let job = self.jobs.get_mut(job_id).expect("checked above");
            let Some(exec) = job.latest_mut(thing) else {
                continue;
            };
            let cancel = match exec.status {
                ExecutionStatus::Queued => true,
                ExecutionStatus::InProgress => force,
                _ => false,
            };
            if cancel {
                exec.status = ExecutionStatus::Canceled;
                exec.in_progress_deadline = None;
                exec.step_deadline = None;
                bump(exec, now);
                self.changes.push(exec.change());
                canceled += 1;
                if except != Some(thing.as_str()) {
                    out.extend(self.notifications(thing, &before, now));
                }
            }
        }
        (out, canceled)
    }

    /// Re-runs FAILED or TIMED_OUT executions with `executionNumber + 1`:
    /// of the named things (each must be retry-able, or nothing changes), or
    /// of every target that is retry-able when `things` is `None`.
    pub fn retry_job(
        &mut self,
        job_id: &str,
        things: Option<&[String]>,
        now: SystemTime,
    ) -> Result<Vec<Reply>, JobsError> {
        let job = self.job_mut(job_id)?;
        if job.canceled {
            return Err(JobsError::JobCanceled {
                job_id: job_id.to_string(),
            });
        }
        let retryable = |e: &Execution| {
            matches!(
                e.status,
                ExecutionStatus::Failed | ExecutionStatus::TimedOut
            )
        };
        let chosen: Vec<String> = match things {
            None => job
                .spec
                .targets
                .iter()
                .filter(|t| job.latest(t).is_some_and(retryable))
                .cloned()
                .collect(),
            Some(list) => {
                for thing in list {
                    let exec = job
                        .latest(thing)
                        .ok_or_else(|| JobsError::UnknownExecution {
                            job_id: job_id.to_string(),
                            thing: thing.clone(),
                        })?;
                    if !retryable(exec) {
                        return Err(JobsError::NotRetryable {
                            job_id: job_id.to_string(),
                            thing: thing.clone(),
                            execution_number: exec.execution_number,
                            status: exec.status,
                        });
                    }
                }
                list.to_vec()
            }
        };
        let mut out = Vec::new();
        for thing in &chosen {
            let before = self.shape(thing);
            self.enqueue(job_id, thing, now);
            out.extend(self.notifications(thing, &before, now));
        }
        Ok(out)
    }

    /// Times out IN_PROGRESS executions whose in-progress or step deadline
    /// has passed at `now` (→ TIMED_OUT, then the retry and abort criteria apply), then
    /// rolls out the targets that are due.
    pub fn tick(&mut self, now: SystemTime) -> Vec<Reply> {
        let due: Vec<(String, String)> = self
            .jobs
            .values()
            .flat_map(|job| job.executions.values().filter_map(|v| v.last()))
            .filter(|e| e.status == ExecutionStatus::InProgress)
            .filter(|e| e.deadline().is_some_and(|d| d <= now))
            .map(|e| (e.job_id.clone(), e.thing.clone()))
            .collect();
        let mut out = Vec::new();
        for (job_id, thing) in due {
            let before = self.shape(&thing);
            let job = self.jobs.get_mut(&job_id).expect("collected above");
            let exec = job.latest_mut(&thing).expect("collected above");
            exec.status = ExecutionStatus::TimedOut;
            exec.in_progress_deadline = None;
            exec.step_deadline = None;
            bump(exec, now);
            self.changes.push(exec.change());
            self.auto_retry(&job_id, &thing, now);
            let others = self.check_abort(&job_id, Some(&thing), now);
            out.extend(self.notifications(&thing, &before, now));
            out.extend(others);
        }
        out.extend(self.roll_out(now));
        out
    }

    /// Deletes a job with its executions (AWS DeleteJob with `force`): what a shared
    /// bench cloud does with a scenario's jobs when the scenario ends. No notification:
    /// the boards are off by then.
    pub fn delete_job(&mut self, job_id: &str) -> bool {
        self.jobs.remove(job_id).is_some()
    }

    /// The earliest pending timeout or rollout, so a driver knows when to call `tick`.
    pub fn next_deadline(&self) -> Option<SystemTime> {
        let timeouts = self
            .jobs
            .values()
            .flat_map(|job| job.executions.values().filter_map(|v| v.last()))
            .filter(|e| e.status == ExecutionStatus::InProgress)
            .filter_map(|e| e.deadline());
        let rollouts = self.jobs.values().filter_map(Job::rollout_due);
        timeouts.chain(rollouts).min()
    }

    pub fn job(&self, job_id: &str) -> Option<JobView> {
        self.jobs.get(job_id).map(Job::view)
    }

    /// Every job, in creation order.
    pub fn jobs(&self) -> Vec<JobView> {
        let mut jobs: Vec<&Job> = self.jobs.values().collect();
        jobs.sort_by_key(|j| j.created_seq);
        jobs.into_iter().map(Job::view).collect()
    }

    /// The latest execution of `job_id` on `thing`.
    pub fn execution(&self, job_id: &str, thing: &str) -> Option<Execution> {
        self.jobs.get(job_id)?.latest(thing).cloned()
    }

    /// Every execution change since the last call, in order.
    pub fn take_changes(&mut self) -> Vec<ExecutionChange> {
        std::mem::take(&mut self.changes)
    }

    /// Every abort since the last call, in order: (job id, what met its criterion).
    pub fn take_aborts(&mut self) -> Vec<(String, JobAbort)> {
        std::mem::take(&mut self.aborts)
    }

    fn job_mut(&mut self, job_id: &str) -> Result<&mut Job, JobsError> {
        self.jobs
            .get_mut(job_id)
            .ok_or_else(|| JobsError::UnknownJob {
                job_id: job_id.to_string(),
            })
    }
}
