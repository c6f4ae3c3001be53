//! The bench's AWS IoT: the endpoint boards connect to (`gateway`), client mode
//! against an external broker (`client`), the sans-IO Jobs and stream services,
//! the bench PKI and code signing.

pub mod admin;
pub mod client;
pub mod gateway;
pub mod jobdoc;
pub mod jobs;
pub mod pki;
mod services;
pub mod signing;
pub mod streams;
pub mod topics;

pub use jobs::{JobSpec, JobView, JobsError};
pub use services::{CloudServices, Reply, Route};
