//! Malformed configuration files (tests/corpus/*.yaml): each states the diagnostics
//! it must produce in `# expect: LINE:COL: text` comments. Every file must yield
//! exactly those positions (and nothing must panic); `rig-*.yaml` are rig files.

use std::path::{Path, PathBuf};

use otarig::config::{load_rig, validate_all, Diagnostics, Severity};
// Scenarios as the runner and `otarig validate` load them: checks parsed.
use otarig::scenario::load_scenarios;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn expectations(text: &str) -> Vec<(usize, usize, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|e| {
            let mut parts = e.splitn(3, ':');
            let line = parts.next().unwrap().trim().parse().unwrap();
            let col = parts.next().unwrap().trim().parse().unwrap();
            (line, col, parts.next().unwrap().trim().to_string())
        })
        .collect()
}

fn diagnostics_of(file: &Path) -> Diagnostics {
    let fixtures = corpus().join("fixtures");
    let name = file.file_name().unwrap().to_string_lossy();
    let result = if name.starts_with("rig-") {
        load_rig(file).map(|_| ())
    } else {
        load_scenarios(&[file.to_path_buf()], Some(&fixtures)).map(|_| ())
    };
    result.expect_err("a corpus file must not load")
}

#[test]
fn every_corpus_file_reports_its_problems_at_the_right_place() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus is missing files: {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expected = expectations(&text);
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let diags = diagnostics_of(file);
        for d in diags.iter() {
            assert_eq!(d.file, *file, "diagnostic names another file: {d}");
        }
        for (line, col, text) in &expected {
            let hit = diags
                .iter()
                .any(|d| d.line == *line && d.column == *col && d.message.contains(text.as_str()));
            if !hit {
                failures.push(format!(
                    "{}: expected {line}:{col}: {text}\n  got:\n{}",
                    file.display(),
                    diags.to_string().trim_end()
                ));
            }
        }
        assert_eq!(
            diags.errors().count(),
            expected.len(),
            "{}: unexpected extra diagnostics:\n{diags}",
            file.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn several_errors_in_one_file_are_all_reported_in_source_order_with_file_line_col() {
    let file = corpus().join("many-errors.yaml");
    let mut diags = diagnostics_of(&file);
    diags.sort();
    assert_eq!(diags.errors().count(), 6, "{diags}");
    let first = diags.iter().next().unwrap().to_string();
    assert_eq!(
        first,
        format!(
            "{}:9:10: error: `forever` is not a duration (expected number at 0); write e.g. `500ms`, `30s`, `2m`, `1h`",
            file.display()
        ),
        "the Display form is file:line:col: error: message"
    );
}

#[test]
fn diagnostics_across_files_are_collected_together() {
    let fixtures = corpus().join("fixtures");
    let files = [
        corpus().join("bad-regex.yaml"),
        corpus().join("dangling-job.yaml"),
    ];
    let diags = load_scenarios(&files, Some(&fixtures)).unwrap_err();
    assert!(
        diags.iter().any(|d| d.file.ends_with("bad-regex.yaml")),
        "{diags}"
    );
    assert!(
        diags.iter().any(|d| d.file.ends_with("dangling-job.yaml")),
        "{diags}"
    );
}

#[test]
fn a_missing_path_is_a_diagnostic_not_a_panic() {
    let missing = corpus().join("no-such-dir");
    let diags = load_scenarios(std::slice::from_ref(&missing), None).unwrap_err();
    assert_eq!(diags.iter().next().unwrap().file, missing);
}

#[test]
fn binding_problems_are_warnings_under_validate_with_a_rig() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("rigs/bench.yaml");
    std::fs::create_dir(dir.path().join("rigs")).unwrap();
    std::fs::write(
        &rig,
        "boards:\n  - name: a\n    thing_name: Thing1\n    flash: { probe-rs: { chip: STM32U585AIIx } }\n    console: { serial: { port: /dev/ttyACM0 } }\n    power: { probe: {} }\n",
    )
    .unwrap();
    let two = dir.path().join("two-boards.yaml");
    std::fs::write(
        &two,
        "name: two-boards\nboards: { a: {}, b: {} }\nsteps:\n  - wait: 1s\n",
    )
    .unwrap();
    let cut = dir.path().join("needs-power.yaml");
    std::fs::write(&cut, "name: needs-power\nneeds: [power_cycle]\nboards: { a: {} }\nsteps:\n  - power_cycle: { boards: a }\n").unwrap();
    let diags = validate_all(
        Some(&rig),
        &[two.clone(), cut.clone()],
        None,
        &otarig::scenario::bound_checks::check,
    );
    assert!(!diags.has_errors(), "{diags}");
    let warnings: Vec<String> = diags.warnings().map(|d| d.to_string()).collect();
    assert_eq!(warnings.len(), 2, "{diags}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("needs-power.yaml:2:8: warning:")
                && w.contains("capability power_cycle")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("two-boards.yaml:2:9: warning:")
                && w.contains("needs 2 boards, the rig has 1")),
        "{warnings:?}"
    );
    assert!(diags.iter().all(|d| d.severity == Severity::Warning));
    let out = otarig::cli::catalog::validate(
        &[two, cut],
        Some(&rig),
        None,
        &otarig::scenario::bound_checks::check,
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.text.starts_with("ok: 3 file(s) valid, 2 warning(s)"),
        "{out:?}"
    );
}

/// A scenario of `n` steps of every kind (the `job` step first, so later ones refer to it).
pub fn many_steps(name: &str, n: usize) -> String {
    let kinds = [
        "  - expect: { board: dut, online: true, within: 1s }\n",
        "  - wait: 10ms\n",
        "  - power_cycle: { boards: all, off_for: 10ms }\n",
        "  - expect:\n      board: dut\n      console: 'step (?P<n>\\d+)'\n      within: 2s\n",
        "  - link: { board: dut, faults: [{ delay: { by: 5ms, jitter: 1ms } }] }\n",
        "  - never: { board: dut, console: 'Hard fault' }\n",
        "  - expect: { board: dut, job: SUCCEEDED, of: up, within: 1m }\n",
    ];
    let mut text = format!(
        "name: {name}\nboards: {{ dut: {{}} }}\nsteps:\n  - job: {{ id: up, image: app-v5, targets: all }}\n"
    );
    for i in 1..n {
        text.push_str(kinds[i % kinds.len()]);
    }
    text
}

#[test]
fn a_scenario_of_ten_thousand_steps_loads_with_every_step_and_line() {
    // Loading is linear in the file (config::yaml_index): the whole catalog's worth of
    // steps in one file loads in a fraction of a second (`cargo bench --bench config_load`).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.yaml");
    std::fs::write(&file, many_steps("long", 10_000)).unwrap();
    let scenarios =
        load_scenarios(std::slice::from_ref(&file), None).unwrap_or_else(|d| panic!("{d}"));
    let s = &scenarios[0];
    assert_eq!(s.steps.len(), 10_000);
    assert_eq!(s.step_lines.len(), 10_000);
    assert_eq!(s.step_lines[0], 4);
    assert!(s.step_lines.windows(2).all(|w| w[0] < w[1]));
    // The last step's line, counted from the text.
    let text = std::fs::read_to_string(&file).unwrap();
    let last = text.lines().count()
        - text
            .lines()
            .rev()
            .position(|l| l.starts_with("  - "))
            .unwrap();
    assert_eq!(s.step_lines[9_999], last);
}

#[test]
fn errors_in_a_long_scenario_are_all_reported_at_their_steps() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long-bad.yaml");
    let mut text = many_steps("long-bad", 2_000);
    text.push_str(
        "  - wait: 0s\n  - reboot: {}\n  - expect: { board: ghost, online: true, within: 1s }\n",
    );
    std::fs::write(&file, &text).unwrap();
    let d = load_scenarios(std::slice::from_ref(&file), None).unwrap_err();
    let lines = text.lines().count();
    let at = |line: usize, col: usize, msg: &str| {
        assert!(
            d.iter()
                .any(|x| (x.line, x.column) == (line, col) && x.message.contains(msg)),
            "{line}:{col}: {msg}\n{d}"
        );
    };
    at(lines - 2, 11, "wait 0s is below the minimum 10ms");
    at(lines - 1, 5, "steps[2001]: unknown variant `reboot`");
    at(lines, 22, "role `ghost` is not declared");
    assert_eq!(d.errors().count(), 3, "{d}");
}

#[test]
fn a_deeply_nested_file_is_rejected_at_once_at_the_level_too_deep() {
    let dir = tempfile::tempdir().unwrap();
    // 200 KB of brackets: libyaml alone would take tens of seconds to read it all.
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let scenario = dir.path().join("deep.yaml");
    std::fs::write(
        &scenario,
        format!("name: deep\nboards: {{ dut: {{}} }}\nsteps:\n  - wait: {deep}\n"),
    )
    .unwrap();
    let d = load_scenarios(std::slice::from_ref(&scenario), None).unwrap_err();
    assert_eq!(d.len(), 1, "{d}");
    let e = d.iter().next().unwrap();
    assert_eq!((e.line, e.column), (4, 40), "{e}");
    assert!(e.message.contains("nested more than 32 levels"), "{e}");
    // Rigs and block nesting alike.
    let rig = dir.path().join("rig-deep.yaml");
    let mut block = String::from("boards:\n");
    for level in 1..=40 {
        block.push_str(&format!("{}- x:\n", "  ".repeat(level)));
    }
    std::fs::write(&rig, block).unwrap();
    let d = load_rig(&rig).unwrap_err();
    assert!(
        d.iter()
            .next()
            .unwrap()
            .message
            .contains("nested more than 32 levels"),
        "{d}"
    );
}
