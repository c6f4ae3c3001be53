//! `progress: 50%` (with `of: JOB_ID`, or `job: JOB_ID`): the board's download of a job
//! (its latest when none is named) reaches at least this fraction.

use serde::Deserialize;

use super::parse::fields;
use super::{Check, Eval, Follow, Kind, Spec, Window};
use crate::config::CheckCx;
use crate::scenario::watch::BoardState;

pub const SPEC: Spec = Spec {
    key: "progress",
    fields: fields::<Keys>,
    window: Window::Within,
    noun: "progress",
    example: "`progress: 50%`",
    parse,
};

/// `job` names the job here, as `of` does: beside `progress` it is not a status check.
#[derive(Deserialize)]
struct Keys {
    progress: String,
    of: Option<String>,
    job: Option<String>,
}

fn parse(cx: &mut CheckCx<'_, '_>) -> Option<Check> {
    let keys: Keys = cx.read()?;
    let job = match (keys.of, keys.job) {
        (Some(_), Some(_)) => {
            let at = cx.key("job");
            cx.error(&at, "name the job once: `of: JOB_ID`");
            None
        }
        (Some(id), None) => Some((cx.key("of"), id)),
        (None, Some(id)) => Some((cx.key("job"), id)),
        (None, None) => None,
    };
    if let Some((at, id)) = &job {
        cx.job_defined(at, id);
    }
    let at_least = cx.percent(&cx.key("progress"), &keys.progress)?;
    Some(Check::Progress(Progress {
        job: job.map(|(_, id)| id),
        at_least,
    }))
}

/// Download progress of `job` (latest when `None`), as a fraction 0..=1.
#[derive(Clone, Debug)]
pub struct Progress {
    pub job: Option<String>,
    pub at_least: f64,
}

impl Kind for Progress {
    fn describe(&self, window: &str) -> String {
        let of = self
            .job
            .as_deref()
            .map(|j| format!(" of job {j}"))
            .unwrap_or_default();
        format!(
            "download{of} at {:.0}% within {window}",
            self.at_least * 100.0
        )
    }

    fn follow(&self, from: usize) -> Box<dyn Follow + '_> {
        Box::new(Following { check: self, from })
    }
}

struct Following<'c> {
    check: &'c Progress,
    from: usize,
}

impl Follow for Following<'_> {
    /// Impossible once the job ended short of the mark.
    fn eval(&self, state: &BoardState) -> Eval {
        let Progress { job, at_least } = self.check;
        // A job-specific progress counts from the start; "latest" only from the cursor.
        let start = if job.is_some() { 0 } else { self.from };
        let got = state.progress_since(start, job.as_deref());
        let seen = format!("download at {:.0}%", got * 100.0);
        if got + 1e-9 >= *at_least {
            return Eval::Met;
        }
        match state.job(job.as_deref()).filter(|s| s.status.is_terminal()) {
            Some(s) => Eval::Violated(format!("{seen}, and job {} ended {}", s.job_id, s.status)),
            None => Eval::Pending(seen),
        }
    }
}
