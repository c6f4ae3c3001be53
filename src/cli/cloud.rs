//! `otarig cloud` and `otarig job`.
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct CloudArgs {}
#[derive(Subcommand)]
pub enum JobCommand {}

pub fn cloud(_: CloudArgs) -> u8 {
    eprintln!("error: `otarig cloud` is not built yet");
    super::exit::USAGE
}
pub fn job(cmd: JobCommand) -> u8 {
    match cmd {}
}
