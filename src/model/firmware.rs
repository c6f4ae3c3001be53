//! What a firmware build is, as fixtures describe it and the simulator runs it.

use serde::{Deserialize, Serialize};

/// Which OTA agent generation a build carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// The 1.0.x agent of the field report (Amazon FreeRTOS 201906).
    #[default]
    V1,
    /// The OTA library v3.
    V3,
}

/// What the application does after boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppOutcome {
    /// Self-test passes (the agent accepts the image).
    #[default]
    Pass,
    /// Self-test fails (the app rejects the image).
    Fail,
    /// Self-test never completes.
    Hang,
    /// The app crashes right after boot (a hard fault; the watchdog resets the board).
    Crash,
    /// Built with broken network credentials: never reaches the broker.
    CannotConnect,
}
