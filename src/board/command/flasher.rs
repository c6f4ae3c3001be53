//! The command flasher: a vendor tool run with the image, retried, checked for failure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{FlashPreset, ToolCommand};
use crate::board::{BoardError, FlashImage, Flasher, ImageFormat, PartEvents};
use crate::timeline::EventKind;

/// A command flasher as the rig describes it (filled by the lead from the resolved config).
#[derive(Clone, Debug)]
pub struct CommandFlasherOptions {
    pub board: String,
    pub preset: Option<FlashPreset>,
    /// Program to run; defaults to the preset's.
    pub program: Option<String>,
    /// Flash arguments (templates); default to the preset's.
    pub args: Option<Vec<String>>,
    /// Reset-only arguments (templates); default to the preset's where it has one.
    pub reset_args: Option<Vec<String>>,
    pub part: Option<String>,
    /// ipecmd's programmer (`-TP`: `PKOB`, `PK4`, `ICD4`…), J-Link's interface (`-if`),
    /// OpenOCD's interface config.
    pub tool: Option<String>,
    /// Picks one of several programmers (`-TS`, `-SelectEmuBySN`, `adapter serial`).
    pub serial: Option<String>,
    /// pic32prog's `-d`: a serial port or `KIND:VID:PID[:SERIAL]`.
    pub device: Option<String>,
    /// J-Link interface speed.
    pub speed_khz: u32,
    pub timeout: Duration,
    /// Extra attempts after a failed or timed-out run.
    pub retries: u32,
}

impl CommandFlasherOptions {
    pub fn new(board: impl Into<String>) -> Self {
        CommandFlasherOptions {
            board: board.into(),
            preset: None,
            program: None,
            args: None,
            reset_args: None,
            part: None,
            tool: None,
            serial: None,
            device: None,
            speed_khz: 4000,
            timeout: Duration::from_secs(120),
            retries: 0,
        }
    }
}

/// Flashes by running a command-line tool.
pub struct CommandFlasher {
    options: CommandFlasherOptions,
    program: String,
    flash_args: Vec<String>,
    reset_args: Option<Vec<String>>,
}

impl CommandFlasher {
    /// Checks that the options name a program and that every template variable they use
    /// is known and set, so mistakes surface when the rig loads, not mid-run.
    pub fn new(options: CommandFlasherOptions) -> Result<Self, BoardError> {
        let board = options.board.clone();
        let program = options
            .program
            .clone()
            .or_else(|| options.preset.map(|p| p.default_program().to_owned()))
            .ok_or_else(|| {
                BoardError::Other(format!(
                    "board {board}: command flasher needs `program:` or a `preset:` (ipecmd, pic32prog, jlink, openocd)"
                ))
            })?;
        let flash_args = match (&options.args, options.preset) {
            (Some(args), _) => args.clone(),
            (None, Some(preset)) => preset.flash_args(&options),
            (None, None) => {
                return Err(BoardError::Other(format!(
                    "board {board}: command flasher `{program}` needs `args:` (e.g. [\"-F{{image}}\"]) or a `preset:`"
                )))
            }
        };
        let reset_args = match (&options.reset_args, options.preset) {
            (Some(args), _) => Some(args.clone()),
            (None, Some(preset)) => preset.reset_args(&options),
            (None, None) => None,
        };
        let flasher = CommandFlasher {
            options,
            program,
            flash_args,
            reset_args,
        };
        // Dry-render with a placeholder image so unset variables are reported now.
        let probe = FlashImage {
            fixture: "check".into(),
            path: "image.bin".into(),
            format: ImageFormat::Bin { base: 0 },
        };
        let vars = flasher.vars(Some(&probe), "script");
        render_args(&flasher.flash_args, &vars).map_err(|e| flasher.config_error("args", e))?;
        if let Some(reset) = &flasher.reset_args {
            let vars = flasher.vars(None, "script");
            render_args(reset, &vars).map_err(|e| flasher.config_error("reset args", e))?;
        }
        Ok(flasher)
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    pub fn options(&self) -> &CommandFlasherOptions {
        &self.options
    }

    fn config_error(&self, what: &str, message: String) -> BoardError {
        BoardError::Other(format!(
            "board {}: command flasher `{}` {what}: {message}",
            self.options.board, self.program
        ))
    }

    fn vars(
        &self,
        image: Option<&FlashImage>,
        script: &str,
    ) -> BTreeMap<&'static str, Option<String>> {
        let o = &self.options;
        let mut vars = BTreeMap::new();
        vars.insert("board", Some(o.board.clone()));
        vars.insert("part", o.part.clone());
        vars.insert("tool", o.tool.clone());
        vars.insert("serial", o.serial.clone());
        vars.insert("device", o.device.clone());
        vars.insert("speed", Some(o.speed_khz.to_string()));
        vars.insert("script", Some(script.to_owned()));
        vars.insert("image", image.map(|i| i.path.display().to_string()));
        vars.insert("fixture", image.map(|i| i.fixture.clone()));
        vars.insert(
            "format",
            image.map(|i| {
                match i.format {
                    ImageFormat::Elf => "elf",
                    ImageFormat::Hex => "hex",
                    ImageFormat::Bin { .. } => "bin",
                    ImageFormat::SimFlash => "sim",
                }
                .to_owned()
            }),
        );
        vars.insert(
            "base",
            image.and_then(|i| match i.format {
                ImageFormat::Bin { base } => Some(format!("{base:#010x}")),
                _ => None,
            }),
        );
        vars
    }

    /// The preset's command file (J-Link's), rendered for this run.
    fn script(&self, image: Option<&FlashImage>) -> Result<Option<String>, BoardError> {
        let Some(preset) = self.options.preset.filter(|_| self.options.args.is_none()) else {
            return Ok(None);
        };
        let vars = self.vars(image, "");
        let is_set = |name: &str| vars.get(name).is_some_and(Option::is_some);
        let Some(lines) = preset.script_lines(image.is_some(), is_set) else {
            return Ok(None);
        };
        let lines: Vec<String> = lines.into_iter().map(str::to_owned).collect();
        let lines = render_args(&lines, &vars).map_err(|e| self.config_error("script", e))?;
        Ok(Some(lines.iter().map(|l| format!("{l}\n")).collect()))
    }

    /// Runs the tool with `args` (retrying), writing the preset's command file first.
    async fn run(
        &self,
        args: &[String],
        image: Option<&FlashImage>,
        events: &PartEvents,
    ) -> Result<(), BoardError> {
        let script = match self.script(image)? {
            Some(text) => Some(TempScript::new(&self.options.board, &text)?),
            None => None,
        };
        let script_path = script
            .as_ref()
            .map(|s| s.path.display().to_string())
            .unwrap_or_default();
        let argv = render_args(args, &self.vars(image, &script_path))
            .map_err(|e| self.config_error("args", e))?;
        let tool = ToolCommand {
            program: self.program.clone(),
            args: argv,
            timeout: self.options.timeout,
            failure_marker: self.options.preset.and_then(FlashPreset::failure_marker),
        };
        let attempts = self.options.retries + 1;
        let mut attempt = 1;
        loop {
            match tool.run(&self.options.board, events).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < attempts => {
                    events.emit(EventKind::Note {
                        text: format!(
                            "attempt {attempt}/{attempts} of `{}` failed: {e}; retrying",
                            self.program
                        ),
                    });
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl Flasher for CommandFlasher {
    async fn flash(&self, image: &FlashImage, events: &PartEvents) -> Result<(), BoardError> {
        // A vendor tool cannot program a simulator's flash file; a tool of the user's own
        // (e.g. `otarig sim flash` on a board wired as hardware) may.
        if image.format == ImageFormat::SimFlash && self.options.args.is_none() {
            return Err(BoardError::Image {
                path: image.path.clone(),
                message: format!(
                    "board {}: a simulated flash image cannot be programmed with {}; give the fixture a file for this platform",
                    self.options.board, self.program
                ),
            });
        }
        let result = self.run(&self.flash_args, Some(image), events).await;
        events.emit(EventKind::Flash {
            image: image.fixture.clone(),
            ok: result.is_ok(),
            detail: Some(match &result {
                Ok(()) => format!("{} {}", self.program, image.path.display()),
                Err(e) => e.to_string(),
            }),
        });
        result
    }

    async fn reset(&self, events: &PartEvents) -> Result<(), BoardError> {
        let Some(args) = &self.reset_args else {
            return Err(BoardError::Unsupported(format!(
                "board {}: cannot reset through `{}` (the tool has no reset-only command); give the board a reset line in its rig entry, `power: {{ command: {{ on: ..., off: ..., reset: COMMAND }} }}`, or use `power_cycle` instead of `reset`",
                self.options.board, self.program
            )));
        };
        events.emit(EventKind::Note {
            text: format!("reset through {}", self.program),
        });
        self.run(args, None, events).await
    }
}

/// Variables that come from the image being flashed.
const IMAGE_VARS: [&str; 4] = ["image", "fixture", "format", "base"];

/// Replaces `{name}` in each argument; `{{`/`}}` are literal braces.
pub fn render_args(
    args: &[String],
    vars: &BTreeMap<&'static str, Option<String>>,
) -> Result<Vec<String>, String> {
    args.iter().map(|a| render(a, vars)).collect()
}

fn render(template: &str, vars: &BTreeMap<&'static str, Option<String>>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let close = tail
            .find('}')
            .filter(|_| tail.starts_with('{'))
            .ok_or_else(|| {
                format!("unbalanced brace in `{template}` (write {{{{ or }}}} for a literal one)")
            })?;
        let name = &tail[1..close];
        match vars.get(name) {
            Some(Some(value)) => out.push_str(value),
            Some(None) if IMAGE_VARS.contains(&name) => {
                return Err(format!(
                    "`{template}` uses {{{name}}}, which is only defined when flashing ({{base}} only for .bin images)"
                ))
            }
            Some(None) => return Err(format!("`{template}` uses {{{name}}} but the board sets no `{name}:`")),
            None => {
                let known: Vec<String> = vars.keys().map(|k| format!("{{{k}}}")).collect();
                return Err(format!(
                    "`{template}` uses unknown variable {{{name}}} (known: {})",
                    known.join(", ")
                ));
            }
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A generated script file, removed when the run is over.
struct TempScript {
    path: PathBuf,
}

impl TempScript {
    fn new(board: &str, text: &str) -> Result<Self, BoardError> {
        // `.jlink`: J-Link Commander's command-file extension; the only preset with one.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("otarig-{board}-{}-{n}.jlink", std::process::id()));
        std::fs::write(&path, text).map_err(|e| {
            BoardError::io(
                format!("board {board}: write J-Link script {}", path.display()),
                e,
            )
        })?;
        Ok(TempScript { path })
    }
}

impl Drop for TempScript {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
