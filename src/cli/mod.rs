//! The command line: clap structs in, calls into the library out, exit codes.
//! One file per family of subcommands; each exposes `Args` structs and `run`.

mod board;
pub mod catalog;
mod cloud;
mod hardware;
mod pki;
mod project;
mod run;
pub mod selection;
mod sim;

use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

use crate::report::progress::{self, Verbosity};

/// Exit codes (docs/architecture.md § Reports), kept with the reports that record them.
pub use crate::report::exit;

#[derive(Parser)]
#[command(
    name = "otarig",
    version,
    about = "Hardware-in-the-loop test rig for OTA firmware updates"
)]
struct Cli {
    /// Say less: only errors in the log; `run` shows no live progress and only what did not pass
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Say more: the log at info level (-vv debug, -vvv trace); OTARIG_LOG overrides
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios on a rig and write reports.
    Run(run::RunArgs),
    /// List the scenarios a run would execute.
    List(run::ListArgs),
    /// Check rig, scenario and fixture files without touching a board.
    Validate(run::ValidateArgs),
    /// Start the bench cloud (gateway, Jobs, streams) in the foreground.
    Cloud(cloud::CloudArgs),
    /// Create, cancel or inspect jobs on a running `otarig cloud`.
    #[command(subcommand)]
    Job(cloud::JobCommand),
    /// Bench PKI: CA, endpoint, per-thing and code-signing certificates.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Sign a file (ECDSA P-256 / SHA-256) and print the base64 DER signature.
    Sign(pki::SignArgs),
    /// Run a simulated board (normally started by the rig as a native board).
    Sim(sim::SimArgs),
    /// Firmware fixtures: build simulated images.
    #[command(subcommand)]
    Fixture(sim::FixtureCommand),
    /// List attached debug probes and serial ports, ready to paste into a rig file.
    Probes(hardware::ProbesArgs),
    /// Check a bench before a nightly run.
    Doctor(hardware::DoctorArgs),
    /// By hand: list a rig's boards; flash, power, reset or watch the console of one.
    #[command(subcommand)]
    Board(board::BoardCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.prints_for_a_pipe() {
        die_quietly_on_a_closed_pipe();
    }
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (false, 0) => Verbosity::Normal,
        (false, _) => Verbosity::Verbose,
    };
    init_tracing(&cli.command.default_log(cli.quiet, cli.verbose));
    raise_open_file_limit();
    fewer_malloc_arenas();
    let code = match cli.command {
        Command::Run(args) => run::run(args, verbosity),
        Command::List(args) => run::list(args),
        Command::Validate(args) => run::validate(args),
        Command::Cloud(args) => cloud::cloud(args),
        Command::Job(cmd) => cloud::job(cmd),
        Command::Pki(cmd) => pki::pki(cmd),
        Command::Sign(args) => pki::sign(args),
        Command::Sim(args) => sim::sim(args),
        Command::Fixture(cmd) => sim::fixture(cmd),
        Command::Probes(args) => hardware::probes(args),
        Command::Doctor(args) => hardware::doctor(args),
        Command::Board(cmd) => board::board(cmd),
    };
    ExitCode::from(code)
}

/// A run holds a pty, a connection and a child per board: 1,000 boards need more open
/// files than the usual soft limit of 1,024, so take what the hard limit allows.
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::debug!("cannot raise the open-file limit from {soft} to {hard}: {e}");
            }
        }
    }
}

/// glibc gives each thread that allocates an arena of its own (up to 8 per core), and each
/// arena fragments on its own. The rig's memory is a few threads' churn of small
/// allocations; two arenas hold it more tightly (1,000 boards, runner peak RSS over three
/// runs each: 310-331 MiB with the default, 271-322 MiB with two). `MALLOC_ARENA_MAX`
/// still wins when set.
fn fewer_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator settings; called before the runtime starts
        // its threads.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    }
}

impl Command {
    /// The log filter when neither OTARIG_LOG nor RUST_LOG is set: warnings (errors with
    /// `-q`, more with each `-v`); `otarig cloud` also says what its devices and jobs do.
    fn default_log(&self, quiet: bool, verbose: u8) -> String {
        let level = match (quiet, verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            _ => "trace",
        };
        match self {
            Command::Cloud(_) if !quiet && verbose == 0 => {
                format!("{level},{}=info", cloud::ACTIVITY)
            }
            _ => level.to_string(),
        }
    }

    /// Commands whose output is read by scripts (`otarig job status | head`):
    /// they end quietly when the reader goes away, as Unix tools do. Long
    /// runs (`run`, `cloud`, `sim`, `board`) never die of a closed pipe: they
    /// hold boards and a cloud that must be shut down in order.
    fn prints_for_a_pipe(&self) -> bool {
        matches!(
            self,
            Command::List(_)
                | Command::Validate(_)
                | Command::Doctor(_)
                | Command::Board(board::BoardCommand::List(_))
                | Command::Job(_)
                | Command::Pki(_)
                | Command::Sign(_)
                | Command::Fixture(_)
                | Command::Probes(_)
        )
    }
}

/// SIGPIPE back to its default action (Rust's runtime ignores it, so a write to
/// a closed pipe becomes a panic in `println!`).
fn die_quietly_on_a_closed_pipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: called first thing in main, before any other thread exists; the
    // default action installs no handler code.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Logs go to stderr (above the live progress region while it is drawn); `OTARIG_LOG`
/// (or `RUST_LOG`) sets the filter, else `default` (from -q/-v).
fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("OTARIG_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal, and never with NO_COLOR (no-color.org): a log
    // piped to a file or CI keeps plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogLine(Vec::new()))
        .with_ansi(colour)
        .try_init();
}

/// One formatted log event, written when dropped: above the progress region when one
/// is drawn (so a log line never lands inside it), else to stderr in one write.
struct LogLine(Vec<u8>);

impl std::io::Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        if !progress::write_above(&text) {
            let _ = std::io::Write::write_all(&mut std::io::stderr(), &self.0);
        }
    }
}

/// A line on stdout for commands that hold boards or a cloud (`run`, `cloud`): a reader
/// that went away (`otarig run | head`) must not stop them (a panic in `println!`)
/// before they power boards off and write their reports.
pub(crate) fn say(text: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Prints an error with its cause chain, the way every subcommand reports failures.
pub(crate) fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
