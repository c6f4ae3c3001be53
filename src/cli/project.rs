//! Where `run`, `list`, `validate` and `doctor` work when no `--rig` is given, and what
//! kind of file a path given as a scenario is.
//!
//! Without `--rig` they use the built-in rig (`rigs/sim.yaml`, compiled in) rooted at
//! the *project folder*: the nearest folder, from the current one upwards, that holds
//! `scenarios/` or `firmware-fixtures/` (as cargo finds `Cargo.toml`); failing that, the
//! nearest such folder above the first path given; failing that, the current folder.
//! Its `scenarios/` are the default paths, its `firmware-fixtures/` the fixtures, its
//! `.otarig/` the state, whatever the folder the command runs in.

use std::path::{Path, PathBuf};

use crate::config::{self, ChipCheck, Diagnostic, Diagnostics, Rig};

/// The rig of a command, read from `--rig` or built in.
pub struct RigChoice {
    pub rig: Rig,
    /// The project folder, for the built-in rig.
    pub builtin_root: Option<PathBuf>,
}

impl RigChoice {
    /// `--rig FILE` when given, else the built-in rig at the project folder of `paths`.
    pub fn load(
        rig: Option<&Path>,
        paths: &[PathBuf],
        chip_check: Option<ChipCheck<'_>>,
    ) -> Result<Self, Diagnostics> {
        match rig {
            Some(file) => Ok(RigChoice {
                rig: config::load_rig_with(file, chip_check)?,
                builtin_root: None,
            }),
            None => {
                let root = project_root(paths);
                Ok(RigChoice {
                    rig: config::embedded_sim_rig(&root),
                    builtin_root: Some(root),
                })
            }
        }
    }

    /// The scenario paths: those given, else the project's `scenarios/` (with `--rig`:
    /// `scenarios/` here, as before); an error when that folder does not exist.
    pub fn paths(&self, given: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
        if !given.is_empty() {
            return Ok(given.to_vec());
        }
        let dir = under(self.builtin_root.as_deref(), "scenarios");
        if dir.is_dir() {
            return Ok(vec![dir]);
        }
        let mut diags = Diagnostics::new();
        diags.push(Diagnostic::error(
            &dir,
            1,
            1,
            "no scenarios/ folder here or in a folder above: give scenario files or folders (`otarig run PATH…`), or run in the project folder",
        ));
        Err(diags)
    }

    /// A line for stderr when the built-in rig works in another folder than this one.
    pub fn note(&self) -> Option<String> {
        let root = self.builtin_root.as_deref()?;
        (root != Path::new(".")).then(|| {
            format!(
                "otarig: built-in rig `{}` in project folder {} (its scenarios/, firmware-fixtures/, .otarig/); --rig FILE picks another",
                self.rig.name,
                root.display()
            )
        })
    }
}

/// `root/name`, or `name` when the root is the current folder (shorter messages).
pub fn under(root: Option<&Path>, name: &str) -> PathBuf {
    match root {
        Some(r) if r != Path::new(".") => r.join(name),
        _ => PathBuf::from(name),
    }
}

/// The project folder (see the module's comment): `.` when it is the current folder.
pub fn project_root(paths: &[PathBuf]) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if let Some(found) = nearest_project(&cwd) {
        return if found == cwd {
            PathBuf::from(".")
        } else {
            found
        };
    }
    let first = paths.first().map(|p| cwd.join(p));
    if let Some(found) = first.as_deref().and_then(nearest_project) {
        return found;
    }
    PathBuf::from(".")
}

fn nearest_project(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("scenarios").is_dir() || dir.join("firmware-fixtures").is_dir())
        .map(Path::to_path_buf)
}

/// What a YAML file given as a scenario path really is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Scenario,
    Rig,
    Fixture,
}

/// Tells rig and fixture files from scenarios by their top-level keys: a rig has a
/// list of `boards` or a `cloud`/`defaults` section, a fixture a `version` and no
/// `boards`; anything else (unreadable, not YAML, not a map) is left to the scenario
/// parser, which says what is wrong with it.
pub fn file_kind(path: &Path) -> FileKind {
    let Ok(text) = std::fs::read_to_string(path) else {
        return FileKind::Scenario;
    };
    let Ok(yaml_serde::Value::Mapping(map)) = yaml_serde::from_str::<yaml_serde::Value>(&text)
    else {
        return FileKind::Scenario;
    };
    let has = |k: &str| map.contains_key(k);
    if has("steps") {
        return FileKind::Scenario;
    }
    let boards_list = matches!(map.get("boards"), Some(yaml_serde::Value::Sequence(_)));
    if boards_list || has("cloud") || has("defaults") {
        FileKind::Rig
    } else if has("version") && !has("boards") {
        FileKind::Fixture
    } else {
        FileKind::Scenario
    }
}

/// Rig and fixture files given where scenarios are expected, as errors that say what to
/// write instead (`run`, `list`).
pub fn misplaced_files(paths: &[PathBuf]) -> Diagnostics {
    let mut diags = Diagnostics::new();
    for p in paths.iter().filter(|p| p.is_file()) {
        let message = match file_kind(p) {
            FileKind::Scenario => continue,
            FileKind::Rig => format!(
                "this is a rig file, not a scenario: give it with --rig {}",
                p.display()
            ),
            FileKind::Fixture => format!(
                "this is a firmware fixture, not a scenario: fixtures live in firmware-fixtures/ and scenarios name them (`image: {}`)",
                p.file_stem().unwrap_or_default().to_string_lossy()
            ),
        };
        diags.push(Diagnostic::error(p, 1, 1, message));
    }
    diags
}
