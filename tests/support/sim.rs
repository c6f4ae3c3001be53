//! Shared helpers of the sim tests: a throwaway PKI, a provisioned and flashed board
//! folder, and `otarig sim` under a pty with its console lines on a channel.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use otarig::sim::{self, fixture, Endpoint, Nvs};

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-fixtures")
}

/// Writes `codesign.key`/`codesign.pem` (P-256) and a CA + client pair into `dir`.
pub fn pki(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["codesign".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("codesign.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("codesign.pem"), cert.pem()).unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
    let client = rcgen::generate_simple_self_signed(vec!["Thing1".into()]).unwrap();
    std::fs::write(dir.join("client.pem"), client.cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client.signing_key.serialize_pem()).unwrap();
}

/// A board folder provisioned as `thing` against `port`, flashed with `fixture_name`.
pub fn board(root: &Path, fixture_name: &str, thing: &str, port: u16, tls: bool) -> PathBuf {
    let pki_dir = root.join("pki");
    if !pki_dir.join("codesign.key").exists() {
        pki(&pki_dir);
    }
    let dir = root.join(format!("board-{thing}"));
    let nvs = Nvs {
        thing_name: thing.into(),
        endpoint: Endpoint {
            host: "127.0.0.1".into(),
            port,
            tls,
        },
        ca_cert: pki_dir.join("ca.pem"),
        client_cert: pki_dir.join("client.pem"),
        client_key: pki_dir.join("client.key"),
        codesign_cert_dir: pki_dir.join("certs"),
        bootloader_key: pki_dir.join("codesign.pem"),
        fault_line: None,
    };
    sim::provision(&dir, &nvs).unwrap();
    let (built, _) =
        fixture::build_to_dir(&fixtures_dir(), fixture_name, &pki_dir, &root.join("built"))
            .unwrap();
    sim::write_factory_flash(&dir, &built).unwrap();
    dir
}

/// A port that refuses connections: reserved (bound, never listening) for the rest of the
/// test process, so no parallel test (a gateway on a free port) can be handed it.
pub fn dead_port() -> u16 {
    let reserved = super::process::reserved_port();
    let port = reserved.port;
    std::mem::forget(reserved);
    port
}

/// `otarig sim` on a pty; killed (SIGKILL, a power cut) on drop.
pub struct SimProcess {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl SimProcess {
    pub fn start(dir: &Path) -> SimProcess {
        let pty = otarig::board::pty::open_pair().unwrap();
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
        let child = Command::new(env!("CARGO_BIN_EXE_otarig"))
            .args(["sim", "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(stdio(&pty.slave))
            .stderr(stdio(&pty.slave))
            .spawn()
            .unwrap();
        drop(pty.slave);
        let (tx, lines) = mpsc::channel();
        let master = pty.master;
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(master);
            let mut buf = [0u8; 4096];
            let mut pending = Vec::new();
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=i).collect();
                    let line = String::from_utf8_lossy(&line).trim_end().to_string();
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        });
        SimProcess {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line matching `re`; panics with the console so far after `within`.
    pub fn expect(&mut self, re: &str, within: Duration) -> String {
        let re = regex::Regex::new(re).unwrap();
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if re.is_match(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no console line matching `{re}` within {within:?}; console:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// VmRSS of the process in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    pub fn reset_line(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGUSR1,
        )
        .unwrap();
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
