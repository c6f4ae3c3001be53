//! `otarig sim` and `otarig fixture`.
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct SimArgs {}
#[derive(Subcommand)]
pub enum FixtureCommand {}

pub fn sim(_: SimArgs) -> u8 {
    eprintln!("error: `otarig sim` is not built yet");
    super::exit::USAGE
}
pub fn fixture(cmd: FixtureCommand) -> u8 {
    match cmd {}
}
