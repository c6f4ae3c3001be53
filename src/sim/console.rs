//! The board's UART: one line at a time, in the formats of docs/protocol.md §5.
//!
//! - bootloader lines and the app banner: as they are;
//! - v1 (FreeRTOS logging task): `<msgNo> <tick> ` before every line of the app, where
//!   the line itself starts with the task name (`[OTA Task] [fn] text`); ticks are
//!   milliseconds since this boot, message numbers count from 0 per boot;
//! - v3: lines as the agent formats them (`[INFO] [OTA] ...`); the app's own lines get
//!   a `[INFO] [<task>] ` prefix.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::agent::AgentKind;
use super::uart::PtyUart;

/// Where console lines go: stdout (a pty under the rig), the board's own UART pty (a
/// board wired as hardware), or a buffer in tests.
#[derive(Clone)]
pub enum Sink {
    Stdout,
    Uart(Arc<Mutex<PtyUart>>),
    Buffer(Arc<Mutex<Vec<String>>>),
}

/// Lines printed to stdout in the current step of the board's runtime (one input
/// handled), not yet written. They go out together at the end of the step, or when the
/// runtime yields: one write per step instead of one per line (a download prints two
/// lines a block, and with 1,000 boards each line was a wake-up of the rig). A power cut
/// loses only the lines of the step it cuts, as a real UART's transmit FIFO would.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Writes what [`Sink::Stdout`] holds: on the step's yield, or before the program exits.
pub fn flush_stdout() {
    let lines = std::mem::take(&mut *PENDING.lock().expect("console lines"));
    if !lines.is_empty() {
        let mut out = std::io::stdout().lock();
        // A closed console (the rig went away) must not kill the board.
        let _ = out.write_all(&lines);
        let _ = out.flush();
    }
}

impl Sink {
    /// One whole line (whole lines never interleave).
    pub fn line(&self, line: &str) {
        match self {
            Sink::Stdout => {
                let mut pending = PENDING.lock().expect("console lines");
                let first = pending.is_empty();
                pending.extend_from_slice(line.as_bytes());
                pending.push(b'\n');
                drop(pending);
                if first {
                    match tokio::runtime::Handle::try_current() {
                        // Runs once the step that printed yields.
                        Ok(runtime) => drop(runtime.spawn(async { flush_stdout() })),
                        Err(_) => flush_stdout(),
                    }
                }
            }
            Sink::Uart(uart) => uart.lock().expect("uart").send_line(line),
            Sink::Buffer(buf) => buf.lock().expect("console buffer").push(line.to_string()),
        }
    }
}

pub struct Console {
    sink: Sink,
    boot: Instant,
    msg_no: u32,
    style: Option<AgentKind>,
}

impl Console {
    pub fn new(sink: Sink) -> Console {
        Console {
            sink,
            boot: Instant::now(),
            msg_no: 0,
            style: None,
        }
    }

    /// A reset: ticks and message numbers start again; no app log format yet.
    pub fn reboot(&mut self) {
        self.boot = Instant::now();
        self.msg_no = 0;
        self.style = None;
    }

    /// The app that now runs logs in this generation's format.
    pub fn set_style(&mut self, generation: AgentKind) {
        self.style = Some(generation);
    }

    /// A line exactly as given (bootloader, banner, faults).
    pub fn raw(&mut self, line: &str) {
        self.sink.line(line);
    }

    /// A line the agent (or the PAL on its behalf) logs; `line` carries its own task
    /// name (v1) or full prefix (v3).
    pub fn agent(&mut self, line: &str) {
        match self.style {
            Some(AgentKind::V1) => {
                let line = format!("{} {} {line}", self.msg_no, self.ticks());
                self.msg_no += 1;
                self.raw(&line);
            }
            _ => self.raw(line),
        }
    }

    /// A line of the app's own task (`task` e.g. `iot_thread`).
    pub fn task(&mut self, task: &str, text: &str) {
        match self.style {
            Some(AgentKind::V1) => self.agent(&format!("[{task}] {text}")),
            _ => self.raw(&format!("[INFO] [{task}] {text}")),
        }
    }

    /// A PAL line, in the format of the running app's generation.
    pub fn pal(&mut self, text: &str) {
        match self.style {
            Some(AgentKind::V1) => self.agent(&format!("[OTA Task] {text}")),
            _ => self.raw(&format!("[INFO] [OTA_PAL] {text}")),
        }
    }

    pub fn ticks(&self) -> u128 {
        self.boot.elapsed().as_millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_lines_get_message_numbers_and_ticks_and_raw_lines_do_not() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let mut c = Console::new(Sink::Buffer(buf.clone()));
        c.raw("Bootloader version 00.09.00");
        c.set_style(AgentKind::V1);
        c.agent("[OTA Task] [OTA_AgentInit] Ready.");
        c.pal("[prvPAL_CreateFileForRx] Receive file created.");
        c.reboot();
        c.set_style(AgentKind::V3);
        c.pal("[prvPAL_CloseFile] Image header updated.");
        let lines = buf.lock().unwrap().clone();
        assert_eq!(lines[0], "Bootloader version 00.09.00");
        let re = regex::Regex::new(r"^(\d+) (\d+) \[([^\]]+)\] ").unwrap();
        let c1 = re.captures(&lines[1]).unwrap();
        assert_eq!((&c1[1], &c1[3]), ("0", "OTA Task"));
        assert!(lines[1].ends_with("[OTA_AgentInit] Ready."));
        assert!(lines[2].starts_with("1 "));
        assert_eq!(
            lines[3],
            "[INFO] [OTA_PAL] [prvPAL_CloseFile] Image header updated."
        );
    }
}
