//! What can be known about a scenario before any board is touched, once its roles are bound
//! to a rig's boards: every fixture flashed onto a board has a build for its platform; the
//! file each job streams exists for every target's platform and is the same file for all of
//! them (an OTA job carries one file); a block message fits a v3 agent's receive buffer
//! with the target's thing name; a `power_cycle` or `power_cut` step acts only on boards that
//! can remove power.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cloud::jobdoc::{self, V3_BLOCK_SIZE, V3_DEMO_RECEIVE_LIMIT};
use crate::config::diag::{Diagnostic, Diagnostics, Severity};
use crate::config::fixture;
use crate::config::rig::{Rig, SIM_PLATFORM};
use crate::config::scenario::Capability;
use crate::scenario::{Scenario, Step};

/// Checks `scenario` with its roles bound by `binding` (role → board).
pub fn check(
    rig: &Rig,
    scenario: &Scenario,
    binding: &BTreeMap<String, String>,
    fixtures_dir: &Path,
    diags: &mut Diagnostics,
) {
    let board_of = |role: &String| binding.get(role).and_then(|b| rig.board(b));
    let mut flashes: Vec<(usize, &str, Vec<&crate::config::rig::Board>)> = Vec::new();
    if let Some(baseline) = crate::config::effective_baseline(scenario, rig) {
        let all = scenario
            .roles
            .iter()
            .filter_map(|r| board_of(&r.name))
            .collect();
        flashes.push((0, baseline, all));
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        if let Step::Flash { roles, image } = step {
            let line = scenario.step_lines.get(i).copied().unwrap_or(0);
            flashes.push((line, image, roles.iter().filter_map(board_of).collect()));
        }
    }
    // Each fixture read once, however many steps name it.
    let mut loaded: BTreeMap<String, Option<fixture::Fixture>> = BTreeMap::new();
    let mut load = |name: &str| -> Option<fixture::Fixture> {
        loaded
            .entry(name.to_string())
            .or_insert_with(|| fixture::load_named(fixtures_dir, name).ok())
            .clone()
    };
    for (line, image, boards) in flashes {
        let Some(fixture) = load(image) else {
            continue; // reported where the fixture is named
        };
        for board in boards {
            if board.platform != SIM_PLATFORM && !fixture.files.contains_key(&board.platform) {
                diags.push(Diagnostic {
                    file: scenario.file.clone(),
                    line: line.max(1),
                    column: 1,
                    severity: Severity::Error,
                    message: format!(
                        "fixture `{image}` has no `{}` file to flash onto board {} (add `files: {{ {}: PATH }}` to firmware-fixtures/{image}.yaml)",
                        board.platform, board.name, board.platform
                    ),
                });
            }
        }
    }
    power_steps(rig, scenario, binding, diags);
    for (i, step) in scenario.steps.iter().enumerate() {
        let Step::Job(job) = step else { continue };
        let line = scenario.step_lines.get(i).copied().unwrap_or(0);
        let mut push = |severity, message: String| {
            diags.push(Diagnostic {
                file: scenario.file.clone(),
                line,
                column: 1,
                severity,
                message,
            })
        };
        let Some(fixture) = load(&job.image) else {
            continue; // reported where the fixture is named
        };
        let boards: Vec<_> = job
            .targets
            .iter()
            .filter_map(|role| binding.get(role))
            .filter_map(|b| rig.board(b))
            .collect();
        // The file each target needs: the fixture's build for its platform.
        let mut files: BTreeMap<Option<&Path>, Vec<&str>> = BTreeMap::new();
        for board in &boards {
            if board.platform == SIM_PLATFORM {
                files.entry(None).or_default().push(&board.name);
                continue;
            }
            match fixture.files.get(&board.platform) {
                Some(f) => files.entry(Some(f.ota.as_path())).or_default().push(&board.name),
                None => push(
                    Severity::Error,
                    format!(
                        "job `{}`: fixture `{}` has no `{}` file for board {} (add `files: {{ {}: PATH }}` to firmware-fixtures/{}.yaml)",
                        job.id, job.image, board.platform, board.name, board.platform, job.image
                    ),
                ),
            }
        }
        if files.len() > 1 {
            let which: Vec<String> = files
                .iter()
                .map(|(file, boards)| {
                    let file =
                        file.map_or("the simulator's image".into(), |f| f.display().to_string());
                    format!("{} for {}", file, boards.join(", "))
                })
                .collect();
            push(
                Severity::Error,
                format!(
                    "job `{}` would need different files ({}); an OTA job delivers one file: split it into one job per platform",
                    job.id,
                    which.join("; ")
                ),
            );
        }
        let stream = job
            .document
            .stream
            .clone()
            .unwrap_or_else(|| jobdoc::aws_stream_name(&job.id));
        for board in &boards {
            if let Err(e) = jobdoc::check_stream_budget(
                &board.thing_name,
                &stream,
                V3_BLOCK_SIZE,
                V3_DEMO_RECEIVE_LIMIT,
            ) {
                push(
                    Severity::Warning,
                    format!("job `{}`: a v3 agent would drop its blocks: {e}", job.id),
                );
            }
        }
    }
}

/// A `power_cycle` or `power_cut` step on a role whose board cannot remove power would fail
/// only when the run reaches it (a bench error): it is an error at the step instead.
fn power_steps(
    rig: &Rig,
    scenario: &Scenario,
    binding: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) {
    for (i, step) in scenario.steps.iter().enumerate() {
        let roles: Vec<&String> = match step {
            Step::PowerCycle { roles, .. } => roles.iter().collect(),
            Step::PowerCut(cut) => vec![&cut.role],
            _ => continue,
        };
        let line = scenario.step_lines.get(i).copied().unwrap_or(1).max(1);
        for role in roles {
            let Some(board) = binding.get(role).and_then(|b| rig.board(b)) else {
                continue;
            };
            if board.has(Capability::PowerCycle) {
                continue;
            }
            diags.push(Diagnostic {
                file: scenario.file.clone(),
                line,
                column: 1,
                severity: Severity::Error,
                message: format!(
                    "{} on role `{role}`: board {} on rig `{}` cannot remove power (only native boards and boards with `power: {{ command: ... }}` can); add `needs: [power_cycle]` to the scenario so that its roles bind to boards that can (it is skipped on a rig without one)",
                    step.kind(),
                    board.name,
                    rig.name
                ),
            });
        }
    }
}
