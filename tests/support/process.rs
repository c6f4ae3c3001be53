//! The `otarig` binary as the tests run it: one-shot commands and what they did, for
//! assertion messages; a process left running (`otarig cloud`, `otarig board console`)
//! with its stdout as lines and its stderr kept; and what `otarig cloud` prints when ready.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use regex::Regex;

pub const BIN: &str = env!("CARGO_BIN_EXE_otarig");
/// The repository: where `otarig` runs unless a test gives it a folder of its own.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// How long a background process may take to print what a test waits for, or to stop.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Exit codes (README.md, "Exit codes").
pub const USAGE: i32 = 2;
pub const BENCH: i32 = 3;

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// A finished one-shot `otarig`.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Stdout as JSON, after checking the command succeeded.
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, Some(0), "{}", describe(self));
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Exit code, stdout and stderr, for a failed assertion.
pub fn describe(out: &Out) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.code, out.stdout, out.stderr
    )
}

/// `otarig ARGS…` in the repository, stdin closed; not run yet.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(ROOT).stdin(Stdio::null());
    cmd
}

/// Makes `cmd` start under `umask 000`.
pub fn umask0(cmd: &mut Command) -> &mut Command {
    // SAFETY: umask is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::empty());
            Ok(())
        })
    }
}

/// Runs `cmd` to the end.
pub fn finish(cmd: &mut Command) -> Out {
    let out = cmd.output().expect("otarig runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `otarig ARGS…` in the repository, to the end.
pub fn otarig(args: &[&str]) -> Out {
    finish(&mut command(args))
}

/// `otarig ARGS…` in `cwd`, to the end.
pub fn otarig_in(args: &[&str], cwd: &Path) -> Out {
    finish(command(args).current_dir(cwd))
}

/// `otarig ARGS…` in the repository under `umask 000`, to the end.
pub fn otarig_umask0(args: &[&str]) -> Out {
    finish(umask0(&mut command(args)))
}

/// A process left running: stdout read as lines, stderr kept whole; killed when dropped,
/// so a failing test leaves no process behind.
pub struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Stdout lines read so far.
    pub seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Background {
    /// `otarig ARGS…` in the repository.
    pub fn otarig(args: &[&str]) -> Background {
        Self::spawn(&mut command(args))
    }

    /// `otarig ARGS…` in the repository under `umask 000`.
    pub fn otarig_umask0(args: &[&str]) -> Background {
        Self::spawn(umask0(&mut command(args)))
    }

    pub fn spawn(cmd: &mut Command) -> Background {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("otarig starts");
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
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Background {
            child,
            lines,
            seen: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Stdout and stderr so far, for a failed assertion.
    pub fn context(&self) -> String {
        format!(
            "stdout so far:\n{}\nstderr so far:\n{}",
            self.seen.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// The next stdout line matching `pattern`.
    pub fn wait_for(&mut self, pattern: &str) -> String {
        let re = Regex::new(pattern).unwrap();
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if re.is_match(&line) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    self.join_stderr();
                    panic!(
                        "otarig ended without printing /{pattern}/\n{}",
                        self.context()
                    )
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "otarig printed no /{pattern}/ within {DEADLINE:?}\n{}",
                        self.context()
                    )
                }
            }
        }
    }

    /// Stdout up to "press Ctrl-C to stop" (`otarig cloud` prints it once its admin socket
    /// is open).
    pub fn ready(&mut self) -> Vec<String> {
        self.wait_for("^press Ctrl-C to stop$");
        self.seen.clone()
    }

    /// The text after `prefix` on the first stdout line that starts with it.
    pub fn banner_value(&self, prefix: &str) -> String {
        self.seen
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line\n{}", self.context()))
            .to_string()
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_for_stderr(&self, needle: &str) {
        let start = Instant::now();
        while !self.stderr.lock().unwrap().contains(needle) {
            assert!(
                start.elapsed() < DEADLINE,
                "no `{needle}` on stderr\n{}",
                self.context()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to end by itself; then the rest of its stdout and stderr
    /// are in `seen` and `stderr_text()`.
    pub fn exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "otarig did not exit\n{}",
                self.context()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        self.join_stderr();
        status
    }

    /// Ctrl-C, as from the terminal; the exit status once the process is gone.
    pub fn interrupt(&mut self) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        self.exit()
    }

    /// SIGKILL: no chance to clean up; returns once the process is gone.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits (a little) for the stderr reader's last bytes: a child the process left
    /// running may hold the pipe open.
    fn join_stderr(&mut self) {
        let start = Instant::now();
        while let Some(reader) = self.stderr_reader.take() {
            if reader.is_finished() || start.elapsed() > Duration::from_secs(5) {
                return;
            }
            self.stderr_reader = Some(reader);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `otarig cloud` prints before "press Ctrl-C to stop".
pub struct Banner {
    /// The text after `endpoint: `.
    pub endpoint_line: String,
    pub addr: SocketAddr,
    pub ca: PathBuf,
    /// thing → (certificate, key)
    pub things: std::collections::BTreeMap<String, (PathBuf, PathBuf)>,
    pub admin: PathBuf,
}

impl Banner {
    pub fn parse(lines: &[String]) -> Banner {
        let find = |prefix: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{}", lines.join("\n")))
        };
        let endpoint = find("endpoint: ");
        let addr = endpoint.split_whitespace().next().unwrap().parse().unwrap();
        let admin = find("admin socket: ").split(" (").next().unwrap();
        let things = lines
            .iter()
            .filter_map(|l| l.strip_prefix("thing "))
            .map(|rest| {
                let (thing, files) = rest.split_once(": certificate ").unwrap();
                let (cert, key) = files.split_once(" key ").unwrap();
                (thing.to_string(), (cert.into(), key.into()))
            })
            .collect();
        Banner {
            endpoint_line: endpoint.to_string(),
            addr,
            ca: find("CA certificate: ").into(),
            things,
            admin: admin.into(),
        }
    }
}

/// A loopback port held for a process the test starts (a rig's fixed `bind`, a broker):
/// bound with SO_REUSEADDR and not listening, so that process can bind it (tokio's listeners
/// and Mosquitto set SO_REUSEADDR) while no parallel test's listener on port 0 or outgoing
/// connection is handed it, as happens to a port merely free a moment ago.
pub struct ReservedPort {
    pub port: u16,
    _socket: tokio::net::TcpSocket,
}

pub fn reserved_port() -> ReservedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    ReservedPort {
        port,
        _socket: socket,
    }
}

/// Command lines of live processes (other than this one) working under `dir` or naming it
/// on their command line: a simulated board runs `otarig sim --dir …` in its own folder.
pub fn processes_under(dir: &Path) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|p| p.file_name().to_string_lossy() != me)
        .filter_map(|p| {
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let in_dir = std::fs::read_link(p.path().join("cwd")).is_ok_and(|c| c.starts_with(dir));
            (in_dir || cmdline.contains(s(dir))).then_some(cmdline)
        })
        .collect()
}
