//! otarig: a hardware-in-the-loop test rig for over-the-air firmware updates.
//!
//! Data flows one way: `cli → scenario → {cloud, board, faults} → timeline → report`;
//! `config` is a leaf everyone reads. See `docs/architecture.md`.

pub mod board;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod faults;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod timeline;

#[cfg(test)]
mod layering;
