//! The malformed-input corpus through the real binary: `otarig validate` and `otarig run`
//! exit 2 for every file, name it with the line and column its `# expect:` header gives,
//! and never panic.

use std::path::{Path, PathBuf};
use std::process::Command;

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

fn otarig(args: &[&str], file: &Path) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_otarig"))
        .args(args)
        .arg(file)
        .args(["--state-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_malformed_file_exits_2_with_its_position_and_no_panic() {
    for (file, position) in corpus() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (code, stderr) = if name.starts_with("rig-") {
            let out = Command::new(env!("CARGO_BIN_EXE_otarig"))
                .args(["run", "scenarios/greater-version.yaml", "--rig"])
                .arg(&file)
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        } else {
            // `run` checks the rig's fixtures folder (firmware-fixtures/); the corpus's own
            // fixtures are for `validate --fixtures`.
            let fixtures = if name.contains("fixture") {
                vec![]
            } else {
                vec!["--fixtures", "tests/corpus/fixtures"]
            };
            let out = Command::new(env!("CARGO_BIN_EXE_otarig"))
                .arg("validate")
                .arg(&file)
                .args(&fixtures)
                .output()
                .unwrap();
            let validate = (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
            assert_eq!(validate.0, Some(2), "validate {name}: {}", validate.1);
            otarig(&["run"], &file)
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
