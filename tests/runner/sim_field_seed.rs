//! The seed, reproduced exactly: the field report's "re-deploying the same version made a
//! board reject the image (`rejected: 0x23000000`), force a reset and hang until someone
//! pulled the power", as one `otarig run` of
//! tests/scenarios/field-seed/same-version-reset-hang.yaml on a simulated board with the
//! reset-hang firmware (firmware-fixtures/app-v4-reset-hangs.yaml), with no power cut on
//! the way. The scenario is not in the catalog: its verdict, recovered-by-power-cycle,
//! makes the run exit 1.

use std::path::Path;

use serde_json::Value;

use crate::support::process::{describe, otarig};
use crate::support::run::otarig_run;

const SCENARIO: &str = "tests/scenarios/field-seed/same-version-reset-hang.yaml";
/// The scenario's `not_console … for:` window: how long the board must stay silent.
const HANG_WINDOW_S: f64 = 5.0;

/// The run's events, in timeline order.
struct Events(Vec<Value>);

impl Events {
    fn load(path: &Path) -> Events {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Events(
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect(),
        )
    }

    fn of_board(e: &Value, board: &str) -> bool {
        e["source"]["board"].as_str() == Some(board)
    }

    fn console<'a>(&'a self, i: usize, board: &str) -> Option<&'a str> {
        let e = &self.0[i];
        (Self::of_board(e, board) && e["kind"] == "console")
            .then(|| e["line"].as_str())
            .flatten()
    }

    /// The first console line of `board` at or after `from` that contains `text`.
    fn line(&self, from: usize, board: &str, text: &str) -> usize {
        (from..self.0.len())
            .find(|&i| self.console(i, board).is_some_and(|l| l.contains(text)))
            .unwrap_or_else(|| panic!("no console line {text:?} from event {from} on\n{self}"))
    }

    /// The first event at or after `from` for which `pred` holds.
    fn find(&self, from: usize, what: &str, pred: impl Fn(&Value) -> bool) -> usize {
        (from..self.0.len())
            .find(|&i| pred(&self.0[i]))
            .unwrap_or_else(|| panic!("no {what} from event {from} on\n{self}"))
    }

    fn power(&self, i: usize, board: &str) -> Option<&str> {
        let e = &self.0[i];
        (Self::of_board(e, board) && e["kind"] == "power")
            .then(|| e["state"].as_str())
            .flatten()
    }

    fn t(&self, i: usize) -> f64 {
        self.0[i]["t"].as_f64().expect("t")
    }
}

impl std::fmt::Display for Events {
    /// The runner's, cloud's and power events and the console, for a failed assertion.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if e["kind"] != "mqtt" {
                writeln!(f, "{i:4} {e}")?;
            }
        }
        Ok(())
    }
}

#[test]
fn same_version_on_the_reset_hang_firmware_rejects_forces_a_reset_and_hangs_until_power_cycled() {
    let check = otarig(&["validate", SCENARIO]);
    assert_eq!(check.code, Some(0), "{}", describe(&check));

    let run = otarig_run(&[SCENARIO]);
    let out = &run.out;
    let file = run.summary_file();
    let text = &run.summary;
    let [scenario] = file.run.scenarios.as_slice() else {
        panic!("one scenario expected: {text}");
    };
    assert_eq!(scenario.name, "same-version-reset-hang");
    let [dut] = scenario.boards.as_slice() else {
        panic!("one board expected: {text}");
    };
    assert_eq!(
        dut.verdict.as_str(),
        "recovered-by-power-cycle",
        "{}",
        describe(out)
    );
    assert_eq!(out.code, Some(1), "{}", describe(out));

    let ev = Events::load(&run.latest().join("same-version-reset-hang/events.jsonl"));
    let board = dut.board.as_str();

    // Every step passed: the verdict comes from the recovery check alone, not from an
    // expectation that did not hold (the field sequence happened as the scenario says).
    let steps: Vec<&Value> =
        ev.0.iter()
            .filter(|e| e["kind"] == "step" && e["finished"] == true)
            .collect();
    assert_eq!(steps.len(), 5, "{ev}");
    assert!(steps.iter().all(|s| s["ok"] == true), "{ev}");

    // The activation reset works: the board boots 0.9.4 again and gets to its self-test.
    let job = ev.find(0, "job step", |e| e["kind"] == "step");
    let activate = ev.line(job, board, "Activating the new MCU image.");
    let activation_reset = ev.line(
        activate,
        board,
        "[prvPAL_ResetDevice] Resetting the device.",
    );
    let reboot = ev.line(activation_reset, board, "Bootloader version 00.09.00");
    let rebooted = ev.line(reboot, board, "otarig-sim app version 0.9.4 (thing ");
    let self_test = ev.line(rebooted, board, "[prvParseJobDoc] In self test mode.");
    let same = ev.line(
        self_test,
        board,
        "Failing job. We rebooted and the version is still the same.",
    );

    // 1. The rejection: the agent's FAILED status, and the cloud's execution (which may be
    // recorded before the console line saying it is sent: the console comes from a pty).
    let rejected = ev.line(
        same,
        board,
        r#"{"status":"FAILED","statusDetails":{"reason":"rejected: 0x23000000"}}"#,
    );
    let failed = ev.find(job, "FAILED execution", |e| {
        e["kind"] == "job_execution"
            && e["job_id"] == "same-v4"
            && e["status"] == "FAILED"
            && e["status_details"]["reason"] == "rejected: 0x23000000"
    });

    // 2. The forced reset.
    let forced = ev.line(
        rejected,
        board,
        "[prvResetDevice] Attempting forced reset of device...",
    );
    let reset_line = ev.line(forced, board, "[prvPAL_ResetDevice] Resetting the device.");

    // No power cut was needed to get here.
    assert!(
        (job..reset_line).all(|i| ev.power(i, board).is_none()),
        "a power event before the forced reset\n{ev}"
    );

    // 3. The hang: silence until the power is cut; the rig's reset does not help.
    let off = ev.find(reset_line, "power off", |e| {
        Events::of_board(e, board) && e["kind"] == "power" && e["state"] == "off"
    });
    assert!(
        failed < off,
        "the job was FAILED before the power cycle\n{ev}"
    );
    let silent = (reset_line + 1..off)
        .filter_map(|i| ev.console(i, board))
        .collect::<Vec<_>>();
    assert!(
        silent.is_empty(),
        "the board printed after its forced reset: {silent:?}\n{ev}"
    );
    let rig_reset = ev.find(reset_line, "rig reset", |e| {
        Events::of_board(e, board) && e["kind"] == "note" && e["text"] == "reset"
    });
    assert!(rig_reset < off, "the rig tried a reset first\n{ev}");
    assert!(
        ev.t(off) - ev.t(reset_line) >= HANG_WINDOW_S,
        "the board was silent for only {:.1} s\n{ev}",
        ev.t(off) - ev.t(reset_line)
    );

    // 4. The power cycle brings it back: bootloader, then 0.9.4.
    let on = ev.find(off, "power on", |e| {
        Events::of_board(e, board) && e["kind"] == "power" && e["state"] == "on"
    });
    // (Searched from the power off: the board was silent until then, and the first console
    // line of the new process may be recorded just before the rig's power-on event.)
    let boot = ev.line(off, board, "Bootloader version 00.09.00");
    let banner = ev.line(boot, board, "otarig-sim app version 0.9.4 (thing ");
    assert!(on < banner, "the banner came after the power on\n{ev}");
    assert!(
        (off..banner).all(|i| ev.power(i, board) != Some("off") || i == off),
        "one power cycle, not two\n{ev}"
    );
    // (The verdict may be recorded before the banner: the console is read from a pty,
    // the connection that makes the board healthy is seen at the gateway.)
    let verdict = ev.find(off, "verdict", |e| {
        Events::of_board(e, board) && e["kind"] == "verdict"
    });
    assert_eq!(ev.0[verdict]["verdict"], "recovered-by-power-cycle", "{ev}");
}
