//! Errors: `JobsError` for the runner's admin calls, `ErrorCode` for what the
//! service answers a device on `.../rejected` (AWS Jobs ErrorResponse, §1.5).

use super::model::ExecutionStatus;

/// A refused admin call (create, cancel, retry, lookups).
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum JobsError {
    #[error("job `{job_id}` does not exist; create it first or check the id")]
    UnknownJob { job_id: String },
    #[error("job `{job_id}` already exists; job ids must be unique, pick another one")]
    DuplicateJob { job_id: String },
    #[error("job id `{job_id}` is invalid: AWS allows 1..64 characters of [a-zA-Z0-9_-]")]
    InvalidJobId { job_id: String },
    #[error(
        "thing name `{thing}` (job `{job_id}`) is invalid: AWS allows 1..128 characters of [a-zA-Z0-9:_-]"
    )]
    InvalidThingName { job_id: String, thing: String },
    #[error("job `{job_id}` has no targets; name at least one thing")]
    NoTargets { job_id: String },
    #[error("job `{job_id}`: the job document must be a JSON object, got {got}")]
    DocumentNotObject { job_id: String, got: &'static str },
    #[error("job `{job_id}`: {problem}")]
    InvalidControls {
        job_id: String,
        problem: crate::model::rollout::ControlProblem,
    },
    #[error(
        "job `{job_id}` has no execution for thing `{thing}`; it is not one of the job's targets"
    )]
    UnknownExecution { job_id: String, thing: String },
    #[error(
        "job `{job_id}`, thing `{thing}`: execution {execution_number} is {status}; only FAILED or TIMED_OUT executions can be retried"
    )]
    NotRetryable {
        job_id: String,
        thing: String,
        execution_number: u64,
        status: ExecutionStatus,
    },
    #[error("job `{job_id}` was cancelled; create a new job instead of retrying it")]
    JobCanceled { job_id: String },
}

/// The `code` of a Jobs ErrorResponse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidTopic,
    InvalidJson,
    InvalidRequest,
    InvalidStateTransition,
    ResourceNotFound,
    VersionMismatch,
    InternalError,
    RequestThrottled,
    TerminalStateReached,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidTopic => "InvalidTopic",
            ErrorCode::InvalidJson => "InvalidJson",
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::InvalidStateTransition => "InvalidStateTransition",
            ErrorCode::ResourceNotFound => "ResourceNotFound",
            ErrorCode::VersionMismatch => "VersionMismatch",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::RequestThrottled => "RequestThrottled",
            ErrorCode::TerminalStateReached => "TerminalStateReached",
        }
    }
}

/// A request the service refuses: code and message; the caller adds the
/// client token, timestamp and (where AWS sends it) the execution state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Rejection {
    pub code: ErrorCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
}
