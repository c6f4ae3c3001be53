//! Verdict counting and the exit-code mapping, the console status lines, the summary
//! table and the plain (non-terminal) progress output.

use std::time::Duration;

use otarig::report::{table, BoardResult, RunResult, ScenarioResult, Verdict};

use crate::support::events;

fn board(role: &str, verdict: Verdict, message: Option<&str>) -> BoardResult {
    BoardResult {
        thing: format!("Thing{role}"),
        message: message.map(str::to_string),
        ..events::board(role, verdict)
    }
}

fn scenario(name: &str, attempt: u32, boards: Vec<BoardResult>) -> ScenarioResult {
    ScenarioResult {
        started_wall_ms: 0,
        duration: Duration::from_millis(12_340),
        ..events::scenario(name, attempt, boards)
    }
}

fn run_of(verdicts: &[Verdict], interrupted: bool) -> RunResult {
    RunResult {
        started_wall_ms: 0,
        interrupted,
        ..events::run(
            "r",
            verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| scenario(&format!("s{i}"), 1, vec![board("a", *v, None)]))
                .collect(),
        )
    }
}

#[test]
fn exit_codes_follow_the_documented_table() {
    use Verdict::*;
    let table: &[(&[Verdict], bool, u8)] = &[
        (&[], false, 4),
        (&[Passed], false, 0),
        (&[Passed, Skipped], false, 0),
        (&[Skipped], false, 4),
        (&[Skipped, Skipped], false, 4),
        (&[Skipped, Error], false, 3),
        (&[Skipped], true, 3),
        (&[Skipped, Failed], false, 1),
        (&[Passed, Failed], false, 1),
        (&[Bricked], false, 1),
        (&[RecoveredByPowerCycle], false, 1),
        (&[Failed, Error], false, 1),
        (&[Error], false, 3),
        (&[Passed, Error, Skipped], false, 3),
        (&[Passed], true, 3),
        (&[Failed], true, 1),
    ];
    for (verdicts, interrupted, code) in table {
        let stats = run_of(verdicts, *interrupted).stats();
        assert_eq!(
            stats.exit_code(),
            *code,
            "{verdicts:?} interrupted={interrupted}"
        );
    }
}

#[test]
fn only_failed_bricked_and_recovered_blame_the_firmware() {
    let blamed: Vec<Verdict> = Verdict::ALL
        .into_iter()
        .filter(|v| v.is_firmware_failure())
        .collect();
    assert_eq!(
        blamed,
        [
            Verdict::Failed,
            Verdict::Bricked,
            Verdict::RecoveredByPowerCycle
        ]
    );
}

#[test]
fn a_pass_then_a_failure_of_the_same_role_is_flaky_and_fails_the_run() {
    let mut run = run_of(&[], false);
    run.scenarios = vec![
        scenario("s", 1, vec![board("a", Verdict::Passed, None)]),
        scenario("s", 2, vec![board("a", Verdict::Bricked, Some("gone"))]),
    ];
    let stats = run.stats();
    assert_eq!(
        (stats.flaky, stats.passed, stats.bricked, stats.scenarios),
        (1, 0, 0, 1),
        "one case, counted once, as flaky"
    );
    assert_eq!((stats.cases, stats.board_runs), (1, 2));
    assert_eq!(stats.exit_code(), 1);
    let text = table::render(&run);
    let row = text.lines().nth(1).unwrap();
    assert!(row.starts_with("FLAKY"), "{text}");
    assert!(
        row.contains(" a (sim-a) ") && row.ends_with("  flaky (1 of 2 failed): attempt 2: gone"),
        "{text}"
    );
    assert!(
        text.ends_with("1 scenario, 1 case (2 board runs): 0 passed, 1 flaky (exit 1)\n"),
        "{text}"
    );
}

#[test]
fn status_lines_are_nextest_style() {
    let s = scenario(
        "wrong-thing-name",
        1,
        vec![board("thing1", Verdict::Passed, None)],
    );
    assert_eq!(
        table::status_line(&s, &s.boards[0]),
        "     PASS [  12.3s] wrong-thing-name thing1 (sim-thing1)"
    );
    let s = scenario(
        "x",
        3,
        vec![board(
            "b",
            Verdict::RecoveredByPowerCycle,
            Some("line one\nline two"),
        )],
    );
    assert_eq!(
        table::scenario_lines(&s),
        [
            "PWR-CYCLE [  12.3s] x #3 b (sim-b)",
            "          b (sim-b): line one",
            "          line two",
        ],
        "a reason is whole, each of its lines indented"
    );
    let retry = ScenarioResult {
        retry: 1,
        ..scenario("x", 2, vec![board("b", Verdict::Passed, None)])
    };
    assert_eq!(
        table::scenario_lines(&retry),
        ["     PASS [  12.3s] x #2 retry 1 b (sim-b)"]
    );
}

/// The field's failure texts run long, the part that says what was seen last: the
/// status lines and the table give all of it (issue: cut at 100 and 300 characters).
#[test]
fn a_long_reason_is_shown_whole_under_its_row_and_its_status_line() {
    let seen = "seen: ".to_string()
        + &"[prvPAL_ActivateNewImage] Activating the new MCU image. ".repeat(8);
    let reason =
        format!("expected job SUCCEEDED within 4m, saw FAILED (rejected: 0x23000000); {seen}END");
    assert!(reason.chars().count() > 400);
    let short = "expected version 0.9.5 within 10s; seen running version 0.9.4";
    let s = scenario(
        "same-version",
        1,
        vec![
            board("dut", Verdict::Failed, Some(&reason)),
            board("peer", Verdict::Failed, Some(short)),
        ],
    );
    let lines = table::scenario_lines(&s);
    assert_eq!(lines[2], format!("          dut (sim-dut): {reason}"));
    assert_eq!(lines[3], format!("          peer (sim-peer): {short}"));

    let run = RunResult {
        scenarios: vec![s],
        ..run_of(&[], false)
    };
    let text = table::render(&run);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows.len(),
        5,
        "header, dut, its reason, peer, totals:\n{text}"
    );
    assert!(
        rows[1].starts_with("FAIL") && rows[1].ends_with("dut (sim-dut)"),
        "{text}"
    );
    assert_eq!(
        rows[2],
        format!("    {reason}"),
        "the whole reason under its row"
    );
    assert!(
        rows[3].ends_with(short),
        "a short reason stays in its cell: {text}"
    );
}

#[test]
fn the_table_lists_every_board_and_ends_with_the_totals() {
    let mut run = run_of(&[], false);
    let mut skipped = scenario("needs-power", 1, vec![]);
    skipped.skipped = Some("no power_cycle on this rig".into());
    run.scenarios = vec![
        scenario(
            "wrong-thing-name",
            1,
            vec![
                board(
                    "thing1",
                    Verdict::Failed,
                    Some("expected job FAILED within 5m, saw SUCCEEDED"),
                ),
                board("thing2", Verdict::Passed, None),
            ],
        ),
        skipped,
    ];
    let text = table::render(&run);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("VERDICT"));
    assert!(
        lines[1].starts_with("FAIL")
            && lines[1].contains("thing1 (sim-thing1)")
            && lines[1].ends_with("saw SUCCEEDED")
    );
    assert!(lines[2].starts_with("PASS"));
    assert!(lines[3].starts_with("SKIP") && lines[3].contains("no power_cycle"));
    assert_eq!(
        lines[4],
        "  Summary [  60.0s] 2 scenarios, 3 board runs: 1 passed, 1 failed, 1 skipped (exit 1)"
    );
}
