//! The OTA library v3 agent (v3.4.0 POSIX demo, docs/protocol.md §4.4, §4.5, §9):
//! the library's transition table run over an event queue, so handlers, state
//! lines and publishes come out in the order the real agent prints them.

use std::collections::VecDeque;

mod data;
mod selftest;

use super::cbor::{self, GetStream};
use super::codes;
use super::download::{BlockCheck, Download};
use super::jobdoc::{self, JobFields};
use super::logs::{self, split_version, version32};
use super::{Action, Agent, AgentConfig, Input, SelfTest, TimerId};
use crate::sim::pal::{FileContext, ImageState, Pal, PalImageState};

const MOMENTUM_LIMIT: u32 = 32;
/// `otaconfigMAX_BLOCK_BITMAP_SIZE`: the largest file is 128 * 8 blocks.
const MAX_BITMAP_BYTES: u32 = 128;
const JOB_ID_MAX: usize = 72;

// OtaErr_t values that appear in reasons.
const ERR_JOB_PARSER: u32 = 12;
const ERR_INVALID_DATA_PROTOCOL: u32 = 13;
const ERR_MOMENTUM_ABORT: u32 = 14;
const ERR_DOWNGRADE: u32 = 15;
const ERR_SAME_VERSION: u32 = 16;
const ERR_STATE_MISMATCH: u32 = 17;
const ERR_NO_ACTIVE_JOB: u32 = 18;

// OtaJobParseErr_t.
const PARSE_NONE: u32 = 0;
const PARSE_NULL_JOB: u32 = 1;
const PARSE_UPDATE_CURRENT_JOB: u32 = 2;
const PARSE_ZERO_FILE_SIZE: u32 = 3;
const PARSE_NON_CONFORMING: u32 = 4;
const PARSE_NO_ACTIVE_JOBS: u32 = 7;

// IngestResult_t.
const INGEST_COMPLETE: i32 = -1;
const INGEST_SIG_CHECK_FAIL: i32 = -2;
const INGEST_FILE_CLOSE_FAIL: i32 = -3;
const INGEST_BAD_FILE_HANDLE: i32 = -5;
const INGEST_UNEXPECTED_BLOCK: i32 = -6;
const INGEST_OUT_OF_RANGE: i32 = -7;
const INGEST_BAD_DATA: i32 = -8;
const INGEST_WRITE_FAILED: i32 = -9;
const INGEST_CONTINUE: i32 = 0;
const INGEST_DUPLICATE: i32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready,
    RequestingJob,
    WaitingForJob,
    CreatingFile,
    RequestingFileBlock,
    WaitingForFileBlock,
    Suspended,
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Start,
    StartSelfTest,
    RequestJobDocument,
    ReceivedJobDocument,
    CreateFile,
    RequestFileBlock,
    ReceivedFileBlock,
    RequestTimer,
    CloseFile,
    Suspend,
    Resume,
    Shutdown,
}

type Handler = fn(&mut V3Agent, &mut dyn Pal, &mut Vec<Action>, &[u8]) -> Result<(), u32>;

/// `otaTransitionTable` (UserAbort is not raised by the simulated application).
const TABLE: [(Option<State>, Event, Handler, State); 18] = {
    use Event as E;
    use State as S;
    [
        (
            Some(S::Ready),
            E::Start,
            V3Agent::start_handler,
            S::RequestingJob,
        ),
        (
            Some(S::RequestingJob),
            E::RequestJobDocument,
            V3Agent::request_job_handler,
            S::WaitingForJob,
        ),
        (
            Some(S::RequestingJob),
            E::RequestTimer,
            V3Agent::request_job_handler,
            S::WaitingForJob,
        ),
        (
            Some(S::WaitingForJob),
            E::ReceivedJobDocument,
            V3Agent::process_job_handler,
            S::CreatingFile,
        ),
        (
            Some(S::CreatingFile),
            E::StartSelfTest,
            V3Agent::in_self_test_handler,
            S::WaitingForJob,
        ),
        (
            Some(S::CreatingFile),
            E::CreateFile,
            V3Agent::init_file_handler,
            S::RequestingFileBlock,
        ),
        (
            Some(S::CreatingFile),
            E::RequestTimer,
            V3Agent::init_file_handler,
            S::RequestingFileBlock,
        ),
        (
            Some(S::RequestingFileBlock),
            E::RequestFileBlock,
            V3Agent::request_data_handler,
            S::WaitingForFileBlock,
        ),
        (
            Some(S::RequestingFileBlock),
            E::RequestTimer,
            V3Agent::request_data_handler,
            S::WaitingForFileBlock,
        ),
        (
            Some(S::WaitingForFileBlock),
            E::ReceivedFileBlock,
            V3Agent::process_data_handler,
            S::WaitingForFileBlock,
        ),
        (
            Some(S::WaitingForFileBlock),
            E::RequestTimer,
            V3Agent::request_data_handler,
            S::WaitingForFileBlock,
        ),
        (
            Some(S::WaitingForFileBlock),
            E::RequestFileBlock,
            V3Agent::request_data_handler,
            S::WaitingForFileBlock,
        ),
        (
            Some(S::WaitingForFileBlock),
            E::RequestJobDocument,
            V3Agent::request_job_handler,
            S::WaitingForJob,
        ),
        (
            Some(S::WaitingForFileBlock),
            E::ReceivedJobDocument,
            V3Agent::job_notification_handler,
            S::RequestingJob,
        ),
        (
            Some(S::WaitingForFileBlock),
            E::CloseFile,
            V3Agent::close_file_handler,
            S::WaitingForJob,
        ),
        (
            Some(S::Suspended),
            E::Resume,
            V3Agent::resume_handler,
            S::RequestingJob,
        ),
        (None, E::Suspend, V3Agent::suspend_handler, S::Suspended),
        (None, E::Shutdown, V3Agent::shutdown_handler, S::Stopped),
    ]
};

pub struct V3Agent {
    cfg: AgentConfig,
    running: u32,
    status_frequency: u32,
    state: State,
    queue: VecDeque<(Event, Vec<u8>)>,
    request_counter: u32,
    /// `pActiveJobName`; empty when there is none.
    active_job: String,
    /// The file context the parser fills (kept across documents, as on target).
    ctx: JobFields,
    file: FileContext,
    dl: Option<Download>,
    file_open: bool,
    image_state: Option<ImageState>,
    momentum: u32,
    blocks_to_receive: u32,
    data_topic: Option<String>,
    request_timer: bool,
    started: bool,
    /// A reset was requested: the board is going down.
    halted: bool,
    /// The application hangs in its self-test callback: the agent task is blocked.
    stuck: bool,
}

impl V3Agent {
    pub fn new(cfg: AgentConfig, status_frequency: u32) -> Self {
        V3Agent {
            running: version32(cfg.version),
            cfg,
            status_frequency: status_frequency.max(1),
            state: State::Ready,
            queue: VecDeque::new(),
            request_counter: 0,
            active_job: String::new(),
            ctx: JobFields::default(),
            file: FileContext {
                filepath: String::new(),
                filesize: 0,
                fileid: 0,
                certfile: String::new(),
                signature: None,
            },
            dl: None,
            file_open: false,
            image_state: None,
            momentum: 0,
            blocks_to_receive: 1,
            data_topic: None,
            request_timer: false,
            started: false,
            halted: false,
            stuck: false,
        }
    }

    fn thing(&self) -> &str {
        &self.cfg.thing_name
    }

    fn signal(&mut self, ev: Event) {
        self.queue.push_back((ev, Vec::new()));
    }

    fn start_request_timer(&mut self, acts: &mut Vec<Action>) {
        self.request_timer = true;
        acts.push(Action::StartTimer {
            id: TimerId::Request,
            after: self.cfg.file_request_wait,
        });
    }

    fn stop_request_timer(&mut self, acts: &mut Vec<Action>) {
        if std::mem::take(&mut self.request_timer) {
            acts.push(Action::StopTimer(TimerId::Request));
        }
    }

    fn reset(&mut self, acts: &mut Vec<Action>) {
        acts.push(Action::Reset);
        self.halted = true;
    }

    fn platform_in_self_test(pal: &mut dyn Pal) -> bool {
        pal.platform_image_state() == PalImageState::PendingCommit
    }

    /// Drains the event queue through the transition table (`receiveAndProcessOtaEvent`).
    fn run(&mut self, pal: &mut dyn Pal, acts: &mut Vec<Action>) {
        while let Some((ev, data)) = self.queue.pop_front() {
            if self.halted || self.stuck || self.state == State::Stopped {
                break;
            }
            let entry = TABLE
                .iter()
                .find(|(s, e, _, _)| *e == ev && s.is_none_or(|s| s == self.state));
            let Some(&(_, _, handler, next)) = entry else {
                let text = format!(
                    "Received unexpected event: Current state=[{:?}], Event received=[{ev:?}]",
                    self.state
                );
                logs::v3(pal, "ERROR", "ota.c", 2899, &text);
                continue;
            };
            let ok = handler(self, pal, acts, &data).is_ok();
            if self.halted || self.stuck {
                break;
            }
            if ok {
                self.state = next;
            }
            let text = format!(
                "Current State=[{:?}], Event=[{ev:?}], New state=[{next:?}]",
                self.state
            );
            logs::v3(pal, "INFO", "ota.c", 2939, &text);
        }
    }

    fn start_handler(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        if Self::platform_in_self_test(pal) {
            acts.push(Action::StartTimer {
                id: TimerId::SelfTest,
                after: self.cfg.self_test_timeout,
            });
        }
        self.signal(Event::RequestJobDocument);
        Ok(())
    }

    fn request_job_handler(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        let topic = logs::topic_notify_next(self.thing());
        logs::v3(
            pal,
            "INFO",
            "ota_mqtt.c",
            398,
            &format!("Subscribed to MQTT topic: {topic}"),
        );
        acts.push(Action::Subscribe { topic, qos: 0 });
        let token = format!(
            "{}:{}",
            logs::v3_decimal(self.request_counter),
            self.thing()
        );
        self.request_counter += 1;
        acts.push(Action::Publish {
            topic: logs::topic_next_get(self.thing()),
            payload: format!(r#"{{"clientToken":"{token}"}}"#).into_bytes(),
            qos: 1,
        });
        self.stop_request_timer(acts);
        self.momentum = 0;
        Ok(())
    }

    fn process_job_handler(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        doc: &[u8],
    ) -> Result<(), u32> {
        let have_file = self.file_context_from_job(pal, acts, doc);
        if self.halted {
            return Ok(());
        }
        if !have_file {
            return if self.image_state == Some(ImageState::Testing) {
                self.signal(Event::StartSelfTest);
                Ok(())
            } else {
                Err(ERR_JOB_PARSER)
            };
        }
        if Self::platform_in_self_test(pal) {
            let text = "Rejecting new image and rebooting:The platform is in the self-test state while the job is not.";
            logs::v3(pal, "WARN", "ota.c", 984, text);
            self.reset(acts);
            return Ok(());
        }
        if self
            .ctx
            .protocols
            .as_deref()
            .is_some_and(|p| p.contains("\"MQTT\""))
        {
            logs::v3(pal, "INFO", "ota.c", 951, "Setting OTA data interface.");
            self.signal(Event::CreateFile);
            Ok(())
        } else {
            let text = "Failed to set OTA data interface: OtaErr_t=OtaErrInvalidDataProtocol, aborting current update.";
            logs::v3(pal, "ERROR", "ota.c", 961, text);
            self.set_image_state(pal, acts, ImageState::Aborted, ERR_INVALID_DATA_PROTOCOL)
        }
    }

    /// `getFileContextFromJob`: parse, then prepare the bitmap and the PAL file.
    fn file_context_from_job(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        doc: &[u8],
    ) -> bool {
        let (mut have_file, update_job) = self.parse_job_doc(pal, acts, doc);
        if self.halted {
            return false;
        }
        if update_job {
            logs::v3(
                pal,
                "INFO",
                "ota.c",
                2440,
                "Job document for receiving an update received.",
            );
        }
        let max_size = MAX_BITMAP_BYTES * 8 * (1u32 << self.cfg.log2_block_size);
        let overflow = have_file && self.ctx.filesize > max_size;
        if have_file && !overflow && !update_job && !Self::platform_in_self_test(pal) {
            self.dl = Some(Download::new(self.ctx.filesize, self.cfg.log2_block_size));
            self.file = FileContext {
                filepath: self.ctx.filepath.clone().unwrap_or_default(),
                filesize: self.ctx.filesize,
                fileid: self.ctx.fileid,
                certfile: self.ctx.certfile.clone().unwrap_or_default(),
                signature: self.ctx.signature.clone(),
            };
            match pal.create_file(&self.file) {
                Ok(()) => self.file_open = true,
                Err(e) => {
                    let _ =
                        self.set_image_state(pal, acts, ImageState::Aborted, codes::v3_status(e));
                    self.ota_close(pal, acts);
                    have_file = false;
                }
            }
        }
        if overflow {
            self.ota_close(pal, acts);
            have_file = false;
        }
        have_file
    }

    /// `parseJobDoc`: returns (file context ready, update of the current job).
    fn parse_job_doc(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        doc: &[u8],
    ) -> (bool, bool) {
        let (fields, complete) = jobdoc::parse_v3(pal, doc);
        let (mut have_file, mut update_job) = (false, false);
        let name_seen = fields.job_id.clone();
        let err = if complete {
            self.ctx = fields;
            self.validate_and_start_job(pal, acts, &mut have_file, &mut update_job)
        } else if let Some(id) = jobdoc::v3_has_job(doc) {
            // handleCustomJob: the demo's callback does not parse custom jobs.
            self.active_job = id;
            PARSE_NON_CONFORMING
        } else {
            PARSE_NO_ACTIVE_JOBS
        };
        if self.halted {
            return (false, false);
        }
        let name = name_seen
            .or_else(|| self.ctx.job_id.clone())
            .unwrap_or_default();
        match err {
            PARSE_NONE => {
                let text = format!(
                    "Job parsing success: OtaJobParseErr_t=OtaJobParseErrNone, Job name={name}"
                );
                logs::v3(pal, "INFO", "ota.c", 2384, &text);
            }
            PARSE_UPDATE_CURRENT_JOB => {
                let text = format!("Update received for current job: OtaJobParseErr_t=OtaJobParseErrUpdateCurrentJob, Job name={name}");
                logs::v3(pal, "INFO", "ota.c", 2289, &text);
            }
            PARSE_NO_ACTIVE_JOBS => {
                let text = "No active job available in received job document: OtaJobParseErr_t=OtaJobParseErrNoActiveJobs";
                logs::v3(pal, "INFO", "ota.c", 2297, text);
            }
            e => {
                let text = format!(
                    "Failed to parse the job document after parsing the job name: OtaJobParseErr_t={}, Job name={name}",
                    parse_err_name(e)
                );
                logs::v3(pal, "ERROR", "ota.c", 2311, &text);
                if !self.active_job.is_empty() {
                    self.publish(
                        pal,
                        acts,
                        logs::status_failed_with_values(ERR_JOB_PARSER, e),
                        1,
                    );
                    self.active_job.clear();
                    self.ota_close(pal, acts);
                }
            }
        }
        (have_file, update_job)
    }

    fn validate_and_start_job(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        have_file: &mut bool,
        update_job: &mut bool,
    ) -> u32 {
        let job = self.ctx.job_id.clone().unwrap_or_default();
        let err = if job.len() > JOB_ID_MAX {
            let text = "Parameter check failed: pFileContext->pJobName is NOT a NULL terminated string, or it's too long to store.";
            logs::v3(pal, "ERROR", "ota.c", 2213, text);
            PARSE_NULL_JOB
        } else if self.ctx.filesize == 0 {
            logs::v3(
                pal,
                "ERROR",
                "ota.c",
                2218,
                "Parameter check failed: pFileContext->fileSize is 0: File size should be > 0.",
            );
            PARSE_ZERO_FILE_SIZE
        } else if self.active_job.is_empty() {
            self.active_job = job.clone();
            PARSE_NONE
        } else if self.active_job != job {
            logs::v3(
                pal,
                "INFO",
                "ota.c",
                2031,
                "New job document received, aborting current job.",
            );
            let _ = pal.set_image_state(ImageState::Aborted);
            let _ = pal.abort(&self.file);
            self.data_cleanup(pal, acts);
            self.active_job = job.clone();
            PARSE_NONE
        } else {
            let text = "New job document ID is identical to the current job: Updating the URL based on the new job document.";
            logs::v3(pal, "INFO", "ota.c", 2060, text);
            *have_file = true;
            *update_job = true;
            PARSE_UPDATE_CURRENT_JOB
        };
        if err == PARSE_NONE {
            if self.ctx.self_test {
                self.self_test_job_doc(pal, acts);
            } else {
                *have_file = true;
                logs::v3(
                    pal,
                    "INFO",
                    "ota.c",
                    2258,
                    "Job document was accepted. Attempting to begin the update.",
                );
            }
        }
        err
    }

    /// `setImageStateWithReason` and `updateJobStatusFromImageState`.
    fn set_image_state(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        to_set: ImageState,
        reason_to_set: u32,
    ) -> Result<(), u32> {
        let (mut state, mut reason) = (to_set, reason_to_set);
        let pal_result = pal.set_image_state(state);
        if let Err(e) = pal_result {
            if state != ImageState::Aborted {
                state = ImageState::Rejected;
                if reason == 0 {
                    reason = codes::v3_status(e);
                }
            }
        }
        self.image_state = Some(state);
        if self.active_job.is_empty() {
            let pal_name = codes::v3_pal_name(pal_result.err().map_or(0, codes::v3_main));
            let text = format!(
                "Failed to set image state with reason: OtaErr_t=OtaErrNoActiveJob, OtaPalStatus_t={pal_name}, state={}, reason={reason_to_set}",
                to_set as u8 + 1
            );
            logs::v3(pal, "WARN", "ota.c", 762, &text);
            return Err(ERR_NO_ACTIVE_JOB);
        }
        let payload = match state {
            ImageState::Testing => {
                logs::status_self_test("active", &format!("{:08x}", self.running))
            }
            ImageState::Accepted => logs::status_succeeded_v3(self.running, self.ctx.updated_by),
            ImageState::Rejected => logs::status_failed_reason("rejected", reason),
            ImageState::Aborted => logs::status_failed_reason("aborted", reason),
        };
        self.publish(pal, acts, payload, 1);
        if state != ImageState::Testing {
            self.active_job.clear();
        }
        Ok(())
    }

    fn publish(&self, _pal: &mut dyn Pal, acts: &mut Vec<Action>, payload: String, qos: u8) {
        let topic = logs::topic_job_update(self.thing(), &self.active_job);
        acts.push(Action::Publish {
            topic,
            payload: payload.into_bytes(),
            qos,
        });
    }

    fn job_notification_handler(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        self.stop_request_timer(acts);
        let _ = pal.set_image_state(ImageState::Aborted);
        self.ota_close(pal, acts);
        self.active_job.clear();
        self.signal(Event::RequestJobDocument);
        Ok(())
    }

    fn shutdown_handler(
        &mut self,
        pal: &mut dyn Pal,
        acts: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        logs::v3(pal, "INFO", "ota.c", 1352, "OTA Agent is shutting down.");
        self.stop_request_timer(acts);
        acts.push(Action::StopTimer(TimerId::SelfTest));
        let topic = logs::topic_notify_next(self.thing());
        logs::v3(
            pal,
            "INFO",
            "ota_mqtt.c",
            518,
            &format!("Unsubscribed to MQTT topic: {topic}"),
        );
        acts.push(Action::Unsubscribe { topic });
        self.ota_close(pal, acts);
        self.active_job.clear();
        Ok(())
    }

    fn suspend_handler(
        &mut self,
        pal: &mut dyn Pal,
        _: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        logs::v3(pal, "INFO", "ota.c", 1367, "OTA Agent is suspended.");
        Ok(())
    }

    fn resume_handler(
        &mut self,
        _pal: &mut dyn Pal,
        _: &mut Vec<Action>,
        _: &[u8],
    ) -> Result<(), u32> {
        self.signal(Event::RequestJobDocument);
        Ok(())
    }

    fn is_job_topic(&self, topic: &str) -> bool {
        topic == logs::topic_notify_next(self.thing())
            || topic == logs::topic_next_get_accepted(self.thing())
    }

    fn is_data_topic(&self, topic: &str) -> bool {
        let prefix = format!("$aws/things/{}/streams/", self.thing());
        topic
            .strip_prefix(&prefix)
            .is_some_and(|rest| rest.ends_with("/data/cbor"))
    }
}

fn parse_err_name(e: u32) -> &'static str {
    match e {
        PARSE_NULL_JOB => "OtaJobParseErrNullJob",
        PARSE_ZERO_FILE_SIZE => "OtaJobParseErrZeroFileSize",
        PARSE_NON_CONFORMING => "OtaJobParseErrNonConformingJobDoc",
        _ => "OtaJobParseErrUnknown",
    }
}

impl Agent for V3Agent {
    fn start(&mut self, _pal: &mut dyn Pal) -> Vec<Action> {
        Vec::new()
    }

    fn handle(&mut self, input: Input, pal: &mut dyn Pal) -> Vec<Action> {
        let mut acts = Vec::new();
        if self.halted {
            return acts;
        }
        match input {
            Input::Timer(TimerId::SelfTest) => {
                let ms = self.cfg.self_test_timeout.as_millis();
                logs::v3(
                    pal,
                    "ERROR",
                    "ota.c",
                    637,
                    &format!("Self test failed to complete within {ms}ms"),
                );
                self.reset(&mut acts);
                return acts;
            }
            _ if self.stuck || self.state == State::Stopped => return acts,
            Input::Connected if !self.started => {
                self.started = true;
                self.signal(Event::Start);
            }
            Input::Connected => {
                // The demo suspends the agent on disconnect and resumes it after reconnecting.
                self.signal(Event::Suspend);
                self.signal(Event::Resume);
            }
            Input::Timer(TimerId::Request) => {
                self.request_timer = false;
                self.signal(Event::RequestTimer);
            }
            Input::Message { topic, payload } => {
                if self.is_job_topic(&topic) {
                    self.queue.push_back((Event::ReceivedJobDocument, payload));
                } else if self.is_data_topic(&topic) {
                    self.queue.push_back((Event::ReceivedFileBlock, payload));
                }
            }
        }
        self.run(pal, &mut acts);
        acts
    }
}
