//! The scenario runner: binds roles to boards, runs steps across boards
//! concurrently, checks expectations over the timeline, decides verdicts.

pub mod matchers;
