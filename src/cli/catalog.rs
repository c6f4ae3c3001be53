//! Bodies of `otarig validate` and `otarig list`: text and exit code, no printing, so
//! the output is testable. `config` parses and checks; this decides what the commands say.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::exit::{PASSED as OK, USAGE};
use super::project::{self, FileKind, RigChoice};
use super::selection::Selection;
use crate::config::{self, bind_roles, load_rig, validate_all};
use crate::scenario::checks::Check;
use crate::scenario::{load_scenarios, Scenario};

/// What a subcommand prints on stdout (`text`) and stderr (`diagnostics`), and its exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    pub text: String,
    pub diagnostics: String,
    pub code: u8,
}

/// `firmware-fixtures/` of the project folder when it exists and none is given.
pub fn default_fixtures(fixtures: Option<&Path>, root: Option<&Path>) -> Option<PathBuf> {
    match fixtures {
        Some(f) => Some(f.to_path_buf()),
        None => Some(project::under(root, "firmware-fixtures")).filter(|d| d.is_dir()),
    }
}

/// `otarig validate [PATH…] [--rig FILE] [--fixtures DIR]`: exit 0 without errors
/// (warnings allowed), 2 with any. A rig or fixture file among the paths is checked as
/// what it is, with a note on how to give it.
pub fn validate(
    paths: &[PathBuf],
    rig: Option<&Path>,
    fixtures: Option<&Path>,
    bound_check: &config::BoundCheck<'_, Check>,
) -> CommandOutput {
    let root = rig.is_none().then(|| project::project_root(paths));
    let paths = if paths.is_empty() {
        vec![project::under(root.as_deref(), "scenarios")]
    } else {
        paths.to_vec()
    };
    let fixtures = default_fixtures(fixtures, root.as_deref());
    let mut diags = config::Diagnostics::new();
    let mut notes = String::new();
    let mut scenario_paths = Vec::new();
    let mut other_files = 0;
    for p in &paths {
        let kind = if p.is_file() {
            project::file_kind(p)
        } else {
            FileKind::Scenario
        };
        match kind {
            FileKind::Scenario => scenario_paths.push(p.clone()),
            FileKind::Rig => {
                other_files += 1;
                if let Err(d) = load_rig(p) {
                    diags.extend(d);
                }
                let _ = writeln!(
                    notes,
                    "note: {} is a rig file, checked as one; to check scenarios against it: otarig validate --rig {}",
                    p.display(),
                    p.display()
                );
            }
            FileKind::Fixture => {
                other_files += 1;
                if let Err(d) = config::fixture::load(p) {
                    diags.extend(d);
                }
                let _ = writeln!(
                    notes,
                    "note: {} is a firmware fixture, checked as one",
                    p.display()
                );
            }
        }
    }
    if !scenario_paths.is_empty() || other_files == 0 {
        diags.extend(validate_all(
            rig,
            &scenario_paths,
            fixtures.as_deref(),
            bound_check,
        ));
    }
    diags.sort();
    let errors = diags.errors().count();
    let warnings = diags.warnings().count();
    let files = config::scenario_files(&scenario_paths, &mut config::Diagnostics::new()).len()
        + other_files
        + usize::from(rig.is_some());
    let mut text = String::new();
    if errors == 0 {
        let _ = write!(text, "ok: {files} file(s) valid");
        if warnings > 0 {
            let _ = write!(text, ", {warnings} warning(s)");
        }
        text.push('\n');
    } else {
        let _ = writeln!(
            text,
            "{errors} error(s), {warnings} warning(s) in {files} file(s)"
        );
    }
    CommandOutput {
        text,
        diagnostics: format!("{diags}{notes}"),
        code: if errors == 0 { OK } else { USAGE },
    }
}

/// How `list` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// One line per scenario: name, binding, summary.
    #[default]
    Human,
    /// JSON for scripts (docs/configuration.md § Commands).
    Json,
}

/// One scenario as `list --format json` prints it. The field names are an interface
/// (documented in docs/configuration.md § Commands): add fields, never rename.
#[derive(serde::Serialize)]
struct Listed<'a> {
    name: &'a str,
    summary: &'a str,
    file: String,
    tags: &'a [String],
    /// Role → board and thing on the rig; empty when skipped.
    roles: Vec<ListedRole>,
    /// Why the rig cannot run it, or null.
    skipped: Option<String>,
}

#[derive(serde::Serialize)]
struct ListedRole {
    role: String,
    board: String,
    thing: String,
}

/// `otarig list [PATH…] [--rig FILE] [--filter P] [--exclude P] [--partition S]`: one line
/// per selected scenario with its role binding on the rig (the built-in rig by default)
/// or why it would be skipped; or the same as JSON. Exit 2 on configuration errors.
pub fn list(
    paths: &[PathBuf],
    rig: Option<&Path>,
    select: &Selection,
    format: ListFormat,
) -> CommandOutput {
    let fail = |diags: config::Diagnostics| CommandOutput {
        text: String::new(),
        diagnostics: diags.to_string(),
        code: USAGE,
    };
    let choice = match RigChoice::load(rig, paths, None) {
        Ok(c) => c,
        Err(d) => return fail(d),
    };
    let paths = match choice.paths(paths) {
        Ok(p) => p,
        Err(d) => return fail(d),
    };
    let misplaced = project::misplaced_files(&paths);
    if misplaced.has_errors() {
        return fail(misplaced);
    }
    let rig = &choice.rig;
    let scenarios = match load_scenarios(&paths, None) {
        Ok(s) => s,
        Err(d) => return fail(d),
    };
    let shown = select.apply(&scenarios);
    let text = match format {
        ListFormat::Human => human_list(&shown, scenarios.len(), rig),
        ListFormat::Json => json_list(&shown, scenarios.len(), rig),
    };
    CommandOutput {
        text,
        diagnostics: choice.note().map(|n| format!("{n}\n")).unwrap_or_default(),
        code: OK,
    }
}

fn human_list(shown: &[&Scenario], found: usize, rig: &config::Rig) -> String {
    let width = shown.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for s in shown {
        let binding = match bind_roles(s, rig) {
            Ok(map) if map.len() > 4 => format!("{} roles on {} boards", s.roles.len(), map.len()),
            Ok(map) => s
                .roles
                .iter()
                .map(|r| format!("{}={}", r.name, map[&r.name]))
                .collect::<Vec<_>>()
                .join(" "),
            Err(reason) => format!("skipped: {reason}"),
        };
        let _ = writeln!(
            text,
            "{:width$}  [{}]  {}",
            s.name,
            binding,
            first_sentence(&s.summary)
        );
    }
    let _ = writeln!(
        text,
        "{} of {} scenario(s) on rig `{}`",
        shown.len(),
        found,
        rig.name
    );
    text
}

fn json_list(shown: &[&Scenario], found: usize, rig: &config::Rig) -> String {
    let scenarios: Vec<Listed<'_>> = shown
        .iter()
        .map(|s| {
            let (roles, skipped) = match bind_roles(s, rig) {
                Ok(map) => (
                    s.roles
                        .iter()
                        .map(|r| {
                            let board = map[&r.name].clone();
                            let thing = rig
                                .board(&board)
                                .map(|b| b.thing_name.clone())
                                .unwrap_or_default();
                            ListedRole {
                                role: r.name.clone(),
                                board,
                                thing,
                            }
                        })
                        .collect(),
                    None,
                ),
                Err(reason) => (Vec::new(), Some(reason.to_string())),
            };
            Listed {
                name: &s.name,
                summary: &s.summary,
                file: s.file.display().to_string(),
                tags: &s.tags,
                roles,
                skipped,
            }
        })
        .collect();
    let value = serde_json::json!({
        "rig": rig.name,
        "found": found,
        "scenarios": scenarios,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).expect("plain data serializes")
    )
}

/// The summary up to its first full stop, for one-line listings.
fn first_sentence(summary: &str) -> &str {
    match summary.find(". ") {
        Some(i) => &summary[..=i],
        None => summary,
    }
}
