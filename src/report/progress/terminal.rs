//! Draws the live region at the bottom of a terminal. Lines that stay (a finished
//! scenario's status lines, a log line) are written above it; the region is redrawn in
//! place: back to its first row, blank its rows, write again, all in one write. That is exact only if the region's rows are known, which [`super::layout`]
//! guarantees: no region line wraps and the region fits the screen.

use std::io::{self, Write};

use super::layout::columns;

/// The terminal's size in columns and rows, asked before every draw (it may be resized).
pub type SizeFn = Box<dyn Fn() -> (usize, usize) + Send>;

pub struct Terminal {
    out: Box<dyn Write + Send>,
    size: SizeFn,
    /// The region as it is on the screen now (the cursor at the end of its last line).
    drawn: Vec<String>,
    /// The width it was drawn at.
    drawn_width: usize,
}

impl Terminal {
    pub fn new(out: Box<dyn Write + Send>, size: SizeFn) -> Self {
        Terminal {
            out,
            size,
            drawn: Vec::new(),
            drawn_width: 0,
        }
    }

    /// Columns and rows now (at least 1 × 1).
    pub fn size(&self) -> (usize, usize) {
        let (w, h) = (self.size)();
        (w.max(1), h.max(1))
    }

    /// Writes `above` (lines that stay) and then `region`, replacing the region drawn
    /// before. Nothing is written when neither changed.
    pub fn draw(&mut self, above: &[String], region: Vec<String>) -> io::Result<()> {
        let (width, _) = self.size();
        if above.is_empty() && region == self.drawn && width == self.drawn_width {
            return Ok(());
        }
        let mut buf = self.erase(width);
        for line in above {
            // `\r\n`: the terminal may not translate `\n` (raw mode, a recorder).
            for part in line.split('\n') {
                buf.push_str(part.trim_end_matches('\r'));
                buf.push_str("\r\n");
            }
        }
        buf.push_str(&region.join("\r\n"));
        self.out.write_all(buf.as_bytes())?;
        self.out.flush()?;
        self.drawn = region;
        self.drawn_width = width;
        Ok(())
    }

    /// Moves to the region's first row, blanking each of its rows on the way. Row by row
    /// (erase line, cursor down), never "erase below": tmux (`scroll-on-clear`) copies the
    /// screen into its scrollback when the whole screen is erased, which a region at the
    /// top of the screen would be, and left stale regions in the history.
    fn erase(&self, width: usize) -> String {
        let rows = self.rows_on_screen(width);
        if rows == 0 {
            return String::new();
        }
        let mut out = String::from("\r");
        if rows > 1 {
            out.push_str(&format!("\x1b[{}A", rows - 1));
        }
        for _ in 1..rows {
            out.push_str("\x1b[2K\x1b[B");
        }
        out.push_str("\x1b[2K");
        if rows > 1 {
            out.push_str(&format!("\x1b[{}A", rows - 1));
        }
        out
    }

    /// Rows the drawn region takes at `width`: one per line, more for a line wider than
    /// a terminal made narrower since (terminals that reflow wrap it).
    fn rows_on_screen(&self, width: usize) -> usize {
        self.drawn
            .iter()
            .map(|l| columns(l).div_ceil(width).max(1))
            .sum()
    }
}

/// The size of the terminal on stderr, or 80 × 24 when it cannot be asked.
pub fn stderr_size() -> (usize, usize) {
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct it is given.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 && ws.ws_row > 0 {
        (ws.ws_col as usize, ws.ws_row as usize)
    } else {
        (80, 24)
    }
}
