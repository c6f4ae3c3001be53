//! A simulated board wired as hardware: the power switch, reset line and programmer that a
//! rig's `command` parts call (`otarig sim power on|off`, `otarig sim reset`, `otarig sim
//! flash`), with the console on the board's own UART pty (see [`super::uart`]). So the
//! rig's hardware code paths (command flasher, serial console, command power) run end to
//! end without hardware. The powered board is a detached `otarig sim --dir D --tty LINK`;
//! `sim.pid` in its folder names that process and its UART link.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::flash::{Flash, FlashError, DEFAULT_BANK_SIZE};
use super::FLASH_FILE;

const PID_FILE: &str = "sim.pid";
/// Held (flock) by whoever is switching, flashing or resetting the board.
const LOCK_FILE: &str = "wiring.lock";
/// The detached board's stderr (start-up errors: no identity, a bad key).
pub const LOG_FILE: &str = "sim.log";
const START_WITHIN: Duration = Duration::from_secs(10);
const STOP_WITHIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error("board {dir}: {what}: {source}")]
    Io {
        dir: PathBuf,
        what: String,
        source: io::Error,
    },
    #[error("board {dir}: the simulator did not open its UART {link} within {within:?} ({status}); its errors are in {log}")]
    NoUart {
        dir: PathBuf,
        link: PathBuf,
        within: Duration,
        status: String,
        log: PathBuf,
    },
    #[error("board {dir}: process {pid} did not die within {within:?} of SIGKILL")]
    Unkillable {
        dir: PathBuf,
        pid: i32,
        within: Duration,
    },
    #[error("board {0} is powered off: there is nothing to reset (power it on first)")]
    Off(PathBuf),
    #[error(transparent)]
    Flash(#[from] FlashError),
}

/// One board folder and the `otarig` executable that runs it.
pub struct Wiring {
    dir: PathBuf,
    program: PathBuf,
}

/// What `sim.pid` records about the powered board.
struct Powered {
    pid: Pid,
    link: PathBuf,
}

impl Wiring {
    pub fn new(dir: &Path, program: &Path) -> Wiring {
        Wiring {
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            program: program.to_path_buf(),
        }
    }

    fn io(&self, what: impl Into<String>) -> impl FnOnce(io::Error) -> WiringError + '_ {
        let what = what.into();
        move |source| WiringError::Io {
            dir: self.dir.clone(),
            what,
            source,
        }
    }

    /// Holds the board's wiring for one operation: two tools acting on one board at once
    /// (a flash retried while the first is still running, power on from a console while a
    /// run flashes) would otherwise each start a board process on one flash file.
    fn hold(&self) -> Result<nix::fcntl::Flock<std::fs::File>, WiringError> {
        std::fs::create_dir_all(&self.dir).map_err(self.io("create the board folder"))?;
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(self.io(format!("open {}", path.display())))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| self.io(format!("lock {}", path.display()))(io::Error::from(e)))
    }

    /// Starts the board with its console on a pty named `link`; returns once the port
    /// exists, so a console opened next sees the boot. Already on: nothing changes.
    pub fn power_on(&self, link: &Path) -> Result<(), WiringError> {
        let _held = self.hold()?;
        self.start(link)
    }

    fn start(&self, link: &Path) -> Result<(), WiringError> {
        if self.powered().is_some() {
            return Ok(());
        }
        let link = std::path::absolute(link).map_err(self.io("resolve the UART path"))?;
        let log_path = self.dir.join(LOG_FILE);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(self.io(format!("open {}", log_path.display())))?;
        let _ = std::fs::remove_file(&link);
        let flash = self.dir.join(FLASH_FILE);
        if !flash.exists() {
            // A board fresh from the factory: erased flash, nothing for the bootloader to run.
            Flash::create(&flash, DEFAULT_BANK_SIZE)?;
        }
        let mut child = std::os::unix::process::CommandExt::process_group(
            Command::new(&self.program)
                .arg("sim")
                .arg("--dir")
                .arg(&self.dir)
                .arg("--tty")
                .arg(&link)
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
            // Its own group: a Ctrl-C meant for the rig does not cut the board's power.
            0,
        )
        .spawn()
        .map_err(self.io(format!("start {}", self.program.display())))?;
        let pid = Pid::from_raw(child.id() as i32);
        let record = format!("{pid}\n{}\n", link.display());
        let tmp = self.dir.join(format!(".{PID_FILE}.tmp"));
        std::fs::write(&tmp, record)
            .and_then(|_| std::fs::rename(&tmp, self.dir.join(PID_FILE)))
            .map_err(self.io(format!("write {PID_FILE}")))?;
        let deadline = Instant::now() + START_WITHIN;
        loop {
            // The link resolves only once the pty exists.
            if link.exists() {
                return Ok(());
            }
            let status = child
                .try_wait()
                .map_err(self.io("wait for the simulator"))?;
            if status.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = std::fs::remove_file(self.dir.join(PID_FILE));
                return Err(WiringError::NoUart {
                    dir: self.dir.clone(),
                    link,
                    within: START_WITHIN,
                    status: status.map_or("still running".into(), |s| s.to_string()),
                    log: log_path,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Cuts power: SIGKILL, no clean-up by the board; its UART port disappears.
    pub fn power_off(&self) -> Result<(), WiringError> {
        let _held = self.hold()?;
        self.stop()
    }

    fn stop(&self) -> Result<(), WiringError> {
        if let Some(p) = self.powered() {
            let _ = kill(p.pid, Signal::SIGKILL);
            let deadline = Instant::now() + STOP_WITHIN;
            while alive(p.pid) {
                if Instant::now() >= deadline {
                    return Err(WiringError::Unkillable {
                        dir: self.dir.clone(),
                        pid: p.pid.as_raw(),
                        within: STOP_WITHIN,
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // The dead pty's number will be reused; the name must not lead there.
            let _ = std::fs::remove_file(&p.link);
        }
        match std::fs::remove_file(self.dir.join(PID_FILE)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(self.io(format!("remove {PID_FILE}"))(e))
            }
            _ => Ok(()),
        }
    }

    /// Pulses the reset line (the board reboots through its bootloader).
    pub fn reset(&self) -> Result<(), WiringError> {
        let _held = self.hold()?;
        let p = self
            .powered()
            .ok_or_else(|| WiringError::Off(self.dir.clone()))?;
        kill(p.pid, Signal::SIGUSR1)
            .map_err(|e| self.io("signal the reset line")(io::Error::from(e)))
    }

    /// A programmer's job: hold the board, write the whole flash file, release it running.
    pub fn flash(&self, image: &Path, link: &Path) -> Result<(), WiringError> {
        let _held = self.hold()?;
        self.stop()?;
        let tmp = self.dir.join(format!(".{FLASH_FILE}.tmp"));
        std::fs::copy(image, &tmp)
            .and_then(|_| std::fs::rename(&tmp, self.dir.join(FLASH_FILE)))
            .map_err(self.io(format!("write {} into {FLASH_FILE}", image.display())))?;
        self.start(link)
    }

    /// The board process `sim.pid` names, if it is alive and really this board.
    fn powered(&self) -> Option<Powered> {
        let text = std::fs::read_to_string(self.dir.join(PID_FILE)).ok()?;
        let mut lines = text.lines();
        let pid = Pid::from_raw(lines.next()?.trim().parse().ok()?);
        let link = PathBuf::from(lines.next()?);
        // A pid from before a host reboot may name another process now.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let ours = cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == self.dir.as_os_str().as_encoded_bytes());
        (ours && alive(pid)).then_some(Powered { pid, link })
    }
}

/// Alive and not a zombie waiting for a parent that is gone.
fn alive(pid: Pid) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}
