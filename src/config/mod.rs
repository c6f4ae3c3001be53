//! Typed, strict models of `rigs/*.yaml` and `scenarios/*.yaml`: raw serde shapes,
//! resolved once into plain structs the runner uses, with file:line:column
//! diagnostics for every problem in every file (docs/configuration.md).

pub mod bind;
pub mod chips;
pub mod diag;
pub mod expect_check;
pub mod fixture;
pub mod flash_checks;
pub mod flash_presets;
#[cfg(test)]
mod flash_presets_doc;
pub mod labgrid;
mod labgrid_resolve;
pub mod locate;
pub mod rig;
pub mod rig_raw;
mod rig_resolve;
pub mod scenario;
pub mod scenario_raw;
mod scenario_resolve;
mod scenario_rollout;
pub mod values;
pub mod yaml_index;

#[cfg(test)]
mod labgrid_tests;
#[cfg(test)]
mod resolve_tests;
#[cfg(test)]
mod rollout_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use bind::{bind_roles, bind_roles_sparing, effective_baseline, SkipReason};
pub use chips::{check_probe_rs_chip, ChipCheck};
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use expect_check::{CheckCx, ExpectCheck, UnparsedCheck};
pub use rig::Rig;
pub use rig_resolve::repo_root;
pub use scenario::Scenario;
pub use scenario_resolve::FixtureCheck;

use locate::{SourceFile, YamlPath};

/// The rig used when none is given: simulated boards only (rigs/sim.yaml).
pub const EMBEDDED_SIM_RIG: &str = include_str!("../../rigs/sim.yaml");

/// Loads and resolves a rig file.
pub fn load_rig(path: &Path) -> Result<Rig, Diagnostics> {
    load_rig_with(path, None)
}

/// Like [`load_rig`], with an extra check of `probe-rs` chip names (the board
/// layer's registry look-up) run after the built-in PIC32 check.
pub fn load_rig_with(path: &Path, chip_check: Option<ChipCheck<'_>>) -> Result<Rig, Diagnostics> {
    let mut diags = Diagnostics::new();
    match SourceFile::read(path) {
        Ok(file) => rig_from_source(&file, chip_check, &mut diags),
        Err(d) => {
            diags.push(d);
            Err(diags)
        }
    }
}

/// Parses rig text as if read from `path` (positions name `path`; relative paths
/// start at its [`repo_root`]). For the embedded default, pass `rigs/sim.yaml`.
pub fn load_rig_str(text: &str, path: &Path) -> Result<Rig, Diagnostics> {
    let file = SourceFile {
        path: path.to_path_buf(),
        text: text.to_string(),
    };
    rig_from_source(&file, None, &mut Diagnostics::new())
}

/// The embedded simulated rig, rooted at `root` (its PKI lives in `root/.otarig/pki`).
pub fn embedded_sim_rig(root: &Path) -> Rig {
    let mut rig = load_rig_str(EMBEDDED_SIM_RIG, &root.join("rigs/sim.yaml"))
        .expect("the embedded rigs/sim.yaml is valid (tested)");
    rig.root = root.to_path_buf();
    rig
}

fn rig_from_source(
    file: &SourceFile,
    chip_check: Option<ChipCheck<'_>>,
    diags: &mut Diagnostics,
) -> Result<Rig, Diagnostics> {
    match rig_resolve::load_file(file, chip_check, diags) {
        Some(rig) => Ok(rig),
        None => Err(diags.clone()),
    }
}

/// Scenario files named by `paths`: files as given, directories' `*.yaml`/`*.yml`
/// (not recursive), sorted. A path that does not exist is a diagnostic.
pub fn scenario_files(paths: &[PathBuf], diags: &mut Diagnostics) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = match std::fs::read_dir(p) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| {
                        f.is_file() && f.extension().is_some_and(|x| x == "yaml" || x == "yml")
                    })
                    .collect(),
                Err(e) => {
                    diags.push(Diagnostic::error(
                        p,
                        1,
                        1,
                        format!("cannot read the directory: {e}"),
                    ));
                    continue;
                }
            };
            found.sort();
            out.extend(found);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            diags.push(Diagnostic::error(
                p,
                1,
                1,
                "no such scenario file or directory",
            ));
        }
    }
    out.dedup();
    out
}

/// Loads every scenario under `paths` with each expectation's check left unread
/// ([`UnparsedCheck`]): for what looks only at steps and boards. The runner and `otarig
/// validate` load them with their checks parsed (`scenario::load_scenarios`).
pub fn load_scenarios(
    paths: &[PathBuf],
    fixtures_dir: Option<&Path>,
) -> Result<Vec<Scenario<UnparsedCheck>>, Diagnostics> {
    load_scenarios_as(paths, fixtures_dir)
}

/// Loads every scenario under `paths`, each expectation's check parsed as `C`. Fixture
/// names are checked against `fixtures_dir/NAME.yaml` when a directory is given. All
/// problems of all files are returned together; warnings alone do not make it fail.
pub fn load_scenarios_as<C: ExpectCheck>(
    paths: &[PathBuf],
    fixtures_dir: Option<&Path>,
) -> Result<Vec<Scenario<C>>, Diagnostics> {
    let mut diags = Diagnostics::new();
    let scenarios = load_scenarios_into(paths, fixtures_dir, &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(scenarios)
    }
}

fn load_scenarios_into<C: ExpectCheck>(
    paths: &[PathBuf],
    fixtures_dir: Option<&Path>,
    diags: &mut Diagnostics,
) -> Vec<Scenario<C>> {
    let check = |name: &str| fixture_check(fixtures_dir.expect("only called with a dir"), name);
    let check: Option<FixtureCheck<'_>> = fixtures_dir.map(|_| &check as FixtureCheck<'_>);
    let mut out: Vec<Scenario<C>> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in scenario_files(paths, diags) {
        let file = match SourceFile::read(&path) {
            Ok(f) => f,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let Some(s) = scenario_resolve::load_file(&file, check, diags) else {
            continue;
        };
        if let Some(first) = seen.get(&s.name) {
            let (line, column) = locate::locate_nearest(&file.text, &YamlPath::root().key("name"));
            diags.push(Diagnostic::error(
                &path,
                line,
                column,
                format!(
                    "scenario `{}` is also defined in {}",
                    s.name,
                    first.display()
                ),
            ));
            continue;
        }
        seen.insert(s.name.clone(), path.clone());
        out.push(s);
    }
    out
}

/// `fixtures_dir/NAME.yaml` exists and is a valid fixture (its own diagnostics
/// are reported by [`validate_all`], which checks every fixture file).
fn fixture_check(dir: &Path, name: &str) -> Result<(), String> {
    scenario_resolve::fixture_file_exists(dir, name)?;
    let file = dir.join(format!("{name}.yaml"));
    fixture::load(&file).map(|_| ()).map_err(|d| {
        let first = d
            .errors()
            .next()
            .map(|e| {
                format!(
                    "{}:{}:{}: {}",
                    e.file.display(),
                    e.line,
                    e.column,
                    e.message
                )
            })
            .unwrap_or_default();
        format!("firmware fixture `{name}` is invalid ({first})")
    })
}

/// Every `*.yaml` in `dir` is a valid fixture.
fn validate_fixtures(dir: &Path, diags: &mut Diagnostics) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        diags.push(Diagnostic::error(
            dir,
            1,
            1,
            "cannot read the fixtures directory",
        ));
        return;
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for f in files {
        if let Err(d) = fixture::load(&f) {
            diags.extend(d);
        }
    }
}

/// A check of a scenario whose roles are bound to a rig's boards (role → board), given by
/// the layers above `config` (e.g. the jobs' files and stream sizes).
pub type BoundCheck<'a, C> =
    dyn Fn(&Rig, &Scenario<C>, &BTreeMap<String, String>, &Path, &mut Diagnostics) + 'a;

/// Everything `otarig validate` checks: the rig (if given), every scenario with its checks
/// parsed as `C`, their fixtures, and, with a rig, whether each scenario can be bound to
/// it (a warning when not: at run time that scenario is skipped, not failed).
pub fn validate_all<C: ExpectCheck>(
    rig: Option<&Path>,
    paths: &[PathBuf],
    fixtures_dir: Option<&Path>,
    bound_check: &BoundCheck<'_, C>,
) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if let Some(dir) = fixtures_dir {
        validate_fixtures(dir, &mut diags);
    }
    let rig = rig.and_then(|p| match load_rig(p) {
        Ok(r) => Some(r),
        Err(d) => {
            diags.extend(d);
            None
        }
    });
    if let (Some(rig), Some(dir)) = (&rig, fixtures_dir) {
        if let Some(b) = &rig.baseline {
            if let Err(e) = fixture_check(dir, b) {
                let text = std::fs::read_to_string(&rig.file).unwrap_or_default();
                let (line, column) = locate::locate_nearest(
                    &text,
                    &YamlPath::root().key("defaults").key("baseline"),
                );
                diags.push(Diagnostic::error(&rig.file, line, column, e));
            }
        }
    }
    let scenarios: Vec<Scenario<C>> = load_scenarios_into(paths, fixtures_dir, &mut diags);
    if let Some(rig) = &rig {
        for s in &scenarios {
            let binding = bind_roles(s, rig);
            if let (Ok(binding), Some(dir)) = (&binding, fixtures_dir) {
                bound_check(rig, s, binding, dir, &mut diags);
            }
            if let Err(reason) = binding {
                let text = std::fs::read_to_string(&s.file).unwrap_or_default();
                let at =
                    if matches!(reason, SkipReason::NoBoardForRole { .. }) && !s.needs.is_empty() {
                        "needs"
                    } else {
                        "boards"
                    };
                let (line, column) = locate::locate_nearest(&text, &YamlPath::root().key(at));
                diags.push(Diagnostic {
                    file: s.file.clone(),
                    line,
                    column,
                    severity: Severity::Warning,
                    message: format!(
                        "scenario `{}` would be skipped on rig `{}`: {reason}",
                        s.name, rig.name
                    ),
                });
            }
        }
    }
    diags
}
