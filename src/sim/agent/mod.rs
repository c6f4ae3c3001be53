//! The OTA agents as sans-IO machines: inputs in, actions out. The sim runtime
//! owns MQTT, timers and resets; the agent owns every decision and log line.

use std::time::Duration;

use super::pal::Pal;

/// Which agent generation an image carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Generation {
    /// The 1.0.x agent of the field report (Amazon FreeRTOS 201906).
    V1,
    /// The OTA library v3.
    V3,
}

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
    Message { topic: String, payload: Vec<u8> },
    Timer(TimerId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Subscribe { topic: String, qos: u8 },
    Unsubscribe { topic: String },
    Publish { topic: String, payload: Vec<u8>, qos: u8 },
    StartTimer { id: TimerId, after: Duration },
    StopTimer(TimerId),
    /// Reboot the board (PAL reset / activate). The runtime disconnects and runs the bootloader.
    Reset,
}

pub trait Agent {
    /// Called once after boot, before the connection exists.
    fn start(&mut self, pal: &mut dyn Pal) -> Vec<Action>;
    fn handle(&mut self, input: Input, pal: &mut dyn Pal) -> Vec<Action>;
}
