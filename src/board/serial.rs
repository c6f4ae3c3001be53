//! A board's console on a serial port (`serialport`): by path or USB identity, or over
//! the network through ser2net (`rfc2217://`, `socket://`: [`super::network_serial`]),
//! read on a blocking thread and split into lines without losing a byte. A port that
//! vanishes (the board lost power, the USB adapter re-enumerated, ser2net closed the
//! connection) is re-opened when it comes back, within the same run.
//!
//! Also here: the flash robustness check of the AWS harness, which needs only "did a
//! console line arrive": flash, and if the console stays silent for a boot window, flash
//! again; a board silent after every attempt is a bench error, not a firmware failure.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use serialport::{DataBits, Parity, StopBits};
use tokio::sync::{mpsc, watch};

use super::discovery::{list_serial_ports, resolve_usb_port, UsbId};
use super::native::RIG_LINE_PREFIX;
use super::network_serial::{self, Framing};
use super::{BoardError, Console, FlashImage, Flasher, LineTx, PartEvents};
use crate::model::NetworkSerialPort;
use crate::timeline::EventKind;

/// A line longer than this is delivered in pieces (binary garbage has no line endings).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How long a blocking read waits before the reader checks whether it should stop.
const READ_POLL: Duration = Duration::from_millis(100);

/// Which port: a device path (best: `/dev/serial/by-id/...`), a USB identity, or ser2net
/// on the network. A path written as a URL (`rfc2217://HOST:PORT`) is the network's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortSpec {
    Path(PathBuf),
    Usb(UsbId),
    Network(NetworkSerialPort),
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortSpec::Path(p) => write!(f, "{}", p.display()),
            PortSpec::Usb(id) => write!(f, "usb {id}"),
            PortSpec::Network(url) => write!(f, "{url}"),
        }
    }
}

/// A serial console as the rig describes it (filled by the lead from the resolved config).
#[derive(Clone, Debug)]
pub struct SerialConsoleOptions {
    pub board: String,
    pub port: PortSpec,
    pub baud: u32,
    pub data_bits: DataBits,
    pub parity: Parity,
    pub stop_bits: StopBits,
    /// Pause between attempts to re-open a vanished port.
    pub reopen_interval: Duration,
}

impl SerialConsoleOptions {
    /// 8N1 at `baud`, re-opening every 200 ms. A path written as a URL
    /// (`rfc2217://HOST:PORT`) is a network port.
    pub fn new(board: impl Into<String>, port: PortSpec, baud: u32) -> Self {
        let port = match port {
            PortSpec::Path(p) => match p.to_str().map(str::parse::<NetworkSerialPort>) {
                Some(Ok(url)) => PortSpec::Network(url),
                _ => PortSpec::Path(p),
            },
            other => other,
        };
        SerialConsoleOptions {
            board: board.into(),
            port,
            baud,
            data_bits: DataBits::Eight,
            parity: Parity::None,
            stop_bits: StopBits::One,
            reopen_interval: Duration::from_millis(200),
        }
    }
}

/// Framing from the rig's `data_bits`, `parity` (none|odd|even), `stop_bits`.
pub fn parse_framing(
    data_bits: u8,
    parity: &str,
    stop_bits: u8,
) -> Result<(DataBits, Parity, StopBits), String> {
    let data = match data_bits {
        5 => DataBits::Five,
        6 => DataBits::Six,
        7 => DataBits::Seven,
        8 => DataBits::Eight,
        n => return Err(format!("data_bits {n} (expected 5, 6, 7 or 8)")),
    };
    let parity = match parity {
        "none" => Parity::None,
        "odd" => Parity::Odd,
        "even" => Parity::Even,
        p => return Err(format!("parity `{p}` (expected none, odd or even)")),
    };
    let stop = match stop_bits {
        1 => StopBits::One,
        2 => StopBits::Two,
        n => return Err(format!("stop_bits {n} (expected 1 or 2)")),
    };
    Ok((data, parity, stop))
}

/// Splits a byte stream into lines on LF, CRLF and lone CR, across reads. Bytes that are
/// not UTF-8 are kept as `\xNN` text, so nothing the board sent is lost.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
    /// The last byte was CR: an LF right after it ends the same line.
    after_cr: bool,
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the lines they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::take(&mut self.after_cr);
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    lines.push(decode(&self.pending));
                    self.pending.clear();
                    self.after_cr = b == b'\r';
                }
                _ => {
                    self.pending.push(b);
                    if self.pending.len() >= MAX_LINE_BYTES {
                        lines.push(decode(&self.pending));
                        self.pending.clear();
                    }
                }
            }
        }
        lines
    }

    /// The partial line, if any (the stream ended or the port vanished mid-line).
    pub fn finish(&mut self) -> Option<String> {
        self.after_cr = false;
        if self.pending.is_empty() {
            return None;
        }
        let line = decode(&self.pending);
        self.pending.clear();
        Some(line)
    }
}

/// UTF-8 as is; every invalid byte as `\xNN`.
pub fn decode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

struct Shared {
    options: SerialConsoleOptions,
    stop: AtomicBool,
    /// How many times the port has been opened by the reader (1 = first open).
    opened: watch::Sender<u64>,
    events: Mutex<Option<PartEvents>>,
}

impl Shared {
    fn note(&self, tx: &LineTx, text: String) {
        tracing::info!(board = %self.options.board, "{text}");
        let _ = tx.send(format!("{RIG_LINE_PREFIX} {text}"));
        if let Some(events) = &*self.events.lock().expect("serial events lock") {
            events.emit(EventKind::Note { text });
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// The console part on a serial port.
pub struct SerialConsole {
    shared: Arc<Shared>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl SerialConsole {
    pub fn new(options: SerialConsoleOptions) -> Self {
        SerialConsole {
            shared: Arc::new(Shared {
                options,
                stop: AtomicBool::new(false),
                opened: watch::channel(0).0,
                events: Mutex::new(None),
            }),
            reader: Mutex::new(None),
        }
    }

    /// Where vanish/re-open notes go (the current run's timeline).
    pub fn set_events(&self, events: PartEvents) {
        *self.shared.events.lock().expect("serial events lock") = Some(events);
    }

    /// Counts opens of the port: 1 after attach, +1 for each re-open after it vanished.
    pub fn opened(&self) -> watch::Receiver<u64> {
        self.shared.opened.subscribe()
    }

    /// Opens and closes the port once (what `otarig doctor` checks); returns its path.
    pub fn check_open(&self) -> Result<String, BoardError> {
        open_port(&self.shared.options).map(|(path, _)| path)
    }
}

/// What the reader reads: a local port or a network connection.
type PortReader = Box<dyn Read + Send>;

/// Resolves the port (by USB identity, each time: the ttyUSBn number may change) and opens it.
fn open_port(o: &SerialConsoleOptions) -> Result<(String, PortReader), BoardError> {
    let path = match &o.port {
        PortSpec::Network(url) => return open_network(o, url),
        PortSpec::Path(p) if NetworkSerialPort::looks_like_url(&p.to_string_lossy()) => {
            let text = p.to_string_lossy();
            let url = text.parse().map_err(|e| BoardError::PortMissing {
                port: text.to_string(),
                message: format!("board {}: {e}", o.board),
            })?;
            return open_network(o, &url);
        }
        PortSpec::Path(p) => p.display().to_string(),
        PortSpec::Usb(id) => {
            let ports = list_serial_ports().map_err(|e| BoardError::PortMissing {
                port: o.port.to_string(),
                message: format!("board {}: {e}", o.board),
            })?;
            resolve_usb_port(id, &ports).map_err(|message| BoardError::PortMissing {
                port: o.port.to_string(),
                message: format!("board {}: {message}", o.board),
            })?
        }
    };
    let port = serialport::new(&path, o.baud)
        .data_bits(o.data_bits)
        .parity(o.parity)
        .stop_bits(o.stop_bits)
        .timeout(READ_POLL)
        .open_native()
        .map_err(|e| {
            let hint = match e.kind() {
                serialport::ErrorKind::NoDevice => {
                    "is the adapter plugged in and the path right? `otarig probes` lists ports"
                }
                serialport::ErrorKind::Io(ErrorKind::NotFound) => {
                    "no such device; `otarig probes` lists ports"
                }
                serialport::ErrorKind::Io(ErrorKind::PermissionDenied) => {
                    "permission denied: add the bench user to the `dialout` group"
                }
                _ => "is another program (minicom, screen, an IDE) holding it?",
            };
            BoardError::PortMissing {
                port: path.clone(),
                message: format!("board {}: {e} ({hint})", o.board),
            }
        })?;
    Ok((path, Box::new(port)))
}

/// ser2net on the network, with the console's framing asked of it (RFC 2217).
fn open_network(
    o: &SerialConsoleOptions,
    url: &NetworkSerialPort,
) -> Result<(String, PortReader), BoardError> {
    let data_bits = match o.data_bits {
        DataBits::Five => 5,
        DataBits::Six => 6,
        DataBits::Seven => 7,
        DataBits::Eight => 8,
    };
    let stop_bits = match o.stop_bits {
        StopBits::One => 1,
        StopBits::Two => 2,
    };
    let framing = Framing::new(o.baud, data_bits, o.parity, stop_bits);
    let stream =
        network_serial::open(url, framing, READ_POLL).map_err(|e| BoardError::PortMissing {
            port: url.to_string(),
            message: format!("board {}: {e}", o.board),
        })?;
    Ok((url.to_string(), Box::new(stream)))
}

/// Reads until told to stop; survives the port vanishing and coming back.
fn read_loop(shared: Arc<Shared>, mut path: String, mut port: PortReader, tx: LineTx) {
    let mut splitter = LineSplitter::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let failure = loop {
            if shared.stopping() {
                if let Some(line) = splitter.finish() {
                    let _ = tx.send(line);
                }
                return;
            }
            match port.read(&mut buf) {
                Ok(0) => break "end of file".to_owned(),
                Ok(n) => {
                    for line in splitter.push(&buf[..n]) {
                        if tx.send(line).is_err() {
                            return; // nobody listens any more
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::TimedOut | ErrorKind::Interrupted | ErrorKind::WouldBlock
                    ) => {}
                Err(e) => break e.to_string(),
            }
        };
        drop(port);
        if let Some(line) = splitter.finish() {
            let _ = tx.send(line);
        }
        shared.note(
            &tx,
            format!("serial port {path} vanished ({failure}); waiting for it to come back"),
        );
        (path, port) = loop {
            std::thread::park_timeout(shared.options.reopen_interval);
            if shared.stopping() {
                return;
            }
            if let Ok(opened) = open_port(&shared.options) {
                break opened;
            }
        };
        shared.opened.send_modify(|n| *n += 1);
        shared.note(
            &tx,
            format!("serial port {path} is back; console re-opened"),
        );
    }
}

#[async_trait]
impl Console for SerialConsole {
    fn set_events(&self, events: PartEvents) {
        SerialConsole::set_events(self, events);
    }

    async fn attach(&self, tx: LineTx) -> Result<(), BoardError> {
        self.detach().await;
        let options = self.shared.options.clone();
        let (path, port) = tokio::task::spawn_blocking(move || open_port(&options))
            .await
            .map_err(|e| {
                BoardError::Other(format!(
                    "board {}: open task failed: {e}",
                    self.shared.options.board
                ))
            })??;
        self.shared.stop.store(false, Ordering::SeqCst);
        self.shared.opened.send_modify(|n| *n += 1);
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{}-serial", self.shared.options.board))
            .spawn(move || read_loop(shared, path, port, tx))
            .map_err(|e| {
                BoardError::io(
                    format!("board {}: start serial reader", self.shared.options.board),
                    e,
                )
            })?;
        *self.reader.lock().expect("serial reader lock") = Some(handle);
        Ok(())
    }

    async fn detach(&self) {
        let handle = self.reader.lock().expect("serial reader lock").take();
        if let Some(handle) = handle {
            self.shared.stop.store(true, Ordering::SeqCst);
            handle.thread().unpark();
            // The reader notices within one read poll; joining closes the port before we return.
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

impl Drop for SerialConsole {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// Passes lines through unchanged and counts them, for checks that need only "did a line
/// arrive" (see [`flash_with_console_check`]).
pub fn tap_lines(
    mut rx: mpsc::UnboundedReceiver<String>,
) -> (mpsc::UnboundedReceiver<String>, watch::Receiver<u64>) {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (count_tx, count_rx) = watch::channel(0u64);
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            count_tx.send_modify(|n| *n += 1);
            if out_tx.send(line).is_err() {
                break;
            }
        }
    });
    (out_rx, count_rx)
}

/// Flashes `image`, then waits up to `window` for a console line; a silent console means
/// the flash did not take (or the board is held in reset), so flash again, up to
/// `retries` more times. The console must be attached before calling. Lines count from
/// the moment a flash returns, so the old firmware's output during programming does not.
pub async fn flash_with_console_check(
    flasher: &dyn Flasher,
    image: &FlashImage,
    lines: &mut watch::Receiver<u64>,
    window: Duration,
    retries: u32,
    events: &PartEvents,
) -> Result<(), BoardError> {
    let attempts = retries + 1;
    for attempt in 1..=attempts {
        flasher.flash(image, events).await?;
        lines.borrow_and_update();
        match tokio::time::timeout(window, lines.changed()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(_)) => {
                return Err(BoardError::Other(format!(
                    "board {}: the console closed while waiting for the first line after flashing {}",
                    events.board, image.fixture
                )))
            }
            Err(_) if attempt < attempts => events.emit(EventKind::Note {
                text: format!(
                    "no console line within {} after flashing {} (attempt {attempt}/{attempts}); flashing again",
                    humantime::format_duration(window),
                    image.fixture
                ),
            }),
            Err(_) => {}
        }
    }
    let message = format!(
        "board {}: no console line within {} after flashing {} {attempts} time(s): check the console port, baud rate and wiring, and that the programmer releases the board from reset",
        events.board,
        humantime::format_duration(window),
        image.fixture
    );
    events.emit(EventKind::BenchError {
        message: message.clone(),
    });
    Err(BoardError::Other(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> (Vec<String>, Option<String>) {
        let mut s = LineSplitter::new();
        let lines = chunks.iter().flat_map(|c| s.push(c)).collect();
        (lines, s.finish())
    }

    #[test]
    fn lines_split_on_lf_crlf_and_cr_even_across_reads() {
        let (lines, rest) = split(&[b"a\r", b"\nb\n", b"c\rd\r\n\r\n", b"par", b"tial"]);
        assert_eq!(lines, ["a", "b", "c", "d", ""]);
        assert_eq!(rest.as_deref(), Some("partial"));
    }

    #[test]
    fn invalid_utf8_is_escaped_and_split_multibyte_characters_survive() {
        let euro = "€".as_bytes();
        let (lines, _) = split(&[b"\xff\x00ok ", &euro[..1], &euro[1..], b"\n"]);
        assert_eq!(lines, ["\\xFF\u{0}ok €"]);
    }

    #[test]
    fn an_endless_line_is_delivered_in_pieces_without_losing_bytes() {
        let data = vec![b'x'; MAX_LINE_BYTES * 2 + 5];
        let (lines, rest) = split(&[&data]);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines.iter().map(String::len).sum::<usize>() + rest.unwrap().len(),
            data.len()
        );
    }

    #[test]
    fn framing_parses_or_names_the_bad_value() {
        assert_eq!(
            parse_framing(8, "none", 1).unwrap(),
            (DataBits::Eight, Parity::None, StopBits::One)
        );
        assert!(parse_framing(9, "none", 1)
            .unwrap_err()
            .contains("data_bits 9"));
        assert!(parse_framing(8, "mark", 1)
            .unwrap_err()
            .contains("parity `mark`"));
    }
}
