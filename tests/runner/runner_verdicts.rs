//! The runner catches what it exists to catch: the field scenarios against the buggy
//! personalities give the verdicts the field saw, and the same scenarios pass against
//! fixed firmware. Each case is a real `otarig run`: real sim processes on ptys, the
//! real gateway over TLS, the reports read back from disk.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::process::describe;
use crate::support::run::{otarig_run, Run};

/// Runs `otarig run PATHS… --jobs 4` with its own state and report folders; the exit code
/// and scenario → role → verdict.
fn run(paths: &[&str]) -> (i32, BTreeMap<String, BTreeMap<String, String>>, Run) {
    let mut args = paths.to_vec();
    args.extend(["--jobs", "4"]);
    let run = otarig_run(&args);
    eprintln!("{}", describe(&run.out));
    (run.out.code.unwrap_or(-1), run.verdicts(), run)
}

fn verdict<'a>(
    v: &'a BTreeMap<String, BTreeMap<String, String>>,
    scenario: &str,
    role: &str,
) -> &'a str {
    v.get(scenario)
        .and_then(|r| r.get(role))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no verdict for {scenario}/{role} in {v:?}"))
}

#[test]
fn field_bugs_are_classified_as_the_field_saw_them() {
    assert!(Path::new("tests/scenarios/buggy-firmware").is_dir());
    let (code, v, _tmp) = run(&["tests/scenarios/buggy-firmware"]);
    // Nothing to roll back to: the wrong-thing-name image bricks Thing1; Thing2 updates.
    assert_eq!(verdict(&v, "wrong-thing-name", "thing1"), "bricked");
    assert_eq!(verdict(&v, "wrong-thing-name", "thing2"), "passed");
    // The reset after the same-version reject hangs until power is cut.
    assert_eq!(
        verdict(&v, "same-version", "dut"),
        "recovered-by-power-cycle"
    );
    // A negative case whose board dies is never a pass (the AWS harness's blind spot).
    assert_eq!(verdict(&v, "image-crashed", "dut"), "bricked");
    assert_eq!(code, 1, "firmware failures exit with 1");
}

#[test]
fn the_same_field_scenarios_pass_against_fixed_firmware() {
    let (code, v, _tmp) = run(&[
        "scenarios/wrong-thing-name.yaml",
        "scenarios/same-version.yaml",
        "scenarios/image-crashed.yaml",
    ]);
    for (scenario, roles) in &v {
        for (role, verdict) in roles {
            assert_eq!(verdict, "passed", "{scenario}/{role}");
        }
    }
    assert_eq!(v.len(), 3);
    assert_eq!(code, 0);
}
