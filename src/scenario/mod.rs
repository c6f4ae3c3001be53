//! The scenario runner: binds roles to boards, runs steps across boards
//! concurrently, checks expectations over the timeline, decides verdicts.

pub mod checks;
pub mod watch;

use std::path::{Path, PathBuf};

use crate::config::rig::Profile;
use crate::config::Diagnostics;

/// A scenario as the runner runs it: each expectation's check parsed ([`checks::Check`]).
pub type Scenario = crate::config::scenario::Scenario<checks::Check>;
pub type Step = crate::config::scenario::Step<checks::Check>;
pub type Expect = crate::config::scenario::Expect<checks::Check>;

/// Loads every scenario under `paths` with its checks parsed, every problem of every file
/// positioned (`config::load_scenarios_as`); fixtures are looked up in `fixtures_dir`.
pub fn load_scenarios(
    paths: &[PathBuf],
    fixtures_dir: Option<&Path>,
) -> Result<Vec<Scenario>, Diagnostics> {
    crate::config::load_scenarios_as(paths, fixtures_dir)
}

/// A scenario role bound to a rig board for one run.
#[derive(Clone, Debug)]
pub struct BoundBoard {
    pub role: String,
    pub board: String,
    pub thing: String,
    pub profile: Profile,
}

pub mod bench;
pub mod bound_checks;
pub mod cloud_session;
pub mod execute;
pub mod fixtures;
pub mod recovery;
pub mod run_cloud;
pub mod runner;
pub mod schedule;
pub mod verdict;
