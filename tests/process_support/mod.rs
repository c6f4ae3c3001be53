//! The `otarig` binary as the tests run it: a command in a folder, and what it did, for
//! assertion messages.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `otarig ARGS…` in `cwd` to the end.
pub fn otarig(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otarig"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("otarig runs")
}

/// Exit code, stdout and stderr, for a failed assertion.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A scenario run by `otarig run` on the embedded simulated rig, from the repository.
pub struct ScenarioRun {
    pub out: Output,
    /// `reports/latest/summary.json` (null when none was written).
    pub summary: serde_json::Value,
    /// The reports folder (`latest/` inside).
    pub reports: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Writes `text` (a scenario starting `name: NAME`) to a temporary `NAME.yaml` and runs it,
/// with its own state and report folders.
pub fn run_scenario(text: &str) -> ScenarioRun {
    let dir = tempfile::tempdir().unwrap();
    let name = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("name: "))
        .expect("a scenario text starts with `name: NAME`");
    let scenario = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&scenario, text).unwrap();
    let reports = dir.path().join("reports");
    let state = dir.path().join("state");
    let out = otarig(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        Path::new(env!("CARGO_MANIFEST_DIR")),
    );
    let summary = std::fs::read_to_string(reports.join("latest/summary.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    ScenarioRun {
        out,
        summary,
        reports,
        _dir: dir,
    }
}
