//! How long loading takes as a file grows (`cargo bench --bench config_load`): a scenario of
//! 1,000 to 10,000 steps, one with an error in every step, and a 200 KB file nested too
//! deeply to be a configuration. Loading is linear (config::yaml_index), so ten times the
//! steps take about ten times as long; it was quadratic (10,000 steps: minutes).
//! A benchmark, not a test: it reports, it does not assert on time.

use std::path::Path;
use std::time::Instant;

const KINDS: [&str; 6] = [
    "  - expect: { board: dut, online: true, within: 1s }\n",
    "  - wait: 10ms\n",
    "  - power_cycle: { boards: all, off_for: 10ms }\n",
    "  - expect:\n      board: dut\n      console: 'step (?P<n>\\d+)'\n      within: 2s\n",
    "  - link: { board: dut, faults: [{ delay: { by: 5ms, jitter: 1ms } }] }\n",
    "  - never: { board: dut, console: 'Hard fault' }\n",
];

fn scenario(dir: &Path, name: &str, steps: usize, bad: bool) -> std::path::PathBuf {
    let mut text = format!("name: {name}\nboards: {{ dut: {{}} }}\nsteps:\n");
    for i in 0..steps {
        text.push_str(if bad {
            "  - expect: { board: ghost, online: true, within: 0s }\n"
        } else {
            KINDS[i % KINDS.len()]
        });
    }
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).expect("write");
    file
}

fn time(what: &str, bytes: u64, f: impl FnOnce() -> String) {
    let start = Instant::now();
    let outcome = f();
    println!(
        "{what:<40} {:>7} KB {:>9.1} ms  {outcome}",
        bytes / 1024,
        start.elapsed().as_secs_f64() * 1000.0
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let load = |file: &Path| match otarig::scenario::load_scenarios(&[file.to_path_buf()], None) {
        Ok(s) => format!("loaded, {} steps", s[0].steps.len()),
        Err(d) => format!("rejected, {} error(s)", d.errors().count()),
    };
    for steps in [1_000, 2_000, 5_000, 10_000] {
        let file = scenario(dir.path(), &format!("steps-{steps}"), steps, false);
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        time(&format!("{steps} steps"), size, || load(&file));
    }
    let file = scenario(dir.path(), "bad-10000", 10_000, true);
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    time("10000 steps, 2 errors each", size, || load(&file));
    let deep = dir.path().join("deep.yaml");
    let nested = "[".repeat(100_000) + &"]".repeat(100_000);
    std::fs::write(
        &deep,
        format!("name: deep\nboards: {{ dut: {{}} }}\nsteps:\n  - wait: {nested}\n"),
    )
    .expect("write");
    let size = std::fs::metadata(&deep).map(|m| m.len()).unwrap_or(0);
    time("200 KB nested 100,000 deep", size, || load(&deep));
}
