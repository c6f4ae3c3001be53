//! README.md's first steps, run as a new user runs them: every `sh` block from the marker
//! comment in "The two commands" up to "Simulated boards", in order, in a fresh copy of the
//! repository's scenarios, rigs and fixtures. A block after a `<!-- not run by the README
//! test … -->` comment is left out (it needs hardware, or is `cargo test` itself).
//!
//! What differs from a person's terminal, and why: `cargo run --release -- ARGS` runs the
//! `otarig` this test suite built (same code, no second build); `otarig cloud` runs in the
//! background ("another terminal") until the steps are done, on a free port instead of
//! 8883 (tests never take a fixed port); `<ID>` is the id `job create` printed.

use std::path::Path;
use std::process::Command;

use crate::support::process::{command, describe, finish, Background, Out, ROOT};

/// One command of README's first steps, with the block it came from.
#[derive(Debug)]
struct Step {
    line: usize,
    args: Vec<String>,
}

/// The commands of the `sh` blocks README's test marker covers, comments removed.
fn steps(readme: &str) -> Vec<Step> {
    let start = readme
        .find("<!-- The sh blocks from here")
        .expect("README.md marks where its first steps start");
    let end = readme[start..]
        .find("## Simulated boards")
        .map(|i| start + i)
        .expect("README.md has a \"Simulated boards\" section after its first steps");
    let first_line = readme[..start].lines().count();
    let mut steps = Vec::new();
    let mut in_block = false;
    let mut skip_block = false;
    let mut previous = "";
    for (i, line) in readme[start..end].lines().enumerate() {
        let trimmed = line.trim();
        if !in_block && trimmed == "```sh" {
            in_block = true;
            skip_block = previous.starts_with("<!-- not run by the README test");
        } else if in_block && trimmed == "```" {
            in_block = false;
        } else if in_block && !skip_block {
            let command = match trimmed.find(" #") {
                Some(i) => &trimmed[..i],
                None => trimmed,
            }
            .trim();
            if command.is_empty() || command.starts_with('#') {
                continue;
            }
            let words: Vec<String> = command.split_whitespace().map(String::from).collect();
            let args = match words.first().map(String::as_str) {
                Some("otarig") => words[1..].to_vec(),
                Some("cargo") if words.starts_with(&["cargo".into(), "run".into()]) => {
                    let dashes = words
                        .iter()
                        .position(|w| w == "--")
                        .expect("cargo run -- ARGS");
                    words[dashes + 1..].to_vec()
                }
                _ => panic!(
                    "README.md line {}: not an otarig command: {command}",
                    first_line + i
                ),
            };
            steps.push(Step {
                line: first_line + i,
                args,
            });
        }
        if !trimmed.is_empty() {
            previous = trimmed;
        }
    }
    steps
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn readme_first_steps_run_in_order_on_a_fresh_copy() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let steps = steps(&readme);
    let names: Vec<&str> = steps.iter().map(|s| s.args[0].as_str()).collect();
    assert_eq!(
        names,
        ["run", "pki", "cloud", "fixture", "job", "job", "job", "sign"],
        "README's first steps changed: {steps:?}"
    );
    let copy = tempfile::tempdir().unwrap();
    for dir in ["scenarios", "rigs", "firmware-fixtures"] {
        copy_dir(&Path::new(ROOT).join(dir), &copy.path().join(dir));
    }
    let mut cloud: Option<Background> = None;
    let mut job_id: Option<String> = None;
    let mut done = Vec::new();
    for step in &steps {
        let args: Vec<String> = step
            .args
            .iter()
            .map(|a| match a.as_str() {
                "0.0.0.0:8883" => "127.0.0.1:0".to_string(),
                "<ID>" => job_id
                    .clone()
                    .expect("a job was created before <ID> is used"),
                _ => a.clone(),
            })
            .collect();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd: Command = command(&argv);
        cmd.current_dir(copy.path());
        if argv[0] == "cloud" {
            let mut bg = Background::spawn(&mut cmd);
            bg.ready();
            cloud = Some(bg);
            done.push(format!(
                "README.md:{}: otarig {}",
                step.line,
                args.join(" ")
            ));
            continue;
        }
        let out: Out = finish(&mut cmd);
        assert_eq!(
            out.code,
            Some(0),
            "README.md:{}: otarig {} failed after {done:#?}\n{}",
            step.line,
            args.join(" "),
            describe(&out)
        );
        if argv.starts_with(&["job", "create"]) {
            job_id = out.json()["id"].as_str().map(String::from);
        }
        done.push(format!(
            "README.md:{}: otarig {}",
            step.line,
            args.join(" ")
        ));
    }
    let mut cloud = cloud.expect("the first steps start a cloud");
    let status = cloud.interrupt();
    assert_eq!(status.code(), Some(0), "{}", cloud.context());
    assert!(
        copy.path().join("reports/latest/junit.xml").is_file(),
        "`otarig run` wrote its reports in the copy"
    );
}

#[test]
fn the_step_reader_skips_marked_blocks_and_comments() {
    let text = "<!-- The sh blocks from here -->\n```sh\notarig run   # all\n# a comment\n```\n<!-- not run by the README test: hardware -->\n```sh\notarig board list\n```\n```sh\ncargo run --release -- list --rig x\n```\n## Simulated boards\n```sh\notarig sim\n```\n";
    let args: Vec<Vec<String>> = steps(text).into_iter().map(|s| s.args).collect();
    assert_eq!(
        args,
        [
            vec!["run".to_string()],
            vec!["list".into(), "--rig".into(), "x".into()]
        ]
    );
}
