//! The facade the gateway and client mode feed: Jobs + streams behind one
//! `handle` call, plus the admin API the runner and `otarig job` use.
//!
//! Contract (shared by cloud::gateway, cloud::client and scenario):
//! - `handle(thing, topic, payload, now)` answers a device publish on
//!   `$aws/things/{thing}/jobs/...` or `$aws/things/{thing}/streams/...`;
//!   replies with `Route::Requester` go only to the connection that asked.
//!   The returned list may also hold `Route::Subscribers` publishes (notify,
//!   notify-next) that the request caused; route them like any publish.
//! - Unsolicited publishes (notify-next, notify) produced by admin actions or
//!   timeouts go out through `subscribe_notifications()` with `Route::Subscribers`.
//! - Every job execution change becomes an `EventKind::JobExecution` and
//!   served stream blocks become `EventKind::StreamProgress` (at most one per
//!   8 new blocks, and always when the file's last block is served), both
//!   from `Source::Cloud`. A job that aborts itself says why in an
//!   `EventKind::Note` from `Source::Cloud`.
//! - Timeouts and rollouts need a clock: [`CloudServices::run_ticker`] ticks the
//!   Jobs state at each deadline; [`CloudServices::subscribe_jobs`] wakes whoever
//!   waits on a job's progress.
//!
//! Locking: Jobs state, the stream registry and progress counters sit
//! behind separate locks. Serving blocks locks the registry only to look the
//! stream up (data is immutable `Arc<[u8]>`) and never touches the Jobs lock,
//! so many boards can download at once.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch, Notify};

use super::jobs::{Execution, ExecutionChange, JobSpec, JobView, JobsError, JobsService};
use super::streams::{self, Progress, ProgressTracker, StreamError, StreamService};
use crate::timeline::{EventKind, EventSink, Source};

/// Where a reply goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Only the connection that sent the request, subscribed or not (AWS IoT behaviour).
    Requester,
    /// Every connection subscribed to the topic (notify, notify-next).
    Subscribers,
}

/// One publish the cloud sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub topic: String,
    pub payload: Vec<u8>,
    pub route: Route,
}

/// The bench's Jobs and stream services, shared (`Arc`) by the gateway,
/// client mode and the runner.
pub struct CloudServices {
    sink: Arc<dyn EventSink>,
    jobs: Mutex<JobsService>,
    streams: RwLock<StreamService>,
    progress: Mutex<ProgressTracker>,
    /// Every subscriber of notifications gets each one: unbounded, as a job for 1,000
    /// things notifies 2,000 times at once and none may be lost.
    notifications: Mutex<Vec<mpsc::UnboundedSender<Reply>>>,
    /// Wakes the ticker: a change may have brought the next deadline forward.
    deadline_moved: Notify,
    /// Counts changes to the Jobs state, for those waiting on a job.
    jobs_changed: watch::Sender<u64>,
}

/// Locks a mutex even if a panicking thread poisoned it: the state machines
/// never leave a half-made change behind a panic worth stopping the bench for.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CloudServices {
    pub fn new(sink: Arc<dyn EventSink>) -> Self {
        CloudServices {
            sink,
            jobs: Mutex::new(JobsService::new()),
            streams: RwLock::new(StreamService::new()),
            progress: Mutex::new(ProgressTracker::default()),
            notifications: Mutex::new(Vec::new()),
            deadline_moved: Notify::new(),
            jobs_changed: watch::Sender::new(0),
        }
    }

    /// The thing named by a Jobs or streams topic
    /// (`$aws/things/{thing}/jobs/...`, `$aws/things/{thing}/streams/...`).
    pub fn is_service_topic(topic: &str) -> Option<&str> {
        let (thing, rest) = topic.strip_prefix("$aws/things/")?.split_once('/')?;
        let service = rest.starts_with("jobs/") || rest.starts_with("streams/");
        (service && !thing.is_empty()).then_some(thing)
    }

    /// Answers a device publish on a service topic. `thing` is the thing the
    /// topic names (see [`Self::is_service_topic`]); as in AWS the topic
    /// decides whose queue or stream is used. Other topics get no reply.
    pub fn handle(&self, thing: &str, topic: &str, payload: &[u8], now: SystemTime) -> Vec<Reply> {
        let Some(topic_thing) = Self::is_service_topic(topic) else {
            return Vec::new();
        };
        if topic_thing != thing {
            tracing::debug!(thing, topic, "service request for another thing's topic");
        }
        if super::jobs::is_jobs_topic(topic) {
            let mut jobs = lock(&self.jobs);
            let replies = jobs.handle(topic, payload, now);
            self.record(&mut jobs);
            return replies;
        }
        let outcome = streams::handle_with(topic, payload, |id| {
            self.streams
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .stream(id)
        });
        if let Some(served) = &outcome.served {
            let mut progress = lock(&self.progress);
            if let Some(p) = progress.record(served) {
                self.sink.emit(
                    Source::Cloud,
                    EventKind::StreamProgress {
                        thing: served.thing.clone(),
                        stream: served.stream_id.clone(),
                        file_id: served.file_id,
                        blocks_served: p.blocks_served,
                        block_count: p.block_count,
                    },
                );
            }
        }
        outcome.replies
    }

    /// Unsolicited notify / notify-next publishes caused by admin calls and ticks.
    pub fn subscribe_notifications(&self) -> mpsc::UnboundedReceiver<Reply> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.notifications).push(tx);
        rx
    }

    /// Creates a job and queues an execution for each target thing.
    pub fn create_job(&self, spec: JobSpec, now: SystemTime) -> Result<(), JobsError> {
        self.admin(|jobs| jobs.create_job(spec, now))
    }

    /// Cancels a job; `force` also cancels IN_PROGRESS executions.
    pub fn cancel_job(&self, job_id: &str, force: bool, now: SystemTime) -> Result<(), JobsError> {
        self.admin(|jobs| jobs.cancel_job(job_id, force, now))
    }

    /// Re-runs FAILED / TIMED_OUT executions (of `things`, or all of them).
    pub fn retry_job(
        &self,
        job_id: &str,
        things: Option<&[String]>,
        now: SystemTime,
    ) -> Result<(), JobsError> {
        self.admin(|jobs| jobs.retry_job(job_id, things, now))
    }

    /// Deletes a job and its executions; see [`JobsService::delete_job`].
    pub fn delete_job(&self, job_id: &str) -> bool {
        lock(&self.jobs).delete_job(job_id)
    }

    /// Fires due timeouts (call it periodically, or at [`Self::next_deadline`]).
    pub fn tick(&self, now: SystemTime) {
        let _ = self.admin(|jobs| Ok::<_, JobsError>(jobs.tick(now)));
    }

    /// When the earliest execution timeout or rollout falls due, if any.
    pub fn next_deadline(&self) -> Option<SystemTime> {
        lock(&self.jobs).next_deadline()
    }

    /// Ticks the Jobs state at each deadline (and at least every `idle`) until the task is
    /// dropped: timeouts fire and rollouts release their targets on time.
    pub async fn run_ticker(self: Arc<Self>, idle: Duration) {
        loop {
            let now = SystemTime::now();
            let wait = self
                .next_deadline()
                .map_or(idle, |d| d.duration_since(now).unwrap_or_default())
                .min(idle);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.deadline_moved.notified() => {}
            }
            self.tick(SystemTime::now());
        }
    }

    /// Changes whenever the Jobs state does (an execution, a rollout, an abort).
    pub fn subscribe_jobs(&self) -> watch::Receiver<u64> {
        self.jobs_changed.subscribe()
    }

    pub fn job(&self, job_id: &str) -> Option<JobView> {
        lock(&self.jobs).job(job_id)
    }

    pub fn jobs(&self) -> Vec<JobView> {
        lock(&self.jobs).jobs()
    }

    /// The latest execution of `job_id` on `thing`.
    pub fn execution(&self, job_id: &str, thing: &str) -> Option<Execution> {
        lock(&self.jobs).execution(job_id, thing)
    }

    /// Registers a stream (or replaces one: its version goes up); returns the version.
    pub fn add_stream(
        &self,
        stream_id: &str,
        files: Vec<(u32, Arc<[u8]>)>,
    ) -> Result<u64, StreamError> {
        let version = self
            .streams
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .add_stream(stream_id, files)?
            .version;
        lock(&self.progress).forget_stream(stream_id);
        Ok(version)
    }

    /// Removes a stream; requests for it get ResourceNotFound afterwards.
    pub fn remove_stream(&self, stream_id: &str) -> bool {
        lock(&self.progress).forget_stream(stream_id);
        self.streams
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove_stream(stream_id)
    }

    /// Blocks served so far of one file of a stream to one thing.
    pub fn stream_progress(&self, thing: &str, stream_id: &str, file_id: u32) -> Option<Progress> {
        lock(&self.progress).get(thing, stream_id, file_id)
    }

    /// Runs an admin call on the Jobs state; its events and notifications go
    /// out before the lock is released, so they keep the order of the changes.
    fn admin<E>(
        &self,
        call: impl FnOnce(&mut JobsService) -> Result<Vec<Reply>, E>,
    ) -> Result<(), E> {
        let mut jobs = lock(&self.jobs);
        let result = call(&mut jobs);
        self.record(&mut jobs);
        // No subscriber yet is fine: nobody is connected to be notified.
        let mut subscribers = lock(&self.notifications);
        for reply in result? {
            subscribers.retain(|s| s.send(reply.clone()).is_ok());
        }
        Ok(())
    }

    /// Emits what the Jobs state did (execution changes, then aborts, in order) and wakes
    /// the ticker and the waiters on jobs if anything changed.
    fn record(&self, jobs: &mut JobsService) {
        let changes = jobs.take_changes();
        let aborts = jobs.take_aborts();
        if changes.is_empty() && aborts.is_empty() {
            return;
        }
        self.emit_changes(changes);
        for (job_id, abort) in aborts {
            self.sink.emit(
                Source::Cloud,
                EventKind::Note {
                    text: abort.describe(&job_id),
                },
            );
        }
        self.deadline_moved.notify_one();
        self.jobs_changed.send_modify(|n| *n += 1);
    }

    fn emit_changes(&self, changes: Vec<ExecutionChange>) {
        for c in changes {
            self.sink.emit(
                Source::Cloud,
                EventKind::JobExecution {
                    job_id: c.job_id,
                    thing: c.thing,
                    status: c.status,
                    status_details: c.status_details,
                    version_number: c.version_number,
                    execution_number: c.execution_number,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::{json, Value};

    use super::*;
    use crate::timeline::{Event, Timeline};

    const THING: &str = "ota-test-thing";

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn services() -> (Arc<CloudServices>, Timeline) {
        let timeline = Timeline::in_memory();
        (
            Arc::new(CloudServices::new(Arc::new(timeline.clone()))),
            timeline,
        )
    }

    fn spec(id: &str, targets: &[&str]) -> JobSpec {
        let doc = json!({"afr_ota": {"protocols": ["MQTT"], "streamname": "s1", "files": []}});
        JobSpec::new(id, doc, targets.iter().map(|t| t.to_string()).collect())
    }

    fn job_events(timeline: &Timeline) -> Vec<(String, String, u64)> {
        timeline
            .events()
            .into_iter()
            .filter_map(|Event { source, kind, .. }| match kind {
                EventKind::JobExecution {
                    thing,
                    status,
                    version_number,
                    ..
                } => {
                    assert_eq!(source, Source::Cloud);
                    Some((thing, status.to_string(), version_number))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn service_topics_name_their_thing_and_other_topics_do_not() {
        let cases = [
            ("$aws/things/Thing1/jobs/$next/get", Some("Thing1")),
            ("$aws/things/Thing1/streams/s1/get/cbor", Some("Thing1")),
            ("$aws/things/Thing1/shadow/update", None),
            ("$aws/things//jobs/get", None),
            ("$aws/things/Thing1/jobs", None),
            ("devices/Thing1/jobs/get", None),
        ];
        for (topic, thing) in cases {
            assert_eq!(CloudServices::is_service_topic(topic), thing, "{topic}");
        }
    }

    #[test]
    fn the_facade_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CloudServices>();
    }

    #[test]
    fn a_job_for_a_thousand_things_notifies_every_one_of_them() {
        let (cloud, _) = services();
        let (mut gateway, mut client) = (
            cloud.subscribe_notifications(),
            cloud.subscribe_notifications(),
        );
        let things: Vec<String> = (1..=1000).map(|i| format!("Thing{i}")).collect();
        let refs: Vec<&str> = things.iter().map(String::as_str).collect();
        cloud.create_job(spec("fleet", &refs), t0()).unwrap();
        for rx in [&mut gateway, &mut client] {
            let notified: std::collections::BTreeSet<String> =
                std::iter::from_fn(|| rx.try_recv().ok())
                    .filter(|r| r.topic.ends_with("/jobs/notify-next"))
                    .map(|r| r.topic)
                    .collect();
            assert_eq!(notified.len(), 1000);
        }
    }

    #[test]
    fn admin_calls_broadcast_notifications_and_emit_execution_events() {
        let (cloud, timeline) = services();
        let mut rx = cloud.subscribe_notifications();
        cloud
            .create_job(spec("job-1", &["Thing1", "Thing2"]), t0())
            .unwrap();
        let topics: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .filter(|r| r.route == Route::Subscribers)
            .map(|r| r.topic)
            .collect();
        assert!(
            topics.contains(&"$aws/things/Thing1/jobs/notify-next".to_string()),
            "{topics:?}"
        );
        assert!(
            topics.contains(&"$aws/things/Thing2/jobs/notify-next".to_string()),
            "{topics:?}"
        );
        assert_eq!(
            job_events(&timeline),
            [
                ("Thing1".into(), "QUEUED".into(), 1),
                ("Thing2".into(), "QUEUED".into(), 1)
            ]
        );
        assert_eq!(
            cloud.create_job(spec("job-1", &["Thing1"]), t0()),
            Err(JobsError::DuplicateJob {
                job_id: "job-1".into()
            })
        );
        cloud.cancel_job("job-1", true, t0()).unwrap();
        assert_eq!(job_events(&timeline).len(), 4);
        assert_eq!(
            cloud.job("job-1").unwrap().status,
            crate::cloud::jobs::JobStatus::Canceled
        );
    }

    #[test]
    fn device_updates_are_answered_to_the_requester_and_recorded() {
        let (cloud, timeline) = services();
        cloud.create_job(spec("ota-job-A", &[THING]), t0()).unwrap();
        let topic = format!("$aws/things/{THING}/jobs/ota-job-A/update");
        let payload = br#"{"status":"IN_PROGRESS","statusDetails":{"self_test":"ready","updatedBy":"0x00090002"}}"#;
        let replies = cloud.handle(THING, &topic, payload, t0());
        assert_eq!(replies[0].topic, format!("{topic}/accepted"));
        assert_eq!(replies[0].route, Route::Requester);
        let events = job_events(&timeline);
        assert_eq!(
            events.last().unwrap(),
            &(THING.to_string(), "IN_PROGRESS".to_string(), 2)
        );
        let exec = cloud.execution("ota-job-A", THING).unwrap();
        assert_eq!(
            exec.status_details.get("updatedBy").map(String::as_str),
            Some("0x00090002")
        );
        assert!(cloud
            .handle(THING, "$aws/things/x/shadow/get", b"{}", t0())
            .is_empty());
    }

    #[test]
    fn a_tick_times_out_and_broadcasts_the_emptied_queue() {
        let (cloud, timeline) = services();
        cloud
            .create_job(
                spec("job-1", &[THING]).with_in_progress_timeout(Duration::from_secs(60)),
                t0(),
            )
            .unwrap();
        let topic = format!("$aws/things/{THING}/jobs/job-1/update");
        cloud.handle(THING, &topic, br#"{"status":"IN_PROGRESS"}"#, t0());
        assert_eq!(cloud.next_deadline(), Some(t0() + Duration::from_secs(60)));
        let mut rx = cloud.subscribe_notifications();
        cloud.tick(t0() + Duration::from_secs(60));
        let next = std::iter::from_fn(|| rx.try_recv().ok())
            .find(|r| r.topic.ends_with("/notify-next"))
            .expect("notify-next after the timeout");
        assert_eq!(
            serde_json::from_slice::<Value>(&next.payload).unwrap(),
            json!({"timestamp": 1_700_000_060u64})
        );
        assert_eq!(job_events(&timeline).last().unwrap().1, "TIMED_OUT");
        cloud
            .retry_job("job-1", None, t0() + Duration::from_secs(61))
            .unwrap();
        assert_eq!(cloud.execution("job-1", THING).unwrap().execution_number, 2);
    }

    #[test]
    fn an_abort_is_said_in_the_timeline_after_the_execution_that_caused_it() {
        use crate::cloud::jobs::{AbortCriterion, AbortOn};
        let (cloud, timeline) = services();
        let spec = spec("job-1", &["Thing1", "Thing2"]).with_abort(AbortCriterion {
            on: AbortOn::Failed,
            threshold_percentage: 50.0,
            min_executed_things: 1,
        });
        cloud.create_job(spec, t0()).unwrap();
        let mut jobs = cloud.subscribe_jobs();
        jobs.mark_unchanged();
        let topic = "$aws/things/Thing1/jobs/job-1/update";
        cloud.handle("Thing1", topic, br#"{"status":"FAILED"}"#, t0());
        assert!(jobs.has_changed().unwrap(), "waiters on jobs are woken");
        let tail: Vec<String> = timeline
            .events()
            .into_iter()
            .rev()
            .take(3)
            .map(|e| match e.kind {
                EventKind::JobExecution { thing, status, .. } => format!("{thing} {status}"),
                EventKind::Note { text } => {
                    assert_eq!(e.source, Source::Cloud);
                    text
                }
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            tail,
            [
                "job job-1 aborted (canceled): 1 of 1 executed things FAILED (100.00% >= 50%, at least 1 executed); 1 QUEUED execution(s) canceled, 0 target(s) never rolled out to",
                "Thing2 CANCELED",
                "Thing1 FAILED",
            ]
        );
    }

    #[tokio::test]
    async fn the_ticker_rolls_a_job_out_at_its_deadlines() {
        use crate::cloud::jobs::Rollout;
        let (cloud, _) = services();
        let things: Vec<&str> = vec!["Thing1", "Thing2", "Thing3"];
        let rollout = Rollout {
            maximum_per_minute: 1000,
            exponential: None,
        };
        let mut jobs = cloud.subscribe_jobs();
        cloud
            .create_job(
                spec("job-1", &things).with_rollout(rollout),
                SystemTime::now(),
            )
            .unwrap();
        assert_eq!(cloud.job("job-1").unwrap().waiting.len(), 2);
        // An idle period far longer than the test's deadline: only the deadlines wake it.
        let ticker = tokio::spawn(cloud.clone().run_ticker(Duration::from_secs(3600)));
        let rolled_out = async {
            while !cloud.job("job-1").unwrap().waiting.is_empty() {
                jobs.changed().await.unwrap();
            }
        };
        // A deadline, not a timing assertion: 60 ms apart, they are due within a second.
        tokio::time::timeout(Duration::from_secs(30), rolled_out)
            .await
            .expect("the ticker released every target");
        ticker.abort();
        assert_eq!(cloud.job("job-1").unwrap().executions.len(), 3);
    }

    #[test]
    fn serving_blocks_emits_progress_and_counts_them() {
        let (cloud, timeline) = services();
        let data: Arc<[u8]> = vec![7u8; 10_000].into();
        assert_eq!(
            cloud
                .add_stream("AFR_OTA-stream-1", vec![(0, data)])
                .unwrap(),
            1
        );
        let topic = format!("$aws/things/{THING}/streams/AFR_OTA-stream-1/get/json");
        let replies = cloud.handle(
            THING,
            &topic,
            br#"{"c":"rdy","f":0,"l":4096,"b":"0x07"}"#,
            t0(),
        );
        assert_eq!(replies.len(), 3);
        let progress: Vec<(u64, u64)> = timeline
            .events()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::StreamProgress {
                    blocks_served,
                    block_count,
                    thing,
                    ..
                } => {
                    assert_eq!(thing, THING);
                    Some((blocks_served, block_count))
                }
                _ => None,
            })
            .collect();
        assert_eq!(progress, [(3, 3)]);
        let counted = cloud.stream_progress(THING, "AFR_OTA-stream-1", 0).unwrap();
        assert_eq!((counted.blocks_served, counted.blocks_sent), (3, 3));
        assert!(cloud.remove_stream("AFR_OTA-stream-1"));
        assert_eq!(cloud.stream_progress(THING, "AFR_OTA-stream-1", 0), None);
    }

    #[test]
    fn serving_blocks_does_not_wait_for_the_jobs_lock() {
        let (cloud, _) = services();
        cloud
            .add_stream("s1", vec![(0, vec![1u8; 4096].into())])
            .unwrap();
        let held = lock(&cloud.jobs);
        let (done_tx, done_rx) = mpsc::channel();
        let server = cloud.clone();
        std::thread::spawn(move || {
            let replies = server.handle(
                THING,
                "$aws/things/ota-test-thing/streams/s1/get/json",
                br#"{"f":0,"l":4096}"#,
                t0(),
            );
            let _ = done_tx.send(replies.len());
        });
        // A deadline, not a timing assertion: a stream request that needed
        // the Jobs lock would never finish while it is held here.
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(30)), Ok(1));
        drop(held);
    }
}
