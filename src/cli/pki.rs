//! `otarig pki` and `otarig sign`.
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum PkiCommand {}
#[derive(Args)]
pub struct SignArgs {}

pub fn pki(cmd: PkiCommand) -> u8 {
    match cmd {}
}
pub fn sign(_: SignArgs) -> u8 {
    eprintln!("error: `otarig sign` is not built yet");
    super::exit::USAGE
}
