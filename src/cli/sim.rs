//! `otarig sim` (one simulated board) and `otarig fixture` (build simulator images).
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::{Args, Subcommand};

use crate::sim::console::{flush_stdout, Sink};
use crate::sim::uart::PtyUart;
use crate::sim::wiring::Wiring;
use crate::sim::{agent, fixture, runtime};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimArgs {
    /// The board folder: `nvs.json` (identity) and `flash.bin` (both banks).
    #[arg(long, required = true)]
    dir: Option<PathBuf>,
    /// Print the console on a new pty named by this symlink (a board's USB-serial port)
    /// instead of stdout.
    #[arg(long, value_name = "LINK")]
    tty: Option<PathBuf>,
    #[command(subcommand)]
    wiring: Option<WiringCommand>,
}

/// The simulated board wired as hardware, for a rig's `command` flasher and power parts.
#[derive(Subcommand)]
pub enum WiringCommand {
    /// Switch the board on or off (off = SIGKILL: a power cut).
    Power {
        #[arg(value_enum)]
        state: PowerState,
        /// The board folder.
        #[arg(long)]
        dir: PathBuf,
        /// The console pty's name (needed to switch on).
        #[arg(long, value_name = "LINK", required_if_eq("state", "on"))]
        tty: Option<PathBuf>,
    },
    /// Pulse the reset line of a powered board.
    Reset {
        /// The board folder.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Program a whole flash file (a fixture's factory.flash) and leave the board running.
    Flash {
        image: PathBuf,
        /// The board folder.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_name = "LINK")]
        tty: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PowerState {
    On,
    Off,
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
    if let Some(cmd) = args.wiring {
        return wiring(cmd);
    }
    let dir = args.dir.expect("clap requires --dir");
    let fail = |e: anyhow::Error| {
        super::report_error(&e);
        super::exit::BENCH
    };
    let sink = match &args.tty {
        None => Sink::Stdout,
        Some(link) => match PtyUart::open(link) {
            Ok(uart) => Sink::Uart(Arc::new(Mutex::new(uart))),
            Err(e) => {
                return fail(anyhow::Error::new(e).context(format!(
                    "board {}: cannot open its UART pty {}",
                    dir.display(),
                    link.display()
                )))
            }
        },
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                anyhow::Error::new(e)
                    .context(format!("board {}: cannot start the runtime", dir.display())),
            )
        }
    };
    let stopped = rt.block_on(runtime::run(&dir, agent::new_agent, sink));
    flush_stdout();
    match stopped {
        Ok(never) => match never {},
        Err(e) => fail(anyhow::Error::new(e)),
    }
}

fn wiring(cmd: WiringCommand) -> u8 {
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find the otarig executable to run the board: {e}");
            return super::exit::BENCH;
        }
    };
    let result = match &cmd {
        WiringCommand::Power {
            state: PowerState::On,
            dir,
            tty,
        } => {
            let link = tty.as_deref().expect("clap requires --tty to switch on");
            Wiring::new(dir, &program).power_on(link)
        }
        WiringCommand::Power {
            state: PowerState::Off,
            dir,
            ..
        } => Wiring::new(dir, &program).power_off(),
        WiringCommand::Reset { dir } => Wiring::new(dir, &program).reset(),
        WiringCommand::Flash { image, dir, tty } => Wiring::new(dir, &program).flash(image, tty),
    };
    match result {
        Ok(()) => super::exit::PASSED,
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
