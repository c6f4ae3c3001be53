//! JSON on the wire: request fields as AWS types them (wrong type →
//! InvalidRequest) and the response shapes of docs/protocol.md §1.3.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{ErrorCode, Rejection};
use super::model::{epoch_secs, Execution, ExecutionStatus};

/// The client token cap, AWS's 64 (v3 agents keep theirs ≤ 64 for this reason).
const MAX_CLIENT_TOKEN: usize = 64;
/// AWS DetailsMap limits: at most 10 pairs, values ≤ 1024 characters.
const MAX_DETAILS: usize = 10;
const MAX_DETAIL_VALUE: usize = 1024;
/// stepTimeoutInMinutes: 1..=10080 (7 days), or -1 to clear the step timer.
const MAX_STEP_TIMEOUT_MIN: i64 = 10_080;

/// A request refused before its fields were read, with the `clientToken` to echo: an
/// over-long one is echoed as given, so a client that correlates by token sees its answer.
pub(super) struct Unparsed {
    pub rejection: Rejection,
    pub client_token: Option<String>,
}

impl From<Rejection> for Unparsed {
    fn from(rejection: Rejection) -> Self {
        Unparsed {
            rejection,
            client_token: None,
        }
    }
}

/// A parsed request object and its (valid) client token.
pub(super) struct Request {
    fields: Map<String, Value>,
    pub client_token: Option<String>,
}

/// `stepTimeoutInMinutes` of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StepTimeout {
    Set(Duration),
    Clear,
}

pub(super) struct DescribeRequest {
    pub execution_number: Option<u64>,
    pub include_job_document: bool,
}

pub(super) struct StartNextRequest {
    pub status_details: Option<BTreeMap<String, String>>,
    pub step_timeout: Option<StepTimeout>,
}

pub(super) struct UpdateRequest {
    pub status: ExecutionStatus,
    pub status_details: Option<BTreeMap<String, String>>,
    pub expected_version: Option<u64>,
    pub execution_number: Option<u64>,
    pub include_job_execution_state: bool,
    pub include_job_document: bool,
    pub step_timeout: Option<StepTimeout>,
}

impl Request {
    /// Parses a request payload. An empty payload counts as `{}` (devices
    /// send empty `get` requests); anything not a JSON object is refused.
    pub fn parse(payload: &[u8]) -> Result<Request, Unparsed> {
        let text = std::str::from_utf8(payload).map_err(|e| {
            Rejection::new(ErrorCode::InvalidJson, format!("payload is not UTF-8: {e}"))
        })?;
        let fields = if text.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(
                        Rejection::invalid_request("request payload must be a JSON object").into(),
                    )
                }
                Err(e) => {
                    return Err(Rejection::new(
                        ErrorCode::InvalidJson,
                        format!("payload is not valid JSON: {e}"),
                    )
                    .into())
                }
            }
        };
        let client_token = match fields.get("clientToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() <= MAX_CLIENT_TOKEN => Some(s.clone()),
            Some(Value::String(s)) => {
                return Err(Unparsed {
                    rejection: Rejection::invalid_request(format!(
                        "clientToken is {} bytes long; at most {MAX_CLIENT_TOKEN} are allowed",
                        s.len()
                    )),
                    client_token: Some(s.clone()),
                })
            }
            Some(_) => {
                return Err(Rejection::invalid_request("clientToken must be a string").into())
            }
        };
        Ok(Request {
            fields,
            client_token,
        })
    }

    /// A present, non-null field.
    fn field(&self, key: &str) -> Option<&Value> {
        self.fields.get(key).filter(|v| !v.is_null())
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, Rejection> {
        match self.field(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Rejection::invalid_request(format!(
                "{key} must be a boolean"
            ))),
        }
    }

    fn opt_i64(&self, key: &str) -> Result<Option<i64>, Rejection> {
        match self.field(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| Rejection::invalid_request(format!("{key} must be an integer"))),
        }
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, Rejection> {
        match self.opt_i64(key)? {
            None => Ok(None),
            Some(n) if n >= 0 => Ok(Some(n as u64)),
            Some(n) => Err(Rejection::invalid_request(format!(
                "{key} must not be negative, got {n}"
            ))),
        }
    }

    fn step_timeout(&self) -> Result<Option<StepTimeout>, Rejection> {
        match self.opt_i64("stepTimeoutInMinutes")? {
            None => Ok(None),
            Some(-1) => Ok(Some(StepTimeout::Clear)),
            Some(m) if (1..=MAX_STEP_TIMEOUT_MIN).contains(&m) => {
                Ok(Some(StepTimeout::Set(Duration::from_secs(m as u64 * 60))))
            }
            Some(m) => Err(Rejection::invalid_request(format!(
                "stepTimeoutInMinutes must be 1..={MAX_STEP_TIMEOUT_MIN} or -1, got {m}"
            ))),
        }
    }

    /// `statusDetails`: a map of string to string, validated as AWS DetailsMap.
    fn status_details(&self) -> Result<Option<BTreeMap<String, String>>, Rejection> {
        let Some(value) = self.field("statusDetails") else {
            return Ok(None);
        };
        let Value::Object(map) = value else {
            return Err(Rejection::invalid_request(
                "statusDetails must be an object of string values",
            ));
        };
        if map.len() > MAX_DETAILS {
            return Err(Rejection::invalid_request(format!(
                "statusDetails has {} entries; at most {MAX_DETAILS} are allowed",
                map.len()
            )));
        }
        let mut details = BTreeMap::new();
        for (key, value) in map {
            if !is_valid_detail_key(key) {
                return Err(Rejection::invalid_request(format!(
                    "statusDetails key `{key}` must be 1..128 characters of [a-zA-Z0-9:_-]"
                )));
            }
            let Value::String(text) = value else {
                return Err(Rejection::invalid_request(format!(
                    "statusDetails.{key} must be a string"
                )));
            };
            if !is_valid_detail_value(text) {
                return Err(Rejection::invalid_request(format!(
                    "statusDetails.{key} must be 1..{MAX_DETAIL_VALUE} characters without control characters"
                )));
            }
            details.insert(key.clone(), text.clone());
        }
        Ok(Some(details))
    }

    pub fn describe(&self) -> Result<DescribeRequest, Rejection> {
        Ok(DescribeRequest {
            execution_number: self.opt_u64("executionNumber")?,
            include_job_document: self.opt_bool("includeJobDocument")?.unwrap_or(true),
        })
    }

    pub fn start_next(&self) -> Result<StartNextRequest, Rejection> {
        Ok(StartNextRequest {
            status_details: self.status_details()?,
            step_timeout: self.step_timeout()?,
        })
    }

    pub fn update(&self) -> Result<UpdateRequest, Rejection> {
        let status = match self.field("status") {
            None => {
                return Err(Rejection::invalid_request(
                    "status is required on every update",
                ))
            }
            Some(Value::String(s)) => ExecutionStatus::from_wire(s).ok_or_else(|| {
                Rejection::invalid_request(format!("status `{s}` is not a job execution status"))
            })?,
            Some(_) => return Err(Rejection::invalid_request("status must be a string")),
        };
        Ok(UpdateRequest {
            status,
            status_details: self.status_details()?,
            expected_version: self.opt_u64("expectedVersion")?,
            execution_number: self.opt_u64("executionNumber")?,
            include_job_execution_state: self
                .opt_bool("includeJobExecutionState")?
                .unwrap_or(false),
            include_job_document: self.opt_bool("includeJobDocument")?.unwrap_or(false),
            step_timeout: self.step_timeout()?,
        })
    }
}

fn is_valid_detail_key(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// DetailsValue: `[^\p{C}]+`, ≤ 1024 characters. Control, common format and
/// private-use characters stand in for Unicode category C.
fn is_valid_detail_value(value: &str) -> bool {
    let count = value.chars().count();
    (1..=MAX_DETAIL_VALUE).contains(&count) && !value.chars().any(is_other_category)
}

fn is_other_category(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
            | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF)
}

/// `JobExecution` as the service sends it (jobDocument embedded as an object).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionJson<'a> {
    job_id: &'a str,
    thing_name: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    status_details: &'a BTreeMap<String, String>,
    queued_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<u64>,
    last_updated_at: u64,
    version_number: u64,
    execution_number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_document: Option<&'a Value>,
}

impl<'a> ExecutionJson<'a> {
    fn new(e: &'a Execution, document: Option<&'a Value>) -> Self {
        ExecutionJson {
            job_id: &e.job_id,
            thing_name: &e.thing,
            status: e.status.as_str(),
            status_details: &e.status_details,
            queued_at: epoch_secs(e.queued_at),
            started_at: e.started_at.map(epoch_secs),
            last_updated_at: epoch_secs(e.last_updated_at),
            version_number: e.version_number,
            execution_number: e.execution_number,
            job_document: document,
        }
    }
}

/// `JobExecutionSummary` (get/accepted, notify).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryJson<'a> {
    job_id: &'a str,
    queued_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<u64>,
    last_updated_at: u64,
    version_number: u64,
    execution_number: u64,
}

impl<'a> SummaryJson<'a> {
    fn new(e: &'a Execution) -> Self {
        SummaryJson {
            job_id: &e.job_id,
            queued_at: epoch_secs(e.queued_at),
            started_at: e.started_at.map(epoch_secs),
            last_updated_at: epoch_secs(e.last_updated_at),
            version_number: e.version_number,
            execution_number: e.execution_number,
        }
    }
}

/// `JobExecutionState` (update/accepted, some rejections).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StateJson<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    status_details: &'a BTreeMap<String, String>,
    version_number: u64,
}

impl<'a> StateJson<'a> {
    fn new(e: &'a Execution) -> Self {
        StateJson {
            status: e.status.as_str(),
            status_details: &e.status_details,
            version_number: e.version_number,
        }
    }
}

fn to_bytes(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("Jobs responses are plain JSON values")
}

/// `start-next/accepted` and `{jobId}/get/accepted`: `execution` omitted when none.
pub(super) fn execution_accepted(
    client_token: Option<&str>,
    now: SystemTime,
    execution: Option<(&Execution, Option<&Value>)>,
) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        client_token: Option<&'a str>,
        timestamp: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        execution: Option<ExecutionJson<'a>>,
    }
    to_bytes(&Body {
        client_token,
        timestamp: epoch_secs(now),
        execution: execution.map(|(e, doc)| ExecutionJson::new(e, doc)),
    })
}

/// `get/accepted`: pending executions split by status.
pub(super) fn pending_accepted(
    client_token: Option<&str>,
    now: SystemTime,
    in_progress: &[&Execution],
    queued: &[&Execution],
) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        in_progress_jobs: Vec<SummaryJson<'a>>,
        queued_jobs: Vec<SummaryJson<'a>>,
        timestamp: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_token: Option<&'a str>,
    }
    to_bytes(&Body {
        in_progress_jobs: in_progress.iter().map(|e| SummaryJson::new(e)).collect(),
        queued_jobs: queued.iter().map(|e| SummaryJson::new(e)).collect(),
        timestamp: epoch_secs(now),
        client_token,
    })
}

/// `{jobId}/update/accepted`.
pub(super) fn update_accepted(
    client_token: Option<&str>,
    now: SystemTime,
    state: Option<&Execution>,
    document: Option<&Value>,
) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        execution_state: Option<StateJson<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        job_document: Option<&'a Value>,
        timestamp: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_token: Option<&'a str>,
    }
    to_bytes(&Body {
        execution_state: state.map(StateJson::new),
        job_document: document,
        timestamp: epoch_secs(now),
        client_token,
    })
}

/// Any `.../rejected`: ErrorResponse.
pub(super) fn rejected(
    client_token: Option<&str>,
    now: SystemTime,
    rejection: &Rejection,
    state: Option<&Execution>,
) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        code: &'static str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_token: Option<&'a str>,
        timestamp: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        execution_state: Option<StateJson<'a>>,
    }
    to_bytes(&Body {
        code: rejection.code.as_str(),
        message: &rejection.message,
        client_token,
        timestamp: epoch_secs(now),
        execution_state: state.map(StateJson::new),
    })
}

/// `notify-next`: the next execution with its document, or only `timestamp`.
pub(super) fn notify_next(now: SystemTime, next: Option<(&Execution, &Value)>) -> Vec<u8> {
    execution_accepted(None, now, next.map(|(e, doc)| (e, Some(doc))))
}

/// `notify`: pending summaries keyed by status, IN_PROGRESS first, at most 10.
pub(super) fn notify(now: SystemTime, pending: &[&Execution]) -> Vec<u8> {
    let mut jobs: BTreeMap<&'static str, Vec<SummaryJson<'_>>> = BTreeMap::new();
    for e in pending.iter().take(10) {
        jobs.entry(e.status.as_str())
            .or_default()
            .push(SummaryJson::new(e));
    }
    #[derive(Serialize)]
    struct Body<'a> {
        timestamp: u64,
        jobs: BTreeMap<&'static str, Vec<SummaryJson<'a>>>,
    }
    to_bytes(&Body {
        timestamp: epoch_secs(now),
        jobs,
    })
}
