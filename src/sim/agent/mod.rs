//! The OTA agents as sans-IO machines: inputs in, actions out. The sim runtime
//! owns MQTT, timers and resets; the agent owns every decision and log line.

use std::time::Duration;

use super::pal::Pal;

pub use crate::model::AgentKind;

/// What the application does when the agent hands it the self-test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfTest {
    Pass,
    Fail,
    Hang,
}

/// Static configuration for one boot of the agent.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The thing name the firmware uses in its topics (baked in or from storage).
    pub thing_name: String,
    /// Running application version (major, minor, build).
    pub version: (u8, u8, u16),
    pub self_test: SelfTest,
    pub self_test_timeout: Duration,
    pub file_request_wait: Duration,
    /// log2 of the block size the agent requests.
    pub log2_block_size: u8,
    /// Blocks per request (v3 `n`); v1 sends none.
    pub blocks_per_request: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerId {
    SelfTest,
    Request,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The MQTT connection is up (first connect after boot, or a reconnect).
    Connected,
    Message {
        topic: String,
        payload: Vec<u8>,
    },
    Timer(TimerId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Subscribe {
        topic: String,
        qos: u8,
    },
    Unsubscribe {
        topic: String,
    },
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
    },
    StartTimer {
        id: TimerId,
        after: Duration,
    },
    StopTimer(TimerId),
    /// Reboot the board (PAL reset / activate). The runtime disconnects and runs the bootloader.
    Reset,
}

pub trait Agent {
    /// Called once after boot, before the connection exists.
    fn start(&mut self, pal: &mut dyn Pal) -> Vec<Action>;
    fn handle(&mut self, input: Input, pal: &mut dyn Pal) -> Vec<Action>;
}

/// Knobs of the agents' build configuration that the runtime does not need to
/// know about (`AgentConfig` stays as the runtime builds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentTuning {
    /// v3 `otaconfigOTA_UPDATE_STATUS_FREQUENCY`: a progress update after the first
    /// block and then every this many. The library default is 64; the POSIX demo
    /// that produced the shared vectors used 25.
    pub v3_status_frequency: u32,
}

impl Default for AgentTuning {
    fn default() -> Self {
        AgentTuning {
            v3_status_frequency: 64,
        }
    }
}

/// The agent an image's personality asks for, with the default tuning.
pub fn new_agent(generation: AgentKind, config: AgentConfig) -> Box<dyn Agent + Send> {
    new_agent_tuned(generation, config, AgentTuning::default())
}

pub fn new_agent_tuned(
    generation: AgentKind,
    config: AgentConfig,
    tuning: AgentTuning,
) -> Box<dyn Agent + Send> {
    match generation {
        AgentKind::V1 => Box::new(v1::V1Agent::new(config)),
        AgentKind::V3 => Box::new(v3::V3Agent::new(config, tuning.v3_status_frequency)),
    }
}

mod cbor;
mod codes;
mod download;
mod jobdoc;
mod json;
mod logs;
#[cfg(test)]
mod testpal;
#[cfg(test)]
mod tests_v1;
#[cfg(test)]
mod tests_v3;
mod v1;
mod v3;
