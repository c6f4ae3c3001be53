//! The command line's conventions, as cargo-nextest's users expect them: the built-in rig
//! from any folder of a project, `--exclude`, `--partition`, `list --format json`,
//! `-q`, rig files given where scenarios go, plain progress lines in a log, and a reader
//! that goes away. The real binary.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::process::{describe, otarig, otarig_in, s, Out, BIN, ROOT, USAGE};

/// `otarig list --format json ARGS…` in the repository: the selected scenarios' names.
fn listed(args: &[&str]) -> Vec<String> {
    let mut all = vec!["list", "--format", "json"];
    all.extend_from_slice(args);
    let json = otarig(&all).json();
    json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn list_as_json_gives_each_scenario_its_file_roles_and_boards() {
    let json = otarig(&["list", "--format", "json", "--filter", "wrong-thing-name"]).json();
    assert_eq!(json["rig"], "sim");
    let catalog = std::fs::read_dir(Path::new(ROOT).join("scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yaml")
        })
        .count() as u64;
    assert_eq!(json["found"].as_u64(), Some(catalog), "{json}");
    let scenarios = json["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 1, "{json}");
    let s = &scenarios[0];
    assert_eq!(s["name"], "wrong-thing-name");
    assert_eq!(s["file"], "scenarios/wrong-thing-name.yaml");
    assert!(!s["summary"].as_str().unwrap().is_empty(), "{s}");
    assert!(s["skipped"].is_null(), "{s}");
    let roles: Vec<(String, String, String)> = s["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap().to_string();
            (f("role"), f("board"), f("thing"))
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("thing1".into(), "sim-1".into(), "Thing1".into()),
            ("thing2".into(), "sim-2".into(), "Thing2".into())
        ],
        "{s}"
    );
}

#[test]
fn a_scenario_the_rig_cannot_run_is_listed_with_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("huge.yaml"),
        format!(
            "name: huge\nboards: {{ {} }}\nsteps: [ {{ wait: 1s }} ]\n",
            (0..22)
                .map(|i| format!("r{i}: {{}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .unwrap();
    let json = otarig(&["list", "--format", "json", s(dir.path())]).json();
    let huge = &json["scenarios"][0];
    assert_eq!(huge["skipped"], "needs 22 boards, the rig has 21", "{json}");
    assert_eq!(huge["roles"].as_array().unwrap().len(), 0, "{json}");
}

#[test]
fn exclude_drops_what_it_matches_and_may_be_repeated() {
    let all = listed(&[]);
    let kept = listed(&["--exclude", "power-*", "--exclude", "wrong-*,same-version"]);
    let dropped: BTreeSet<&String> = all.iter().filter(|n| !kept.contains(n)).collect();
    assert!(!dropped.is_empty());
    for name in &dropped {
        assert!(
            name.starts_with("power-") || name.starts_with("wrong-") || *name == "same-version",
            "{name} dropped"
        );
    }
    assert!(kept.iter().all(|n| !n.starts_with("power-")), "{kept:?}");
    // --filter first, then --exclude.
    let both = listed(&["--filter", "power-*", "--exclude", "*activation"]);
    assert_eq!(both, ["power-cut-mid-download"]);
}

#[test]
fn partitions_split_the_selection_into_disjoint_shards_that_cover_it() {
    let all: BTreeSet<String> = listed(&[]).into_iter().collect();
    for kind in ["hash", "count"] {
        let mut seen = BTreeSet::new();
        let mut sizes = Vec::new();
        for k in 1..=3 {
            let shard = listed(&["--partition", &format!("{kind}:{k}/3")]);
            sizes.push(shard.len());
            for name in shard {
                assert!(seen.insert(name.clone()), "{kind}: {name} in two shards");
            }
        }
        assert_eq!(seen, all, "{kind}: the shards cover every scenario");
        if kind == "count" {
            let n = all.len();
            let even: Vec<usize> = (0..3).map(|k| n / 3 + usize::from(k < n % 3)).collect();
            assert_eq!(sizes, even, "count shards are even");
        }
    }
    // A hash shard keeps its scenarios whatever else is selected.
    let shard: BTreeSet<String> = listed(&["--partition", "hash:2/3"]).into_iter().collect();
    let narrowed: BTreeSet<String> = listed(&["--partition", "hash:2/3", "--filter", "power-*"])
        .into_iter()
        .collect();
    assert!(narrowed.is_subset(&shard), "{narrowed:?} ⊄ {shard:?}");
    let bad = otarig(&["list", "--partition", "hash:4/3"]);
    assert_eq!(bad.code, Some(USAGE), "{}", describe(&bad));
    assert!(
        bad.stderr.contains("hash:K/N or count:K/N"),
        "{}",
        bad.stderr
    );
}

#[test]
fn an_empty_shard_runs_nothing_and_passes() {
    let tmp = tempfile::tempdir().unwrap();
    // One scenario in three shards: two are empty.
    let mut empty = 0;
    for k in 1..=3 {
        let out = otarig(&[
            "run",
            "--filter",
            "same-version",
            "--partition",
            &format!("count:{k}/3"),
            "--report-dir",
            s(&tmp.path().join("reports")),
            "--state-dir",
            s(&tmp.path().join("state")),
            "--jobs",
            "1",
        ]);
        if out.stdout.contains("nothing to run: shard") {
            assert_eq!(out.code, Some(0), "{}", describe(&out));
            empty += 1;
        } else {
            assert_eq!(out.code, Some(0), "{}", describe(&out));
        }
    }
    assert_eq!(empty, 2);
}

#[test]
fn a_rig_file_among_the_paths_is_named_as_one() {
    let out = otarig(&["validate", "rigs/sim-hardware.yaml"]);
    assert_eq!(out.code, Some(0), "{}", describe(&out));
    assert!(
        out.stdout.starts_with("ok: 1 file(s) valid"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("rigs/sim-hardware.yaml is a rig file")
            && out
                .stderr
                .contains("otarig validate --rig rigs/sim-hardware.yaml"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("unknown field"), "{}", out.stderr);
    // A broken rig given that way is checked as a rig: its own errors, not a scenario's.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nboards:\n  - { name: a, thing_name: T, native: { sim: {} }, colour: red }\n",
    )
    .unwrap();
    let out = otarig(&["validate", s(&bad)]);
    assert_eq!(out.code, Some(USAGE), "{}", describe(&out));
    assert!(out.stderr.contains("colour"), "{}", out.stderr);
    for cmd in ["list", "run"] {
        let out = otarig(&[cmd, "rigs/sim.yaml"]);
        assert_eq!(out.code, Some(USAGE), "{cmd}: {}", describe(&out));
        assert!(
            out.stderr
                .contains("rigs/sim.yaml:1:1: error: this is a rig file, not a scenario: give it with --rig rigs/sim.yaml"),
            "{cmd}: {}",
            out.stderr
        );
    }
    let out = otarig(&["validate", "firmware-fixtures/app-v5.yaml"]);
    assert_eq!(out.code, Some(0), "{}", describe(&out));
    assert!(
        out.stderr.contains("is a firmware fixture"),
        "{}",
        out.stderr
    );
}

#[test]
fn outside_any_project_without_paths_the_error_names_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = otarig_in(
        &["run", "--report-dir", "r", "--state-dir", "st"],
        tmp.path(),
    );
    assert_eq!(out.code, Some(USAGE), "{}", describe(&out));
    assert!(
        out.stderr
            .contains("scenarios:1:1: error: no scenarios/ folder here or in a folder above"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("rigs/sim.yaml"), "{}", out.stderr);
}

/// `otarig run` from a folder inside the project (the built-in rig finds the project's
/// scenarios/ and firmware-fixtures/ upwards, as cargo finds Cargo.toml), with its stdout
/// closed (`otarig run | head` after head ended) and stderr a log: the run still finishes,
/// writes its reports and exits with its verdict; the log has a line per change.
#[test]
fn a_run_from_a_subfolder_with_a_closed_stdout_writes_its_reports_and_logs_each_change() {
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--filter",
            "same-version",
            "--report-dir",
            s(&reports),
            "--state-dir",
            s(&tmp.path().join("state")),
        ])
        .current_dir(Path::new(ROOT).join("docs"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let out = Out {
        code: out.status.code(),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(out.code, Some(0), "{}", describe(&out));
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("latest/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["scenarios"][0]["name"], "same-version", "{summary}");
    let log = &out.stderr;
    assert!(
        log.contains("built-in rig `sim` in project folder"),
        "the note says where it works: {log}"
    );
    for needle in [
        "    START same-version on sim-",
        "     WAIT same-version sim-",
        "     PASS [",
    ] {
        assert!(log.contains(needle), "`{needle}` not in the log:\n{log}");
    }
    assert!(!log.contains('\x1b'), "no escape codes in a log: {log:?}");
}

#[test]
fn quiet_runs_print_no_progress_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let out = otarig(&[
        "run",
        "-q",
        "--filter",
        "same-version",
        "--report-dir",
        s(&tmp.path().join("reports")),
        "--state-dir",
        s(&tmp.path().join("state")),
    ]);
    assert_eq!(out.code, Some(0), "{}", describe(&out));
    assert!(
        !out.stderr.contains("START") && !out.stderr.contains("PASS"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("1 passed"), "{}", out.stdout);
}

/// Commands whose output scripts read end quietly when the reader is gone before they
/// write (SIGPIPE, as Unix tools do), never with a panic (exit 101).
#[test]
fn script_commands_end_quietly_when_the_reader_goes_away() {
    use std::os::unix::process::ExitStatusExt;
    for args in [
        &["list"][..],
        &["list", "--format", "json"],
        &["validate"],
        &["board", "list"],
        &["board", "list", "--format", "json"],
        &["doctor"],
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(ROOT)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && out.status.code() != Some(101),
            "{args:?}: a closed pipe made otarig panic: {:?}\n{stderr}",
            out.status
        );
        assert!(
            out.status.signal() == Some(libc::SIGPIPE) || out.status.success(),
            "{args:?}: expected an end by SIGPIPE, got {:?}\n{stderr}",
            out.status
        );
    }
}
