//! The whole scenario catalog on `rigs/sim-hardware.yaml`: simulated boards reached only
//! through the hardware parts of a physical bench (a `command` flasher, a `serial` console
//! opened with serialport on the board's UART pty, `command` power). A real `otarig run`;
//! the verdicts and the evidence that the hardware code paths ran are read back from disk.

use std::path::Path;

use crate::support::run::otarig_run;

#[test]
fn the_catalog_passes_on_simulated_boards_wired_as_hardware() {
    let run = otarig_run(&["--rig", "rigs/sim-hardware.yaml"]);
    let (out, latest, state) = (&run.out, run.latest(), run.dir.path().join("state"));
    let stdout = &out.stdout;
    let file = run.summary_file();

    let scenarios = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yaml")
        })
        .count();
    assert_eq!(
        file.run.scenarios.len(),
        scenarios,
        "every catalog scenario ran"
    );
    let not_passed: Vec<String> = file
        .run
        .scenarios
        .iter()
        .flat_map(|s| {
            s.boards
                .iter()
                .filter(|b| b.verdict.as_str() != "passed")
                .map(move |b| format!("{} {}: {}", s.name, b.role, b.verdict.as_str()))
        })
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}\n{stdout}");
    assert_eq!(out.code, Some(0), "{stdout}");

    // The hardware paths, not the native ones, did the work: the command flasher ran
    // `otarig sim flash`, command power switched boards, and the serial console followed
    // a port that vanished with the board's power and came back.
    let events = std::fs::read_to_string(latest.join("same-version").join("events.jsonl")).unwrap();
    for needle in [
        " sim flash --dir ",
        r#""kind":"power","state":"on""#,
        "vanished",
        "console re-opened",
    ] {
        assert!(
            events.contains(needle),
            "`{needle}` not in same-version's events"
        );
    }
    // Every board was switched off at the end of its scenario: no board process is left.
    for board in std::fs::read_dir(state.join("boards")).unwrap() {
        let dir = board.unwrap().path();
        assert!(
            !dir.join("sim.pid").exists() && !dir.join("uart").exists(),
            "{} still powered",
            dir.display()
        );
    }
}
