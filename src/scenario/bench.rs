//! The rig's boards as the runner drives them: the parts of each board built from the
//! resolved rig file. This is the one place the runner looks at what kind a board is
//! (the simulator, another native program, hardware with its flash tool, serial console
//! and power switch); after it, the steps, checks and the recovery check drive a board
//! only through `board::{Flasher, Console, Power, Provision}` and never ask. (The files
//! a board is given differ by platform, not by kind: `fixtures`.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::board::command::{
    CommandFlasher, CommandFlasherOptions, CommandPower, CommandPowerOptions,
};
use crate::board::identity::Identity;
use crate::board::native::{NativeBoard, NativeFlasher, NativeProgram, ResetMethod};
use crate::board::probe_power::ProbePower;
use crate::board::serial::{PortSpec, SerialConsole, SerialConsoleOptions};
use crate::board::{BakedIn, BoardError, Console, Flasher, PartEvents, Power, Provision};
use crate::cloud::pki::PkiLayout;
use crate::config::rig::{
    self, BoardParts, ConsoleConfig, FlashConfig, NativeKind, PowerConfig, SIM_PLATFORM,
};
use crate::sim::nvs::NvsProvision;

/// One rig board with its parts.
pub struct BenchBoard {
    pub config: rig::Board,
    /// The board's own folder on the bench host (native flash files, NVS).
    pub dir: PathBuf,
    pub flasher: Arc<dyn Flasher>,
    pub console: Arc<dyn Console>,
    pub power: Option<Arc<dyn Power>>,
    /// How the board learns its identity before a scenario.
    provisioning: Arc<dyn Provision>,
}

impl BenchBoard {
    /// Builds the parts; `sim_program` is the `otarig` executable that runs simulated boards.
    pub fn build(
        board: &rig::Board,
        boards_dir: &Path,
        sim_program: &Path,
    ) -> Result<Self, BoardError> {
        let dir = boards_dir.join(&board.name);
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        match &board.parts {
            BoardParts::Native(kind) => {
                let vars = BenchVars::new(&dir, sim_program);
                let program = match kind {
                    NativeKind::Sim => NativeProgram {
                        path: sim_program.to_path_buf(),
                        args: vec!["sim".into(), "--dir".into(), ".".into()],
                        env: vec![],
                        reset: ResetMethod::Signal,
                        reboot_on_exit: false,
                        // Its flash file is its flash: it survives scenarios, as a chip's does.
                        persist: true,
                    },
                    NativeKind::Program {
                        path,
                        args,
                        env,
                        persist,
                    } => NativeProgram {
                        path: vars.expand(&path.display().to_string()).into(),
                        args: args.iter().map(|a| vars.expand(a)).collect(),
                        env: env
                            .iter()
                            .map(|(k, v)| (k.clone(), vars.expand(v)))
                            .collect(),
                        reset: ResetMethod::Restart,
                        reboot_on_exit: true,
                        persist: *persist,
                    },
                };
                let native = NativeBoard::new(&board.name, &dir, program);
                let provisioning: Arc<dyn Provision> = match kind {
                    NativeKind::Sim => Arc::new(NvsProvision { dir: dir.clone() }),
                    NativeKind::Program { .. } => native.clone(),
                };
                Ok(BenchBoard {
                    config: board.clone(),
                    dir,
                    flasher: Arc::new(NativeFlasher(native.clone())),
                    console: native.clone(),
                    power: Some(native),
                    provisioning,
                })
            }
            BoardParts::Hardware {
                flash,
                console,
                power,
            } => {
                std::fs::create_dir_all(&dir).map_err(|e| {
                    BoardError::io(format!("board {}: create {}", board.name, dir.display()), e)
                })?;
                let vars = BenchVars::new(&dir, sim_program);
                let flasher = hardware_flasher(&board.name, flash, &vars)?;
                let console: Arc<dyn Console> = match console {
                    ConsoleConfig::Serial(serial) => {
                        let port = match &serial.port {
                            rig::SerialPortRef::Path(p) => {
                                PortSpec::Path(vars.expand(&p.display().to_string()).into())
                            }
                            rig::SerialPortRef::Usb(id) => PortSpec::Usb(id.clone()),
                        };
                        let mut options = SerialConsoleOptions::new(&board.name, port, serial.baud);
                        let (data_bits, parity, stop_bits) = crate::board::serial::parse_framing(
                            serial.data_bits,
                            &format!("{:?}", serial.parity).to_lowercase(),
                            serial.stop_bits,
                        )
                        .map_err(|e| {
                            BoardError::Other(format!("board {}: console framing: {e}", board.name))
                        })?;
                        options.data_bits = data_bits;
                        options.parity = parity;
                        options.stop_bits = stop_bits;
                        Arc::new(SerialConsole::new(options))
                    }
                };
                let power: Option<Arc<dyn Power>> = match power {
                    Some(PowerConfig::Command(cmd)) => {
                        let mut options = CommandPowerOptions::from_commands(
                            &board.name,
                            &cmd.on,
                            &cmd.off,
                            cmd.reset.as_deref(),
                            cmd.timeout,
                        )?;
                        vars.expand_all(&mut options.on);
                        vars.expand_all(&mut options.off);
                        options.reset.iter_mut().for_each(|r| vars.expand_all(r));
                        Some(Arc::new(CommandPower::new(options, Some(flasher.clone()))))
                    }
                    Some(PowerConfig::Probe) => {
                        Some(Arc::new(ProbePower::new(&board.name, flasher.clone())))
                    }
                    None => None,
                };
                // The simulator behind hardware parts still reads its NVS file.
                let provisioning: Arc<dyn Provision> = if board.platform == SIM_PLATFORM {
                    Arc::new(NvsProvision { dir: dir.clone() })
                } else {
                    Arc::new(BakedIn)
                };
                Ok(BenchBoard {
                    config: board.clone(),
                    dir,
                    flasher,
                    console,
                    power,
                    provisioning,
                })
            }
        }
    }

    /// A board of parts built elsewhere (fakes in tests).
    pub fn from_parts(
        config: rig::Board,
        dir: PathBuf,
        flasher: Arc<dyn Flasher>,
        console: Arc<dyn Console>,
        power: Option<Arc<dyn Power>>,
        provisioning: Arc<dyn Provision>,
    ) -> Self {
        BenchBoard {
            config,
            dir,
            flasher,
            console,
            power,
            provisioning,
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Tells the board who it is and where its cloud is, before it is powered for a
    /// scenario (docs/architecture.md § Boards).
    pub async fn provision(&self, identity: &Identity) -> Result<(), BoardError> {
        self.provisioning.provision(identity).await
    }

    /// Before a scenario: a native program's folder is emptied (no image state or
    /// received image left from the last scenario) unless the rig says it persists.
    pub async fn start_fresh(&self) -> Result<(), BoardError> {
        self.provisioning.start_fresh().await
    }

    /// A job tells the board's agent to write its image at `filepath`; a native program's
    /// boot rule boots it from there. Nothing to do for a chip.
    pub fn receives_image_at(&self, filepath: &str) {
        self.provisioning.receives_image_at(filepath);
    }

    pub fn can_power_cycle(&self) -> bool {
        self.power.as_ref().is_some_and(|p| p.can_power_cycle())
    }

    /// A reset without removing power: through the power part, else the flasher.
    pub async fn reset(&self, events: &PartEvents) -> Result<(), BoardError> {
        match &self.power {
            Some(power) => power.reset(events).await,
            None => self.flasher.reset(events).await,
        }
    }

    pub async fn power_cycle(
        &self,
        off_for: Duration,
        events: &PartEvents,
    ) -> Result<(), BoardError> {
        match &self.power {
            Some(power) if power.can_power_cycle() => power.cycle(off_for, events).await,
            _ => Err(BoardError::Unsupported(format!(
                "power cycle of board {} (no power control in the rig file)",
                self.name()
            ))),
        }
    }

    /// Switches on a board behind a power part before its console is opened: a board powered
    /// through its USB port has no serial port while off. Native boards start when flashed.
    pub async fn power_on(&self, events: &PartEvents) -> Result<(), BoardError> {
        match &self.power {
            Some(power)
                if power.can_power_cycle()
                    && !matches!(self.config.parts, BoardParts::Native(_)) =>
            {
                power.on(events).await
            }
            _ => Ok(()),
        }
    }

    /// Powers the board off where the rig can (end of a scenario, interrupted runs).
    pub async fn power_off(&self, events: &PartEvents) -> Result<(), BoardError> {
        match &self.power {
            Some(power) if power.can_power_cycle() => power.off(events).await,
            _ => Ok(()),
        }
    }
}

/// The identity of `thing` on a cloud at `host:port`, with its credentials from `pki`
/// (absolute paths: a board runs in its own folder).
pub fn identity(pki: &PkiLayout, thing: &str, host: &str, port: u16, tls: bool) -> Identity {
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    Identity {
        thing: thing.to_string(),
        host: host.to_string(),
        port,
        tls,
        root_ca: abs(pki.ca_cert()),
        client_cert: abs(pki.thing_cert(thing)),
        client_key: abs(pki.thing_key(thing)),
        codesign_cert: abs(pki.codesign_cert()),
    }
}

/// Placeholders of the bench itself, for tools that need a place of their own or otarig:
/// `{board_dir}` (the board's folder in the run's state directory) and `{otarig}` (this
/// executable, e.g. `{otarig} sim power on …` in a rig that wires simulated boards).
pub struct BenchVars {
    board_dir: String,
    otarig: String,
}

impl BenchVars {
    pub fn new(board_dir: &Path, otarig: &Path) -> BenchVars {
        BenchVars {
            board_dir: board_dir.display().to_string(),
            otarig: otarig.display().to_string(),
        }
    }

    pub fn expand(&self, text: &str) -> String {
        text.replace("{board_dir}", &self.board_dir)
            .replace("{otarig}", &self.otarig)
    }

    fn expand_all(&self, argv: &mut [String]) {
        for a in argv {
            *a = self.expand(a);
        }
    }
}

fn hardware_flasher(
    board: &str,
    flash: &FlashConfig,
    vars: &BenchVars,
) -> Result<Arc<dyn Flasher>, BoardError> {
    match flash {
        FlashConfig::Command(cmd) => {
            let mut options = CommandFlasherOptions::new(board);
            options.preset = cmd.preset;
            options.program = cmd.program.as_deref().map(|p| vars.expand(p));
            options.args = cmd.args.clone().map(|mut a| {
                vars.expand_all(&mut a);
                a
            });
            options.part = cmd.part.clone();
            options.tool = cmd.tool.clone();
            options.serial = cmd.serial.clone();
            options.device = cmd.device.clone();
            options.timeout = cmd.timeout;
            options.retries = cmd.retries;
            Ok(Arc::new(CommandFlasher::new(options)?))
        }
        #[cfg(feature = "probe-rs")]
        FlashConfig::ProbeRs(p) => {
            let mut options = crate::board::probe::ProbeFlasherOptions::new(board, &p.chip);
            options.probe = p.probe.clone();
            options.base = p.base;
            options.verify = p.verify;
            Ok(Arc::new(crate::board::probe::ProbeFlasher::new(options)?))
        }
        #[cfg(not(feature = "probe-rs"))]
        FlashConfig::ProbeRs(_) => Err(BoardError::Unsupported(format!(
            "board {board}: probe-rs flashing (otarig was built without the `probe-rs` feature)"
        ))),
    }
}
