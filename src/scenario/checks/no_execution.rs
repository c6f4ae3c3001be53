//! `no_execution: JOB_ID`: the job never gives the board an execution; it stopped (canceled,
//! aborted) before its rollout reached the board.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::parse::fields;
use super::{Check, Eval, Follow, JobRef, Kind, Sources, Spec, Window};
use crate::config::CheckCx;
use crate::scenario::watch::BoardState;
use crate::scenario::BoundBoard;

pub const SPEC: Spec = Spec {
    key: "no_execution",
    fields: fields::<Keys>,
    window: Window::Within,
    noun: "no_execution",
    example: "`no_execution: JOB_ID`",
    parse,
};

#[derive(Deserialize)]
struct Keys {
    no_execution: String,
}

fn parse(cx: &mut CheckCx<'_, '_>) -> Option<Check> {
    let keys: Keys = cx.read()?;
    cx.job_defined(&cx.key("no_execution"), &keys.no_execution);
    Some(Check::NoExecution(NoExecution {
        job: keys.no_execution,
    }))
}

/// `job` never reaches the board.
#[derive(Clone, Debug)]
pub struct NoExecution {
    pub job: String,
}

impl Kind for NoExecution {
    fn describe(&self, window: &str) -> String {
        format!(
            "no execution of job {} (it stops before reaching the board) within {window}",
            self.job
        )
    }

    fn follow(&self, _from: usize) -> Box<dyn Follow + '_> {
        Box::new(self)
    }

    fn awaits(&self) -> Option<JobRef<'_>> {
        Some(JobRef::Id(&self.job))
    }

    /// Whether a job can still reach a board is the cloud's to say: the board's events
    /// show only that it was reached.
    fn wait<'a>(
        &'a self,
        on: Sources<'a>,
        board: &'a BoundBoard,
        _from: usize,
        within: Duration,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            on.cloud
                .wait_unreached(&self.job, &board.thing, within)
                .await
                .map(|_| ())
        })
    }
}

impl Follow for &NoExecution {
    /// Never met by the board's events alone (see [`Kind::wait`]); violated once it has an
    /// execution of the job.
    fn eval(&self, state: &BoardState) -> Eval {
        match state.job(Some(&self.job)) {
            Some(s) => Eval::Violated(format!("job {} reached the board: {}", s.job_id, s.status)),
            None => Eval::Pending(format!("no execution of job {} yet", self.job)),
        }
    }
}
