use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::line_writer::LineWriter;

use super::{Event, EventKind, Source};

/// Anything that accepts events. The gateway, boards and runner only see this.
pub trait EventSink: Send + Sync {
    fn emit(&self, source: Source, kind: EventKind);
}

/// A sink that drops everything (tools run outside a scenario).
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _: Source, _: EventKind) {}
}

/// Told every event as it is recorded, in order, with its index. Called under the
/// recorder's lock, so it must be quick and must not emit: it keeps an index (what a
/// waiter needs to know) up to date, instead of anyone rescanning the timeline. Held
/// weakly: an observer lives as long as its owner keeps it.
pub trait Observer: Send + Sync {
    fn observe(&self, at: Mark, event: &Event);
}

/// Where an event is: its index in the timeline and its line's byte offset in the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub index: usize,
    pub offset: u64,
}

struct Inner {
    len: usize,
    /// Bytes written to the file so far: where the next event's line starts.
    written: u64,
    /// Shared so a flush can wait for the writer without holding the recorder's lock.
    file: Option<Arc<LineWriter>>,
    /// Only for a timeline without a file: a recorded timeline lives on disk, so the
    /// runner's memory grows with boards, not with events.
    kept: Option<Vec<Event>>,
    observers: Vec<Weak<dyn Observer>>,
}

/// The recorder: the one place events are stamped. Every event is written as a JSON line
/// (by [`LineWriter`]'s thread) and shown to the observers.
#[derive(Clone)]
pub struct Timeline {
    start: Instant,
    path: Option<Arc<PathBuf>>,
    inner: Arc<Mutex<Inner>>,
}

impl Timeline {
    /// True for two handles of one timeline.
    pub fn same_as(&self, other: &Timeline) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A timeline kept in memory only (tools, tests).
    pub fn in_memory() -> Self {
        Self::new(None, None)
    }

    /// A timeline written to `events.jsonl` at `path` as it happens, so a killed run keeps
    /// everything seen so far; it is not kept in memory.
    pub fn recording_to(path: &Path) -> std::io::Result<Self> {
        let file = Arc::new(LineWriter::start(File::create(path)?)?);
        Ok(Self::new(Some(file), Some(path.to_path_buf())))
    }

    fn new(file: Option<Arc<LineWriter>>, path: Option<PathBuf>) -> Self {
        Timeline {
            start: Instant::now(),
            inner: Arc::new(Mutex::new(Inner {
                len: 0,
                written: 0,
                kept: file.is_none().then(Vec::new),
                file,
                observers: Vec::new(),
            })),
            path: path.map(Arc::new),
        }
    }

    /// The `events.jsonl` the timeline is written to, if it is.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref().map(PathBuf::as_path)
    }

    /// Seconds since the timeline started.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Every event so far, read back from the file of a recorded timeline (a line that
    /// cannot be read back is skipped). For tools and tests: a run never reads it whole.
    pub fn events(&self) -> Vec<Event> {
        if let Some(kept) = &self.inner.lock().expect("timeline lock").kept {
            return kept.clone();
        }
        self.flush();
        let Some(file) = self.path().and_then(|p| File::open(p).ok()) else {
            return Vec::new();
        };
        BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }

    /// The events at `marks` (ascending), read back from the file of a recorded timeline:
    /// one seek per event, not a pass over the whole file.
    pub fn read_at(&self, marks: &[Mark]) -> Vec<Event> {
        use std::io::{Seek, SeekFrom};
        if let Some(kept) = &self.inner.lock().expect("timeline lock").kept {
            return marks
                .iter()
                .filter_map(|m| kept.get(m.index).cloned())
                .collect();
        }
        self.flush();
        let Some(mut file) = self
            .path()
            .and_then(|p| File::open(p).ok())
            .map(BufReader::new)
        else {
            return Vec::new();
        };
        let mut line = String::new();
        marks
            .iter()
            .filter_map(|m| {
                line.clear();
                file.seek(SeekFrom::Start(m.offset)).ok()?;
                file.read_line(&mut line).ok()?;
                serde_json::from_str(&line).ok()
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("timeline lock").len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `observer` is told every event from now on, for as long as it lives.
    pub fn observe(&self, observer: &Arc<dyn Observer>) {
        self.inner
            .lock()
            .expect("timeline lock")
            .observers
            .push(Arc::downgrade(observer));
    }

    /// Returns once every event recorded so far is in the file (the writer also writes by
    /// itself, within 50 ms of an event).
    pub fn flush(&self) {
        let file = self.inner.lock().expect("timeline lock").file.clone();
        if let Some(file) = file {
            file.flush();
        }
    }
}

impl EventSink for Timeline {
    fn emit(&self, source: Source, kind: EventKind) {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let event = Event {
            wall_ms,
            t: self.now(),
            source,
            kind,
        };
        // Serialised before the lock (every board's events pass through this one lock),
        // into a buffer each thread keeps: no allocation per event.
        thread_local!(static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) });
        let (mut inner, at) = LINE.with_borrow_mut(|line| {
            line.clear();
            if self.path.is_some() && serde_json::to_writer(&mut *line, &event).is_ok() {
                line.push(b'\n');
            }
            let mut inner = self.inner.lock().expect("timeline lock");
            let at = Mark {
                index: inner.len,
                offset: inner.written,
            };
            if let (false, Some(file)) = (line.is_empty(), &inner.file) {
                file.write(line);
                inner.written += line.len() as u64;
            }
            (inner, at)
        });
        inner.len += 1;
        inner.observers.retain(|observer| match observer.upgrade() {
            Some(observer) => {
                observer.observe(at, &event);
                true
            }
            None => false,
        });
        if let Some(kept) = inner.kept.as_mut() {
            kept.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_written_as_json_lines_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let tl = Timeline::recording_to(&path).unwrap();
        tl.emit(
            Source::board("sim-1"),
            EventKind::Console { line: "a".into() },
        );
        tl.emit(Source::Cloud, EventKind::Note { text: "b".into() });
        tl.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let back: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, tl.events());
        assert_eq!(back[0].source, Source::board("sim-1"));
        assert!(back[0].t <= back[1].t);
        let second = text.find('\n').unwrap() as u64 + 1;
        let marks = [Mark {
            index: 1,
            offset: second,
        }];
        assert_eq!(tl.read_at(&marks), vec![back[1].clone()]);
    }

    #[test]
    fn observers_see_every_event_with_its_index() {
        struct Seen(Mutex<Vec<(usize, String)>>);
        impl Observer for Seen {
            fn observe(&self, at: Mark, event: &Event) {
                if let EventKind::Note { text } = &event.kind {
                    self.0.lock().unwrap().push((at.index, text.clone()));
                }
            }
        }
        let tl = Timeline::in_memory();
        tl.emit(Source::Runner, EventKind::Note { text: "x".into() });
        let seen = Arc::new(Seen(Mutex::new(Vec::new())));
        let observer: Arc<dyn Observer> = seen.clone();
        tl.observe(&observer);
        tl.emit(Source::Runner, EventKind::Note { text: "y".into() });
        assert_eq!(*seen.0.lock().unwrap(), vec![(1, "y".to_string())]);
        assert_eq!(tl.len(), 2);
    }
}
