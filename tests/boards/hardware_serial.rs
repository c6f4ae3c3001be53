//! The serial console over pseudo-terminal pairs (`serialport::TTYPort::pair`): the test
//! holds the master side as "the board", the console opens the slave side by path. Also
//! the flash-then-console check. No real UART is involved, so baud rate and framing are
//! set but have no effect on a pty.

use crate::support::events::part_events;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use otarig::board::discovery::UsbId;
use otarig::board::serial::{
    flash_with_console_check, tap_lines, PortSpec, SerialConsole, SerialConsoleOptions,
};
use otarig::board::{BoardError, Console, FlashImage, Flasher, ImageFormat, PartEvents};
use otarig::timeline::EventKind;
use serialport::{SerialPort, TTYPort};
use tokio::sync::{mpsc, watch};

const DEADLINE: Duration = Duration::from_secs(20);

/// The board's end of a pty; the console opens `path`.
struct Board {
    master: TTYPort,
    path: PathBuf,
}

fn board() -> Board {
    let (mut master, slave) = TTYPort::pair().unwrap();
    let path = PathBuf::from(slave.name().unwrap());
    // Only the console keeps the slave open, as with a real port.
    drop(slave);
    master.set_timeout(DEADLINE).unwrap();
    Board { master, path }
}

fn console(port: &Path) -> SerialConsole {
    SerialConsole::new(SerialConsoleOptions::new(
        "pic32-a",
        PortSpec::Path(port.to_owned()),
        921_600,
    ))
}

async fn wait_opened(opened: &mut watch::Receiver<u64>, n: u64) {
    tokio::time::timeout(DEADLINE, opened.wait_for(|count| *count >= n))
        .await
        .unwrap_or_else(|_| panic!("console not opened {n} time(s) within {DEADLINE:?}"))
        .unwrap();
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("a console line within the deadline")
        .expect("console channel open")
}

async fn attached(port: &Path) -> (SerialConsole, mpsc::UnboundedReceiver<String>) {
    let console = console(port);
    let mut opened = console.opened();
    let (tx, rx) = mpsc::unbounded_channel();
    console.attach(tx).await.unwrap();
    wait_opened(&mut opened, 1).await;
    (console, rx)
}

#[tokio::test]
async fn lines_split_across_writes_crlf_and_binary_garbage_all_arrive_intact() {
    let mut b = board();
    let (console, mut rx) = attached(&b.path).await;
    for chunk in [
        &b"boot"[..],
        b"loader v1\r",
        b"\n[OTA] Ready\r\n\xfe\xff\x00bin",
        b"ary\nlast\r",
    ] {
        b.master.write_all(chunk).unwrap();
        b.master.flush().unwrap();
    }
    assert_eq!(next(&mut rx).await, "bootloader v1");
    assert_eq!(next(&mut rx).await, "[OTA] Ready");
    assert_eq!(next(&mut rx).await, "\\xFE\\xFF\u{0}binary");
    assert_eq!(next(&mut rx).await, "last");
    console.detach().await;
}

#[tokio::test]
async fn a_burst_of_100k_lines_loses_nothing() {
    const LINES: usize = 100_000;
    let b = board();
    let (console, mut rx) = attached(&b.path).await;
    let mut master = b.master;
    let writer = std::thread::spawn(move || {
        let mut chunk = Vec::new();
        for i in 0..LINES {
            chunk.extend_from_slice(
                format!("[{i:06}] prvProcessBlock: received block {i}\r\n").as_bytes(),
            );
            if chunk.len() > 48 * 1024 {
                master.write_all(&chunk).unwrap();
                chunk.clear();
            }
        }
        master.write_all(&chunk).unwrap();
        master.flush().unwrap();
        master
    });
    for i in 0..LINES {
        let line = next(&mut rx).await;
        assert_eq!(
            line,
            format!("[{i:06}] prvProcessBlock: received block {i}")
        );
    }
    let _master = writer.join().unwrap();
    console.detach().await;
}

#[tokio::test]
async fn a_port_that_vanishes_and_comes_back_is_reopened_within_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-FTDI_A-if00-port0");
    let first = board();
    std::os::unix::fs::symlink(&first.path, &link).unwrap();
    let console = console(&link);
    let (timeline, events) = part_events("pic32-a");
    console.set_events(events);
    let mut opened = console.opened();
    let (tx, mut rx) = mpsc::unbounded_channel();
    console.attach(tx).await.unwrap();
    wait_opened(&mut opened, 1).await;

    let mut master = first.master;
    master.write_all(b"before power cut\npartial li").unwrap();
    assert_eq!(next(&mut rx).await, "before power cut");
    // Power cut: the adapter disappears with its device node.
    std::fs::remove_file(&link).unwrap();
    drop(master);
    let line = next(&mut rx).await;
    let vanished = if line == "partial li" {
        next(&mut rx).await
    } else {
        line
    };
    assert!(
        vanished.starts_with("[otarig] serial port") && vanished.contains("vanished"),
        "{vanished}"
    );

    // Power back: a new device node under the same stable name.
    let mut second = board();
    std::os::unix::fs::symlink(&second.path, &link).unwrap();
    wait_opened(&mut opened, 2).await;
    second.master.write_all(b"after power on\n").unwrap();
    let back = next(&mut rx).await;
    assert!(back.contains("is back"), "{back}");
    assert_eq!(next(&mut rx).await, "after power on");

    let notes: Vec<String> = timeline
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Note { text } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(
        notes[0].contains("vanished") && notes[1].contains("is back"),
        "{notes:#?}"
    );
    console.detach().await;
}

#[tokio::test]
async fn detach_closes_the_port_so_it_can_be_attached_again() {
    let mut b = board();
    let (console, _rx) = attached(&b.path).await;
    console.detach().await;
    let mut opened = console.opened();
    let (tx, mut rx) = mpsc::unbounded_channel();
    console.attach(tx).await.unwrap();
    wait_opened(&mut opened, 2).await;
    b.master.write_all(b"again\n").unwrap();
    assert_eq!(next(&mut rx).await, "again");
    console.detach().await;
}

#[tokio::test]
async fn a_missing_port_or_usb_identity_is_a_port_missing_error_naming_the_board() {
    let err = console(Path::new("/dev/serial/by-id/usb-nothing-here"))
        .attach(mpsc::unbounded_channel().0)
        .await
        .unwrap_err();
    assert!(matches!(err, BoardError::PortMissing { .. }), "{err}");
    assert!(err.to_string().contains("board pic32-a"), "{err}");

    let id: UsbId = "0403:6001:NOSUCHSERIAL".parse().unwrap();
    let usb = SerialConsole::new(SerialConsoleOptions::new(
        "pic32-b",
        PortSpec::Usb(id),
        115_200,
    ));
    let err = usb.check_open().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("0403:6001:NOSUCHSERIAL") && text.contains("board pic32-b"),
        "{text}"
    );
}

/// A board that stays silent for its first `silent` flashes, then prints forever.
struct SilentThenTalking {
    silent: u32,
    flashes: AtomicU32,
    console: mpsc::UnboundedSender<String>,
}

#[async_trait]
impl Flasher for SilentThenTalking {
    async fn flash(&self, _: &FlashImage, _: &PartEvents) -> Result<(), BoardError> {
        let n = self.flashes.fetch_add(1, Ordering::SeqCst) + 1;
        if n > self.silent {
            let tx = self.console.clone();
            tokio::spawn(async move {
                while tx.send("[OTA] Ready".into()).is_ok() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
        Ok(())
    }
}

fn image() -> FlashImage {
    FlashImage {
        fixture: "app-v4".into(),
        path: "/fw/app-v4.hex".into(),
        format: ImageFormat::Hex,
    }
}

#[tokio::test]
async fn a_silent_console_after_flashing_means_flash_again() {
    let (tx, rx) = mpsc::unbounded_channel();
    let (_lines, mut count) = tap_lines(rx);
    let flasher = SilentThenTalking {
        silent: 2,
        flashes: AtomicU32::new(0),
        console: tx,
    };
    let (timeline, events) = part_events("pic32-a");
    flash_with_console_check(
        &flasher,
        &image(),
        &mut count,
        Duration::from_millis(300),
        2,
        &events,
    )
    .await
    .unwrap();
    assert_eq!(flasher.flashes.load(Ordering::SeqCst), 3);
    let again = timeline
        .events()
        .into_iter()
        .filter(|e| matches!(&e.kind, EventKind::Note { text } if text.contains("flashing again")))
        .count();
    assert_eq!(again, 2);
}

#[tokio::test]
async fn a_console_silent_after_every_retry_is_a_bench_error() {
    let (tx, rx) = mpsc::unbounded_channel();
    let (_lines, mut count) = tap_lines(rx);
    let flasher = SilentThenTalking {
        silent: u32::MAX,
        flashes: AtomicU32::new(0),
        console: tx,
    };
    let (timeline, events) = part_events("pic32-a");
    let err = flash_with_console_check(
        &flasher,
        &image(),
        &mut count,
        Duration::from_millis(100),
        1,
        &events,
    )
    .await
    .unwrap_err();
    assert_eq!(flasher.flashes.load(Ordering::SeqCst), 2);
    assert!(
        err.to_string().contains("no console line") && err.to_string().contains("2 time(s)"),
        "{err}"
    );
    assert!(timeline
        .events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::BenchError { .. })));
}
