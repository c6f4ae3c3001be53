//! The board's UART as a pseudo-terminal with a stable name, as a USB-serial adapter is to
//! a real board: the rig opens it with `serialport`, like any other serial port. The board
//! writes to the master side; the name (a symlink to the slave) goes away with the board.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

pub struct PtyUart {
    master: File,
    /// Held so the port stays a live tty while no one has it open.
    _slave: OwnedFd,
    link: PathBuf,
}

impl PtyUart {
    /// Opens a raw pty and points `link` at its slave, replacing a stale link.
    pub fn open(link: &Path) -> std::io::Result<PtyUart> {
        let pty = crate::board::pty::open_pair()?;
        let mut termios = tcgetattr(pty.slave.as_fd()).map_err(std::io::Error::from)?;
        cfmakeraw(&mut termios);
        tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &termios).map_err(std::io::Error::from)?;
        // A UART with no one listening drops bytes; it never stops the CPU.
        fcntl(pty.master.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(std::io::Error::from)?;
        let tmp = link.with_extension("link.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&pty.slave_path, &tmp)?;
        std::fs::rename(&tmp, link)?;
        Ok(PtyUart {
            master: File::from(pty.master),
            _slave: pty.slave,
            link: link.to_path_buf(),
        })
    }

    /// Sends one line with the CR LF a board's printf ends it with; a full buffer drops it.
    pub fn send_line(&mut self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        match self.master.write_all(&bytes) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => tracing::debug!("uart {}: {e}", self.link.display()),
        }
    }
}

impl Drop for PtyUart {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn lines_reach_whoever_opens_the_link_and_the_link_goes_with_the_uart() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("uart");
        let mut uart = PtyUart::open(&link).unwrap();
        let mut port = std::fs::OpenOptions::new().read(true).open(&link).unwrap();
        uart.send_line("Bootloader version 00.09.00");
        let mut buf = [0u8; 64];
        let n = port.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"Bootloader version 00.09.00\r\n");
        drop(uart);
        assert!(!link.exists());
    }

    #[test]
    fn a_uart_no_one_reads_drops_lines_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let mut uart = PtyUart::open(&dir.path().join("uart")).unwrap();
        let line = "x".repeat(1000);
        for _ in 0..2000 {
            uart.send_line(&line);
        }
    }
}
