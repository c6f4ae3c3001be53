//! otarig: a hardware-in-the-loop test rig for over-the-air firmware updates.
//!
//! Data flows one way: `cli → scenario → {cloud, board, faults} → timeline → report`;
//! `config` is a leaf everyone reads. Who may import whom is checked by `layering` (a
//! test); see `docs/architecture.md` § Modules.

pub mod board;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod faults;
pub mod labgrid;
pub mod model;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod timeline;

#[cfg(test)]
mod layering;
