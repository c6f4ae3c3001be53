//! `--retries` and `--repeat` through the binary, on two simulated boards wired like a
//! real bench (command flasher, serial console, command power): a board whose update does
//! not take the first time (tests/tools/wrong-image-first programs the previous build
//! once) fails one try and passes the next. Under `--retries` that is a pass on a retry,
//! `flaky-pass`, on the same board; under `--repeat` the same flake is `flaky`, a
//! failure, its attempts one after another on the same board unless `--repeat-parallel`.

use std::path::Path;

use otarig::report::summary::SummaryFile;

use crate::report_junit::validate_if_xmllint;
use crate::support::process::describe;
use crate::support::run::{bench_folder, otarig_run_in, Run};

/// The bench: hw-1 and hw-2, both programmed through the stand-in that writes the
/// previous image the first `wrong` times it is asked for app-v5.
fn rig(tool: &Path, wrong: u32) -> String {
    format!(
        r#"name: flaky-flash
cloud:
  endpoint: {{ bind: 127.0.0.1:0, tls: true, policy: permissive }}
defaults:
  profile:
    banner: 'otarig-sim app version'
    version: 'app version (?P<version>\d+\.\d+\.\d+)'
    connected: 'MQTT connection established'
  timeouts: {{ boot: 10s, recovery: 10s, flash: 20s }}
  flash_retries: 0
  baseline: app-v4
boards:
  - name: hw-1
    thing_name: Thing1
    platform: sim
    flash: &flash
      command:
        program: '{tool}'
        args: ['{wrong}', '/app-v5/', '{{otarig}}', sim, flash, --dir, '{{board_dir}}', --tty, '{{board_dir}}/uart', '{{image}}']
        timeout: 20s
    console: &console
      serial: {{ port: '{{board_dir}}/uart', baud: 115200 }}
    power: &power
      command:
        on: '{{otarig}} sim power on --dir {{board_dir}} --tty {{board_dir}}/uart'
        off: '{{otarig}} sim power off --dir {{board_dir}}'
        reset: '{{otarig}} sim reset --dir {{board_dir}}'
  - {{ name: hw-2, thing_name: Thing2, platform: sim, flash: *flash, console: *console, power: *power }}
"#,
        tool = tool.display()
    )
}

const SCENARIO: &str = "name: update-by-flash
summary: The board is programmed with 0.9.5 and runs it.
boards:
  dut: {}
steps:
  - flash: { boards: dut, image: app-v5 }
  - expect: { board: dut, version: 0.9.5, within: 5s }
recovery: { within: 10s, settle: 1s }
";

/// Runs `update-by-flash` with `args` on the bench whose programmer gets app-v5 wrong
/// the first `wrong` times.
fn run(wrong: u32, args: &[&str]) -> Run {
    let dir = bench_folder(true, &[("scenarios/update-by-flash.yaml", SCENARIO)]);
    let tool = dir.path().join("wrong-image-first");
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/wrong-image-first"),
        &tool,
    )
    .unwrap();
    std::fs::write(dir.path().join("rigs/bench.yaml"), rig(&tool, wrong)).unwrap();
    let cwd = dir.path().to_path_buf();
    let mut all = vec!["--rig", "rigs/bench.yaml", "scenarios/update-by-flash.yaml"];
    all.extend_from_slice(args);
    otarig_run_in(dir, &cwd, &all)
}

/// (attempt, retry, board, verdict) of every try, in the order they ran.
fn tries(summary: &SummaryFile) -> Vec<(u32, u32, String, String)> {
    let mut tries: Vec<_> = summary
        .run
        .scenarios
        .iter()
        .map(|s| {
            let b = &s.boards[0];
            (
                s.started_wall_ms,
                (
                    s.attempt,
                    s.retry,
                    b.board.clone(),
                    b.verdict.as_str().to_string(),
                ),
            )
        })
        .collect();
    tries.sort_by_key(|(started, _)| *started);
    tries.into_iter().map(|(_, t)| t).collect()
}

#[test]
fn a_try_that_fails_is_retried_on_the_same_board_and_a_pass_then_is_a_flaky_pass() {
    let run = run(1, &["--retries", "2"]);
    let out = &run.out;
    assert_eq!(
        out.code,
        Some(0),
        "a pass on a retry passes: {}",
        describe(out)
    );
    let summary = run.summary_file();
    assert_eq!(
        tries(&summary),
        [
            (1, 0, "hw-1".into(), "failed".into()),
            (1, 1, "hw-1".into(), "passed".into()),
        ],
        "the retry ran on the board of the failed try, and only once: {}",
        describe(out)
    );
    let failed = &summary.run.scenarios.iter().find(|s| s.retry == 0).unwrap();
    let reason = failed.boards[0].message.clone().unwrap_or_default();
    assert!(reason.contains("0.9.5"), "{reason}");

    // summary.json: one case, flaky-pass, counted as such, the failed try speaking.
    assert_eq!(summary.cases.len(), 1);
    let case = &summary.cases[0];
    assert_eq!(case.outcome.as_str(), "flaky-pass");
    assert_eq!(case.text, "flaky-pass (1 of 2 failed)");
    assert_eq!((case.attempt, case.retry), (1, 0));
    assert!(case.message.as_deref().unwrap().ends_with(&reason));
    assert_eq!((summary.stats.flaky_pass, summary.stats.passed), (1, 0));
    assert_eq!(summary.exit_code, 0);

    // The table says so, and the live lines told of the retry.
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("FLAKY-PASS") && l.contains("update-by-flash")),
        "{}",
        describe(out)
    );
    assert!(
        out.stdout
            .contains("0 passed, 1 flaky-pass (passed on a retry) (exit 0)"),
        "{}",
        describe(out)
    );
    assert!(
        out.stderr
            .contains("RETRY update-by-flash (retry 1) on hw-1"),
        "{}",
        describe(out)
    );

    // JUnit: a passing test case with the failed try as a flakyFailure (nextest's way).
    let xml = run.read("junit.xml");
    validate_if_xmllint(&xml);
    assert!(
        xml.contains(r#"<testsuites name="#) && xml.contains(r#"failures="0""#),
        "{xml}"
    );
    let case = &xml[xml.find(r#"<testcase name="dut""#).expect("the dut case")..];
    let case = &case[..case.find("</testcase>").unwrap()];
    assert!(!case.contains("<failure"), "{case}");
    assert_eq!(case.matches("<flakyFailure").count(), 1, "{case}");
    assert!(case.contains(r#"type="failed""#), "{case}");
    assert!(
        case.contains("attempt 1 retry 1"),
        "the case's console is the pass's: {case}"
    );

    // Each try has its own pages.
    for dir in ["update-by-flash", "update-by-flash.retry1"] {
        let page = run.latest().join(dir).join("timeline.html");
        assert!(page.is_file(), "{} missing", page.display());
    }
}

#[test]
fn without_retries_the_same_failure_fails_the_run() {
    let run = run(1, &[]);
    assert_eq!(run.out.code, Some(1), "{}", describe(&run.out));
    let summary = run.summary_file();
    assert_eq!(
        tries(&summary),
        [(1, 0, "hw-1".into(), "failed".into())],
        "no retry unless asked"
    );
    assert_eq!(summary.cases[0].outcome.as_str(), "failed");
}

#[test]
fn repeats_run_one_after_another_on_the_same_board_and_the_flake_fails_them() {
    let run = run(1, &["--repeat", "2"]);
    assert_eq!(
        run.out.code,
        Some(1),
        "a flaky case under --repeat is a failure: {}",
        describe(&run.out)
    );
    let summary = run.summary_file();
    assert_eq!(
        tries(&summary),
        [
            (1, 0, "hw-1".into(), "failed".into()),
            (2, 0, "hw-1".into(), "passed".into()),
        ],
        "both attempts on hw-1 although hw-2 was free: {}",
        describe(&run.out)
    );
    let [first, second] = [1, 2].map(|a| {
        summary
            .run
            .scenarios
            .iter()
            .find(|s| s.attempt == a)
            .unwrap()
    });
    let first_end = first.started_wall_ms + first.duration.as_millis() as u64;
    assert!(
        second.started_wall_ms >= first_end,
        "attempt 2 started at {} before attempt 1 ended at {first_end}",
        second.started_wall_ms
    );
    assert_eq!(summary.cases[0].outcome.as_str(), "flaky");
    assert_eq!(summary.cases[0].text, "flaky (1 of 2 failed)");
}

#[test]
fn repeat_parallel_runs_attempts_at_once_on_other_boards() {
    // The programmer never gets it wrong here: both attempts pass.
    let run = run(0, &["--repeat", "2", "--repeat-parallel"]);
    assert_eq!(run.out.code, Some(0), "{}", describe(&run.out));
    let summary = run.summary_file();
    let mut boards: Vec<String> = tries(&summary).into_iter().map(|t| t.2).collect();
    boards.sort();
    assert_eq!(boards, ["hw-1", "hw-2"], "{}", describe(&run.out));
    let [first, second] = [1, 2].map(|a| {
        summary
            .run
            .scenarios
            .iter()
            .find(|s| s.attempt == a)
            .unwrap()
    });
    let overlap = |a: &otarig::report::ScenarioResult, b: &otarig::report::ScenarioResult| {
        b.started_wall_ms < a.started_wall_ms + a.duration.as_millis() as u64
    };
    assert!(
        overlap(first, second) && overlap(second, first),
        "the attempts ran at once: {first:?} {second:?}"
    );
}
