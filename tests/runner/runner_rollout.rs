//! Fleet rollouts through a scenario: a job with a rollout rate and an abort criterion
//! stops itself after its first failure, the timeline says why, and the boards it never
//! reached are judged by `no_execution` (or need nothing at all). The real binary on the
//! embedded simulated rig.

use crate::support::process::describe;
use crate::support::run::run_scenario;

#[test]
fn an_aborted_rollout_never_reaches_the_rest_of_the_fleet() {
    // One board a minute: the second is due long after the first has failed.
    let run = run_scenario(
        "name: aborted-rollout\nsummary: A bad signature fails the first board; the job stops.\n\
         boards: { first: {}, second: {}, third: {} }\nrecovery: { settle: 1s }\nsteps:\n\
         \x20 - job:\n\
         \x20     id: bad\n\
         \x20     image: app-v5\n\
         \x20     targets: all\n\
         \x20     faults: [corrupt_signature]\n\
         \x20     rollout: { maximum_per_minute: 1 }\n\
         \x20     abort: [{ failure_type: FAILED, threshold_percentage: 100, min_number_of_executed_things: 1 }]\n\
         \x20 - expect: { board: first, job: FAILED, within: 2m }\n\
         \x20 - expect: { board: second, no_execution: bad, within: 2m }\n",
    );
    assert_eq!(run.out.code, Some(0), "{}", describe(&run.out));
    let verdicts = &run.verdicts()["aborted-rollout"];
    for role in ["first", "second", "third"] {
        assert_eq!(verdicts[role], "passed", "{role}: {}", run.summary);
    }
    let events = run.read("aborted-rollout/events.jsonl");
    let note = events
        .lines()
        .find(|l| l.contains("aborted (canceled)"))
        .unwrap_or_else(|| panic!("the timeline says the job aborted:\n{events}"));
    assert!(note.contains(r#""source":"cloud""#), "{note}");
    assert!(
        note.contains("1 of 1 executed things FAILED (100.00% >= 100%, at least 1 executed)"),
        "{note}"
    );
    assert!(note.contains("2 target(s) never rolled out to"), "{note}");
    let executions = events
        .lines()
        .filter(|l| l.contains(r#""kind":"job_execution""#))
        .filter(|l| !l.contains(r#""thing":"Thing1""#))
        .count();
    assert_eq!(
        executions, 0,
        "only the first board's thing had an execution"
    );
}

#[test]
fn no_execution_fails_as_soon_as_the_job_reaches_the_board() {
    let run = run_scenario(
        "name: reached\nsummary: A job without a rollout reaches every target at once.\n\
         boards: { a: {}, b: {} }\nrecovery: { settle: 1s }\nsteps:\n\
         \x20 - job: { id: update, image: app-v5, targets: all }\n\
         \x20 - expect: { board: b, no_execution: update, within: 10m }\n",
    );
    assert_eq!(run.out.code, Some(1), "{}", describe(&run.out));
    let board = run.summary["scenarios"][0]["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["role"] == "b")
        .unwrap()
        .clone();
    assert_eq!(board["verdict"], "failed", "{}", run.summary);
    let why = board["message"].as_str().unwrap();
    assert!(
        why.contains(
            "expected no execution of job update (it stops before reaching the board) within 10m"
        ),
        "{why}"
    );
    assert!(why.contains("job update reached thing Thing"), "{why}");
}
