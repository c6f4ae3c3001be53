//! Native boards: a process on the bench host instead of a chip (docs/architecture.md § Native boards).
//!
//! - flash: files in the board's own folder (`flash.bin` for a simulated board);
//! - console: the process's stdout/stderr through a pty, so it line-buffers as on a terminal;
//! - power: start (with the board folder as working directory) and SIGKILL of the whole
//!   process group (a power cut: no clean-up). A process that dies by itself is a board
//!   that reset or crashed, and the console says so;
//! - boot: what starts is decided as a bootloader would (see [`NativeBoard::boot_target`]):
//!   the image the OTA agent wrote and made executable, else the flashed program, else the
//!   rig's program. A firmware program that exits is booted again that way.

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;

use super::identity::Identity;
use super::{
    BoardError, Console, FlashImage, Flasher, ImageFormat, LineTx, PartEvents, Power, Provision,
};
use crate::timeline::{EventKind, PowerState};

/// The file a simulated board keeps its two flash banks in.
pub const SIM_FLASH_FILE: &str = "flash.bin";

/// The code-signing certificate in a native program's folder (a job's default `certfile`).
const CERTFILE: &str = "codesign.pem";

/// Where a native program board keeps the program flashed onto it.
const FLASHED_DIR: &str = ".flash";

/// Prefix of the lines the rig itself writes into a native board's console.
pub const RIG_LINE_PREFIX: &str = "[otarig]";

/// What runs as the board.
#[derive(Clone, Debug)]
pub struct NativeProgram {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// How the rig resets the board without removing power.
    pub reset: ResetMethod,
    /// Boot again (by the boot rule) when the process exits by itself: a firmware
    /// program exits to reset. The simulator models its own resets and does not.
    pub reboot_on_exit: bool,
    /// Keep the board folder from one scenario to the next (else emptied by
    /// [`Provision::start_fresh`]).
    pub persist: bool,
}

/// Pause before booting again after the program exited by itself, so a firmware that
/// dies at once does not spin the bench.
const REBOOT_DELAY: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetMethod {
    /// SIGUSR1: the program models its reset line itself (the simulated board does).
    Signal,
    /// Kill and start again (a program that knows nothing of resets).
    Restart,
}

struct Running {
    pid: i32,
    /// Becomes true once the process has been reaped and its output drained.
    exited: watch::Receiver<bool>,
    killed_by_rig: Arc<Mutex<bool>>,
}

struct State {
    running: Option<Running>,
    console: Option<LineTx>,
    /// Set by power on, cleared by power off: a process that exits by itself is booted
    /// again only while the board is powered.
    powered: bool,
    /// Told before each scenario; its placeholders and environment reach the program.
    identity: Option<Identity>,
    /// The program a flasher wrote into the board folder, if any.
    flashed: Option<PathBuf>,
    /// Where OTA jobs told the agent to write the image (job documents' `filepath`).
    received: Vec<PathBuf>,
    /// The received image the program activated by exiting cleanly: the board's firmware
    /// from then on, until a flash or a fresh start.
    activated: Option<PathBuf>,
}

/// One native board. Its flash, console and power parts share this value.
pub struct NativeBoard {
    name: String,
    dir: PathBuf,
    program: NativeProgram,
    state: Mutex<State>,
    me: std::sync::Weak<NativeBoard>,
}

impl NativeBoard {
    pub fn new(
        name: impl Into<String>,
        dir: impl Into<PathBuf>,
        program: NativeProgram,
    ) -> Arc<Self> {
        let dir: PathBuf = dir.into();
        // What an earlier otarig process flashed is still in the folder (`otarig board`).
        let flashed = fs::read_dir(dir.join(FLASHED_DIR))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| is_executable(p));
        Arc::new_cyclic(|me| NativeBoard {
            name: name.into(),
            dir,
            program,
            state: Mutex::new(State {
                running: None,
                console: None,
                powered: false,
                identity: None,
                flashed,
                received: Vec::new(),
                activated: None,
            }),
            me: me.clone(),
        })
    }

    /// Empties the board folder (a board off the shelf: no image state, no received or
    /// flashed file). Only while the board is off.
    async fn wipe(&self) -> Result<(), BoardError> {
        self.kill().await?;
        {
            let mut state = self.state.lock().expect("native board lock");
            state.flashed = None;
            state.received.clear();
            state.activated = None;
        }
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(BoardError::io(
                    format!("board {}: empty {}", self.name, self.dir.display()),
                    e,
                ))
            }
        }
        fs::create_dir_all(&self.dir).map_err(|e| {
            BoardError::io(
                format!("board {}: create {}", self.name, self.dir.display()),
                e,
            )
        })
    }

    /// What boots, as a bootloader decides: the image the program activated, or a received
    /// image the agent made executable itself; else the flashed program; else the rig's
    /// program. An activated image the firmware deleted (a rollback) no longer counts.
    fn boot_target(state: &State, program: &Path) -> PathBuf {
        state
            .activated
            .iter()
            .chain(&state.received)
            .chain(state.flashed.iter())
            .find(|p| is_executable(p))
            .cloned()
            .unwrap_or_else(|| program.to_path_buf())
    }

    /// The program exited cleanly (exit status 0): its activation. A received image that
    /// is a program for this host (ELF or `#!`) becomes the firmware, made executable as a
    /// bootloader would mark it bootable; the stock POSIX OTA PAL writes it with mode 0644.
    /// A crash or a power cut never activates a (possibly partial) image.
    fn activate(state: &mut State) {
        let bootable = state.received.iter().find(|p| is_program(p)).cloned();
        if let Some(image) = bootable {
            if fs::set_permissions(&image, fs::Permissions::from_mode(0o755)).is_ok() {
                state.activated = Some(image);
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// PID of the running process, if powered.
    pub fn pid(&self) -> Option<i32> {
        self.state
            .lock()
            .expect("native board lock")
            .running
            .as_ref()
            .map(|r| r.pid)
    }

    fn is_running(&self) -> bool {
        let state = self.state.lock().expect("native board lock");
        matches!(&state.running, Some(r) if !*r.exited.borrow())
    }

    /// Power on: boots by the boot rule unless the process already runs.
    fn start(&self) -> Result<(), BoardError> {
        let mut state = self.state.lock().expect("native board lock");
        state.powered = true;
        if matches!(&state.running, Some(r) if !*r.exited.borrow()) {
            return Ok(());
        }
        self.spawn(&mut state)
    }

    fn spawn(&self, state: &mut State) -> Result<(), BoardError> {
        fs::create_dir_all(&self.dir).map_err(|e| {
            BoardError::io(
                format!("board {}: create {}", self.name, self.dir.display()),
                e,
            )
        })?;
        let target = Self::boot_target(state, &self.program.path);
        let tx = state.console.clone();
        if target != self.program.path {
            if let Some(tx) = &tx {
                let _ = tx.send(format!("{RIG_LINE_PREFIX} booting {}", target.display()));
            }
        }
        let pty = super::pty::open_pair()
            .map_err(|e| BoardError::io(format!("board {}: open a pty", self.name), e))?;
        let slave = pty.slave;
        let master = pty.master;
        let stdio = |fd: &OwnedFd| -> Result<Stdio, BoardError> {
            fd.try_clone()
                .map(Stdio::from)
                .map_err(|e| BoardError::io(format!("board {}: dup pty", self.name), e))
        };
        let identity = state.identity.as_ref();
        let expand = |s: &str| identity.map_or_else(|| s.to_string(), |id| id.expand(s));
        let mut cmd = Command::new(&target);
        cmd.args(self.program.args.iter().map(|a| expand(a)))
            .envs(identity.map(Identity::env).unwrap_or_default())
            .envs(self.program.env.iter().map(|(k, v)| (k, expand(v))))
            .current_dir(&self.dir)
            .stdin(stdio(&slave)?)
            .stdout(stdio(&slave)?)
            .stderr(stdio(&slave)?);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // Own session and process group, with the pty as controlling terminal, so
                // the process sees a terminal and a power cut can kill its whole group.
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::ioctl(0, libc::TIOCSCTTY as _, 0);
                // The board is the load, the rig the instrument: a board process runs on
                // the CPU the rig leaves idle, so the cloud and the judge keep their time
                // however many boards share the host (a board starved instead says so).
                // Measured with 1,000 boards: all passed; at nice 10 or 19, 66-75 % were
                // bench errors from the rig's own lag.
                let idle = libc::sched_param { sched_priority: 0 };
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle);
                Ok(())
            });
        }
        // The process and its console are watched by tasks on the rig's runtime (tokio
        // reaps through a pidfd), not by threads: a thousand boards are a thousand
        // processes, not two thousand threads in the rig.
        // A boot after the program exited by itself starts from its waiting task, so a
        // runtime is always there.
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            BoardError::Other(format!(
                "board {}: started outside the rig's runtime (a bug in otarig)",
                self.name
            ))
        })?;
        let _in_runtime = runtime.enter();
        let mut child = tokio::process::Command::from(cmd).spawn().map_err(|e| {
            BoardError::io(
                format!(
                    "board {}: start {} in {}",
                    self.name,
                    target.display(),
                    self.dir.display()
                ),
                e,
            )
        })?;
        drop(slave);
        let pid = child.id().unwrap_or_default() as i32;
        let (exited_tx, exited) = watch::channel(false);
        let killed_by_rig = Arc::new(Mutex::new(false));
        let reader = spawn_reader(&runtime, master, tx.clone())
            .map_err(|e| BoardError::io(format!("board {}: read its pty", self.name), e))?;
        let killed = killed_by_rig.clone();
        let me = self.me.clone();
        let reboot = self.program.reboot_on_exit;
        runtime.spawn(async move {
            let status = child.wait().await;
            let clean = matches!(&status, Ok(s) if s.success());
            // Output first, then the note: the note must be the last line of this life.
            let _ = reader.await;
            let by_itself = !*killed.lock().expect("kill flag");
            if by_itself {
                if let Some(tx) = tx {
                    let what = match status {
                        Ok(s) => s.to_string(),
                        Err(e) => e.to_string(),
                    };
                    let _ = tx.send(format!(
                        "{RIG_LINE_PREFIX} process exited by itself ({what}): \
                         the board reset or crashed"
                    ));
                }
            }
            let _ = exited_tx.send(true);
            if by_itself && reboot {
                tokio::time::sleep(REBOOT_DELAY).await;
                if let Some(board) = me.upgrade() {
                    board.reboot_after_exit(pid, clean);
                }
            }
        });
        state.running = Some(Running {
            pid,
            exited,
            killed_by_rig,
        });
        Ok(())
    }

    /// The program `pid` exited by itself (`clean`: with status 0): boot again, unless the
    /// rig has meanwhile switched the board off or started another process.
    fn reboot_after_exit(&self, pid: i32, clean: bool) {
        let mut state = self.state.lock().expect("native board lock");
        let same_life = matches!(&state.running, Some(r) if r.pid == pid);
        if !state.powered || !same_life {
            return;
        }
        if clean {
            Self::activate(&mut state);
        }
        if let Err(e) = self.spawn(&mut state) {
            if let Some(tx) = &state.console {
                let _ = tx.send(format!("{RIG_LINE_PREFIX} cannot boot again: {e}"));
            }
        }
    }

    async fn kill(&self) -> Result<(), BoardError> {
        let running = {
            let mut state = self.state.lock().expect("native board lock");
            state.powered = false;
            state.running.take()
        };
        let Some(running) = running else {
            return Ok(());
        };
        *running.killed_by_rig.lock().expect("kill flag") = true;
        // SIGKILL the whole process group: a power cut, no clean-up. (The group may
        // already be gone, and the process with it: nothing to report then.)
        let pid = Pid::from_raw(running.pid);
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = kill(pid, Signal::SIGKILL);
        let mut exited = running.exited;
        let outcome = tokio::time::timeout(Duration::from_secs(10), exited.wait_for(|done| *done))
            .await
            .map(|_| ());
        match outcome {
            Ok(()) => Ok(()),
            Err(_) => Err(BoardError::Other(format!(
                "board {}: process {} did not die within 10 s of SIGKILL",
                self.name, running.pid
            ))),
        }
    }

    fn signal_reset(&self) -> Result<(), BoardError> {
        let pid = self.pid().ok_or_else(|| {
            BoardError::Other(format!(
                "board {}: cannot reset, it is powered off",
                self.name
            ))
        })?;
        kill(Pid::from_raw(pid), Signal::SIGUSR1).map_err(|e| {
            BoardError::io(
                format!("board {}: signal reset", self.name),
                std::io::Error::from(e),
            )
        })?;
        Ok(())
    }
}

/// Reads the pty master until the last writer is gone (EIO), splitting lines: a task on
/// the rig's runtime, not a thread per board. The returned receiver ends when everything
/// is read.
fn spawn_reader(
    runtime: &tokio::runtime::Handle,
    master: OwnedFd,
    tx: Option<LineTx>,
) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(&master, FcntlArg::F_GETFL)?);
    fcntl(&master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    let (done, drained) = tokio::sync::oneshot::channel::<()>();
    let _guard = runtime.enter();
    let file = fs::File::from(master);
    // SAFETY: the AsyncFd owns the File, which owns the descriptor: it stays open and the
    // same until the AsyncFd is dropped.
    let pty = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(file, tokio::io::Interest::READABLE)
    }
    .map_err(|e| e.into_parts().1)?;
    runtime.spawn(async move {
        let mut lines = LineSplitter::default();
        let mut buf = [0u8; 4096];
        loop {
            let Ok(mut ready) = pty.readable().await else {
                break;
            };
            match ready.try_io(|fd| fd.get_ref().read(&mut buf)) {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => lines.push(&buf[..n], tx.as_ref()),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // EIO: every process holding the slave side is gone.
                Ok(Err(_)) => break,
                Err(_would_block) => continue,
            }
        }
        lines.finish(tx.as_ref());
        drop(done);
    });
    Ok(drained)
}

/// Bytes from the pty, as lines.
#[derive(Default)]
struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    fn push(&mut self, bytes: &[u8], tx: Option<&LineTx>) {
        self.pending.extend_from_slice(bytes);
        let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        for line in self.pending[..last].split(|&b| b == b'\n') {
            // Every CR: a firmware's `\r\n` arrives as `\r\r\n` (the pty adds one).
            let end = line.iter().rposition(|&b| b != b'\r').map_or(0, |i| i + 1);
            if let Some(tx) = tx {
                let _ = tx.send(String::from_utf8_lossy(&line[..end]).into_owned());
            }
        }
        self.pending.drain(..=last);
    }

    fn finish(self, tx: Option<&LineTx>) {
        if let (false, Some(tx)) = (self.pending.is_empty(), tx) {
            let _ = tx.send(String::from_utf8_lossy(&self.pending).into_owned());
        }
    }
}

/// A firmware program is told its identity through placeholders and `OTARIG_*` variables
/// (the simulator reads its NVS instead: `sim::nvs::NvsProvision`).
#[async_trait]
impl Provision for NativeBoard {
    /// Takes effect from the program's next start. The code-signing certificate is also
    /// put in the board folder as `codesign.pem`, the job document's default `certfile`,
    /// which a POSIX OTA PAL opens relative to its working directory.
    async fn provision(&self, identity: &Identity) -> Result<(), BoardError> {
        copy_into(self, &identity.codesign_cert, &self.dir.join(CERTFILE))?;
        self.state.lock().expect("native board lock").identity = Some(identity.clone());
        Ok(())
    }

    async fn start_fresh(&self) -> Result<(), BoardError> {
        if self.program.persist {
            return Ok(());
        }
        self.wipe().await
    }

    /// Relative to the board folder, as the POSIX OTA PAL opens it: the boot rule looks there.
    fn receives_image_at(&self, filepath: &str) {
        let path = self.dir.join(filepath);
        let mut state = self.state.lock().expect("native board lock");
        if !state.received.contains(&path) {
            state.received.push(path);
        }
    }
}

#[async_trait]
impl Console for NativeBoard {
    async fn attach(&self, tx: LineTx) -> Result<(), BoardError> {
        // Takes effect from the next power-on; the pty of a running process keeps its reader.
        self.state.lock().expect("native board lock").console = Some(tx);
        Ok(())
    }

    async fn detach(&self) {
        self.state.lock().expect("native board lock").console = None;
    }
}

#[async_trait]
impl Power for NativeBoard {
    async fn on(&self, events: &PartEvents) -> Result<(), BoardError> {
        self.start()?;
        events.emit(EventKind::Power {
            state: PowerState::On,
            reason: "process started".into(),
        });
        Ok(())
    }

    async fn off(&self, events: &PartEvents) -> Result<(), BoardError> {
        self.kill().await?;
        events.emit(EventKind::Power {
            state: PowerState::Off,
            reason: "process killed (SIGKILL)".into(),
        });
        Ok(())
    }

    async fn reset(&self, events: &PartEvents) -> Result<(), BoardError> {
        events.emit(EventKind::Note {
            text: "reset".into(),
        });
        match self.program.reset {
            ResetMethod::Signal if self.is_running() => self.signal_reset(),
            _ => {
                self.kill().await?;
                self.start()
            }
        }
    }

    fn can_power_cycle(&self) -> bool {
        true
    }
}

impl NativeBoard {
    /// A firmware program is "flashed" by copying it into the board folder, executable;
    /// like a chip erase, the images earlier jobs delivered are removed.
    fn flash_program(&self, image: &Path) -> Result<(), BoardError> {
        let name = image.file_name().ok_or_else(|| BoardError::Image {
            path: image.to_path_buf(),
            message: "not a file".into(),
        })?;
        let flash_dir = self.dir.join(FLASHED_DIR);
        // One flashed program at a time, as one chip holds one build.
        let _ = fs::remove_dir_all(&flash_dir);
        let target = flash_dir.join(name);
        let received = {
            let mut state = self.state.lock().expect("native board lock");
            state.flashed = None;
            state.activated = None;
            state.received.clone()
        };
        for path in received {
            let _ = fs::remove_file(path);
        }
        copy_into(self, image, &target)?;
        let executable = fs::Permissions::from_mode(0o755);
        fs::set_permissions(&target, executable).map_err(|e| {
            BoardError::io(
                format!("board {}: chmod {}", self.name, target.display()),
                e,
            )
        })?;
        self.state.lock().expect("native board lock").flashed = Some(target);
        Ok(())
    }
}

fn copy_into(board: &NativeBoard, from: &Path, to: &Path) -> Result<(), BoardError> {
    to.parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|_| fs::copy(from, to))
        .map(|_| ())
        .map_err(|e| {
            BoardError::io(
                format!(
                    "board {}: write {} to {}",
                    board.name,
                    from.display(),
                    to.display()
                ),
                e,
            )
        })
}

/// A program for this host, by its first bytes: ELF, or a script with `#!`.
fn is_program(path: &Path) -> bool {
    let mut head = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == *b"\x7fELF" || head.starts_with(b"#!"))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The flash part of a native board: writes files into the board's folder.
pub struct NativeFlasher(pub Arc<NativeBoard>);

#[async_trait]
impl Flasher for NativeFlasher {
    async fn flash(&self, image: &FlashImage, events: &PartEvents) -> Result<(), BoardError> {
        let board = &self.0;
        // Like a programmer: hold the target while writing, release it afterwards.
        board.kill().await?;
        let result = match image.format {
            ImageFormat::SimFlash => copy_into(board, &image.path, &board.dir.join(SIM_FLASH_FILE)),
            _ => board.flash_program(&image.path),
        };
        events.emit(EventKind::Flash {
            image: image.fixture.clone(),
            ok: result.is_ok(),
            detail: result.as_ref().err().map(|e| e.to_string()),
        });
        result?;
        board.start()?;
        events.emit(EventKind::Power {
            state: PowerState::On,
            reason: "released after flashing".into(),
        });
        Ok(())
    }

    async fn reset(&self, events: &PartEvents) -> Result<(), BoardError> {
        Power::reset(self.0.as_ref(), events).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Timeline;
    use tokio::sync::mpsc;

    fn sh(script: &str) -> NativeProgram {
        NativeProgram {
            path: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![],
            reset: ResetMethod::Restart,
            reboot_on_exit: false,
            persist: false,
        }
    }

    async fn next_line(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a console line within 10 s")
            .expect("console open")
    }

    fn events() -> PartEvents {
        PartEvents {
            board: "b".into(),
            sink: Arc::new(Timeline::in_memory()),
        }
    }

    #[tokio::test]
    async fn console_sees_a_terminal_and_lines_in_order_in_the_board_folder() {
        let dir = tempfile::tempdir().unwrap();
        let board = NativeBoard::new(
            "b",
            dir.path(),
            sh("test -t 1 && echo tty; pwd; printf 'no newline'; touch printed; sleep 30"),
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        board.attach(tx).await.unwrap();
        board.on(&events()).await.unwrap();
        assert_eq!(next_line(&mut rx).await, "tty");
        let cwd = next_line(&mut rx).await;
        assert_eq!(
            fs::canonicalize(cwd).unwrap(),
            fs::canonicalize(dir.path()).unwrap()
        );
        // The partial line yields no line, so the shell says by a file that it wrote it
        // (a kill before the `printf` would leave nothing to deliver).
        let printed = dir.path().join("printed");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !printed.exists() {
            assert!(tokio::time::Instant::now() < deadline, "printf within 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        board.off(&events()).await.unwrap();
        // The partial line is delivered when the process is gone; no exit note for a kill.
        assert_eq!(next_line(&mut rx).await, "no newline");
        assert!(board.pid().is_none());
    }

    #[tokio::test]
    async fn a_board_runs_on_the_cpu_the_rig_leaves_idle() {
        let dir = tempfile::tempdir().unwrap();
        // Field 41 of /proc/PID/stat is the scheduling policy.
        let board = NativeBoard::new(
            "b",
            dir.path(),
            sh("echo policy $(cut -d' ' -f41 /proc/self/stat); sleep 30"),
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        board.attach(tx).await.unwrap();
        board.on(&events()).await.unwrap();
        let idle = format!("policy {}", libc::SCHED_IDLE);
        assert_eq!(next_line(&mut rx).await, idle);
        board.off(&events()).await.unwrap();
    }

    #[tokio::test]
    async fn a_process_that_dies_by_itself_is_reported_as_a_reset_or_crash() {
        let dir = tempfile::tempdir().unwrap();
        let board = NativeBoard::new("b", dir.path(), sh("echo bye; exit 3"));
        let (tx, mut rx) = mpsc::unbounded_channel();
        board.attach(tx).await.unwrap();
        board.on(&events()).await.unwrap();
        assert_eq!(next_line(&mut rx).await, "bye");
        let note = next_line(&mut rx).await;
        assert!(note.starts_with(RIG_LINE_PREFIX), "{note}");
        assert!(note.contains("exit status: 3"), "{note}");
    }

    /// A firmware that writes `next.sh` (mode 0644, as the stock POSIX PAL does) and exits
    /// with `code`; booted again, it says so.
    fn activating_firmware(code: i32) -> NativeProgram {
        let script = format!(
            "if [ -f booted ]; then echo booted again; sleep 30; fi; touch booted; \
             printf '#!/bin/sh\\necho new image\\nsleep 30\\n' > next.sh; echo old image; exit {code}"
        );
        NativeProgram {
            reboot_on_exit: true,
            ..sh(&script)
        }
    }

    #[tokio::test]
    async fn a_clean_exit_activates_the_received_image_and_it_boots() {
        let dir = tempfile::tempdir().unwrap();
        let board = NativeBoard::new("b", dir.path(), activating_firmware(0));
        board.receives_image_at("next.sh");
        let (tx, mut rx) = mpsc::unbounded_channel();
        board.attach(tx).await.unwrap();
        board.on(&events()).await.unwrap();
        assert_eq!(next_line(&mut rx).await, "old image");
        assert!(next_line(&mut rx).await.contains("exited by itself"));
        assert!(next_line(&mut rx).await.contains("booting"));
        assert_eq!(next_line(&mut rx).await, "new image");
        // The activated image stays the firmware across a power cycle.
        board.off(&events()).await.unwrap();
        board.on(&events()).await.unwrap();
        assert!(next_line(&mut rx).await.contains("booting"));
        assert_eq!(next_line(&mut rx).await, "new image");
        board.off(&events()).await.unwrap();
    }

    #[tokio::test]
    async fn a_crash_never_activates_a_received_image() {
        let dir = tempfile::tempdir().unwrap();
        let board = NativeBoard::new("b", dir.path(), activating_firmware(3));
        board.receives_image_at("next.sh");
        let (tx, mut rx) = mpsc::unbounded_channel();
        board.attach(tx).await.unwrap();
        board.on(&events()).await.unwrap();
        assert_eq!(next_line(&mut rx).await, "old image");
        assert!(next_line(&mut rx).await.contains("exit status: 3"));
        assert_eq!(next_line(&mut rx).await, "booted again");
        board.off(&events()).await.unwrap();
    }

    #[tokio::test]
    async fn flashing_writes_the_board_folder_and_restarts_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let image_dir = tempfile::tempdir().unwrap();
        let image = image_dir.path().join("factory.flash");
        fs::write(&image, b"IMAGE").unwrap();
        let board = NativeBoard::new("b", dir.path(), sh("cat flash.bin; echo; sleep 30"));
        let (tx, mut rx) = mpsc::unbounded_channel();
        board.attach(tx).await.unwrap();
        let flasher = NativeFlasher(board.clone());
        let image = FlashImage {
            fixture: "app".into(),
            path: image,
            format: ImageFormat::SimFlash,
        };
        flasher.flash(&image, &events()).await.unwrap();
        assert_eq!(next_line(&mut rx).await, "IMAGE");
        board.off(&events()).await.unwrap();
    }

    #[test]
    fn pty_bytes_become_lines_without_their_carriage_returns() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut lines = LineSplitter::default();
        lines.push(b"one\r\r\ntw", Some(&tx));
        lines.push(b"o\n\nthr", Some(&tx));
        lines.finish(Some(&tx));
        let mut got = Vec::new();
        while let Ok(line) = rx.try_recv() {
            got.push(line);
        }
        assert_eq!(got, ["one", "two", "", "thr"]);
    }
}
