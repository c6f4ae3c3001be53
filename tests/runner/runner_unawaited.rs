//! A job created and never awaited is not a pass by default: the run waits for it to end
//! on each target, and a job that never ends fails the board. The real binary on the
//! embedded simulated rig.

use crate::support::process::describe;
use crate::support::run::run_scenario;

#[test]
fn a_job_that_never_ends_fails_the_board_that_never_awaited_it() {
    let run = run_scenario(
        "name: never-ends\nsummary: The board's link stalls, so the job it is given never ends.\n\
         boards: { dut: {} }\nrecovery: { settle: 1s }\nsteps:\n\
         \x20 - link: { board: dut, faults: [{ stall: { for: 10m } }] }\n\
         \x20 - job: { id: stuck, image: app-v5, targets: all }\n",
    );
    assert_eq!(run.out.code, Some(1), "{}", describe(&run.out));
    let board = &run.summary["scenarios"][0]["boards"][0];
    assert_eq!(board["verdict"], "failed", "{}", run.summary);
    let why = board["message"].as_str().unwrap();
    assert!(
        why.contains("job stuck was never awaited by an expectation and did not end within"),
        "{why}"
    );
}

#[test]
fn a_job_that_ends_by_itself_is_enough() {
    let run = run_scenario(
        "name: ends\nsummary: A good update, created and left to finish.\n\
         boards: { dut: {} }\nrecovery: { settle: 1s }\nsteps:\n\
         \x20 - job: { id: update, image: app-v5, targets: all }\n",
    );
    assert_eq!(run.out.code, Some(0), "{}", describe(&run.out));
    let board = &run.summary["scenarios"][0]["boards"][0];
    assert_eq!(board["versions"]["after"], "0.9.5", "{}", run.summary);
}
