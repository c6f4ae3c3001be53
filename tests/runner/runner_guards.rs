//! `never` guards watch the whole run, the recovery check included: a forbidden line the
//! board prints while the rig is trying to bring it back fails it too. The real binary on
//! the embedded simulated rig.

use crate::support::process::describe;
use crate::support::run::run_scenario;

#[test]
fn a_guard_is_violated_by_a_line_printed_during_the_recovery_check() {
    // The board is flashed with a build that cannot connect: it is not healthy at the
    // end, so the recovery ladder resets it, and its bootloader speaks again.
    let run = run_scenario(
        "name: guard-in-recovery\nsummary: A boot during the recovery check breaks a guard.\n\
         boards: { dut: {} }\nrecovery: { within: 3s }\nsteps:\n\
         \x20 - flash: { boards: dut, image: app-v5-bad-credentials }\n\
         \x20 - never: { board: dut, console: 'Bootloader version' }\n",
    );
    assert_eq!(run.out.code, Some(1), "{}", describe(&run.out));
    let board = &run.summary["scenarios"][0]["boards"][0];
    let why = board["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("never /Bootloader version/ was violated"),
        "{}",
        run.summary
    );
}
