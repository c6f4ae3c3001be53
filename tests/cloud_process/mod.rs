//! `otarig cloud` as a foreground process and one-shot `otarig` commands, blocking, for
//! tests that drive the binary with other processes (another user, another MQTT client).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_otarig");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A finished one-shot `otarig`.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

fn command(args: &[&str], umask0: bool) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(ROOT).stdin(Stdio::null());
    if umask0 {
        // SAFETY: umask is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::stat::umask(nix::sys::stat::Mode::empty());
                Ok(())
            });
        }
    }
    cmd
}

fn run(mut cmd: Command) -> Out {
    let out = cmd.output().expect("otarig runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `otarig ARGS…` from the repository, to the end.
pub fn otarig(args: &[&str]) -> Out {
    run(command(args, false))
}

/// The same under `umask 000`.
pub fn otarig_umask0(args: &[&str]) -> Out {
    run(command(args, true))
}

/// A foreground `otarig cloud`; killed when dropped, so a failing test leaves no process.
pub struct CloudProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl CloudProcess {
    pub fn spawn(args: &[&str]) -> CloudProcess {
        Self::start(command(args, false))
    }

    pub fn spawn_umask0(args: &[&str]) -> CloudProcess {
        Self::start(command(args, true))
    }

    fn start(mut cmd: Command) -> CloudProcess {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("otarig cloud starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sink, mut pipe) = (stderr.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        CloudProcess {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    pub fn context(&self) -> String {
        format!(
            "stdout so far:\n{}\nstderr so far:\n{}",
            self.seen.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// Stdout up to "press Ctrl-C to stop" (printed once the admin socket is open).
    pub fn ready(&mut self) -> Vec<String> {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line == "press Ctrl-C to stop";
                    self.seen.push(line);
                    if done {
                        return self.seen.clone();
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    std::thread::sleep(Duration::from_millis(50)); // the stderr reader's last bytes
                    panic!("otarig cloud ended before it was ready\n{}", self.context())
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "otarig cloud not ready within {DEADLINE:?}\n{}",
                        self.context()
                    )
                }
            }
        }
    }

    /// The text after `prefix` on the first banner line that starts with it.
    pub fn banner_value(&self, prefix: &str) -> String {
        self.seen
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line\n{}", self.context()))
            .to_string()
    }

    /// Ctrl-C, as from the terminal; the exit code.
    pub fn interrupt(&mut self) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("otarig cloud did not stop on Ctrl-C\n{}", self.context())
    }
}

impl Drop for CloudProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
