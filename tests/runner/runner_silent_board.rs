//! A board that prints nothing after a flash is a bench error naming it, even though the
//! rig itself notes on its console that the program exited: the rig's notes are not the
//! board speaking. The real binary, a native program that exits at once.

use crate::support::process::{describe, otarig_in};
use crate::support::run::bench_folder;

#[test]
fn the_rigs_own_console_notes_do_not_count_as_the_board_speaking() {
    let root = bench_folder(
        false,
        &[
            (
                "rigs/bench.yaml",
                "name: bench\ncloud: { endpoint: {} }\ndefaults:\n  timeouts: { boot: 2s }\n  flash_retries: 1\n  baseline: quiet\n\
                 boards:\n  - { name: quiet-1, thing_name: Thing1, native: { program: { path: /bin/true } } }\n",
            ),
            (
                "firmware-fixtures/quiet.yaml",
                "version: 1.0.0\nfiles: { posix: /bin/true }\n",
            ),
            (
                "scenarios/boots.yaml",
                "name: boots\nsummary: The board boots.\nboards: { dut: {} }\nsteps:\n  - expect: { board: dut, version: 1.0.0, within: 1s }\n",
            ),
        ],
    );
    let r = root.path();
    let out = otarig_in(
        &["run", "--rig", "rigs/bench.yaml", "--report-dir", "reports"],
        r,
    );
    assert_eq!(out.code, Some(3), "{}", describe(&out));
    let summary = std::fs::read_to_string(r.join("reports/latest/summary.json")).unwrap();
    assert!(
        summary.contains("board quiet-1 stayed silent after 2 flashes of quiet"),
        "{summary}"
    );
}
