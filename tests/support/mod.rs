//! Helpers shared by the test binaries (tests/cloud.rs, tests/runner.rs, tests/boards.rs)
//! and the benchmarks that include this tree by path; each uses a part of it.
//!
//! - `process`: the `otarig` binary run once or left running, and `otarig cloud`'s banner
//! - `run`: `otarig run` with its own state and report folders, the report read back
//! - `gateway`: a gateway on loopback with rumqttc devices, jobs, Mosquitto
//! - `hostile`: raw MQTT bytes, raw TLS, `otarig cloud` measured through /proc
//! - `sim`, `sim_bench`: `otarig sim` on a pty, and one simulated board against a gateway
//! - `lab`: a labgrid coordinator and exporter on loopback serving simulated boards
//! - `events`: timeline events and report results built by hand
#![allow(dead_code)]

pub mod events;
pub mod gateway;
pub mod hostile;
pub mod lab;
pub mod process;
pub mod run;
pub mod sim;
pub mod sim_bench;
