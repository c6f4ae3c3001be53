//! A simulated board wired as hardware, through the commands a rig's `command` parts run:
//! `otarig sim power on|off`, `otarig sim reset`, `otarig sim flash`. Its console is read
//! the way the rig reads a real board's: the serial console part, over serialport, on the
//! pty the board names.

use std::path::Path;
use std::time::{Duration, Instant};

use otarig::board::serial::{PortSpec, SerialConsole, SerialConsoleOptions};
use otarig::board::Console;
use tokio::sync::mpsc;

use crate::support::process::{self, describe, s, Out};

const T: Duration = Duration::from_secs(20);

/// `otarig ARGS… --dir DIR`.
fn otarig(args: &[&str], dir: &Path) -> Out {
    let mut all = args.to_vec();
    all.extend(["--dir", s(dir)]);
    process::otarig(&all)
}

fn ok(out: Out) {
    assert_eq!(out.code, Some(0), "{}", describe(&out));
}

async fn expect(rx: &mut mpsc::UnboundedReceiver<String>, re: &str) {
    let re = regex::Regex::new(re).unwrap();
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(line)) if re.is_match(&line) => return,
            Ok(Some(_)) => {}
            _ => panic!("no console line matching `{re}` within {T:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_reset_and_flash_drive_the_board_and_its_serial_port_follows_the_power() {
    let root = tempfile::tempdir().unwrap();
    let dir = crate::support::sim::board(
        root.path(),
        "app-v4",
        "Thing1",
        crate::support::sim::dead_port(),
        false,
    );
    let uart = dir.join("uart");
    let uart_arg = uart.to_str().unwrap();

    ok(otarig(&["sim", "power", "on", "--tty", uart_arg], &dir));
    let console = SerialConsole::new(SerialConsoleOptions::new(
        "hw-1",
        PortSpec::Path(uart.clone()),
        115_200,
    ));
    let (tx, mut rx) = mpsc::unbounded_channel();
    console.attach(tx).await.unwrap();
    expect(&mut rx, r"^\[INFO\] otarig-sim app version 0\.9\.4").await;

    ok(otarig(&["sim", "reset"], &dir));
    expect(&mut rx, r"^Bootloader version 00\.09\.00$").await;
    expect(&mut rx, r"otarig-sim app version 0\.9\.4").await;

    // Off: the process dies at once and its port is gone; off again changes nothing.
    ok(otarig(&["sim", "power", "off"], &dir));
    assert!(!uart.exists(), "the port outlived the power");
    expect(&mut rx, r"serial port .* vanished").await;
    ok(otarig(&["sim", "power", "off"], &dir));
    let reset_off = otarig(&["sim", "reset"], &dir);
    assert_eq!(reset_off.code, Some(3));
    assert!(reset_off.stderr.contains("powered off"));

    // The programmer writes another build and releases the board: the console, still
    // attached, sees the port come back and the new version boot.
    let (v5, _) = otarig::sim::fixture::build_to_dir(
        &crate::support::sim::fixtures_dir(),
        "app-v5",
        &root.path().join("pki"),
        &root.path().join("built"),
    )
    .unwrap();
    let flash = root.path().join("v5.flash");
    std::fs::write(&flash, &v5.factory).unwrap();
    ok(otarig(
        &["sim", "flash", flash.to_str().unwrap(), "--tty", uart_arg],
        &dir,
    ));
    expect(&mut rx, r"console re-opened").await;
    expect(&mut rx, r"otarig-sim app version 0\.9\.5").await;

    console.detach().await;
    ok(otarig(&["sim", "power", "off"], &dir));
    assert!(!dir.join("sim.pid").exists());
}

/// Two tools switching one board at once (a flash retried while the first still runs, a
/// power-on from a console while a run flashes) leave one board process, not two.
#[test]
fn concurrent_power_ons_and_flashes_start_one_board_process() {
    let root = tempfile::tempdir().unwrap();
    let dir = crate::support::sim::board(
        root.path(),
        "app-v4",
        "Thing1",
        crate::support::sim::dead_port(),
        false,
    );
    let uart = dir.join("uart");
    let flash = root.path().join("copy.flash");
    std::fs::copy(dir.join("flash.bin"), &flash).unwrap();
    let tools: Vec<_> = (0..6)
        .map(|i| {
            let mut cmd = process::command(&["sim"]);
            if i % 2 == 0 {
                cmd.args(["power", "on"]);
            } else {
                cmd.arg("flash").arg(&flash);
            }
            cmd.arg("--tty").arg(&uart).arg("--dir").arg(&dir);
            cmd.spawn().unwrap()
        })
        .collect();
    for mut t in tools {
        assert!(t.wait().unwrap().success());
    }
    let boards = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmd| cmd.contains(" sim --dir ") && cmd.contains(dir.to_str().unwrap()))
        .count();
    ok(otarig(&["sim", "power", "off"], &dir));
    assert_eq!(boards, 1, "board processes on one flash file");
}
