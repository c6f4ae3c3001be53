//! `otarig board`: hand tools for one board of a rig (list, flash, power, reset, console),
//! built from the same parts a run uses (`BenchBoard::build`), for an engineer at the bench.
//!
//! Native boards (simulated or a POSIX build) are processes owned by the otarig that
//! started them: no command can leave one running after it exits. So `flash` switches a
//! native board off again once it is written (its flash file stays in the board folder),
//! `console` runs it until Ctrl-C, and `power`/`reset` refuse with a usage error. Boards
//! with hardware parts keep their state between commands, as physical boards do.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use super::exit;
use super::run::DEFAULT_RIG;
use crate::board::{BoardError, PartEvents};
use crate::cloud::pki::{self, PkiLayout};
use crate::config::rig::{
    BoardParts, ConsoleConfig, FlashConfig, NativeKind, PowerConfig, Rig, SerialPortRef,
};
use crate::config::{self, Diagnostics};
use crate::scenario::bench::{self, BenchBoard};
use crate::scenario::fixtures::{FixtureStore, PrepareError};
use crate::sim::fixture::FixtureError;
use crate::timeline::{EventKind, EventSink, PowerState, Source};

/// The port a simulated board is told when the rig's endpoint binds port 0 (a free port,
/// known only inside a run): the one `otarig cloud` listens on by default.
const DEFAULT_CLOUD_PORT: u16 = 8883;

#[derive(Subcommand)]
pub enum BoardCommand {
    /// List the rig's boards and the parts each is built from.
    List(ListArgs),
    /// Flash a fixture onto one board, with the board's flash timeout and retries.
    ///
    /// A board with power control is switched on first, as a run does. A physical board
    /// is left running the new firmware. A native (simulated) board is switched off again
    /// before the command exits, since its process cannot outlive otarig: the image stays
    /// in its board folder, and `otarig board console NAME` boots it.
    Flash(FlashArgs),
    /// Switch a board on or off, or power-cycle it, through its rig `power:` part.
    ///
    /// Only boards whose power part can switch them (`power: { command: ... }`) can; a
    /// board without one is a usage error (exit 2) that says what to add to the rig.
    /// Native (simulated) boards cannot be switched between commands: their process
    /// lives only inside `otarig board console NAME` or a run (exit 2 says so).
    Power(PowerArgs),
    /// Reset a board (its power part's reset, else its flasher's) without removing power.
    ///
    /// Native (simulated) boards only run inside `otarig board console NAME` or a run:
    /// resetting one here is a usage error (exit 2).
    Reset(TargetArgs),
    /// Print a board's console to stdout until Ctrl-C (SIGINT or SIGTERM), then exit 0.
    ///
    /// Every line is prefixed with the time elapsed since the command started, as
    /// `[   1.234s] line`. What the rig does to the board (power, flash, notes from the
    /// console part) goes to stderr with the same stamps, as `## ...` lines.
    ///
    /// A serial console just opens the port (the board must be powered: `--power-on`
    /// switches it on first through its power part, and it is left on afterwards).
    /// A native (simulated) board's console exists only while otarig runs its process,
    /// so for a native board this command always powers the board on (booting what its
    /// flash holds) and powers it off (SIGKILL, a power cut) on Ctrl-C.
    Console(ConsoleArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args)]
pub struct ListArgs {
    /// The rig file describing the bench
    #[arg(long, default_value = DEFAULT_RIG)]
    rig: PathBuf,
    /// `table` for people, `json` for scripts
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Where the board is and what its state lives in: as `otarig run` has them.
#[derive(Args)]
pub struct BenchArgs {
    /// The rig file describing the bench
    #[arg(long, default_value = DEFAULT_RIG)]
    rig: PathBuf,
    /// Where otarig keeps the bench PKI, simulated boards and built fixtures (as for
    /// `otarig run`) [default: `.otarig/` beside the rig's `rigs/` folder, PKI as the rig says]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The MQTT endpoint a simulated board is provisioned with before it starts, e.g. an
    /// `otarig cloud` you run yourself [default: the rig's endpoint host, and its bind
    /// port, or 8883 when the rig binds a free port]
    #[arg(long, value_name = "HOST:PORT")]
    endpoint: Option<String>,
}

#[derive(Args)]
pub struct TargetArgs {
    /// The board's name in the rig (`otarig board list` shows them)
    name: String,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Args)]
pub struct FlashArgs {
    /// The board's name in the rig (`otarig board list` shows them)
    name: String,
    /// The fixture to flash: the name of a file in firmware-fixtures/, without `.yaml`
    fixture: String,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PowerAction {
    On,
    Off,
    /// Off, wait `--off-for`, on
    Cycle,
}

#[derive(Args)]
pub struct PowerArgs {
    #[arg(value_enum)]
    action: PowerAction,
    /// The board's name in the rig (`otarig board list` shows them)
    name: String,
    /// How long a power cycle leaves the board off
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    off_for: Duration,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Args)]
pub struct ConsoleArgs {
    /// The board's name in the rig (`otarig board list` shows them)
    name: String,
    /// Switch the board on through its power part before opening the console (implied
    /// for native boards)
    #[arg(long)]
    power_on: bool,
    #[command(flatten)]
    bench: BenchArgs,
}

pub fn board(cmd: BoardCommand) -> u8 {
    let outcome = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(async {
            match cmd {
                BoardCommand::List(args) => list(args),
                BoardCommand::Flash(args) => flash(args).await,
                BoardCommand::Power(args) => power(args).await,
                BoardCommand::Reset(args) => reset(args).await,
                BoardCommand::Console(args) => console(args).await,
            }
        }),
        Err(e) => Err(Fail::Bench(format!("cannot start the async runtime: {e}"))),
    };
    match outcome {
        Ok(()) => exit::PASSED,
        Err(Fail::Usage(message)) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
        Err(Fail::Config(diags)) => {
            eprint!("{diags}");
            eprintln!(
                "error: the rig file has errors (`otarig validate --rig FILE` shows the same)"
            );
            exit::USAGE
        }
        Err(Fail::Bench(message)) => {
            eprintln!("error: {message}");
            eprintln!("  (a bench error: the rig failed, not the firmware)");
            exit::BENCH
        }
    }
}

/// Why a command stopped: a usage error (exit 2) or the bench failed (exit 3).
enum Fail {
    Usage(String),
    Config(Diagnostics),
    Bench(String),
}

type Outcome = Result<(), Fail>;

fn load_rig(path: &Path) -> Result<Rig, Fail> {
    let chip_check = |chip: &str| {
        crate::board::probe::check_chip(chip)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    config::load_rig_with(path, Some(&chip_check)).map_err(Fail::Config)
}

// ---------------------------------------------------------------------------------------
// list

/// One board as `list` shows it.
#[derive(serde::Serialize)]
struct Listed {
    name: String,
    thing: String,
    platform: String,
    native: bool,
    flash: String,
    console: String,
    power: String,
    /// Whether the rig can remove the board's power (power cycles, `power on|off`).
    power_cycle: bool,
    /// The labgrid request it comes from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    labgrid: Option<String>,
}

fn describe(rig: &Rig, board: &crate::config::rig::Board) -> Listed {
    let mut listed = describe_parts(board);
    if let Some(request) = rig.labgrid_request(&board.name) {
        listed.console = format!(
            "labgrid NetworkSerialPort of a place with {}",
            request.tags_text()
        );
        listed.power = match request.power {
            crate::config::labgrid::LabgridPower::Labgrid => "labgrid power".into(),
            crate::config::labgrid::LabgridPower::None => "none".into(),
        };
        if listed.thing == crate::config::labgrid::THING_FROM_TAG {
            listed.thing = "(place tag)".into();
        }
        listed.labgrid = Some(request.name.clone());
    }
    listed
}

fn describe_parts(board: &crate::config::rig::Board) -> Listed {
    let (native, flash, console, power) = match &board.parts {
        BoardParts::Native(NativeKind::Sim) => (
            true,
            "native sim".to_string(),
            "native pty".to_string(),
            "native process".to_string(),
        ),
        BoardParts::Native(NativeKind::Program { path, .. }) => (
            true,
            format!("native program {}", path.display()),
            "native pty".to_string(),
            "native process".to_string(),
        ),
        BoardParts::Hardware {
            flash,
            console,
            power,
        } => {
            let flash = match flash {
                FlashConfig::Command(c) => match (c.preset, &c.program) {
                    (Some(p), _) => format!("command {}", format!("{p:?}").to_lowercase()),
                    (None, Some(program)) => format!("command {program}"),
                    (None, None) => "command".to_string(),
                },
                FlashConfig::ProbeRs(p) => format!("probe-rs {}", p.chip),
            };
            let console = match console {
                ConsoleConfig::Serial(s) => match &s.port {
                    SerialPortRef::Path(p) => format!("serial {} {}", p.display(), s.baud),
                    SerialPortRef::Usb(id) => format!("serial usb {id} {}", s.baud),
                },
            };
            let power = match power {
                Some(PowerConfig::Command(c)) => match c.preset {
                    Some(p) => format!("command {}", format!("{p:?}").to_lowercase()),
                    None => "command".to_string(),
                },
                Some(PowerConfig::Probe) => "probe".to_string(),
                None => "none".to_string(),
            };
            (false, flash, console, power)
        }
    };
    Listed {
        name: board.name.clone(),
        thing: board.thing_name.clone(),
        platform: board.platform.clone(),
        native,
        flash,
        console,
        power,
        power_cycle: board.can_power_cycle(),
        labgrid: None,
    }
}

fn list(args: ListArgs) -> Outcome {
    let rig = load_rig(&args.rig)?;
    let boards: Vec<Listed> = rig.boards.iter().map(|b| describe(&rig, b)).collect();
    let places = lab_places(&rig);
    match args.format {
        Format::Json => {
            let mut value = serde_json::json!({
                "rig": rig.name,
                "file": rig.file,
                "boards": boards,
            });
            if let Some(places) = &places {
                value["labgrid_places"] = serde_json::json!(places);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        Format::Table => {
            print!("{}", table(&boards));
            if let Some(places) = &places {
                print!("\n{}", places_table(places));
            }
        }
    }
    Ok(())
}

/// A place a labgrid request of the rig could take, and who holds it now.
#[derive(serde::Serialize)]
struct LabPlace {
    request: String,
    place: String,
    held_by: Option<String>,
    reserved: bool,
}

/// The places the rig's labgrid requests match, from the coordinator; `None` without
/// labgrid boards. An unreachable coordinator is said on stderr, not fatal: the rig's
/// boards are listed all the same.
fn lab_places(rig: &Rig) -> Option<Vec<LabPlace>> {
    let labgrid = rig.labgrid.as_ref()?;
    let places = match crate::labgrid::status::places(labgrid) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("otarig: labgrid places unknown: {e}");
            return Some(Vec::new());
        }
    };
    Some(
        labgrid
            .requests
            .iter()
            .flat_map(|r| {
                crate::labgrid::status::matching(&places, r)
                    .into_iter()
                    .map(|p| LabPlace {
                        request: r.name.clone(),
                        place: p.name.clone(),
                        held_by: p.acquired.clone(),
                        reserved: p.reservation.is_some(),
                    })
            })
            .collect(),
    )
}

fn places_table(places: &[LabPlace]) -> String {
    let rows: Vec<[String; 3]> = places
        .iter()
        .map(|p| {
            let held = match (&p.held_by, p.reserved) {
                (Some(who), _) => who.clone(),
                (None, true) => "free (reserved)".into(),
                (None, false) => "free".into(),
            };
            [p.request.clone(), p.place.clone(), held]
        })
        .collect();
    let head = [
        "REQUEST".to_string(),
        "PLACE".to_string(),
        "HELD BY".to_string(),
    ];
    let w = |i: usize| {
        rows.iter()
            .chain([&head])
            .map(|r| r[i].len())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (w(0), w(1));
    let mut out = String::new();
    for r in std::iter::once(&head).chain(&rows) {
        out.push_str(&format!("{:w0$}  {:w1$}  {}\n", r[0], r[1], r[2]));
    }
    out
}

fn table(boards: &[Listed]) -> String {
    let head = ["BOARD", "THING", "PLATFORM", "FLASH", "CONSOLE", "POWER"];
    let rows: Vec<[&str; 6]> = boards
        .iter()
        .map(|b| {
            [
                b.name.as_str(),
                b.thing.as_str(),
                b.platform.as_str(),
                b.flash.as_str(),
                b.console.as_str(),
                b.power.as_str(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str; 6]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:w$}  ", w = widths[i]));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&head);
    for r in &rows {
        out.push_str(&line(r));
    }
    out
}

// ---------------------------------------------------------------------------------------
// One board, its parts built as a run builds them

struct Session {
    rig: Rig,
    state_dir: PathBuf,
    bench: BenchBoard,
    events: PartEvents,
    clock: Clock,
    endpoint: Option<String>,
}

impl Session {
    fn open(args: &BenchArgs, name: &str) -> Result<Session, Fail> {
        let mut rig = load_rig(&args.rig)?;
        let Some(board) = rig.board(name).cloned() else {
            let names: Vec<&str> = rig.boards.iter().map(|b| b.name.as_str()).collect();
            return Err(Fail::Usage(format!(
                "no board `{name}` in rig {} ({}); its boards: {}",
                rig.name,
                args.rig.display(),
                names.join(", ")
            )));
        };
        if let Some(request) = rig.labgrid_request(name) {
            return Err(Fail::Usage(format!(
                "board {name} is taken from a labgrid place (request `{}`: {}) only for a run; by hand, lock a place and drive it with labgrid-client (`labgrid-client -p PLACE acquire`, `… power on`, `… console`), docs/labgrid.md",
                request.name,
                request.tags_text()
            )));
        }
        let state_dir = match &args.state_dir {
            Some(dir) => {
                rig.cloud.pki = dir.join("pki");
                dir.clone()
            }
            None => rig.root.join(".otarig"),
        };
        let sim_program = std::env::current_exe().map_err(|e| {
            Fail::Bench(format!(
                "cannot find the otarig executable to run simulated boards: {e}"
            ))
        })?;
        let bench = BenchBoard::build(&board, &state_dir.join("boards"), &sim_program)
            .map_err(|e| Fail::Bench(format!("board {name}: {e}")))?;
        let clock = Clock::new();
        let events = PartEvents {
            board: board.name.clone(),
            sink: Arc::new(StderrEvents { clock }),
        };
        Ok(Session {
            rig,
            state_dir,
            bench,
            events,
            clock,
            endpoint: args.endpoint.clone(),
        })
    }

    fn name(&self) -> &str {
        self.bench.name()
    }

    fn is_native(&self) -> bool {
        matches!(self.bench.config.parts, BoardParts::Native(_))
    }

    fn native_refusal(&self, what: &str) -> Fail {
        let name = self.name();
        Fail::Usage(format!(
            "board {name} is a native board: a process that lives only as long as the otarig \
             command running it, so it cannot be {what} from here and stay that way. \
             `otarig board console {name}` powers it on, shows its console and powers it off \
             on Ctrl-C; a run powers it during scenarios. Its flash is kept between commands \
             (`otarig board flash {name} FIXTURE`)"
        ))
    }

    fn no_power_control(&self, what: &str) -> Fail {
        let name = self.name();
        let has = match &self.bench.config.parts {
            BoardParts::Hardware {
                power: Some(PowerConfig::Probe),
                ..
            } => "`power: { probe: {} }`, which can only reset it",
            _ => "no `power:` part",
        };
        Fail::Usage(format!(
            "board {name} has no power control in {}: it has {has}, so otarig cannot {what}. \
             Add a power part that switches it to its entry, e.g. \
             `power: {{ command: {{ on: \"...\", off: \"...\" }} }}`, \
             `power: {{ command: {{ preset: uhubctl, hub: \"1-1\", port: 2 }} }}` or \
             `power: {{ command: {{ preset: usbrelay, relay: R1_1 }} }}` (docs/hardware.md § Power)",
            self.rig.file.display()
        ))
    }

    /// The bench PKI, as a run reads it (created only where the rig allows).
    fn init_pki(&self) -> Outcome {
        match pki::prepare(&self.rig) {
            Ok(Some(note)) => {
                self.note(note);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e @ pki::RigPkiError::Missing { .. }) => Err(Fail::Usage(e.to_string())),
            Err(e) => Err(Fail::Bench(e.to_string())),
        }
    }

    /// Tells the board who it is, as a run does (nothing for a board with its identity
    /// built in).
    async fn provision(&self) -> Outcome {
        if !self.bench.config.is_told_its_identity() {
            return Ok(());
        }
        self.init_pki()?;
        let (host, port) = self.endpoint()?;
        let tls = self.rig.cloud.endpoint.tls;
        let thing = &self.bench.config.thing_name;
        let layout = PkiLayout::new(&self.rig.cloud.pki);
        let identity = bench::identity(&layout, thing, &host, port, tls);
        self.bench
            .provision(&identity)
            .await
            .map_err(|e| Fail::Bench(format!("provisioning board {}: {e}", self.bench.name())))?;
        self.note(format!(
            "provisioned thing {thing} with endpoint {host}:{port} ({})",
            if tls { "TLS" } else { "plain TCP" }
        ));
        Ok(())
    }

    /// The endpoint the board is told: `--endpoint`, else the rig's (8883 for a rig that
    /// binds a free port: no cloud runs outside a run).
    fn endpoint(&self) -> Result<(String, u16), Fail> {
        let Some(text) = &self.endpoint else {
            let port = match self.rig.cloud.endpoint.bind.port() {
                0 => DEFAULT_CLOUD_PORT,
                p => p,
            };
            return Ok((self.rig.cloud.endpoint.host.clone(), port));
        };
        let bad = || {
            Fail::Usage(format!(
                "--endpoint {text}: expected HOST:PORT, e.g. 127.0.0.1:8883"
            ))
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match port.parse::<u16>() {
            Ok(port) if port != 0 && !host.is_empty() => Ok((host.to_string(), port)),
            _ => Err(bad()),
        }
    }

    fn note(&self, text: String) {
        self.events.emit(EventKind::Note { text });
    }
}

// ---------------------------------------------------------------------------------------
// flash

/// The fixtures a scenario can name: `firmware-fixtures/*.yaml`, by file stem.
fn fixture_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

async fn flash(args: FlashArgs) -> Outcome {
    let mut signals = Signals::new()?;
    let s = Session::open(&args.bench, &args.name)?;
    let fixtures_dir = s.rig.root.join("firmware-fixtures");
    let names = fixture_names(&fixtures_dir);
    if !names.contains(&args.fixture) {
        return Err(Fail::Usage(format!(
            "no fixture `{}` in {}; its fixtures: {}",
            args.fixture,
            fixtures_dir.display(),
            names.join(", ")
        )));
    }
    s.init_pki()?;
    let store = FixtureStore::new(
        &fixtures_dir,
        &s.rig.cloud.pki,
        &s.state_dir.join("fixtures"),
    );
    let image = store
        .flash_image(&args.fixture, &s.bench.config)
        .map_err(|e| match e {
            PrepareError::Config { .. }
            | PrepareError::NoPlatformFile { .. }
            | PrepareError::Build(FixtureError::Config(_)) => Fail::Usage(e.to_string()),
            PrepareError::Build(_) => Fail::Bench(e.to_string()),
        })?;
    s.provision().await?;
    let started = Instant::now();
    let result = signals
        .unless_interrupted(flash_with_retries(&s, &args.fixture, &image))
        .await
        .unwrap_or_else(|| {
            Err(Fail::Bench(format!(
                "interrupted while flashing {} onto board {}: its flash may be half written",
                args.fixture, args.name
            )))
        });
    let took = started.elapsed().as_secs_f64();
    if !s.is_native() {
        result?;
        println!(
            "flashed {} onto board {} in {took:.1}s",
            args.fixture, args.name
        );
        return Ok(());
    }
    // Its process cannot outlive this command: switch it off again; the flash file stays.
    let off = s.bench.power_off(&s.events).await;
    result?;
    off.map_err(|e| Fail::Bench(format!("switching board {} off: {e}", args.name)))?;
    println!(
        "flashed {} onto board {} in {took:.1}s; a native board, so switched off again: its \
         flash is kept in {} (`otarig board console {}` boots it)",
        args.fixture,
        args.name,
        s.bench.dir.display(),
        args.name
    );
    Ok(())
}

/// Switches the board on where the rig can, then flashes with the board's flash timeout,
/// flashing again up to its `flash_retries` on a failure of the tool, as a run does.
async fn flash_with_retries(
    s: &Session,
    fixture: &str,
    image: &crate::board::FlashImage,
) -> Outcome {
    let name = s.name();
    let config = &s.bench.config;
    s.bench
        .power_on(&s.events)
        .await
        .map_err(|e| Fail::Bench(format!("switching on board {name}: {e}")))?;
    let attempts = config.flash_retries + 1;
    let limit = config.timeouts.flash;
    for attempt in 1..=attempts {
        eprintln!(
            "{} flashing {fixture} onto board {name} (attempt {attempt}/{attempts}, up to {})…",
            s.clock.stamp(),
            humantime::format_duration(limit)
        );
        match tokio::time::timeout(limit, s.bench.flasher.flash(image, &s.events)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) if attempt == attempts => {
                return Err(Fail::Bench(format!(
                    "flashing {fixture} onto board {name}: {e}"
                )))
            }
            Ok(Err(e)) => s.note(format!(
                "flashing {fixture} onto board {name} failed ({e}); attempt {}/{attempts}",
                attempt + 1
            )),
            Err(_) => {
                return Err(Fail::Bench(format!(
                    "flashing {fixture} onto board {name} took longer than {}",
                    humantime::format_duration(limit)
                )))
            }
        }
    }
    unreachable!("the last attempt returns")
}

// ---------------------------------------------------------------------------------------
// power, reset

async fn power(args: PowerArgs) -> Outcome {
    let mut signals = Signals::new()?;
    let s = Session::open(&args.bench, &args.name)?;
    let name = &args.name;
    let (verb, done) = match args.action {
        PowerAction::On => ("switch it on", "switched on"),
        PowerAction::Off => ("switch it off", "switched off"),
        PowerAction::Cycle => ("power-cycle it", "power-cycled"),
    };
    if s.is_native() {
        return Err(s.native_refusal(done));
    }
    if !s.bench.can_power_cycle() {
        return Err(s.no_power_control(verb));
    }
    if args.action != PowerAction::Off {
        s.provision().await?;
    }
    let work = async {
        match args.action {
            PowerAction::On => s.bench.power_on(&s.events).await,
            PowerAction::Off => s.bench.power_off(&s.events).await,
            PowerAction::Cycle => s.bench.power_cycle(args.off_for, &s.events).await,
        }
        .map_err(|e| Fail::Bench(format!("board {name}: {e}")))
    };
    signals.unless_interrupted(work).await.unwrap_or_else(|| {
        Err(Fail::Bench(format!(
            "interrupted: board {name} may be on or off"
        )))
    })?;
    println!(
        "board {name}: {}",
        match args.action {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Cycle => "power-cycled",
        }
    );
    Ok(())
}

async fn reset(args: TargetArgs) -> Outcome {
    let mut signals = Signals::new()?;
    let s = Session::open(&args.bench, &args.name)?;
    let name = &args.name;
    if s.is_native() {
        return Err(s.native_refusal("reset"));
    }
    let work = async {
        match s.bench.reset(&s.events).await {
            Ok(()) => Ok(()),
            Err(e @ BoardError::Unsupported(_)) => Err(Fail::Usage(format!(
                "board {name} cannot be reset by the rig: {e}. Give its `power:` part a \
                 `reset:` command, or use a flasher that can reset (docs/hardware.md § Power)"
            ))),
            Err(e) => Err(Fail::Bench(format!("resetting board {name}: {e}"))),
        }
    };
    signals.unless_interrupted(work).await.unwrap_or_else(|| {
        Err(Fail::Bench(format!(
            "interrupted while resetting board {name}"
        )))
    })?;
    println!("board {name}: reset");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// console

async fn console(args: ConsoleArgs) -> Outcome {
    let mut signals = Signals::new()?;
    let s = Session::open(&args.bench, &args.name)?;
    let name = &args.name;
    let native = s.is_native();
    if args.power_on && !native && !s.bench.can_power_cycle() {
        return Err(s.no_power_control("switch it on (--power-on)"));
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    s.bench.console.set_events(s.events.clone());
    if native {
        // A native console delivers from the next power-on: attach, then start the process.
        s.provision().await?;
        s.bench
            .console
            .attach(tx)
            .await
            .map_err(|e| Fail::Bench(format!("console of board {name}: {e}")))?;
        let power = s.bench.power.clone().expect("native boards have power");
        power
            .on(&s.events)
            .await
            .map_err(|e| Fail::Bench(format!("starting board {name}: {e}")))?;
    } else {
        if args.power_on {
            s.provision().await?;
            let on = signals
                .unless_interrupted(s.bench.power_on(&s.events))
                .await;
            match on {
                Some(Ok(())) => {}
                Some(Err(e)) => return Err(Fail::Bench(format!("switching on board {name}: {e}"))),
                None => {
                    return Err(Fail::Bench(format!(
                        "interrupted while switching on board {name}"
                    )))
                }
            }
        }
        s.bench.console.attach(tx).await.map_err(|e| {
            Fail::Bench(format!(
                "console of board {name}: {e} (is the board powered? Switch it on with \
                 `otarig board power on {name}`, or add `--power-on`)"
            ))
        })?;
    }
    eprintln!(
        "{} ## console of board {name} attached; Ctrl-C to stop{}",
        s.clock.stamp(),
        if native { " (and power it off)" } else { "" }
    );
    let clock = s.clock;
    let print = |line: &str| println!("{} {line}", clock.stamp());
    let mut open = true;
    loop {
        tokio::select! {
            line = rx.recv(), if open => match line {
                Some(line) => print(&line),
                None => open = false,
            },
            _ = signals.recv() => break,
        }
    }
    let mut result = Ok(());
    if native {
        result = s
            .bench
            .power_off(&s.events)
            .await
            .map_err(|e| Fail::Bench(format!("switching board {name} off: {e}")));
    }
    s.bench.console.detach().await;
    // The last lines the board printed: a killed process's output is drained as it goes.
    while let Ok(line) = rx.try_recv() {
        print(&line);
    }
    if !native {
        eprintln!(
            "{} ## console of board {name} closed; the board's power is left as it was",
            s.clock.stamp()
        );
    }
    result
}

// ---------------------------------------------------------------------------------------
// Stamps, part events on stderr, signals

/// Time since the command started, as every printed line is stamped.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn new() -> Clock {
        Clock(Instant::now())
    }

    /// `[   1.234s]`
    fn stamp(&self) -> String {
        format!("[{:>8.3}s]", self.0.elapsed().as_secs_f64())
    }
}

/// What the board's parts report (flash, power, notes), as `## ...` lines on stderr.
struct StderrEvents {
    clock: Clock,
}

impl EventSink for StderrEvents {
    fn emit(&self, _source: Source, kind: EventKind) {
        let text = match kind {
            EventKind::Flash { image, ok, detail } => format!(
                "flash {image}: {}{}",
                if ok { "ok" } else { "FAILED" },
                detail.map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            EventKind::Power { state, reason } => format!(
                "power {}: {reason}",
                match state {
                    PowerState::On => "on",
                    PowerState::Off => "off",
                }
            ),
            EventKind::Fault { what } => format!("fault: {what}"),
            EventKind::BenchError { message } => format!("bench error: {message}"),
            EventKind::Note { text } => text,
            EventKind::Console { line } => line,
            _ => return,
        };
        eprintln!("{} ## {text}", self.clock.stamp());
    }
}

/// SIGINT and SIGTERM, taken over from their default (killing otarig at once) before any
/// part acts, so a Ctrl-C never leaves a native board's process behind.
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn new() -> Result<Signals, Fail> {
        let taken = signal(SignalKind::interrupt())
            .and_then(|int| Ok((int, signal(SignalKind::terminate())?)));
        match taken {
            Ok((int, term)) => Ok(Signals { int, term }),
            Err(e) => Err(Fail::Bench(format!("cannot take over SIGINT/SIGTERM: {e}"))),
        }
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }

    /// `work`'s outcome, or `None` when a signal came first.
    async fn unless_interrupted<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        tokio::select! {
            r = work => Some(r),
            _ = self.recv() => None,
        }
    }
}
