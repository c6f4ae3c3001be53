//! The bench cloud: the gateway (MQTT over mutual TLS, AWS IoT Core's limits, hostile and
//! fuzzed devices), the Jobs and stream services, client mode, the PKI, and `otarig cloud`,
//! `job`, `pki` and `sign` as processes. Modules under tests/cloud/, helpers in tests/support/.

mod support;

#[path = "cloud/aws_sdk_jobs.rs"]
mod aws_sdk_jobs;
#[path = "cloud/client_mode.rs"]
mod client_mode;
#[path = "cloud/cloud_cli.rs"]
mod cloud_cli;
#[path = "cloud/gateway.rs"]
mod gateway;
#[path = "cloud/gateway_admin.rs"]
mod gateway_admin;
#[path = "cloud/gateway_download.rs"]
mod gateway_download;
#[path = "cloud/gateway_fuzz.rs"]
mod gateway_fuzz;
#[path = "cloud/gateway_hostile.rs"]
mod gateway_hostile;
#[path = "cloud/gateway_jobs.rs"]
mod gateway_jobs;
#[path = "cloud/gateway_services.rs"]
mod gateway_services;
#[path = "cloud/gateway_streams.rs"]
mod gateway_streams;
#[path = "cloud/pki_cli.rs"]
mod pki_cli;
#[path = "cloud/pki_modes.rs"]
mod pki_modes;
#[path = "cloud/rig_pki.rs"]
mod rig_pki;
