//! The scenario runner: binds roles to boards, runs steps across boards
//! concurrently, checks expectations over the timeline, decides verdicts.

pub mod expect;
pub mod watch;

use crate::config::rig::Profile;

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
