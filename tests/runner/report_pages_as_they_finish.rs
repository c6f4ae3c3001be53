//! A scenario try's pages are written as soon as it finishes, not at the end of the run:
//! a run killed later (a CI job's timeout, the OOM killer) keeps them, and the end of a
//! run writes only its own files (index, JUnit, summary), never those pages again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::process::{command, processes_under};
use crate::support::run::{sim_bench, QUICK_TIMEOUTS};

/// `a-quick` passes in a few seconds; `b-slow` then waits `slow` for a line no board
/// prints, and fails.
fn bench(slow: &str) -> tempfile::TempDir {
    let dir = sim_bench(None, Some(QUICK_TIMEOUTS));
    for (name, expect) in [
        ("a-quick", "online: true, within: 10s".to_string()),
        (
            "b-slow",
            format!("console: 'a line no board prints', within: {slow}"),
        ),
    ] {
        std::fs::write(
            dir.path().join(format!("scenarios/{name}.yaml")),
            format!("name: {name}\nboards:\n  dut: {{}}\nsteps:\n  - expect: {{ board: dut, {expect} }}\nrecovery: {{ within: 4s, settle: 1s }}\n"),
        )
        .unwrap();
    }
    dir
}

/// A run in the background, killed if a test fails before it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `otarig run` of both, one at a time (`a-quick` first), in the background.
fn start(dir: &Path) -> Running {
    Running(
        command(&[
            "run",
            "--rig",
            "rigs/bench.yaml",
            "--jobs",
            "1",
            "--report-dir",
            "reports",
            "--state-dir",
            "state",
            "scenarios",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("otarig starts"),
    )
}

fn wait_for<T>(what: &str, limit: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The run's folder under `reports/` once it exists.
fn run_dir(dir: &Path) -> PathBuf {
    wait_for("the run's folder", Duration::from_secs(60), || {
        std::fs::read_dir(dir.join("reports"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir() && !p.ends_with("latest"))
    })
}

/// `a-quick`'s timeline page, once written.
fn first_page(run: &Path) -> PathBuf {
    let page = run.join("a-quick/timeline.html");
    wait_for("a-quick's timeline page", Duration::from_secs(60), || {
        page.is_file().then_some(())
    });
    page
}

#[test]
fn a_run_killed_mid_way_keeps_the_pages_of_the_scenarios_that_had_finished() {
    let dir = bench("60s");
    let mut child = start(dir.path());
    let run = run_dir(dir.path());
    first_page(&run);
    // b-slow waits a minute: the run is far from over.
    assert!(!run.join("b-slow/timeline.html").exists());
    assert!(!run.join("index.html").exists());
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let a = run.join("a-quick");
    for file in [
        "timeline.html",
        "sim-1.console.log",
        "sim-1.console.html",
        "sim-1.mqtt.jsonl",
    ] {
        assert!(a.join(file).is_file(), "{file} missing in {}", a.display());
    }
    let console = std::fs::read_to_string(a.join("sim-1.console.log")).unwrap();
    assert!(console.contains("app version 0.9.4"), "{console}");
    let page = std::fs::read_to_string(a.join("timeline.html")).unwrap();
    assert!(page.trim_end().ends_with("</html>"), "a whole page");
    assert!(
        !run.join("index.html").exists(),
        "the run's own files come at its end, which a killed run never reaches"
    );

    // A board of the killed run does not outlive it.
    wait_for(
        "the killed run's boards to stop",
        Duration::from_secs(30),
        || processes_under(dir.path()).is_empty().then_some(()),
    );
}

#[test]
fn the_end_of_a_run_writes_its_own_files_and_leaves_finished_pages_alone() {
    let dir = bench("3s");
    let mut child = start(dir.path());
    let run = run_dir(dir.path());
    let page = first_page(&run);
    let written = std::fs::metadata(&page).unwrap();
    assert!(
        !run.join("index.html").exists(),
        "a-quick's page came before the end of the run"
    );
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(1), "b-slow failed");

    let after = std::fs::metadata(&page).unwrap();
    assert_eq!(
        (after.ino(), after.mtime_nsec()),
        (written.ino(), written.mtime_nsec()),
        "a-quick's page was written again at the end"
    );
    assert!(run.join("b-slow/timeline.html").is_file());
    let index = std::fs::read_to_string(run.join("index.html")).unwrap();
    assert!(index.contains("a-quick/timeline.html"), "{index}");
    assert!(index.contains("b-slow/timeline.html"), "{index}");
    assert!(run.join("junit.xml").is_file() && run.join("summary.json").is_file());
}
