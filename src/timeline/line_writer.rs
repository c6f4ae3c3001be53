//! The recorder's file, written by a thread of its own: lines are appended to a shared
//! buffer, and the thread writes what has gathered [`WRITE_EVERY`] after the first line, or
//! sooner when the buffer passes [`WAKE_AT`] or a flush is asked for. No task of the runtime
//! waits on the disk, and no line wakes the thread but the first of a batch: with 1,000
//! boards, the runtime's own `write`s were a tenth of the runner's time, and then waking a
//! writer thread for every line was a fifth of it (futex calls and context switches). A
//! killed run keeps what was recorded up to [`WRITE_EVERY`] before.

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a line may wait in the buffer for others.
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// A buffer this full wakes the thread before its time.
const WAKE_AT: usize = 1 << 20;

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    /// Flushes asked for, and the latest one done: a flush waits for its number.
    asked: u64,
    done: u64,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// The thread waits here for lines, a flush request or the end.
    work: Condvar,
    /// Flushes wait here for the thread.
    written: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) struct LineWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LineWriter {
    pub fn start(file: File) -> std::io::Result<LineWriter> {
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("timeline-writer".into())
            .spawn(move || write_lines(file, &theirs))?;
        Ok(LineWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Appends one whole line (with its newline).
    pub fn write(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        // The thread sleeps while the buffer is empty: the first line wakes it, the
        // others find it awake, gathering.
        let first = state.buf.is_empty();
        state.buf.extend_from_slice(line);
        if first || state.buf.len() >= WAKE_AT {
            self.shared.work.notify_one();
        }
    }

    /// Returns once every line appended before is in the file.
    pub fn flush(&self) {
        let mut state = self.shared.lock();
        state.asked += 1;
        let mine = state.asked;
        self.shared.work.notify_one();
        while state.done < mine {
            state = self
                .shared
                .written
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for LineWriter {
    /// Everything appended is in the file when the recorder is gone.
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.work.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_lines(mut out: File, shared: &Shared) {
    let mut batch = Vec::new();
    loop {
        let mut state = shared.lock();
        let called = |s: &State| s.closing || s.asked > s.done || s.buf.len() >= WAKE_AT;
        while state.buf.is_empty() && !called(&state) {
            state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        // The first line is here: let the others gather for one period.
        let until = Instant::now() + WRITE_EVERY;
        while !called(&state) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = (shared.work.wait_timeout(state, left))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        // The emptied batch becomes the next buffer: no allocation in steady state.
        std::mem::swap(&mut state.buf, &mut batch);
        let (asked, closing) = (state.asked, state.closing);
        drop(state);
        // A failed write must not stop the run: the observers still see the event.
        let _ = out.write_all(&batch);
        batch.clear();
        shared.lock().done = asked;
        shared.written.notify_all();
        if closing {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A writer on `events.jsonl` in a folder of its own (kept while the test runs).
    fn started() -> (tempfile::TempDir, PathBuf, LineWriter) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let writer = LineWriter::start(File::create(&path).unwrap()).unwrap();
        (dir, path, writer)
    }

    #[test]
    fn lines_reach_the_file_in_order_on_flush_and_on_drop() {
        let (_dir, path, writer) = started();
        writer.write(b"1\n");
        writer.flush();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
        for i in 2..=1000 {
            writer.write(format!("{i}\n").as_bytes());
        }
        drop(writer);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(lines, (1..=1000).collect::<Vec<_>>());
    }

    #[test]
    fn lines_reach_the_file_by_themselves() {
        let (_dir, path, writer) = started();
        writer.write(b"1\n");
        // No flush: the thread writes within its period. Polled, not slept on.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&path).unwrap() != "1\n" {
            assert!(std::time::Instant::now() < deadline, "line never written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
