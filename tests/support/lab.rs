//! A labgrid lab on loopback: a real `labgrid-coordinator`, a real `labgrid-exporter`
//! exporting simulated boards, and places tagged `board=otarig-sim`. The boards live on
//! the "exporter side", independent of any otarig run: each is a folder under the lab
//! (`board-N/`) where `otarig sim power on` runs the simulator with its UART on a pty
//! (`board-N/uart`); the exporter serves that pty through ser2net (a `RawSerialPort`, as
//! for a USB serial adapter) and switches power through a `NetworkPowerPort` of model
//! `simplerest`: a small HTTP power switch here, [`Pdu`], that runs `otarig sim power`.
//!
//! Start-up waits by polling `labgrid-client` until the coordinator answers and the
//! exporter's resources are listed, never by fixed sleeps.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use otarig::sim::nvs::{Endpoint, Nvs};

use super::process::{s, BIN};

/// How long the coordinator and exporter may take to come up.
const START_WITHIN: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);

/// The tools the lab needs: `None` when all are installed, else which are missing.
pub fn missing_tools() -> Option<String> {
    let mut missing = Vec::new();
    for tool in ["labgrid-coordinator", "labgrid-exporter", "labgrid-client"] {
        if which::which(tool).is_err() {
            missing.push(tool);
        }
    }
    if which::which("ser2net").is_err() && !Path::new("/usr/sbin/ser2net").exists() {
        missing.push("ser2net");
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// Whether a labgrid test can run here: skips with a message, or fails where CI requires
/// it (`OTARIG_REQUIRE_LABGRID=1`, set by .ci/run, which installs the tools).
pub fn available(test: &str) -> bool {
    let Some(missing) = missing_tools() else {
        return true;
    };
    if std::env::var("OTARIG_REQUIRE_LABGRID").as_deref() == Ok("1") {
        panic!("{missing} not installed but OTARIG_REQUIRE_LABGRID=1: `pip install labgrid` and `apt-get install ser2net`");
    }
    eprintln!("skipping {test}: {missing} not installed (`pip install labgrid`, `apt-get install ser2net`)");
    false
}

/// A process group started by the lab (a Python entry point may be a wrapper script
/// whose child does the work: the group takes both).
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(-(self.0.id() as i32));
        let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        while self.0.try_wait().ok().flatten().is_none() && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub coordinator: String,
    pub places: Vec<String>,
    /// Exporter first: it must go before the coordinator.
    groups: Vec<Group>,
    pdu: Pdu,
}

impl Lab {
    /// A coordinator, an exporter with `boards` simulated boards, and one place each
    /// (`board-1` …), tagged `board=otarig-sim`.
    pub fn start(boards: usize) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let port = free_port();
        let coordinator = format!("127.0.0.1:{port}");
        let groups = vec![spawn_group(
            Command::new("labgrid-coordinator")
                .args(["-l", &coordinator])
                .current_dir(&root),
            &root.join("coordinator.log"),
        )];
        let mut lab = Lab {
            dir,
            coordinator,
            places: (1..=boards).map(|i| format!("board-{i}")).collect(),
            groups,
            pdu: Pdu::start(&root),
        };
        lab.poll_until("the coordinator to answer", &["places"], |_| true);
        lab.factory_boards();
        std::fs::write(root.join("exporter.yaml"), lab.exporter_config()).unwrap();
        let exporter = spawn_group(
            Command::new("labgrid-exporter")
                .args([
                    "-c",
                    &lab.coordinator,
                    "-n",
                    "lab-exporter",
                    "--hostname",
                    "127.0.0.1",
                ])
                .arg(root.join("exporter.yaml"))
                .current_dir(&root),
            &root.join("exporter.log"),
        );
        lab.groups.insert(0, exporter);
        let wanted: Vec<String> = lab
            .places
            .iter()
            .flat_map(|p| {
                [
                    format!("lab-exporter/{p}/NetworkSerialPort"),
                    format!("lab-exporter/{p}/NetworkPowerPort"),
                ]
            })
            .collect();
        lab.poll_until("the exporter's resources", &["resources"], |out| {
            wanted.iter().all(|w| out.contains(w.as_str()))
        });
        for place in lab.places.clone() {
            for args in [
                vec!["create"],
                vec!["add-match", &format!("lab-exporter/{place}/*")],
                vec!["set-tags", "board=otarig-sim"],
            ] {
                let out = lab.client(Some(&place), &args);
                assert!(out.status.success(), "{}", text(&out));
            }
        }
        lab
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `labgrid-client -x COORDINATOR [-p PLACE] ARGS`.
    pub fn client(&self, place: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new("labgrid-client");
        cmd.args(["-x", &self.coordinator]);
        if let Some(p) = place {
            cmd.args(["-p", p]);
        }
        cmd.args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Places held, as `who` lists them: (host/user, place).
    pub fn held(&self) -> Vec<(String, String)> {
        let out = self.client(None, &["who"]);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                (cells.len() >= 3)
                    .then(|| (format!("{}/{}", cells[1], cells[0]), cells[2].to_string()))
            })
            .collect()
    }

    /// `labgrid-client reservations`, as printed.
    pub fn reservations(&self) -> String {
        String::from_utf8_lossy(&self.client(None, &["reservations"]).stdout).into_owned()
    }

    fn poll_until(&self, what: &str, args: &[&str], done: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let out = self.client(None, args);
            if out.status.success() && done(&String::from_utf8_lossy(&out.stdout)) {
                return;
            }
            assert!(
                start.elapsed() < START_WITHIN,
                "waited {START_WITHIN:?} for {what}: {}\ncoordinator log:\n{}\nexporter log:\n{}",
                text(&out),
                std::fs::read_to_string(self.root().join("coordinator.log")).unwrap_or_default(),
                std::fs::read_to_string(self.root().join("exporter.log")).unwrap_or_default()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Each board as it leaves the factory: an identity of its own (thing `Factory`, an
    /// endpoint nobody serves) and erased flash. A run's flash brings its own identity.
    fn factory_boards(&self) {
        let pki = self.root().join("factory-pki");
        let out = Command::new(BIN)
            .args(["pki", "init", "--dir", s(&pki), "--things", "Factory"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        for place in &self.places {
            Nvs {
                thing_name: "Factory".into(),
                endpoint: Endpoint {
                    host: "127.0.0.1".into(),
                    port: 1,
                    tls: true,
                },
                ca_cert: pki.join("ca.pem"),
                client_cert: pki.join("things/Factory.pem"),
                client_key: pki.join("things/Factory.key"),
                codesign_cert_dir: pki.clone(),
                bootloader_key: pki.join("codesign.pem"),
                fault_line: None,
            }
            .store(&self.board_dir(place))
            .unwrap();
        }
    }

    /// The exporter-side folder of a place's board.
    pub fn board_dir(&self, place: &str) -> PathBuf {
        self.root().join(place)
    }

    fn exporter_config(&self) -> String {
        let mut yaml = String::new();
        for (i, place) in self.places.iter().enumerate() {
            // labgrid exports only serial ports under /dev/; the boards' ptys live in the
            // lab folder, reached from there.
            yaml.push_str(&format!(
                "{place}:\n  RawSerialPort:\n    port: /dev/..{}\n    speed: 115200\n  NetworkPowerPort:\n    model: simplerest\n    host: 'http://127.0.0.1:{}/power/{{index}}/{{value}}'\n    index: {}\n",
                s(&self.board_dir(place).join("uart")),
                self.pdu.port,
                i + 1
            ));
        }
        yaml
    }

    /// A rig taking `count` boards from this lab (thing names Thing1…), flashing and
    /// resetting them "on the exporter host" (here: this host, in the board's lab folder).
    pub fn rig(&self, count: usize) -> String {
        let things: Vec<String> = (1..=count).map(|i| format!("Thing{i}")).collect();
        let board = s(self.root());
        format!(
            r#"name: lab
cloud:
  endpoint: {{ bind: 127.0.0.1:0, tls: true, policy: permissive }}
defaults:
  profile:
    banner: 'otarig-sim app version'
    version: 'app version (?P<version>\d+\.\d+\.\d+)'
    connected: 'MQTT connection established'
  timeouts: {{ boot: 30s, recovery: 40s, flash: 40s }}
  flash_retries: 1
  baseline: app-v4
labgrid:
  coordinator: {coordinator}
  wait: 10m
  boards:
    - name: lab
      match: board=otarig-sim
      count: {count}
      thing_names: [{things}]
      platform: sim
      reset: '{{otarig}} sim reset --dir {board}/{{place}}'
      flash:
        command:
          program: sh
          args: ['-c', 'cp {{board_dir}}/nvs.json {board}/{{place}}/nvs.json && exec {{otarig}} sim flash --dir {board}/{{place}} --tty {board}/{{place}}/uart {{image}}']
          timeout: 40s
"#,
            coordinator = self.coordinator,
            things = things.join(", "),
        )
    }

    /// What the power switch did, one line per request (`board-1 on`).
    pub fn power_log(&self) -> String {
        std::fs::read_to_string(self.root().join("pdu.log")).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Boards a killed run left on, then the exporter (and its ser2net), the coordinator.
        for place in &self.places {
            let _ = Command::new(BIN)
                .args(["sim", "power", "off", "--dir", s(&self.board_dir(place))])
                .output();
        }
        self.pdu.stop();
        self.groups.clear();
    }
}

fn spawn_group(cmd: &mut Command, log: &Path) -> Group {
    let log = std::fs::File::create(log).unwrap();
    Group(
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap(),
    )
}

/// A port nothing listens on now, for the coordinator (it binds it itself).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn text(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A networked power switch as labgrid's `simplerest` model drives it: `GET
/// /power/INDEX/1` on, `/0` off, `/power/INDEX` the state (`1`/`0`). Index N is
/// `board-N`; switching runs `otarig sim power` in its folder.
struct Pdu {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Pdu {
    fn start(root: &Path) -> Pdu {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (root, flag) = (root.to_path_buf(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(conn) = conn {
                    let root = root.clone();
                    std::thread::spawn(move || serve(conn, &root));
                }
            }
        });
        Pdu { port, stop }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut conn: TcpStream, root: &Path) {
    let mut reader = BufReader::new(&conn);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // The headers, read to their end: closing on unread bytes would reset the connection.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 0) && header.trim() != "" {
        header.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (status, body) = match parts[..] {
        ["power", index] => {
            let on = root.join(format!("board-{index}")).join("sim.pid").exists();
            ("200 OK", if on { "1" } else { "0" }.to_string())
        }
        ["power", index, value @ ("0" | "1")] => {
            let dir = root.join(format!("board-{index}"));
            let mut cmd = Command::new(BIN);
            cmd.args(["sim", "power"]);
            if value == "1" {
                cmd.args(["on", "--dir", s(&dir), "--tty", s(&dir.join("uart"))]);
            } else {
                cmd.args(["off", "--dir", s(&dir)]);
            }
            let out = cmd.stdin(Stdio::null()).output().unwrap();
            let state = if value == "1" { "on" } else { "off" };
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(root.join("pdu.log"))
                .unwrap();
            let _ = writeln!(log, "board-{index} {state}");
            if out.status.success() {
                ("200 OK", String::new())
            } else {
                ("500 Internal Server Error", text(&out))
            }
        }
        _ => ("404 Not Found", format!("no such switch: {path}")),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
