//! An output file written in pieces without holding it open: lines gather in a small
//! buffer that is appended to the file when full. A scenario with 1,000 boards writes
//! 3,000 files in one pass with at most one descriptor open, and memory bounded by
//! boards × the buffer size. The file is written under a temporary name and renamed
//! into place when finished, so a reader never sees half of it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::artifacts::ReportError;

/// Buffered bytes per file before they are appended.
const FLUSH_AT: usize = 4 * 1024;

#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    tmp: PathBuf,
    buf: Vec<u8>,
    started: bool,
}

impl Spool {
    pub fn new(path: &Path) -> Self {
        Spool {
            path: path.to_path_buf(),
            tmp: super::artifacts::temp_name(path),
            buf: Vec::new(),
            started: false,
        }
    }

    /// Where the file goes when finished.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn line(&mut self, line: &str) -> Result<(), ReportError> {
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ReportError> {
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(self.started)
            .truncate(!self.started)
            .open(&self.tmp)
            .map_err(|source| ReportError::Io {
                path: self.tmp.clone(),
                source,
            })?;
        self.started = true;
        file.write_all(&self.buf)
            .map_err(|source| ReportError::Io {
                path: self.tmp.clone(),
                source,
            })?;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is left and moves the file into place; returns its path.
    pub fn finish(mut self) -> Result<PathBuf, ReportError> {
        self.flush()?;
        std::fs::rename(&self.tmp, &self.path).map_err(|source| ReportError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_appends_in_pieces_and_appears_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut spool = Spool::new(&path);
        let line = "x".repeat(1000);
        for _ in 0..50 {
            spool.line(&line).unwrap();
        }
        assert!(!path.exists(), "not in place before it is finished");
        spool.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 50);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn an_empty_spool_still_writes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.jsonl");
        Spool::new(&path).finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }
}
