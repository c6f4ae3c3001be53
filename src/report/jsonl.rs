//! Reading a scenario's `events.jsonl` in one streaming pass: line by line, one event
//! at a time, never the whole timeline in memory. A line that does not parse (a run
//! killed mid-write leaves a truncated last line) is skipped and noted, never fatal.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::artifacts::ReportError;
use crate::timeline::Event;

/// Unreadable lines kept by number and reason; the rest are only counted.
const KEPT: usize = 5;

/// What a pass could not read, for the pages to say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadNotes {
    pub path: PathBuf,
    /// The file does not exist (the timeline could not be recorded).
    pub missing: bool,
    pub events: usize,
    /// Lines skipped, with the first few (1-based line number, why).
    pub skipped: usize,
    pub examples: Vec<(usize, String)>,
}

impl ReadNotes {
    /// One sentence per problem, naming the file and line; empty when all was read.
    pub fn messages(&self) -> Vec<String> {
        let file = self.path.display();
        let mut out = Vec::new();
        if self.missing {
            out.push(format!(
                "{file} does not exist: the scenario's timeline was not recorded (see the run's log), so its logs and picture are empty"
            ));
        }
        for (line, why) in &self.examples {
            out.push(format!(
                "{file}:{line}: skipped an unreadable event ({why}); a run killed while writing leaves its last line cut short"
            ));
        }
        if self.skipped > self.examples.len() {
            out.push(format!(
                "{file}: {} more unreadable lines skipped",
                self.skipped - self.examples.len()
            ));
        }
        out
    }
}

/// Calls `f` with each event of `path`, in file order.
pub fn for_each_event(path: &Path, mut f: impl FnMut(&Event)) -> Result<ReadNotes, ReportError> {
    let mut notes = ReadNotes {
        path: path.to_path_buf(),
        ..ReadNotes::default()
    };
    let io = |source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            notes.missing = true;
            return Ok(notes);
        }
        Err(e) => return Err(io(e)),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            break;
        }
        number += 1;
        let line = match std::str::from_utf8(&buf) {
            Ok(l) => l.trim_end_matches(['\n', '\r']),
            Err(e) => {
                notes.skip(number, format!("not UTF-8: {e}"));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(event) => {
                notes.events += 1;
                f(&event);
            }
            Err(e) => notes.skip(number, e.to_string()),
        }
    }
    Ok(notes)
}

impl ReadNotes {
    fn skip(&mut self, line: usize, why: String) {
        self.skipped += 1;
        if self.examples.len() < KEPT {
            self.examples.push((line, why));
        }
        tracing::warn!(
            "{}:{line}: skipped an unreadable event ({})",
            self.path.display(),
            self.examples.last().map_or("", |e| e.1.as_str())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{EventKind, Source};

    fn event(t: f64) -> String {
        serde_json::to_string(&Event {
            wall_ms: 1,
            t,
            source: Source::Runner,
            kind: EventKind::Note { text: "n".into() },
        })
        .unwrap()
    }

    #[test]
    fn a_truncated_last_line_is_skipped_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let cut = &event(2.0)[..20];
        std::fs::write(&path, format!("{}\n{}\n{cut}", event(0.0), event(1.0))).unwrap();
        let mut seen = Vec::new();
        let notes = for_each_event(&path, |e| seen.push(e.t)).unwrap();
        assert_eq!(seen, [0.0, 1.0]);
        assert_eq!((notes.events, notes.skipped), (2, 1));
        assert_eq!(notes.examples[0].0, 3);
        let msg = &notes.messages()[0];
        assert!(msg.contains("events.jsonl:3: skipped"), "{msg}");
    }

    #[test]
    fn a_missing_file_is_a_note_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let notes = for_each_event(&dir.path().join("none.jsonl"), |_| panic!()).unwrap();
        assert!(notes.missing);
        assert!(notes.messages()[0].contains("does not exist"));
    }
}
