//! `otarig run`, `list`, `validate`.
use clap::Args;

#[derive(Args)]
pub struct RunArgs {}
#[derive(Args)]
pub struct ListArgs {}
#[derive(Args)]
pub struct ValidateArgs {}

pub fn run(_: RunArgs) -> u8 {
    eprintln!("error: `otarig run` is not built yet");
    super::exit::USAGE
}
pub fn list(_: ListArgs) -> u8 {
    eprintln!("error: `otarig list` is not built yet");
    super::exit::USAGE
}
pub fn validate(_: ValidateArgs) -> u8 {
    eprintln!("error: `otarig validate` is not built yet");
    super::exit::USAGE
}
