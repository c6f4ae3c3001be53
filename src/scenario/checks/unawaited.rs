//! Jobs no expectation waits for: a run waits for them to end by themselves, and loading
//! warns about them.

use super::{Check, JobRef};
use crate::config::locate::YamlPath;
use crate::config::scenario::{Scenario, Step};

/// Each job step (its index and id) with the target roles whose execution of it no later
/// step awaits: no check awaiting that job for the role (by id, or as the latest job), and
/// no `cancel` of it. The run waits for these to end by themselves.
pub fn unawaited_jobs(scenario: &Scenario<Check>) -> Vec<(usize, String, Vec<String>)> {
    let mut out = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let Step::Job(job) = step else { continue };
        let mut waiting: Vec<String> = job.targets.clone();
        // A check of the latest job is about this one only for roles no later job targets.
        let mut superseded: Vec<String> = Vec::new();
        for later in &scenario.steps[i + 1..] {
            match later {
                Step::Job(other) => superseded.extend(other.targets.iter().cloned()),
                Step::Cancel { job: id, .. } if *id == job.id => waiting.clear(),
                Step::Expect(exp) => match exp.check.awaits() {
                    Some(JobRef::Id(id)) if id == job.id => {
                        waiting.retain(|r| !exp.roles.contains(r));
                    }
                    Some(JobRef::Latest) => {
                        waiting.retain(|r| superseded.contains(r) || !exp.roles.contains(r));
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        if !waiting.is_empty() {
            out.push((i, job.id.clone(), waiting));
        }
    }
    out
}

/// A warning at each job id nothing awaits for some of its targets.
pub fn warnings(scenario: &Scenario<Check>) -> Vec<(YamlPath, String)> {
    unawaited_jobs(scenario)
        .into_iter()
        .map(|(i, id, roles)| {
            let at = YamlPath::root().key("steps").idx(i).key("job").key("id");
            let message = format!(
                "job `{id}` is never awaited for {}: add `expect: {{ board: {}, job: SUCCEEDED, within: … }}` (or FAILED…, or `no_execution: {id}` for a board the job may stop before reaching); a run waits for it to end by itself within the board's recovery timeout and fails the board otherwise",
                roles.join(", "),
                roles[0]
            );
            (at, message)
        })
        .collect()
}
