//! Each scenario try's pages (timeline, consoles, MQTT transcripts) written as soon as
//! the try finishes, on a thread of their own so the runner's tasks never wait for the
//! disk: a run killed later keeps every finished try's pages. At the end of the run the
//! pages written are handed to [`super::artifacts::write_run_after`], which writes only
//! the run's own files and what is still missing.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

use super::artifacts::{write_scenario, ScenarioPages};
use super::model::{try_title, ScenarioResult, ScenarioTimeline};

type Job = (ScenarioResult, ScenarioTimeline);

pub struct PageWriter {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<Vec<ScenarioPages>>>>,
}

impl PageWriter {
    /// A writer of pages under `run_dir` (`reports/<run-id>`).
    pub fn start(run_dir: PathBuf) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("scenario-pages".into())
            .spawn(move || {
                let mut written = Vec::new();
                for (result, timeline) in rx {
                    match write_scenario(&run_dir, Some(&result), &timeline) {
                        Ok(pages) => written.push(pages),
                        // The end of the run tries again, and reports what still fails.
                        Err(e) => tracing::warn!(
                            "the pages of {} were not written yet: {e}; trying again at the end of the run",
                            try_title(&timeline.scenario, timeline.attempt, timeline.retry)
                        ),
                    }
                }
                written
            });
        let (queue, thread) = match thread {
            Ok(thread) => (Some(tx), Some(thread)),
            // Without a thread every page is written at the end, as before.
            Err(e) => {
                tracing::warn!("cannot start the thread that writes scenario pages as they finish: {e}; they are written at the end of the run");
                (None, None)
            }
        };
        PageWriter {
            queue: Mutex::new(queue),
            thread: Mutex::new(thread),
        }
    }

    /// Queues a finished try's pages (the runner's `ScenarioFinished` event).
    pub fn finished(&self, result: &ScenarioResult, timeline: &ScenarioTimeline) {
        if let Some(queue) = self.queue.lock().expect("page queue").as_ref() {
            let _ = queue.send((result.clone(), timeline.clone()));
        }
    }

    /// Waits until every queued page is written: the pages written, in the order the
    /// tries finished. Later `finished` calls are ignored.
    pub fn finish(&self) -> Vec<ScenarioPages> {
        self.queue.lock().expect("page queue").take();
        let thread = self.thread.lock().expect("page thread").take();
        thread.and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for PageWriter {
    fn drop(&mut self) {
        self.finish();
    }
}
