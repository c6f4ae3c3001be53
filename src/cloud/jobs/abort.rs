//! A job that stops itself (AWS `abortConfig`): after each execution that finishes, the
//! job's abort criteria are read against its targets; the first one met cancels the job as
//! AWS's CancelJob without force does. QUEUED executions become CANCELED (with their
//! notifications), targets not rolled out yet never get one, and IN_PROGRESS executions
//! may still finish.
//!
//! Counted per thing, by its latest execution: a thing is "executed" once that execution
//! has finished (SUCCEEDED, FAILED, REJECTED or TIMED_OUT). A failure that an automatic
//! retry re-queued counts only by how the retry ends.

use std::time::SystemTime;

use super::{ExecutionStatus, JobAbort, JobsService, Reply};

fn is_executed(status: ExecutionStatus) -> bool {
    use ExecutionStatus as S;
    matches!(status, S::Succeeded | S::Failed | S::Rejected | S::TimedOut)
}

impl JobsService {
    /// Cancels `job_id` if one of its abort criteria is met now. Returns the
    /// notifications of the cancel, except those of `except` (the thing whose update led
    /// here: its caller notifies it).
    pub(super) fn check_abort(
        &mut self,
        job_id: &str,
        except: Option<&str>,
        now: SystemTime,
    ) -> Vec<Reply> {
        let Some(job) = self.jobs.get(job_id) else {
            return Vec::new();
        };
        if job.canceled || job.spec.controls.abort.is_empty() {
            return Vec::new();
        }
        let finished: Vec<ExecutionStatus> = job
            .latest_of_targets()
            .map(|e| e.status)
            .filter(|s| is_executed(*s))
            .collect();
        let executed = finished.len() as u32;
        let met = job.spec.controls.abort.iter().find_map(|c| {
            let failures = finished.iter().filter(|s| c.on.covers(**s)).count() as u32;
            c.is_met(executed, failures).then_some((*c, failures))
        });
        let Some((criterion, failures)) = met else {
            return Vec::new();
        };
        let never_rolled_out = job.waiting().len() as u32;
        let left_in_progress = job
            .latest_of_targets()
            .filter(|e| e.status == ExecutionStatus::InProgress)
            .count() as u32;
        let (replies, canceled_queued) = self.cancel(job_id, false, except, now);
        let abort = JobAbort {
            criterion,
            executed,
            failures,
            canceled_queued,
            never_rolled_out,
            left_in_progress,
        };
        let job = self.jobs.get_mut(job_id).expect("checked above");
        job.aborted = Some(abort.clone());
        self.aborts.push((job_id.to_string(), abort));
        replies
    }
}
