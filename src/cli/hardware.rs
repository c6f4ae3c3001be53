//! `otarig probes` and `otarig doctor`.
use clap::Args;

#[derive(Args)]
pub struct ProbesArgs {}
#[derive(Args)]
pub struct DoctorArgs {}

pub fn probes(_: ProbesArgs) -> u8 {
    eprintln!("error: `otarig probes` is not built yet");
    super::exit::USAGE
}
pub fn doctor(_: DoctorArgs) -> u8 {
    eprintln!("error: `otarig doctor` is not built yet");
    super::exit::USAGE
}
