//! Board parts that drive command-line tools: a flasher for vendor programmers (MPLAB
//! IPE's ipecmd, pic32prog, SEGGER J-Link, OpenOCD) and power through relays or USB hubs
//! (usbrelay, uhubctl, any command).
//!
//! Every tool runs in its own process group with a timeout; a hung tool is killed with
//! its whole group. Each output line and the outcome become timeline events, so a failed
//! nightly flash can be read from the report without re-running it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::{BoardError, FlashImage, Flasher, ImageFormat, PartEvents, Power};
use crate::timeline::{EventKind, PowerState};

/// Lines of tool output kept for the error message when the tool fails.
const TAIL_LINES: usize = 8;

/// A vendor tool the rig knows how to call, so a rig names it instead of a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashPreset {
    /// MPLAB IPE command line (`ipecmd.sh`), PIC32MX/MZ through PICkit, ICD or the
    /// Curiosity board's on-board programmer (`tool: PKOB`).
    Ipecmd,
    /// pic32prog (PICkit2/3 with its firmware, Microchip bootloaders, FT2232 adapters).
    Pic32prog,
    /// SEGGER J-Link Commander (`JLinkExe`) with a generated command file.
    Jlink,
    /// OpenOCD: `interface/{tool}.cfg`, `target/{part}.cfg`, `program ... verify reset exit`.
    Openocd,
}

impl From<crate::config::rig::FlashPreset> for FlashPreset {
    fn from(preset: crate::config::rig::FlashPreset) -> Self {
        use crate::config::rig::FlashPreset as Rig;
        match preset {
            Rig::Ipecmd => FlashPreset::Ipecmd,
            Rig::Pic32prog => FlashPreset::Pic32prog,
            Rig::Jlink => FlashPreset::Jlink,
            Rig::Openocd => FlashPreset::Openocd,
        }
    }
}

impl FromStr for FlashPreset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ipecmd" => Ok(FlashPreset::Ipecmd),
            "pic32prog" => Ok(FlashPreset::Pic32prog),
            "jlink" => Ok(FlashPreset::Jlink),
            "openocd" => Ok(FlashPreset::Openocd),
            other => Err(format!(
                "unknown flash preset `{other}` (expected ipecmd, pic32prog, jlink or openocd)"
            )),
        }
    }
}

impl fmt::Display for FlashPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlashPreset::Ipecmd => "ipecmd",
            FlashPreset::Pic32prog => "pic32prog",
            FlashPreset::Jlink => "jlink",
            FlashPreset::Openocd => "openocd",
        })
    }
}

impl FlashPreset {
    /// The program run when the rig names the preset but no `program:`.
    pub fn default_program(self) -> &'static str {
        match self {
            FlashPreset::Ipecmd => "ipecmd.sh",
            FlashPreset::Pic32prog => "pic32prog",
            FlashPreset::Jlink => "JLinkExe",
            FlashPreset::Openocd => "openocd",
        }
    }

    /// The argument that makes the tool print its version, for `otarig doctor`.
    pub fn version_args(self) -> &'static [&'static str] {
        match self {
            // ipecmd prints its banner and usage when called with `-?`.
            FlashPreset::Ipecmd => &["-?"],
            // pic32prog prints its version line on any run; `-h` keeps it from probing.
            FlashPreset::Pic32prog => &["-h"],
            FlashPreset::Jlink => &["-NoGui", "1", "-CommandFile", "/dev/null"],
            FlashPreset::Openocd => &["--version"],
        }
    }

    fn flash_args(self, o: &CommandFlasherOptions) -> Vec<String> {
        let mut args: Vec<&str> = Vec::new();
        match self {
            FlashPreset::Ipecmd => {
                args.push("-TP{tool}");
                if o.serial.is_some() {
                    args.push("-TS{serial}");
                }
                // -M program all memories, -Y verify, -OL release the part from reset.
                args.extend(["-P{part}", "-F{image}", "-M", "-Y", "-OL"]);
            }
            FlashPreset::Pic32prog => {
                if o.serial.is_some() {
                    args.extend(["-d", "{serial}"]);
                }
                args.push("{image}");
            }
            FlashPreset::Jlink => return jlink_args(o),
            FlashPreset::Openocd => {
                args.extend(["-f", "interface/{tool}.cfg"]);
                if o.serial.is_some() {
                    args.extend(["-c", "adapter serial {serial}"]);
                }
                args.extend([
                    "-f",
                    "target/{part}.cfg",
                    "-c",
                    "program {image} verify reset exit",
                ]);
            }
        }
        args.into_iter().map(str::to_owned).collect()
    }

    fn reset_args(self, o: &CommandFlasherOptions) -> Option<Vec<String>> {
        let args: Vec<&str> = match self {
            // Without -F/-M ipecmd only connects; -OL then releases the part from reset.
            FlashPreset::Ipecmd if o.serial.is_some() => {
                vec!["-TP{tool}", "-TS{serial}", "-P{part}", "-OL"]
            }
            FlashPreset::Ipecmd => vec!["-TP{tool}", "-P{part}", "-OL"],
            // pic32prog has no reset-only operation.
            FlashPreset::Pic32prog => return None,
            FlashPreset::Jlink => return Some(jlink_args(o)),
            FlashPreset::Openocd => {
                let mut a = vec!["-f", "interface/{tool}.cfg"];
                if o.serial.is_some() {
                    a.extend(["-c", "adapter serial {serial}"]);
                }
                a.extend([
                    "-f",
                    "target/{part}.cfg",
                    "-c",
                    "init",
                    "-c",
                    "reset run",
                    "-c",
                    "shutdown",
                ]);
                a
            }
        };
        Some(args.into_iter().map(str::to_owned).collect())
    }

    /// Output that means failure even when the exit status says success.
    fn failure_marker(self) -> Option<&'static str> {
        match self {
            // MPLAB IPE reports "Operation Failed"/"Program Failed"/"Verify Failed" in its
            // output; the exit status is not trusted alone.
            FlashPreset::Ipecmd => Some("Failed"),
            _ => None,
        }
    }
}

fn jlink_args(o: &CommandFlasherOptions) -> Vec<String> {
    let mut args = vec!["-NoGui", "1", "-ExitOnError", "1"];
    if o.serial.is_some() {
        args.extend(["-SelectEmuBySN", "{serial}"]);
    }
    args.extend(["-CommandFile", "{script}"]);
    args.into_iter().map(str::to_owned).collect()
}

/// The J-Link Commander script: connect over SWD, load (only when flashing), reset, run, quit.
pub fn jlink_script(part: &str, speed_khz: u32, load: Option<(&str, Option<u64>)>) -> String {
    let mut s = format!("device {part}\nsi SWD\nspeed {speed_khz}\nconnect\n");
    if let Some((image, base)) = load {
        match base {
            Some(base) => s.push_str(&format!("loadfile \"{image}\" {base:#010x}\n")),
            None => s.push_str(&format!("loadfile \"{image}\"\n")),
        }
    }
    s.push_str("r\ng\nq\n");
    s
}

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
    /// Programmer kind: ipecmd `-TP` (`PKOB`, `PK4`, `ICD4`…), OpenOCD interface name.
    pub tool: Option<String>,
    /// Picks one of several programmers (`-TS`, `-SelectEmuBySN`, `adapter serial`).
    pub serial: Option<String>,
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

    /// Runs the tool with `args` (retrying), writing the J-Link script first when needed.
    async fn run(
        &self,
        args: &[String],
        image: Option<&FlashImage>,
        events: &PartEvents,
    ) -> Result<(), BoardError> {
        let script = match self.options.preset {
            Some(FlashPreset::Jlink) if self.options.args.is_none() => Some(TempScript::new(
                &self.options.board,
                &jlink_script(
                    self.options.part.as_deref().unwrap_or_default(),
                    self.options.speed_khz,
                    image.map(|i| {
                        let base = match i.format {
                            ImageFormat::Bin { base } => Some(base),
                            _ => None,
                        };
                        (i.path.to_str().unwrap_or_default(), base)
                    }),
                ),
            )?),
            _ => None,
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
                "board {}: reset through `{}` (the tool has no reset-only command; set `reset_args:` or use power)",
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

/// One run of a tool: argv, time limit, and an optional output marker of failure.
#[derive(Clone, Debug)]
pub struct ToolCommand {
    pub program: String,
    pub args: Vec<String>,
    pub timeout: Duration,
    pub failure_marker: Option<&'static str>,
}

impl ToolCommand {
    /// Runs to completion, emitting each output line as a note. A run past `timeout` is
    /// killed with its whole process group (tools such as ipecmd.sh start a JVM child).
    pub async fn run(&self, board: &str, events: &PartEvents) -> Result<(), BoardError> {
        let name = std::path::Path::new(&self.program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.clone());
        events.emit(EventKind::Note {
            text: format!("run: {} {}", self.program, self.args.join(" ")),
        });
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            BoardError::io(
                format!(
                    "board {board}: start `{}` (is it installed and on PATH? the rig may set `program:` to its full path)",
                    self.program
                ),
                e,
            )
        })?;
        let pgid = child.id().map(|id| id as i32);
        let (line_tx, mut line_rx) = mpsc::unbounded_channel::<String>();
        let out = tokio::spawn(forward_lines(child.stdout.take(), line_tx.clone()));
        let err = tokio::spawn(forward_lines(child.stderr.take(), line_tx));
        let mut tail: Vec<String> = Vec::new();
        let mut marked: Option<String> = None;
        let mut note = |line: String, tail: &mut Vec<String>| {
            if self.failure_marker.is_some_and(|m| line.contains(m)) && marked.is_none() {
                marked = Some(line.clone());
            }
            events.emit(EventKind::Note {
                text: format!("{name}: {line}"),
            });
            tail.push(line);
            if tail.len() > TAIL_LINES {
                tail.remove(0);
            }
        };
        let deadline = tokio::time::Instant::now() + self.timeout;
        // Output until both pipes close, then the exit status; all under one deadline.
        let finished = tokio::time::timeout_at(deadline, async {
            while let Some(line) = line_rx.recv().await {
                note(line, &mut tail);
            }
            child.wait().await
        })
        .await;
        let status = match finished {
            Ok(status) => status.map_err(|e| {
                BoardError::io(format!("board {board}: wait for `{}`", self.program), e)
            })?,
            Err(_) => {
                if let Some(pgid) = pgid {
                    // SAFETY: plain syscall on the process group we created for the tool.
                    unsafe {
                        libc::kill(-pgid, libc::SIGKILL);
                    }
                }
                let _ = child.kill().await;
                out.abort();
                err.abort();
                while let Ok(line) = line_rx.try_recv() {
                    note(line, &mut tail);
                }
                return Err(BoardError::ToolTimeout {
                    program: self.program.clone(),
                    secs: self.timeout.as_secs(),
                });
            }
        };
        let last = if tail.is_empty() {
            "no output".to_owned()
        } else {
            format!("last output: {}", tail.join(" | "))
        };
        if !status.success() {
            return Err(BoardError::Tool {
                program: self.program.clone(),
                message: format!("board {board}: exited with {status}; {last}"),
            });
        }
        if let Some(line) = marked {
            return Err(BoardError::Tool {
                program: self.program.clone(),
                message: format!(
                    "board {board}: reported failure (`{line}`) although it exited 0; {last}"
                ),
            });
        }
        Ok(())
    }
}

/// Sends each line of `pipe` (lossily decoded: a tool's output is for people).
async fn forward_lines(pipe: Option<impl AsyncRead + Unpin>, tx: mpsc::UnboundedSender<String>) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let _ = tx.send(line.trim_end_matches(['\r', '\n']).to_owned());
            }
        }
    }
}

/// Splits a command written as one string (`usbrelay R1_1=0`) into argv, honouring
/// single and double quotes and backslash escapes as a POSIX shell would; no expansion.
pub fn split_command(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed ' in `{text}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed \" in `{text}`")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed \" in `{text}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("trailing backslash in `{text}`")),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("empty command".into());
    }
    Ok(words)
}

/// Power through commands (relay boards, switchable USB hubs, PDUs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandPowerOptions {
    pub board: String,
    pub on: Vec<String>,
    pub off: Vec<String>,
    /// A single command that cycles power; `{off_for}` is the off time in seconds.
    /// Without it a cycle is off, wait, on.
    pub cycle: Option<Vec<String>>,
    /// A reset command (e.g. a relay on the reset line), if the bench has one.
    pub reset: Option<Vec<String>>,
    pub timeout: Duration,
}

impl CommandPowerOptions {
    /// `on`/`off` written as command lines, as in the rig file.
    pub fn from_commands(
        board: &str,
        on: &str,
        off: &str,
        timeout: Duration,
    ) -> Result<Self, BoardError> {
        let split = |what: &str, text: &str| {
            split_command(text).map_err(|e| {
                BoardError::Other(format!("board {board}: power `{what}` command: {e}"))
            })
        };
        Ok(CommandPowerOptions {
            board: board.into(),
            on: split("on", on)?,
            off: split("off", off)?,
            cycle: None,
            reset: None,
            timeout,
        })
    }

    /// A port of a switchable USB hub: `uhubctl -l <hub> -p <port> -a on|off|cycle`.
    pub fn uhubctl(board: &str, hub: &str, port: u32, timeout: Duration) -> Self {
        let action = |a: &str| -> Vec<String> {
            ["uhubctl", "-l", hub, "-p", &port.to_string(), "-a", a]
                .into_iter()
                .map(str::to_owned)
                .collect()
        };
        let mut cycle = action("cycle");
        cycle.extend(["-d".to_owned(), "{off_for}".to_owned()]);
        CommandPowerOptions {
            board: board.into(),
            on: action("on"),
            off: action("off"),
            cycle: Some(cycle),
            reset: None,
            timeout,
        }
    }

    /// A USB HID relay channel: `usbrelay <relay>=1|0`.
    pub fn usbrelay(board: &str, relay: &str, timeout: Duration) -> Self {
        CommandPowerOptions {
            board: board.into(),
            on: vec!["usbrelay".into(), format!("{relay}=1")],
            off: vec!["usbrelay".into(), format!("{relay}=0")],
            cycle: None,
            reset: None,
            timeout,
        }
    }
}

/// Power part that runs commands; resets through `reset` or else the board's flasher.
pub struct CommandPower {
    options: CommandPowerOptions,
    flasher: Option<std::sync::Arc<dyn Flasher>>,
}

impl CommandPower {
    pub fn new(options: CommandPowerOptions, flasher: Option<std::sync::Arc<dyn Flasher>>) -> Self {
        CommandPower { options, flasher }
    }

    async fn run(
        &self,
        argv: &[String],
        off_for: Option<Duration>,
        events: &PartEvents,
    ) -> Result<(), BoardError> {
        let args = argv[1..]
            .iter()
            .map(|a| match off_for {
                Some(d) => a.replace("{off_for}", &format!("{}", d.as_secs_f64())),
                None => a.clone(),
            })
            .collect();
        ToolCommand {
            program: argv[0].clone(),
            args,
            timeout: self.options.timeout,
            failure_marker: None,
        }
        .run(&self.options.board, events)
        .await
    }

    fn emit(&self, state: PowerState, argv: &[String], events: &PartEvents) {
        events.emit(EventKind::Power {
            state,
            reason: argv.join(" "),
        });
    }
}

#[async_trait]
impl Power for CommandPower {
    async fn on(&self, events: &PartEvents) -> Result<(), BoardError> {
        self.run(&self.options.on, None, events).await?;
        self.emit(PowerState::On, &self.options.on, events);
        Ok(())
    }

    async fn off(&self, events: &PartEvents) -> Result<(), BoardError> {
        self.run(&self.options.off, None, events).await?;
        self.emit(PowerState::Off, &self.options.off, events);
        Ok(())
    }

    async fn reset(&self, events: &PartEvents) -> Result<(), BoardError> {
        match (&self.options.reset, &self.flasher) {
            (Some(reset), _) => {
                events.emit(EventKind::Note {
                    text: format!("reset: {}", reset.join(" ")),
                });
                self.run(reset, None, events).await
            }
            (None, Some(flasher)) => flasher.reset(events).await,
            (None, None) => Err(BoardError::Unsupported(format!(
                "reset of board {} (its power commands have no reset and it has no flasher that can reset)",
                self.options.board
            ))),
        }
    }

    fn can_power_cycle(&self) -> bool {
        true
    }

    async fn cycle(&self, off_for: Duration, events: &PartEvents) -> Result<(), BoardError> {
        let Some(cycle) = &self.options.cycle else {
            self.off(events).await?;
            tokio::time::sleep(off_for).await;
            return self.on(events).await;
        };
        // The tool switches off and on itself; record both edges around it.
        self.emit(PowerState::Off, cycle, events);
        self.run(cycle, Some(off_for), events).await?;
        self.emit(PowerState::On, cycle, events);
        Ok(())
    }
}
