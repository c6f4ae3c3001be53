//! The resolved scenario: what the runner executes. Roles are names declared in
//! `boards:` (`all` already expanded), regexes compiled, durations parsed,
//! percentages as fractions 0..=1. Built only by `config::load_scenarios_as`.
//!
//! An expectation's check is a type parameter `C`: its kinds are parsed and evaluated in
//! `scenario::checks` (which implements [`super::ExpectCheck`]); `config` alone loads
//! them as [`super::UnparsedCheck`].

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

pub use super::scenario_raw::Capability;
use crate::model::{FleetControls, ImageFault};

#[derive(Clone, Debug)]
pub struct Scenario<C> {
    /// Equals the file stem; the stable identifier.
    pub name: String,
    pub file: PathBuf,
    pub summary: String,
    pub tags: Vec<String>,
    /// In declaration order; binding follows it.
    pub roles: Vec<Role>,
    pub needs: Vec<Capability>,
    /// Fixture flashed before the steps; `None` = the rig's `defaults.baseline`.
    pub baseline: Option<String>,
    pub timeout: Option<Duration>,
    pub steps: Vec<Step<C>>,
    /// Line of each step in `file`, for messages (`steps[i]` is at `step_lines[i]`).
    pub step_lines: Vec<usize>,
    /// Top-level `never:` guards: hold from the first step to the end.
    pub never: Vec<Guard>,
    pub recovery: Recovery,
}

impl<C> Scenario<C> {
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.name.clone()).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// The bound board must have this thing name.
    pub thing_name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Overrides every board's `timeouts.recovery` when set.
    pub within: Option<Duration>,
    /// How long a board must stay healthy on one boot, its self-test decided, to count as
    /// recovered (default: `scenario::recovery::DEFAULT_SETTLE`).
    pub settle: Option<Duration>,
}

#[derive(Clone, Debug)]
pub enum Step<C> {
    Flash {
        roles: Vec<String>,
        image: String,
    },
    Expect(Expect<C>),
    Job(JobStep),
    Cancel {
        job: String,
        force: bool,
    },
    /// Re-run the FAILED/TIMED_OUT executions of `job` (of these roles only, if given).
    Retry {
        job: String,
        roles: Option<Vec<String>>,
    },
    Reset {
        roles: Vec<String>,
    },
    PowerCycle {
        roles: Vec<String>,
        off_for: Duration,
    },
    PowerCut(PowerCut),
    /// A second client connects with the board's client id (the broker drops the first).
    Kick {
        role: String,
    },
    /// Replaces the faults on a board's traffic (an empty list clears them).
    Link(Link),
    BrokerRestart {
        down_for: Duration,
    },
    Wait(Duration),
    /// Guards that hold from this step to the end of the scenario.
    Never(Vec<Guard>),
}

impl<C> Step<C> {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Flash { .. } => "flash",
            Step::Expect(_) => "expect",
            Step::Job(_) => "job",
            Step::Cancel { .. } => "cancel",
            Step::Retry { .. } => "retry",
            Step::Reset { .. } => "reset",
            Step::PowerCycle { .. } => "power_cycle",
            Step::PowerCut(_) => "power_cut",
            Step::Kick { .. } => "kick",
            Step::Link(_) => "link",
            Step::BrokerRestart { .. } => "broker_restart",
            Step::Wait(_) => "wait",
            Step::Never(_) => "never",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Expect<C> {
    pub roles: Vec<String>,
    pub check: C,
    /// The deadline; for a check that forbids something (`not_console`), the window during
    /// which it must not happen.
    pub within: Duration,
}

#[derive(Clone, Debug)]
pub struct JobStep {
    pub id: String,
    /// Fixture name.
    pub image: String,
    pub targets: Vec<String>,
    pub faults: Vec<ImageFault>,
    pub block_size: Option<u32>,
    pub step_timeout: Option<Duration>,
    /// How the job document describes the file, where the defaults do not fit the device.
    pub document: JobDocument,
    /// Rollout rate, abort criteria and automatic retries (`rollout`, `abort`, `retry`).
    pub controls: Box<FleetControls>,
}

/// The job document's settable fields (defaults in `cloud::jobdoc`), set on a `job`
/// step or on `otarig job create`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobDocument {
    /// `files[0].filepath`: where a POSIX PAL writes the image, a label on a chip.
    pub filepath: Option<String>,
    /// `files[0].certfile`: the code-signing certificate's path or label on the device.
    pub certfile: Option<String>,
    /// The document's signature field, e.g. `sig-sha256-ecdsa`.
    pub signature: Option<String>,
    /// PEM private key (P-256) that signs the image, instead of the PKI's `codesign.key`.
    pub key: Option<std::path::PathBuf>,
    /// The stream id (default: an `AFR_OTA-<uuid>` id as AWS's OTA service makes).
    pub stream: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PowerCut {
    pub role: String,
    pub at: CutAt,
    /// How long the board stays unpowered (default 1s).
    pub off_for: Duration,
}

#[derive(Clone, Debug)]
pub enum CutAt {
    Now,
    /// When the download of `job` (latest when `None`) reaches this fraction.
    Progress {
        job: Option<String>,
        fraction: f64,
    },
    /// When a console line matches.
    Console(Regex),
}

#[derive(Clone, Debug)]
pub struct Link {
    pub role: String,
    pub faults: Vec<LinkFault>,
    pub seed: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LinkFault {
    Drop {
        topic: String,
        probability: f64,
    },
    Duplicate {
        topic: String,
        probability: f64,
    },
    Corrupt {
        topic: String,
        probability: f64,
    },
    Delay {
        topic: String,
        by: Duration,
        jitter: Duration,
    },
    /// Hold all of the board's traffic for this long.
    Stall {
        duration: Duration,
    },
}

#[derive(Clone, Debug)]
pub struct Guard {
    pub roles: Vec<String>,
    pub console: Regex,
}
