//! `--fail-fast` / `--max-fail N` / `--no-fail-fast` through the binary, on simulated
//! boards: once N scenario attempts did not pass no scenario starts; the ones left out
//! are skipped with the reason (never dropped), the exit code still says what failed,
//! and `--rerun-failed` runs them next time.

use std::collections::BTreeMap;

use crate::support::process::{describe, otarig_in, s, USAGE};
use crate::support::run::{sim_bench, QUICK_TIMEOUTS};

/// `a-fails` fails in a second; `b-passes` and `c-passes` pass.
fn bench() -> tempfile::TempDir {
    let dir = sim_bench(None, Some(QUICK_TIMEOUTS));
    let scenario = |name: &str, expect: &str| {
        format!(
            "name: {name}\nboards:\n  dut: {{}}\nsteps:\n  - expect: {{ board: dut, {expect} }}\nrecovery: {{ within: 4s, settle: 1s }}\n"
        )
    };
    for (name, expect) in [
        ("a-fails", "console: 'a line no board prints', within: 1s"),
        ("b-passes", "online: true, within: 10s"),
        ("c-passes", "online: true, within: 10s"),
    ] {
        std::fs::write(
            dir.path().join(format!("scenarios/{name}.yaml")),
            scenario(name, expect),
        )
        .unwrap();
    }
    dir
}

fn run(dir: &std::path::Path, args: &[&str]) -> (crate::support::process::Out, serde_json::Value) {
    let mut all = vec![
        "run",
        "--rig",
        "rigs/bench.yaml",
        "--jobs",
        "1",
        "--report-dir",
        "reports",
        "--state-dir",
        "state",
    ];
    all.extend_from_slice(args);
    let out = otarig_in(&all, dir);
    let summary = std::fs::read_to_string(dir.join("reports/latest/summary.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_default();
    (out, summary)
}

/// scenario → (verdict, skip reason) of its one attempt.
fn attempts(summary: &serde_json::Value) -> BTreeMap<String, (String, Option<String>)> {
    summary["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let verdict = s["boards"].get(0).map_or("skipped".to_string(), |b| {
                b["verdict"].as_str().unwrap().to_string()
            });
            (
                s["name"].as_str().unwrap().to_string(),
                (verdict, s["skipped"].as_str().map(str::to_string)),
            )
        })
        .collect()
}

#[test]
fn fail_fast_skips_what_is_left_with_the_reason_and_rerun_failed_runs_it() {
    let dir = bench();
    let (out, summary) = run(dir.path(), &["--fail-fast", "scenarios"]);
    assert_eq!(
        out.code,
        Some(1),
        "the failure decides the exit code: {}",
        describe(&out)
    );
    let got = attempts(&summary);
    assert_eq!(got["a-fails"].0, "failed", "{}", describe(&out));
    let reason = "not run: --max-fail 1 reached (1 scenario attempt did not pass: a-fails); run with --no-fail-fast to run every scenario";
    for name in ["b-passes", "c-passes"] {
        assert_eq!(
            got[name],
            ("skipped".to_string(), Some(reason.to_string())),
            "{}",
            describe(&out)
        );
    }
    let stopped: Vec<bool> = summary["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["run_stopped"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(stopped.iter().filter(|s| **s).count(), 2, "{summary}");
    assert_eq!(summary["stats"]["skipped"], 2);
    assert_eq!(summary["stats"]["failed"], 1);

    // Said in the table and in JUnit, not only in summary.json.
    let table: Vec<&str> = out.stdout.lines().collect();
    for name in ["b-passes", "c-passes"] {
        let row = table
            .iter()
            .position(|l| l.starts_with("SKIP") && l.contains(name))
            .unwrap_or_else(|| panic!("no SKIP row for {name}: {}", describe(&out)));
        assert_eq!(
            table[row + 1],
            format!("    {reason}"),
            "{}",
            describe(&out)
        );
    }
    let junit = std::fs::read_to_string(dir.path().join("reports/latest/junit.xml")).unwrap();
    assert_eq!(
        junit
            .matches(&format!("<skipped message=\"{reason}\"/>"))
            .count(),
        2,
        "{junit}"
    );

    // The next `--rerun-failed` runs the failure and what the limit left out.
    let (again, summary) = run(
        dir.path(),
        &["--rerun-failed", "--no-fail-fast", "scenarios"],
    );
    assert_eq!(again.code, Some(1), "{}", describe(&again));
    let got = attempts(&summary);
    let verdicts: Vec<(&str, &str)> = got
        .iter()
        .map(|(name, (verdict, _))| (name.as_str(), verdict.as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("a-fails", "failed"),
            ("b-passes", "passed"),
            ("c-passes", "passed")
        ],
        "{}",
        describe(&again)
    );
}

#[test]
fn the_last_of_max_fail_and_no_fail_fast_wins() {
    let dir = bench();
    let (out, summary) = run(
        dir.path(),
        &["--max-fail", "1", "--no-fail-fast", "scenarios"],
    );
    assert_eq!(out.code, Some(1), "{}", describe(&out));
    let got = attempts(&summary);
    assert_eq!(got["b-passes"].0, "passed", "{}", describe(&out));
    assert_eq!(got["c-passes"].0, "passed", "{}", describe(&out));
}

#[test]
fn max_fail_zero_is_a_usage_error_naming_what_to_give() {
    let dir = bench();
    let out = otarig_in(
        &[
            "run",
            "--max-fail",
            "0",
            "--report-dir",
            s(&dir.path().join("reports")),
        ],
        dir.path(),
    );
    assert_eq!(out.code, Some(USAGE), "{}", describe(&out));
    assert!(
        out.stderr
            .contains("give 1 or more, or `all` to never stop"),
        "{}",
        describe(&out)
    );
    assert!(!dir.path().join("reports").exists());
}
