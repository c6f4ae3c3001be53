//! The serde shape of `scenarios/*.yaml`, strict: unknown fields are errors.
//! Strings that need checking (durations, regexes, percentages) stay strings here;
//! `scenario::resolve` turns them into typed values with positioned diagnostics.

use serde::Deserialize;

use crate::model::{AbortOn, ImageFault, RetryOn};

use super::values::Targets;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario<S = RawStep> {
    pub name: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Roles → requirements. A role with no requirements may be written `role:` or `role: {}`.
    pub boards: yaml_serde::Mapping,
    #[serde(default)]
    pub needs: Vec<Capability>,
    pub baseline: Option<String>,
    pub timeout: Option<String>,
    pub steps: Vec<S>,
    #[serde(default)]
    pub never: Option<OneOrMany<RawGuard>>,
    pub recovery: Option<RawRecovery>,
}

/// What a role asks of the board it is bound to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoleReq {
    pub thing_name: Option<String>,
}

/// What a rig board can do beyond flashing and watching.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Remove and restore power (a relay, a hub port, a process kill).
    PowerCycle,
    /// A reset without power loss (probe, flasher, or power part).
    Reset,
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Capability::PowerCycle => "power_cycle",
            Capability::Reset => "reset",
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::Many(v) => v,
            OneOrMany::One(t) => vec![t],
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecovery {
    pub within: Option<String>,
    pub settle: Option<String>,
}

/// One step: a map with exactly one key, the step kind.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStep {
    Flash(RawFlash),
    Expect(RawExpect),
    Job(RawJob),
    Cancel(RawCancel),
    Retry(RawRetry),
    Reset(RawBoards),
    PowerCycle(RawPowerCycle),
    PowerCut(RawPowerCut),
    Kick(RawBoard),
    Link(RawLink),
    BrokerRestart(RawBrokerRestart),
    Wait(String),
    Never(OneOrMany<RawGuard>),
}

impl RawStep {
    pub fn kind(&self) -> &'static str {
        match self {
            RawStep::Flash(_) => "flash",
            RawStep::Expect(_) => "expect",
            RawStep::Job(_) => "job",
            RawStep::Cancel(_) => "cancel",
            RawStep::Retry(_) => "retry",
            RawStep::Reset(_) => "reset",
            RawStep::PowerCycle(_) => "power_cycle",
            RawStep::PowerCut(_) => "power_cut",
            RawStep::Kick(_) => "kick",
            RawStep::Link(_) => "link",
            RawStep::BrokerRestart(_) => "broker_restart",
            RawStep::Wait(_) => "wait",
            RawStep::Never(_) => "never",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlash {
    pub boards: Targets,
    pub image: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBoards {
    pub boards: Targets,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBoard {
    pub board: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPowerCycle {
    pub boards: Targets,
    pub off_for: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPowerCut {
    pub board: String,
    pub at_progress: Option<String>,
    pub at_console: Option<String>,
    /// The job whose progress `at_progress` watches (`job:` is accepted too).
    pub of: Option<String>,
    pub job: Option<String>,
    pub off_for: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub id: String,
    pub image: String,
    pub targets: Targets,
    #[serde(default)]
    pub faults: Vec<ImageFault>,
    pub block_size: Option<u32>,
    pub step_timeout: Option<String>,
    pub filepath: Option<String>,
    pub certfile: Option<String>,
    pub signature: Option<String>,
    pub key: Option<String>,
    pub stream: Option<String>,
    /// AWS `jobExecutionsRolloutConfig`, its fields in snake_case.
    pub rollout: Option<RawRollout>,
    /// AWS `abortConfig.criteriaList`.
    pub abort: Option<Vec<RawAbort>>,
    /// AWS `jobExecutionsRetryConfig.criteriaList`.
    pub retry: Option<Vec<RawRetryCriterion>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRollout {
    pub maximum_per_minute: u32,
    pub exponential_rate: Option<RawExponentialRate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExponentialRate {
    pub base_rate_per_minute: u32,
    pub increment_factor: f64,
    pub rate_increase_criteria: RawRateIncrease,
}

/// Exactly one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateIncrease {
    pub number_of_notified_things: Option<u32>,
    pub number_of_succeeded_things: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAbort {
    pub failure_type: AbortOn,
    /// Only `CANCEL` exists; may be left out.
    #[serde(default)]
    pub action: crate::model::rollout::AbortAction,
    pub threshold_percentage: f64,
    pub min_number_of_executed_things: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetryCriterion {
    pub failure_type: RetryOn,
    pub number_of_retries: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCancel {
    pub job: String,
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub job: String,
    pub boards: Option<Targets>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub board: String,
    #[serde(default)]
    pub faults: Vec<RawLinkFault>,
    pub seed: Option<u64>,
}

/// One fault on a board's MQTT traffic at the gateway. `topic` defaults to `#`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawLinkFault {
    Drop(RawMessageFault),
    Duplicate(RawMessageFault),
    Corrupt(RawMessageFault),
    Delay(RawDelay),
    Stall(RawStall),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessageFault {
    pub topic: Option<String>,
    pub probability: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelay {
    pub topic: Option<String>,
    pub by: String,
    pub jitter: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStall {
    #[serde(rename = "for")]
    pub for_: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrokerRestart {
    pub down_for: Option<String>,
}

/// `{ board | boards, <one check>, within | for }`: the keys every expectation has. The
/// check's own keys are read by the check type (`config::ExpectCheck`), which also refuses
/// the keys nobody knows; serde leaves them alone here.
#[derive(Debug, Default, Deserialize)]
pub struct RawExpect {
    pub board: Option<String>,
    pub boards: Option<Targets>,
    pub within: Option<String>,
    #[serde(rename = "for")]
    pub for_: Option<String>,
}

/// `never:` guard: `{ board | boards, console }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    pub board: Option<String>,
    pub boards: Option<Targets>,
    pub console: String,
}
