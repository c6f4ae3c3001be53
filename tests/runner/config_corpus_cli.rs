//! The malformed-input corpus through the real binary: `otarig validate` and `otarig run`
//! exit 2 for every file, name it with the line and column its `# expect:` header gives,
//! and never panic.

use std::path::{Path, PathBuf};

use crate::support::process::{otarig, s};

fn corpus() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("tests/corpus").unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // `# expect: LINE:COL: text` (the first one is enough to locate the file's error).
        let position = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .and_then(|rest| {
                let mut parts = rest.splitn(3, ':');
                Some(format!("{}:{}", parts.next()?, parts.next()?))
            })
            .unwrap_or_else(|| panic!("{} has no `# expect:` header", path.display()));
        out.push((path, position));
    }
    out.sort();
    assert!(out.len() >= 10, "the corpus is there");
    out
}

/// `otarig ARGS… FILE` with its own state folder: exit code and stderr.
fn check(args: &[&str], file: &Path) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut all = args.to_vec();
    all.extend([s(file), "--state-dir", s(tmp.path())]);
    let out = otarig(&all);
    (out.code, out.stderr)
}

#[test]
fn every_malformed_file_exits_2_with_its_position_and_no_panic() {
    for (file, position) in corpus() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (code, stderr) = if name.starts_with("rig-") {
            let out = otarig(&["run", "scenarios/greater-version.yaml", "--rig", s(&file)]);
            (out.code, out.stderr)
        } else {
            // `run` checks the rig's fixtures folder (firmware-fixtures/); the corpus's own
            // fixtures are for `validate --fixtures`.
            let fixtures = if name.contains("fixture") {
                vec![]
            } else {
                vec!["--fixtures", "tests/corpus/fixtures"]
            };
            let mut args = vec!["validate", s(&file)];
            args.extend(&fixtures);
            let validate = otarig(&args);
            assert_eq!(
                validate.code,
                Some(2),
                "validate {name}: {}",
                validate.stderr
            );
            check(&["run"], &file)
        };
        assert_eq!(code, Some(2), "{name}: {stderr}");
        let located = format!("{}:{position}", file.display());
        assert!(
            stderr.contains(&located),
            "{name}: expected `{located}` in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}
