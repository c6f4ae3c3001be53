//! A rig's `labgrid:` section: template boards for the requests, and every mistake at
//! its position.

use std::path::Path;
use std::time::Duration;

use super::labgrid::*;
use super::rig::*;
use super::*;

fn rig(text: &str) -> Result<Rig, Diagnostics> {
    load_rig_str(text, Path::new("/repo/rigs/lab.yaml"))
}

const LAB: &str = r#"
defaults:
  timeouts: { boot: 45s }
boards:
  - { name: bench-1, thing_name: Thing9, native: { sim: {} } }
labgrid:
  coordinator: labgrid.lab:20408
  wait: 5m
  priority: 10
  boards:
    - name: pic32
      match: board=pic32mz room=2
      count: 2
      reset: 'ssh {exporter} reset-board {place}'
      flash:
        command:
          program: ssh
          args: ['{exporter}', 'flash-board', '{place}', '{image}']
    - name: sim
      match: board=otarig-sim
      thing_names: [Thing5]
      platform: sim
      power: none
      timeouts: { boot: 10s }
      flash: { command: { program: cp, args: ['{image}', '/lab/{place}/flash.bin'] } }
"#;

#[test]
fn requests_become_template_boards_after_the_rigs_own() {
    let rig = rig(LAB).unwrap_or_else(|d| panic!("{d}"));
    let names: Vec<&str> = rig.boards.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["bench-1", "pic32-1", "pic32-2", "sim-1"]);
    let lab = rig.labgrid.as_ref().unwrap();
    assert_eq!(lab.coordinator.as_deref(), Some("labgrid.lab:20408"));
    assert_eq!((lab.wait, lab.priority), (Duration::from_secs(300), 10));
    assert_eq!(lab.client, DEFAULT_CLIENT);
    let pic32 = &lab.requests[0];
    assert_eq!(pic32.boards, ["pic32-1", "pic32-2"]);
    assert_eq!(pic32.tags_text(), "board=pic32mz room=2");
    assert_eq!(pic32.power, LabgridPower::Labgrid);
    let b = rig.board("pic32-2").unwrap();
    assert_eq!(b.thing_name, THING_FROM_TAG, "from the place's tag");
    assert_eq!(b.platform, "pic32mz");
    assert_eq!(
        b.timeouts.boot,
        Duration::from_secs(45),
        "the rig's defaults"
    );
    assert!(b.can_power_cycle());
    let BoardParts::Hardware {
        power: Some(PowerConfig::Command(p)),
        ..
    } = &b.parts
    else {
        panic!("{:?}", b.parts)
    };
    assert_eq!(
        p.on,
        "labgrid-client -x labgrid.lab:20408 -p {place} power on"
    );
    assert_eq!(
        p.reset.as_deref(),
        Some("ssh {exporter} reset-board {place}")
    );
    assert_eq!(rig.labgrid_request("pic32-1").unwrap().name, "pic32");
    assert!(rig.labgrid_request("bench-1").is_none());

    let sim = rig.board("sim-1").unwrap();
    assert_eq!(
        (sim.thing_name.as_str(), sim.platform.as_str()),
        ("Thing5", "sim")
    );
    assert_eq!(
        sim.timeouts.boot,
        Duration::from_secs(10),
        "the request's own"
    );
    assert!(!sim.can_power_cycle(), "power: none");
}

#[test]
fn a_labgrid_board_name_may_not_repeat_a_rig_board() {
    // The second request would make `sim-1`, already a board of the rig.
    let e = rig(&LAB.replace("name: bench-1", "name: sim-1"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("board name `sim-1` (request `sim`, board 1)"),
        "{e}"
    );
}

#[test]
fn a_rig_may_have_labgrid_boards_only() {
    let rig = rig(&LAB.replace(
        "boards:\n  - { name: bench-1, thing_name: Thing9, native: { sim: {} } }\n",
        "",
    ))
    .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(rig.boards.len(), 3);
    assert!(
        !rig.cloud.create_pki,
        "chips with identities built in: no PKI made by a run"
    );
}

#[test]
fn mistakes_in_the_section_are_reported_at_their_value() {
    let text = r#"boards: []
labgrid:
  coordinator: nowhere
  wait: 0s
  boards:
    - name: a
      match: Board=x
      count: 2
      thing_names: [Thing1]
      power: none
      reset: 'x {place}'
      flash: { probe-rs: { chip: STM32U585AIIx } }
    - name: b
      match: board=x
      flash: { command: { program: x, args: ['{image}', '{shelf}'] } }
"#;
    let e = rig(text).unwrap_err().to_string();
    for (at, what) in [
        ("lab.yaml:3:16", "`nowhere` is not `HOST:PORT`"),
        ("lab.yaml:4:9", "below the minimum 1s"),
        ("lab.yaml:7:14", "tag key `Board`"),
        ("lab.yaml:9:20", "1 thing name(s) for 2 board(s)"),
        ("lab.yaml:11:14", "`reset` goes with `power: labgrid`"),
        ("lab.yaml:12:26", "probe is on its exporter host"),
        ("lab.yaml:15:57", "unknown placeholder `{shelf}`"),
    ] {
        assert!(
            e.lines().any(|l| l.contains(at) && l.contains(what)),
            "no `{at}` … `{what}` in:\n{e}"
        );
    }
    assert!(
        e.contains("{board_dir}, {otarig}, {place}, {exporter})"),
        "{e}"
    );
    let e = rig("boards: []\n").unwrap_err().to_string();
    assert!(
        e.contains("or from a labgrid coordinator under `labgrid:`"),
        "{e}"
    );
}
