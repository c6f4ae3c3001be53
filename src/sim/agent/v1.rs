//! The 1.0.x agent of the field report (Amazon FreeRTOS 201906, docs/protocol.md
//! §4.3, §4.5 v1 column, §4.8, §3.6, §6.2): one task, flat job parser, stream
//! requests driven by the request timer only, the clientToken heuristic.

use super::cbor::{self, GetStream};
use super::codes;
use super::download::{BlockCheck, Download};
use super::jobdoc::{self, JobFields};
use super::json;
use super::logs::{self, version32};
use super::{Action, Agent, AgentConfig, Input, SelfTest, TimerId};
use crate::sim::pal::{FileContext, ImageState, Pal, PalImageState};

const TASK: &str = "OTA Task";
const TIMER_TASK: &str = "Tmr Svc";
const MOMENTUM_LIMIT: u32 = 32;
const STATUS_FREQUENCY: u32 = 64;
/// CBOR encoder buffer of the 1.0.x agent (`3 * OTA_MAX_BLOCK_BITMAP_SIZE`).
const CBOR_BUFFER: usize = 384;
/// What `prvOTA_Close` prints for the single file context (an address on target).
const CONTEXT_ADDR: u32 = 0x2000_b0c8;

const ERR_MOMENTUM_ABORT: u32 = 0x2100_0000;
const ERR_DOWNGRADE: u32 = 0x2200_0000;
const ERR_SAME_VERSION: u32 = 0x2300_0000;
const ERR_JOB_PARSER: u32 = 0x2400_0000;
const ERR_ENCODE_CBOR: u32 = 0x2500_0000;
const ERR_STATE_MISMATCH: u32 = 0x2600_0000;

/// `OTA_JobParseErr_t` values the 1.0.x parser reports.
const PARSE_BUSY_WITH_EXISTING: u32 = 1;
const PARSE_ZERO_FILE_SIZE: u32 = 4;
const PARSE_NON_CONFORMING: u32 = 5;

/// `IngestResult_t` failures.
const INGEST_SIG_CHECK_FAIL: i32 = -2;
const INGEST_FILE_CLOSE_FAIL: i32 = -3;
const INGEST_OUT_OF_RANGE: i32 = -7;
const INGEST_BAD_DATA: i32 = -8;
const INGEST_WRITE_FAILED: i32 = -9;

struct Transfer {
    job: String,
    stream: String,
    file: FileContext,
    dl: Download,
    momentum: u32,
}

pub struct V1Agent {
    cfg: AgentConfig,
    running: u32,
    request_counter: u32,
    connected_once: bool,
    transfer: Option<Transfer>,
    /// The job the agent reports on outside a transfer (self-test).
    active_job: Option<String>,
    /// Set once a reset was requested: the board is going down.
    halted: bool,
}

/// Result of ingesting one block.
enum Ingest {
    Continue,
    Duplicate,
    Complete,
    Failed { close: u32, result: i32 },
}

impl V1Agent {
    pub fn new(cfg: AgentConfig) -> Self {
        let running = version32(cfg.version);
        V1Agent {
            cfg,
            running,
            request_counter: 0,
            connected_once: false,
            transfer: None,
            active_job: None,
            halted: false,
        }
    }

    fn log(&self, pal: &mut dyn Pal, text: &str) {
        logs::v1(pal, TASK, text);
    }

    fn thing(&self) -> &str {
        &self.cfg.thing_name
    }

    fn init(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        if self.connected_once {
            // The demo shuts the agent down on disconnect and starts it again.
            self.close_transfer(pal, acts);
        }
        self.connected_once = true;
        for topic in [
            logs::topic_next_get_accepted(self.thing()),
            logs::topic_notify_next(self.thing()),
        ] {
            self.log(
                pal,
                &format!("[prvSubscribeToJobNotificationTopics] OK: {topic}"),
            );
            acts.push(Action::Subscribe { topic, qos: 1 });
        }
        self.log(pal, "[OTA_AgentInit] Ready.");
        if pal.platform_image_state() == PalImageState::PendingCommit {
            self.start_self_test_timer(pal, acts);
        }
        let n = self.request_counter;
        self.request_counter += 1;
        self.log(pal, &format!("[OTA_CheckForUpdate] Request #{n}"));
        acts.push(Action::Publish {
            topic: logs::topic_next_get(self.thing()),
            payload: format!(r#"{{"clientToken":"{n}:{}"}}"#, self.thing()).into_bytes(),
            qos: 1,
        });
    }

    fn start_self_test_timer(&self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        self.log(pal, "[OTA_CheckForSelfTest] Starting OTA_SelfTest timer.");
        acts.push(Action::StartTimer {
            id: TimerId::SelfTest,
            after: self.cfg.self_test_timeout,
        });
    }

    fn publish_status(
        &self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        job: &str,
        payload: String,
        qos: u8,
    ) {
        let topic = logs::topic_job_update(self.thing(), job);
        let status = payload.split('"').nth(3).unwrap_or_default().to_string();
        self.log(pal, &format!("[prvUpdateJobStatus] Msg: {payload}"));
        self.log(pal, &format!("[prvUpdateJobStatus] '{status}' to {topic}"));
        acts.push(Action::Publish {
            topic,
            payload: payload.into_bytes(),
            qos,
        });
    }

    fn reset_device(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        self.log(pal, "[prvResetDevice] Attempting forced reset of device...");
        self.pal_reset(pal, acts, TASK);
    }

    fn pal_reset(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>, task: &str) {
        logs::v1(pal, task, "[prvPAL_ResetDevice] Resetting the device.");
        acts.push(Action::Reset);
        self.halted = true;
    }

    /// `prvSetImageStateWithReason`: PAL first, then the job status for the state.
    fn set_image_state(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        state: ImageState,
        reason: u32,
    ) -> bool {
        let (mut state, mut reason) = (state, reason);
        if let Err(e) = pal.set_image_state(state) {
            if state != ImageState::Aborted {
                state = ImageState::Rejected;
                if reason == 0 {
                    reason = codes::v1_err(e);
                }
            }
        }
        let Some(job) = self.active_job.clone() else {
            return state != ImageState::Rejected;
        };
        let payload = match state {
            ImageState::Testing => logs::status_self_test("active", &format!("{:x}", self.running)),
            ImageState::Accepted => {
                self.log(pal, "[prvStopSelfTestTimer] Stopping the self test timer.");
                acts.push(Action::StopTimer(TimerId::SelfTest));
                logs::status_succeeded_v1(self.running)
            }
            ImageState::Rejected => logs::status_failed_reason("rejected", reason),
            ImageState::Aborted => logs::status_failed_reason("aborted", reason),
        };
        self.publish_status(pal, acts, &job, payload, 1);
        if state != ImageState::Testing {
            self.active_job = None;
        }
        !matches!(state, ImageState::Rejected | ImageState::Aborted)
    }

    /// `prvOTA_Close` of a running transfer: timer, data subscription, PAL file.
    fn close_transfer(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        let Some(t) = self.transfer.take() else {
            return;
        };
        self.log(pal, "[prvStopRequestTimer] Stopping file request timer.");
        acts.push(Action::StopTimer(TimerId::Request));
        let topic = logs::topic_stream_data(self.thing(), &t.stream);
        self.log(pal, &format!("[prvUnSubscribeFromDataStream] OK: {topic}"));
        acts.push(Action::Unsubscribe { topic });
        self.log(
            pal,
            &format!("[prvOTA_Close] Context->0x{CONTEXT_ADDR:08x}"),
        );
        let _ = pal.abort(&t.file);
    }

    fn on_job_message(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>, payload: &[u8]) {
        let busy = self
            .transfer
            .as_ref()
            .map(|t| t.job.clone())
            .or_else(|| self.active_job.clone());
        self.close_transfer(pal, acts);
        let (fields, complete) = jobdoc::parse_v1(pal, payload);
        let mut job_name = fields.job_id.clone();
        let err = if !complete {
            Some(PARSE_NON_CONFORMING)
        } else if fields.filesize == 0 {
            self.log(pal, "[prvParseJobDoc] Zero file size is not allowed!");
            Some(PARSE_ZERO_FILE_SIZE)
        } else if let Some(current) = busy {
            if job_name.as_deref() != Some(current.as_str()) {
                self.log(pal, "[prvParseJobDoc] Busy with existing job. Ignoring.");
                Some(PARSE_BUSY_WITH_EXISTING)
            } else {
                self.log(pal, "[prvParseJobDoc] Superfluous report of current job.");
                job_name = None;
                Some(3)
            }
        } else {
            None
        };
        self.active_job = None;
        if let Some(err) = err {
            match job_name {
                Some(job) => {
                    self.log(
                        pal,
                        &format!("[prvParseJobDoc] Rejecting job due to OTA_JobParseErr_t {err}"),
                    );
                    self.publish_status(
                        pal,
                        acts,
                        &job,
                        logs::status_failed_with_values(ERR_JOB_PARSER, err),
                        1,
                    );
                }
                None => self.log(pal, "[prvParseJobDoc] Ignoring job without ID."),
            }
            return;
        }
        let Some(job) = job_name else { return };
        if fields.self_test {
            self.log(pal, "[prvParseJobDoc] In self test mode.");
            self.active_job = Some(job);
            self.self_test(pal, acts, &fields);
        } else {
            self.log(
                pal,
                "[prvParseJobDoc] Job was accepted. Attempting to start transfer.",
            );
            self.start_transfer(pal, acts, job, fields);
        }
    }

    /// The §4.5 version decision, then the application's self-test.
    fn self_test(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>, f: &JobFields) {
        if f.updated_by < self.running {
            if !self.set_image_state(pal, acts, ImageState::Testing, 0) {
                return;
            }
            if pal.platform_image_state() != PalImageState::PendingCommit {
                self.log(
                    pal,
                    "[prvOTAUpdateTask] Job in self test but platform state is not!",
                );
                self.set_image_state(pal, acts, ImageState::Rejected, ERR_STATE_MISMATCH);
                self.reset_device(pal, acts);
                return;
            }
            self.start_self_test_timer(pal, acts);
            self.log(
                pal,
                "Received eOTA_JobEvent_StartTest callback from OTA Agent.",
            );
            match self.cfg.self_test {
                SelfTest::Pass => {
                    self.set_image_state(pal, acts, ImageState::Accepted, 0);
                }
                SelfTest::Fail => {
                    self.set_image_state(pal, acts, ImageState::Rejected, 0);
                    self.pal_reset(pal, acts, TASK);
                }
                // The application never answers: the self-test timer decides.
                SelfTest::Hang => {}
            }
            return;
        }
        if f.updated_by > self.running {
            self.log(
                pal,
                "[prvParseJobDoc] Rejecting image because version is older than previous.",
            );
            self.set_image_state(pal, acts, ImageState::Rejected, ERR_DOWNGRADE);
        } else if f
            .client_token
            .as_deref()
            .is_none_or(|t| json::leading_uint(t) == 0)
        {
            self.log(
                pal,
                "[prvParseJobDoc] Failing job. We rebooted and the version is still the same.",
            );
            self.set_image_state(pal, acts, ImageState::Rejected, ERR_SAME_VERSION);
        } else {
            self.log(
                pal,
                "[prvParseJobDoc] Ignoring job. Device must be rebooted first.",
            );
            self.active_job = None;
        }
        self.reset_device(pal, acts);
    }

    fn start_transfer(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        job: String,
        f: JobFields,
    ) {
        // `prvProcessOTAJobMsg` only creates the file while the platform is not in
        // self-test (`prvInSelftest`): a PendingCommit image given a job without
        // `self_test` (its "ready" status was lost) keeps the other bank, the old image,
        // and its self-test timer rolls it back.
        if pal.platform_image_state() == PalImageState::PendingCommit {
            return;
        }
        let file = FileContext {
            filepath: f.filepath.unwrap_or_default(),
            filesize: f.filesize,
            fileid: f.fileid,
            certfile: f.certfile.unwrap_or_default(),
            signature: f.signature,
        };
        if let Err(e) = pal.create_file(&file) {
            self.active_job = Some(job);
            self.set_image_state(pal, acts, ImageState::Aborted, codes::v1_err(e));
            return;
        }
        let stream = f.stream.unwrap_or_default();
        let topic = logs::topic_stream_data(self.thing(), &stream);
        self.log(pal, &format!("[prvSubscribeToDataStream] OK: {topic}"));
        acts.push(Action::Subscribe { topic, qos: 0 });
        acts.push(Action::StartTimer {
            id: TimerId::Request,
            after: self.cfg.file_request_wait,
        });
        let dl = Download::new(file.filesize, self.cfg.log2_block_size);
        self.transfer = Some(Transfer {
            job,
            stream,
            file,
            dl,
            momentum: 0,
        });
    }

    fn abort_transfer(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>, reason: u32) {
        self.active_job = self.transfer.as_ref().map(|t| t.job.clone());
        self.set_image_state(pal, acts, ImageState::Aborted, reason);
        self.close_transfer(pal, acts);
    }

    /// Request timer expiry: re-request the missing blocks, or give up.
    fn on_request_timer(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        let Some(t) = self.transfer.as_ref() else {
            return;
        };
        if t.dl.blocks_remaining == 0 {
            return;
        }
        if t.momentum >= MOMENTUM_LIMIT {
            self.abort_transfer(pal, acts, ERR_MOMENTUM_ABORT | MOMENTUM_LIMIT);
            return;
        }
        let msg = cbor::encode_get_stream(&GetStream {
            file_id: t.file.fileid,
            block_size: t.dl.block_size,
            bitmap: &t.dl.bitmap,
            num_blocks: None,
        });
        if msg.len() > CBOR_BUFFER {
            self.log(pal, "[prvPublishGetStreamMessage] CBOR encode failed.");
            self.abort_transfer(pal, acts, ERR_ENCODE_CBOR);
            return;
        }
        let topic = logs::topic_stream_get(self.thing(), &t.stream);
        self.log(pal, &format!("[prvPublishGetStreamMessage] OK: {topic}"));
        acts.push(Action::Publish {
            topic,
            payload: msg,
            qos: 0,
        });
        acts.push(Action::StartTimer {
            id: TimerId::Request,
            after: self.cfg.file_request_wait,
        });
        if let Some(t) = self.transfer.as_mut() {
            t.momentum += 1;
        }
    }

    fn on_data(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>, payload: &[u8]) {
        acts.push(Action::StartTimer {
            id: TimerId::Request,
            after: self.cfg.file_request_wait,
        });
        match self.ingest(pal, acts, payload) {
            Ingest::Duplicate => {}
            Ingest::Continue => {
                let Some(t) = self.transfer.as_ref() else {
                    return;
                };
                let (got, total, job) = (t.dl.received(), t.dl.num_blocks, t.job.clone());
                if got % STATUS_FREQUENCY == 0 {
                    self.publish_status(pal, acts, &job, logs::status_receiving(got, total), 0);
                }
            }
            Ingest::Complete => {
                let Some(t) = self.transfer.take() else {
                    return;
                };
                let ready = logs::status_self_test("ready", &format!("{:x}", self.running));
                self.publish_status(pal, acts, &t.job, ready, 1);
                self.log(
                    pal,
                    "Received eOTA_JobEvent_Activate callback from OTA Agent.",
                );
                self.log(
                    pal,
                    "[prvPAL_ActivateNewImage] Activating the new MCU image.",
                );
                self.pal_reset(pal, acts, TASK);
            }
            Ingest::Failed { close, result } => {
                self.log(
                    pal,
                    &format!("[prvOTAUpdateTask] Aborting due to IngestResult_t error {result}"),
                );
                let _ = pal.set_image_state(ImageState::Rejected);
                let job = self
                    .transfer
                    .as_ref()
                    .map(|t| t.job.clone())
                    .unwrap_or_default();
                let payload = logs::status_failed_with_values(close, result as u32);
                self.publish_status(pal, acts, &job, payload, 1);
                self.close_transfer(pal, acts);
                self.log(pal, "Received eOTA_JobEvent_Fail callback from OTA Agent.");
            }
        }
    }

    /// `prvIngestDataBlock`.
    fn ingest(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>, payload: &[u8]) -> Ingest {
        let Some(block) = cbor::decode_data_block(payload) else {
            return Ingest::Failed {
                close: 0,
                result: INGEST_BAD_DATA,
            };
        };
        let Some(t) = self.transfer.as_mut() else {
            return Ingest::Duplicate;
        };
        let (i, l) = (block.block_id, block.block_size);
        let check = t.dl.check(i, l);
        if check == BlockCheck::OutOfRange {
            logs::v1(
                pal,
                TASK,
                &format!("[prvIngestDataBlock] Error! Block {i} out of expected range! Size {l}"),
            );
            return Ingest::Failed {
                close: 0,
                result: INGEST_OUT_OF_RANGE,
            };
        }
        logs::v1(
            pal,
            TASK,
            &format!("[prvIngestDataBlock] Received file block {i}, size {l}"),
        );
        if check == BlockCheck::Duplicate {
            let left = t.dl.blocks_remaining;
            logs::v1(
                pal,
                TASK,
                &format!("[prvIngestDataBlock] block {i} is a DUPLICATE. {left} blocks remaining."),
            );
            return Ingest::Duplicate;
        }
        let offset = i as u32 * t.dl.block_size;
        let data = &block.payload[..block.payload.len().min(l as usize)];
        if let Err(e) = pal.write_block(offset, data) {
            logs::v1(
                pal,
                TASK,
                &format!(
                    "[prvIngestDataBlock] Error ({}) writing file block",
                    e.sub as i32
                ),
            );
            return Ingest::Failed {
                close: 0,
                result: INGEST_WRITE_FAILED,
            };
        }
        t.dl.mark(i as u32);
        t.momentum = 0;
        if t.dl.blocks_remaining > 0 {
            logs::v1(
                pal,
                TASK,
                &format!("[prvIngestDataBlock] Remaining: {}", t.dl.blocks_remaining),
            );
            return Ingest::Continue;
        }
        logs::v1(
            pal,
            TASK,
            "[prvIngestDataBlock] Received final expected block of file.",
        );
        logs::v1(
            pal,
            TASK,
            "[prvStopRequestTimer] Stopping file request timer.",
        );
        acts.push(Action::StopTimer(TimerId::Request));
        match pal.close_file(&t.file) {
            Ok(()) => {
                logs::v1(
                    pal,
                    TASK,
                    "[prvIngestDataBlock] File receive complete and signature is valid.",
                );
                Ingest::Complete
            }
            Err(e) => {
                let close = codes::v1_err(e);
                let text = format!(
                    "[prvIngestDataBlock] Error ({}:0x{:06x}) closing OTA file.",
                    close >> 24,
                    close & 0x00ff_ffff
                );
                logs::v1(pal, TASK, &text);
                let result = if close >> 24 == 0x01 {
                    INGEST_SIG_CHECK_FAIL
                } else {
                    INGEST_FILE_CLOSE_FAIL
                };
                Ingest::Failed { close, result }
            }
        }
    }

    fn on_self_test_timer(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        let ms = self.cfg.self_test_timeout.as_millis();
        logs::v1(
            pal,
            TIMER_TASK,
            &format!("[prvSelfTestTimer_Callback] Self test failed to complete within {ms}ms"),
        );
        self.pal_reset(pal, acts, TIMER_TASK);
    }
}

impl Agent for V1Agent {
    fn start(&mut self, _pal: &mut dyn Pal) -> Vec<Action> {
        Vec::new()
    }

    fn handle(&mut self, input: Input, pal: &mut dyn Pal) -> Vec<Action> {
        let mut acts = Vec::new();
        if self.halted {
            return acts;
        }
        match input {
            Input::Connected => self.init(pal, &mut acts),
            Input::Message { topic, payload } => {
                let thing = self.thing();
                if topic == logs::topic_next_get_accepted(thing)
                    || topic == logs::topic_notify_next(thing)
                {
                    self.on_job_message(pal, &mut acts, &payload);
                } else if self
                    .transfer
                    .as_ref()
                    .is_some_and(|t| topic == logs::topic_stream_data(thing, &t.stream))
                {
                    self.on_data(pal, &mut acts, &payload);
                }
            }
            Input::Timer(TimerId::Request) => self.on_request_timer(pal, &mut acts),
            Input::Timer(TimerId::SelfTest) => self.on_self_test_timer(pal, &mut acts),
        }
        acts
    }
}
