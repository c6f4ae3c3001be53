//! `otarig sim` (one simulated board) and `otarig fixture` (build simulator images).
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::sim::console::Sink;
use crate::sim::{agent, fixture, runtime};

#[derive(Args)]
pub struct SimArgs {
    /// The board folder: `nvs.json` (identity) and `flash.bin` (both banks).
    #[arg(long)]
    dir: PathBuf,
}

#[derive(Subcommand)]
pub enum FixtureCommand {
    /// Build a fixture's simulator images: NAME/ota.bin and NAME/factory.flash under --out.
    Build {
        /// Fixture name (the file stem of FIXTURES/NAME.yaml).
        name: String,
        #[arg(long, default_value = "firmware-fixtures")]
        fixtures: PathBuf,
        /// Bench PKI folder; its trusted code-signing key signs the factory image.
        #[arg(long, default_value = ".otarig/pki")]
        pki: PathBuf,
        #[arg(long, default_value = ".otarig/fixtures")]
        out: PathBuf,
    },
}

pub fn sim(args: SimArgs) -> u8 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "error: board {}: cannot start the runtime: {e}",
                args.dir.display()
            );
            return super::exit::BENCH;
        }
    };
    match rt.block_on(runtime::run(&args.dir, agent::new_agent, Sink::Stdout)) {
        Ok(never) => match never {},
        Err(e) => {
            super::report_error(&anyhow::Error::new(e));
            super::exit::BENCH
        }
    }
}

pub fn fixture(cmd: FixtureCommand) -> u8 {
    match cmd {
        FixtureCommand::Build {
            name,
            fixtures,
            pki,
            out,
        } => match fixture::build_to_dir(&fixtures, &name, &pki, &out) {
            Ok((built, paths)) => {
                println!("{} ({} bytes)", paths.ota.display(), built.ota.len());
                println!(
                    "{} ({} bytes)",
                    paths.factory.display(),
                    built.factory.len()
                );
                super::exit::PASSED
            }
            Err(fixture::FixtureError::Config(d)) => {
                eprint!("{d}");
                super::exit::USAGE
            }
            Err(e) => {
                super::report_error(&anyhow::Error::new(e));
                super::exit::USAGE
            }
        },
    }
}
