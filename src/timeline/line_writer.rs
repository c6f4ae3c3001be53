//! The recorder's file, written by a thread of its own: lines are handed over in order
//! and written there, so no task of the runtime waits on the disk, and none waits for it
//! while holding the recorder's lock (with 1,000 boards, the runtime's own `write`s to
//! `events.jsonl` were a tenth of the runner's time). The thread flushes whenever it has
//! caught up, every 100 ms of steady writing, and on request: a killed run keeps what
//! was recorded up to a moment before.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a written line may wait in the buffer while lines keep coming.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
const BUFFER: usize = 1 << 20;

enum Msg {
    Line(Vec<u8>),
    Flush(mpsc::SyncSender<()>),
}

pub(super) struct LineWriter {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl LineWriter {
    pub fn start(file: File) -> std::io::Result<LineWriter> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("timeline-writer".into())
            .spawn(move || write_lines(BufWriter::with_capacity(BUFFER, file), rx))?;
        Ok(LineWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues one whole line (with its newline).
    pub fn write(&self, line: Vec<u8>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Line(line));
        }
    }

    /// Returns once every line queued before is in the file.
    pub fn flush(&self) {
        let (ack, done) = mpsc::sync_channel(1);
        if let Some(tx) = &self.tx {
            if tx.send(Msg::Flush(ack)).is_ok() {
                let _ = done.recv();
            }
        }
    }
}

impl Drop for LineWriter {
    /// Everything queued is in the file when the recorder is gone.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_lines(mut out: BufWriter<File>, rx: mpsc::Receiver<Msg>) {
    // When the oldest line not yet flushed was written.
    let mut pending_since: Option<Instant> = None;
    loop {
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(mpsc::TryRecvError::Empty) => {
                if pending_since.take().is_some() {
                    let _ = out.flush();
                }
                match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                }
            }
            Err(mpsc::TryRecvError::Disconnected) => break,
        };
        match msg {
            // A failed write must not stop the run: the observers still see the event.
            Msg::Line(line) => {
                let _ = out.write_all(&line);
                let since = *pending_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= FLUSH_EVERY {
                    let _ = out.flush();
                    pending_since = None;
                }
            }
            Msg::Flush(ack) => {
                let _ = out.flush();
                pending_since = None;
                let _ = ack.send(());
            }
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_file_in_order_on_flush_and_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let writer = LineWriter::start(File::create(&path).unwrap()).unwrap();
        writer.write(b"1\n".to_vec());
        writer.flush();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
        for i in 2..=1000 {
            writer.write(format!("{i}\n").into_bytes());
        }
        drop(writer);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(lines, (1..=1000).collect::<Vec<_>>());
    }
}
