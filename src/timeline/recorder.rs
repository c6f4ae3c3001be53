use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

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

struct Inner {
    events: Vec<Event>,
    file: Option<BufWriter<File>>,
}

/// The recorder: the one place events are stamped. Every event is appended to
/// memory, written (and flushed) as a JSON line, and broadcast to live watchers.
#[derive(Clone)]
pub struct Timeline {
    start: Instant,
    inner: Arc<Mutex<Inner>>,
    live: broadcast::Sender<Event>,
    /// Where the events are written, when they are.
    path: Option<PathBuf>,
}

impl Timeline {
    /// True for two handles of one timeline.
    pub fn same_as(&self, other: &Timeline) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A timeline kept in memory only.
    pub fn in_memory() -> Self {
        Self::with_file(None)
    }

    /// A timeline that also writes `events.jsonl` at `path` as it happens, so a
    /// killed run keeps everything seen so far.
    pub fn recording_to(path: &Path) -> std::io::Result<Self> {
        let file = File::create(path)?;
        Ok(Timeline {
            path: Some(path.to_path_buf()),
            ..Self::with_file(Some(BufWriter::new(file)))
        })
    }

    /// The `events.jsonl` this timeline is written to (none for one kept in memory only).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn with_file(file: Option<BufWriter<File>>) -> Self {
        let (live, _) = broadcast::channel(16 * 1024);
        Timeline {
            start: Instant::now(),
            inner: Arc::new(Mutex::new(Inner {
                events: Vec::new(),
                file,
            })),
            live,
            path: None,
        }
    }

    /// Seconds since the timeline started.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// A snapshot of all events so far.
    pub fn events(&self) -> Vec<Event> {
        self.inner.lock().expect("timeline lock").events.clone()
    }

    /// Events from index `from` on, and the index to continue from.
    pub fn events_since(&self, from: usize) -> (Vec<Event>, usize) {
        let inner = self.inner.lock().expect("timeline lock");
        let from = from.min(inner.events.len());
        (inner.events[from..].to_vec(), inner.events.len())
    }

    /// Runs `f` over the events recorded so far without copying them.
    pub fn with_events<R>(&self, f: impl FnOnce(&[Event]) -> R) -> R {
        f(&self.inner.lock().expect("timeline lock").events)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("timeline lock").events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live events from now on (for progress displays and waiting matchers).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
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
        let mut inner = self.inner.lock().expect("timeline lock");
        if let Some(file) = inner.file.as_mut() {
            // A failed write must not stop the run; the in-memory copy still holds it.
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = writeln!(file, "{line}").and_then(|_| file.flush());
            }
        }
        inner.events.push(event.clone());
        drop(inner);
        let _ = self.live.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_kept_in_order_and_written_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let tl = Timeline::recording_to(&path).unwrap();
        tl.emit(
            Source::board("sim-1"),
            EventKind::Console { line: "a".into() },
        );
        tl.emit(Source::Cloud, EventKind::Note { text: "b".into() });
        let text = std::fs::read_to_string(&path).unwrap();
        let back: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, tl.events());
        assert_eq!(back[0].source, Source::board("sim-1"));
        assert!(back[0].t <= back[1].t);
    }
}
