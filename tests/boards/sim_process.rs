//! `otarig sim` as a process under a pty, as the rig runs it.

use std::time::Duration;

use crate::support::sim::{board, dead_port, SimProcess};

const T: Duration = Duration::from_secs(30);

#[test]
fn a_factory_flashed_board_boots_app_v4_and_reports_that_no_broker_answers() {
    let root = tempfile::tempdir().unwrap();
    let dir = board(root.path(), "app-v4", "Thing1", dead_port(), true);
    let mut sim = SimProcess::start(&dir);
    sim.expect(r"^Bootloader version 00\.09\.00$", T);
    sim.expect(
        r"^\[prvBOOT_ValidateImages\] Booting image with sequence number 10 at 0x9d000000$",
        T,
    );
    let banner = sim.expect(r"otarig-sim app version", T);
    assert_eq!(banner, "[INFO] otarig-sim app version 0.9.4 (thing Thing1)");
    sim.expect(r"^\d+ \d+ \[iot_thread\] .*Failed to establish MQTT connection to 127\.0\.0\.1:\d+: .*Retrying in 1 s\.$", T);
    // The backoff grows: the next failure says 2 s.
    sim.expect(
        r"Failed to establish MQTT connection .*Retrying in 2 s\.$",
        T,
    );
    eprintln!("otarig sim VmRSS idle: {} KiB", sim.rss_kib());
}

#[test]
fn the_reset_line_runs_the_bootloader_again_in_the_same_process() {
    let root = tempfile::tempdir().unwrap();
    let dir = board(root.path(), "app-v4", "Thing1", dead_port(), false);
    let mut sim = SimProcess::start(&dir);
    sim.expect(r"otarig-sim app version 0\.9\.4", T);
    let pid = sim.pid();
    sim.reset_line();
    sim.expect(r"^Bootloader version 00\.09\.00$", T);
    sim.expect(r"otarig-sim app version 0\.9\.4", T);
    assert_eq!(sim.pid(), pid);
    assert!(sim.child.try_wait().unwrap().is_none(), "still running");
}

#[test]
fn a_board_with_a_crashing_factory_image_faults_and_stays_silent() {
    let root = tempfile::tempdir().unwrap();
    let dir = board(
        root.path(),
        "app-v5-crash-on-boot",
        "Thing1",
        dead_port(),
        false,
    );
    let mut sim = SimProcess::start(&dir);
    sim.expect(r"otarig-sim app version 0\.9\.5", T);
    sim.expect(r"^Hard fault: ", T);
}

#[test]
fn a_factory_image_without_descriptor_boots_as_the_default_image() {
    let root = tempfile::tempdir().unwrap();
    let dir = board(
        root.path(),
        "app-v4-no-descriptor",
        "Thing1",
        dead_port(),
        false,
    );
    let mut sim = SimProcess::start(&dir);
    sim.expect(
        r"No application image or magic code present at: 0x9d000000",
        T,
    );
    sim.expect(r"^\[prvBOOT_ValidateImages\] Booting default image\.$", T);
    sim.expect(r"otarig-sim app version 0\.9\.4", T);
}
