//! The vocabulary: domain types every layer shares, defined once. Config files
//! deserialize into them, the cloud and the simulator act on them, events and
//! reports carry them. A leaf: it uses nothing else of the crate.

mod firmware;
mod image_fault;
mod job;
pub mod lag;
pub mod mqtt;
mod network_serial;
pub mod rollout;
mod usb;
mod verdict;

pub use firmware::{AgentKind, AppOutcome};
pub use image_fault::ImageFault;
pub use job::{ExecutionStatus, JobStatus};
pub use network_serial::{NetworkSerialError, NetworkSerialPort, NetworkSerialProtocol};
pub use rollout::{
    AbortCriterion, AbortOn, ExponentialRate, FleetControls, RateIncrease, RetryCriterion, RetryOn,
    Rollout,
};
pub use usb::{UsbId, UsbIdError};
pub use verdict::Verdict;
