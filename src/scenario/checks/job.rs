//! `job: STATUS` (with `of: JOB_ID`, `reason: REGEX`): the board's execution of a job (its
//! latest when no `of`) reaches this status (and reason).

use regex::Regex;
use serde::Deserialize;

use super::parse::fields;
use super::{Check, Eval, Follow, JobRef, Kind, Spec, Window};
use crate::config::CheckCx;
use crate::model::ExecutionStatus;
use crate::scenario::watch::BoardState;

pub const SPEC: Spec = Spec {
    key: "job",
    fields: fields::<Keys>,
    window: Window::Within,
    noun: "job status",
    example: "`job: FAILED`",
    parse,
};

#[derive(Deserialize)]
struct Keys {
    job: String,
    of: Option<String>,
    reason: Option<String>,
}

fn parse(cx: &mut CheckCx<'_, '_>) -> Option<Check> {
    let keys: Keys = cx.read()?;
    let Some(status) = ExecutionStatus::from_wire(&keys.job) else {
        let all: Vec<&str> = ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect();
        let at = cx.key("job");
        cx.error(
            &at,
            format!(
                "`{}` is not a job execution status (expected one of {}); name the job with `of: JOB_ID`",
                keys.job,
                all.join(", ")
            ),
        );
        return None;
    };
    let reason = match &keys.reason {
        Some(r) => Some(cx.regex(&cx.key("reason"), r)?),
        None => None,
    };
    if let Some(id) = &keys.of {
        cx.job_defined(&cx.key("of"), id);
    }
    Some(Check::Job(JobStatus {
        job: keys.of,
        status,
        reason,
    }))
}

/// The board's execution of `job` (latest when `None`) reaches `status`, with a
/// `statusDetails.reason` matching `reason` when given.
#[derive(Clone, Debug)]
pub struct JobStatus {
    pub job: Option<String>,
    pub status: ExecutionStatus,
    pub reason: Option<Regex>,
}

impl Kind for JobStatus {
    fn describe(&self, window: &str) -> String {
        let of = self
            .job
            .as_deref()
            .map(|j| format!(" of job {j}"))
            .unwrap_or_default();
        let reason = self
            .reason
            .as_ref()
            .map(|r| format!(" with reason /{r}/"))
            .unwrap_or_default();
        format!("execution{of} {}{reason} within {window}", self.status)
    }

    fn follow(&self, _from: usize) -> Box<dyn Follow + '_> {
        Box::new(self)
    }

    fn awaits(&self) -> Option<JobRef<'_>> {
        Some(self.job.as_deref().map_or(JobRef::Latest, JobRef::Id))
    }
}

impl Follow for &JobStatus {
    /// Met by the status (and reason); impossible once the execution is final with
    /// something else, as nothing reopens a final execution during a wait (a `retry` is a
    /// step of its own). Of "the latest job", only once all are final.
    fn eval(&self, state: &BoardState) -> Eval {
        let Some(current) = state.job(self.job.as_deref()) else {
            return Eval::Pending(format!("no execution for thing {}", state.thing));
        };
        let reason_text = current
            .status_details
            .get("reason")
            .map(String::as_str)
            .unwrap_or_default();
        if current.status == self.status
            && self.reason.as_ref().is_none_or(|r| r.is_match(reason_text))
        {
            return Eval::Met;
        }
        let seen = format!(
            "job {} {} statusDetails {}",
            current.job_id,
            current.status,
            serde_json::to_string(&current.status_details).unwrap_or_default()
        );
        let settled = match &self.job {
            Some(_) => current.status.is_terminal(),
            None => state.jobs().all(|s| s.status.is_terminal()),
        };
        if settled {
            Eval::Violated(seen)
        } else {
            Eval::Pending(seen)
        }
    }
}
