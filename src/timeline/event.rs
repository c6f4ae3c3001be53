use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ExecutionStatus, Verdict};

/// Who an event concerns: a board (by its rig name), the cloud, or the runner.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Board(String),
    Cloud,
    Runner,
}

impl Source {
    pub fn board(name: impl Into<String>) -> Self {
        Source::Board(name.into())
    }

    pub fn board_name(&self) -> Option<&str> {
        match self {
            Source::Board(name) => Some(name),
            _ => None,
        }
    }
}

/// MQTT direction as seen from the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Device → cloud.
    In,
    /// Cloud → device.
    Out,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerState {
    On,
    Off,
}

/// One stamped observation. Owned and serialisable: the stored timeline *is* this type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Wall clock, milliseconds since the Unix epoch.
    pub wall_ms: u64,
    /// Monotonic seconds since the timeline started.
    pub t: f64,
    pub source: Source,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// One line of a board's console, without its line ending.
    Console {
        line: String,
    },
    /// An MQTT packet through the gateway (or the client-mode connection).
    Mqtt {
        conn: u64,
        client_id: String,
        thing: Option<String>,
        dir: Direction,
        packet: String,
        topic: Option<String>,
        qos: Option<u8>,
        /// UTF-8 payloads as text, CBOR decoded to JSON text, anything else as hex.
        payload: Option<String>,
        len: usize,
    },
    /// A connection opened or closed at the gateway.
    Connection {
        conn: u64,
        client_id: String,
        thing: Option<String>,
        connected: bool,
        reason: Option<String>,
    },
    /// A job execution changed (status or statusDetails) in the Jobs service.
    JobExecution {
        job_id: String,
        thing: String,
        status: ExecutionStatus,
        status_details: BTreeMap<String, String>,
        version_number: u64,
        execution_number: u64,
    },
    /// Blocks served for a stream to a thing.
    StreamProgress {
        thing: String,
        stream: String,
        file_id: u32,
        blocks_served: u64,
        block_count: u64,
    },
    /// The rig flashed a board.
    Flash {
        image: String,
        ok: bool,
        detail: Option<String>,
    },
    Power {
        state: PowerState,
        reason: String,
    },
    /// A fault the rig injected (gateway traffic, power cut, kick…).
    Fault {
        what: String,
    },
    /// A scenario step started or finished.
    Step {
        index: usize,
        text: String,
        finished: bool,
        ok: Option<bool>,
    },
    /// A verdict for a board in a scenario.
    Verdict {
        verdict: Verdict,
        message: Option<String>,
    },
    /// A bench (infrastructure) error: never a firmware failure.
    BenchError {
        message: String,
    },
    /// Free text from the runner.
    Note {
        text: String,
    },
}
