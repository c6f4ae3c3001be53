//! How long the whole scenario catalog takes on the embedded simulated rig
//! (`cargo bench --bench catalog`). Target: under 2 minutes on a 2-core machine.
//! A benchmark, not a test: it reports, it does not assert on time.

use std::process::Command;
use std::time::Instant;

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let reports = tmp.path().join("reports");
    let jobs = std::env::var("OTARIG_BENCH_JOBS").unwrap_or_else(|_| "8".into());
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_otarig"))
        .args(["run", "--jobs", &jobs, "--state-dir"])
        .arg(tmp.path().join("state"))
        .arg("--report-dir")
        .arg(&reports)
        .output()
        .expect("otarig runs");
    let wall = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let totals = stdout
        .lines()
        .rev()
        .find(|l| l.contains("Summary"))
        .unwrap_or("(no summary line)");
    println!(
        "catalog on rigs/sim.yaml, --jobs {jobs}: {:.1} s wall, exit {:?}",
        wall.as_secs_f64(),
        out.status.code()
    );
    println!("{}", totals.trim());
    let summary = std::fs::read_to_string(reports.join("latest/summary.json")).unwrap_or_default();
    if let Ok(file) = otarig::report::summary::from_json(&summary) {
        let mut slowest: Vec<_> = file
            .run
            .scenarios
            .iter()
            .map(|s| (s.duration.as_secs_f64(), s.name.clone()))
            .collect();
        slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (secs, name) in slowest.iter().take(5) {
            println!("  slowest: {name:<32} {secs:6.1} s");
        }
    }
}
