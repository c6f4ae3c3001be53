//! `otarig run` as the tests run it: with its own state and report folders (never the
//! repository's `.otarig/` or `reports/`, which other tests of the same process would
//! share), and the report it wrote read back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use otarig::report::summary::{self, SummaryFile};

use super::process::{describe, otarig_in, Out, ROOT};

/// A finished `otarig run` and the folder that holds its state and reports.
pub struct Run {
    pub out: Out,
    /// `latest/summary.json` as JSON (null when none was written).
    pub summary: serde_json::Value,
    /// The report folder (`latest/` inside).
    pub reports: PathBuf,
    /// The folder the run worked in; removed when the `Run` is dropped.
    pub dir: tempfile::TempDir,
}

impl Run {
    /// `reports/latest/`.
    pub fn latest(&self) -> PathBuf {
        self.reports.join("latest")
    }

    /// `latest/summary.json`; a test failure naming what the run printed when missing.
    pub fn summary_file(&self) -> SummaryFile {
        let path = self.latest().join("summary.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), describe(&self.out)));
        summary::from_json(&text).unwrap()
    }

    /// scenario → role → verdict.
    pub fn verdicts(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.summary_file()
            .run
            .scenarios
            .iter()
            .map(|s| {
                let roles = s
                    .boards
                    .iter()
                    .map(|b| (b.role.clone(), b.verdict.as_str().to_string()))
                    .collect();
                (s.name.clone(), roles)
            })
            .collect()
    }

    /// A file under `latest/`, as text.
    pub fn read(&self, path: &str) -> String {
        let path = self.latest().join(path);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// `otarig run ARGS…` from the repository (the embedded simulated rig unless ARGS name
/// one), with `--state-dir` and `--report-dir` in a new temporary folder.
pub fn otarig_run(args: &[&str]) -> Run {
    otarig_run_in(tempfile::tempdir().unwrap(), Path::new(ROOT), args)
}

/// `otarig run ARGS…` in `cwd`, with `--state-dir` and `--report-dir` in `dir`.
pub fn otarig_run_in(dir: tempfile::TempDir, cwd: &Path, args: &[&str]) -> Run {
    let reports = dir.path().join("reports");
    let state = dir.path().join("state");
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend([
        "--state-dir",
        state.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    let out = otarig_in(&all, cwd);
    let summary = std::fs::read_to_string(reports.join("latest/summary.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    Run {
        out,
        summary,
        reports,
        dir,
    }
}

/// The embedded rig's timeouts for scenario-level tests: a board that is going to fail a
/// wait fails it in seconds (a job nobody awaits must end within `recovery`).
pub const QUICK_TIMEOUTS: &str = "  timeouts:\n    boot: 10s\n    recovery: 4s\n    flash: 20s\n";

/// A new folder laid out as a repository, `rigs/`, `scenarios/` and `firmware-fixtures/`
/// (the repository's, linked, with `repo_fixtures`), holding `files` (path, text).
pub fn bench_folder(repo_fixtures: bool, files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for dir in ["rigs", "scenarios"] {
        std::fs::create_dir(root.path().join(dir)).unwrap();
    }
    let fixtures = root.path().join("firmware-fixtures");
    if repo_fixtures {
        std::os::unix::fs::symlink(Path::new(ROOT).join("firmware-fixtures"), fixtures).unwrap();
    } else {
        std::fs::create_dir(fixtures).unwrap();
    }
    for (path, text) in files {
        let path = root.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    root
}

/// A bench folder whose `rigs/bench.yaml` is `rigs/sim.yaml` with its `cloud:` section
/// replaced by `cloud` (when given) and its timeouts by `timeouts` (when given), beside the
/// repository's fixtures.
pub fn sim_bench(cloud: Option<&str>, timeouts: Option<&str>) -> tempfile::TempDir {
    let mut rig = std::fs::read_to_string(Path::new(ROOT).join("rigs/sim.yaml")).unwrap();
    let mut replace = |from: &str, to: &str, with: &str| {
        let start = rig.find(from).unwrap_or_else(|| panic!("no `{from}`"));
        let end = start + rig[start..].find(to).unwrap_or_else(|| panic!("no `{to}`"));
        rig.replace_range(start..end, with);
    };
    if let Some(cloud) = cloud {
        replace("cloud:\n", "defaults:\n", &format!("{cloud}\n"));
    }
    if let Some(timeouts) = timeouts {
        replace("  timeouts:", "  flash_retries:", timeouts);
    }
    bench_folder(true, &[("rigs/bench.yaml", &rig)])
}

/// Writes `text` (a scenario starting `name: NAME`) to `NAME.yaml` in a new bench folder
/// (the embedded rig with [`QUICK_TIMEOUTS`]) and runs it there.
pub fn run_scenario(text: &str) -> Run {
    let dir = sim_bench(None, Some(QUICK_TIMEOUTS));
    let name = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("name: "))
        .expect("a scenario text starts with `name: NAME`");
    let scenario = format!("{name}.yaml");
    std::fs::write(dir.path().join(&scenario), text).unwrap();
    let cwd = dir.path().to_path_buf();
    otarig_run_in(dir, &cwd, &["--rig", "rigs/bench.yaml", &scenario])
}
