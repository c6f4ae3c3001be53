//! What is attached to the bench host: serial ports with their USB identity and the
//! stable `/dev/serial/by-id` links, debug probes (probe-rs), and `VID:PID[:serial]`
//! selectors that name a USB device independently of its `/dev/ttyUSBn` number.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where Linux keeps one stable link per USB serial interface.
pub const BY_ID_DIR: &str = "/dev/serial/by-id";

pub use crate::model::{UsbId, UsbIdError};

/// One serial port as the bench host sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SerialPortEntry {
    /// The device node, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// The stable `/dev/serial/by-id/...` link to it, if udev made one.
    pub by_id: Option<PathBuf>,
    pub usb: Option<UsbId>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("listing serial ports: {0} (is /sys mounted? serial discovery reads /sys/class/tty)")]
pub struct ListPortsError(#[from] serialport::Error);

/// All serial ports, with USB identity and by-id links where known, sorted by path.
pub fn list_serial_ports() -> Result<Vec<SerialPortEntry>, ListPortsError> {
    let links = by_id_links(Path::new(BY_ID_DIR));
    let mut entries: Vec<SerialPortEntry> = serialport::available_ports()?
        .into_iter()
        .map(|info| {
            let (usb, manufacturer, product) = match info.port_type {
                serialport::SerialPortType::UsbPort(usb) => (
                    Some(UsbId {
                        vid: usb.vid,
                        pid: usb.pid,
                        serial: usb.serial_number,
                    }),
                    usb.manufacturer,
                    usb.product,
                ),
                _ => (None, None, None),
            };
            let by_id = links
                .iter()
                .find(|(_, target)| target == Path::new(&info.port_name))
                .map(|(link, _)| link.clone());
            SerialPortEntry {
                path: info.port_name,
                by_id,
                usb,
                manufacturer,
                product,
            }
        })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// `(link, canonical target)` for every symlink in `dir`; empty when `dir` does not exist.
pub fn by_id_links(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut links: Vec<(PathBuf, PathBuf)> = read
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let link = entry.path();
            fs::canonicalize(&link).ok().map(|target| (link, target))
        })
        .collect();
    links.sort();
    links
}

/// The device path of the serial port with this USB identity. Several matches are an
/// error: the rig must add the serial number to tell identical adapters apart.
pub fn resolve_usb_port(id: &UsbId, ports: &[SerialPortEntry]) -> Result<String, String> {
    let matching: Vec<&SerialPortEntry> = ports
        .iter()
        .filter(|p| {
            p.usb
                .as_ref()
                .is_some_and(|u| id.matches(u.vid, u.pid, u.serial.as_deref()))
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.path.clone()),
        [] => Err(format!(
            "no serial port with USB identity {id} is attached (attached: {}); check the cable, or run `otarig probes`",
            describe_ports(ports)
        )),
        many => Err(format!(
            "{} serial ports match USB identity {id} ({}); add the serial number (VID:PID:SERIAL) to pick one",
            many.len(),
            many.iter().map(|p| p.path.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn describe_ports(ports: &[SerialPortEntry]) -> String {
    if ports.is_empty() {
        return "none".into();
    }
    ports
        .iter()
        .map(|p| match &p.usb {
            Some(usb) => format!("{} ({usb})", p.path),
            None => p.path.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One attached debug probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeEntry {
    /// The probe's name as its driver reports it (e.g. `STLink V3`).
    pub name: String,
    pub usb: UsbId,
}

/// Debug probes probe-rs can see. No probe attached is an empty list, not an error.
#[cfg(feature = "probe-rs")]
pub fn list_probes() -> Vec<ProbeEntry> {
    probe_rs::probe::list::Lister::new()
        .list_all()
        .into_iter()
        .map(|info| ProbeEntry {
            name: info.identifier,
            usb: UsbId {
                vid: info.vendor_id,
                pid: info.product_id,
                serial: info.serial_number,
            },
        })
        .collect()
}

/// Built without the `probe-rs` feature: no probe driver, nothing to list.
#[cfg(not(feature = "probe-rs"))]
pub fn list_probes() -> Vec<ProbeEntry> {
    Vec::new()
}

/// What `otarig probes` prints: YAML fragments ready to paste under a board of a rig file.
pub fn rig_snippets(probes: &[ProbeEntry], ports: &[SerialPortEntry]) -> String {
    let mut out = String::new();
    out.push_str("# debug probes (flash: { probe-rs: ... }; set `chip:` to your part)\n");
    if probes.is_empty() {
        out.push_str("#   none found\n");
    }
    for probe in probes {
        out.push_str(&format!(
            "# {}\nflash: {{ probe-rs: {{ chip: CHANGE-ME, probe: \"{}\" }} }}\n",
            probe.name, probe.usb
        ));
    }
    out.push_str("\n# serial ports (console: { serial: ... })\n");
    if ports.is_empty() {
        out.push_str("#   none found\n");
    }
    for port in ports {
        let what = [port.manufacturer.as_deref(), port.product.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        match &port.usb {
            Some(usb) => out.push_str(&format!("# {} {usb} {what}\n", port.path)),
            None => out.push_str(&format!("# {} (not USB)\n", port.path)),
        }
        // Prefer the by-id link: it survives re-plugging, unlike ttyUSBn numbering.
        let port_line = match (&port.by_id, &port.usb) {
            (Some(link), _) => format!("port: {}", link.display()),
            (None, Some(usb)) if usb.serial.is_some() => format!("usb: \"{usb}\""),
            _ => format!("port: {}", port.path),
        };
        out.push_str(&format!(
            "console: {{ serial: {{ {port_line}, baud: 115200 }} }}\n"
        ));
    }
    out
}

/// Where `program` would be run from: itself if it names a path, else the first
/// executable of that name on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        // A path is taken as written, not resolved against the current directory.
        let p = PathBuf::from(program);
        return which::which(&p).ok().map(|_| p);
    }
    which::which(program).ok()
}

/// Runs `program args` until its first meaningful output line and returns it: proof
/// that the tool starts and answers. The tool is then killed with its process group
/// (some, like J-Link Commander, would go on to wait for input); its exit status is not
/// judged, since some tools exit non-zero after printing their usage.
pub async fn tool_answers(
    program: &str,
    args: &[&str],
    timeout: std::time::Duration,
) -> Result<String, String> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    fn forward(
        pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
        tx: tokio::sync::mpsc::UnboundedSender<String>,
    ) {
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    if let Some(out) = child.stdout.take() {
        forward(out, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        forward(err, tx);
    }
    let meaningful =
        |l: &str| !l.is_empty() && !l.chars().all(|c| c == '*' || c == '-' || c == '=');
    let answer = tokio::time::timeout(timeout, async {
        while let Some(line) = rx.recv().await {
            let line = line.trim().to_owned();
            if meaningful(&line) {
                return Some(line);
            }
        }
        None
    })
    .await;
    if let Some(pid) = child.id() {
        // The process group we created for the tool.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill().await;
    match answer {
        Ok(Some(line)) => Ok(line),
        Ok(None) => Err(format!("`{program} {}` printed nothing", args.join(" "))),
        Err(_) => Err(format!(
            "`{program} {}` did not answer within {}",
            args.join(" "),
            humantime::format_duration(timeout)
        )),
    }
}

/// Whether the probe a rig names (or, with `None`, exactly one probe) is attached.
pub fn probe_attached(want: Option<&UsbId>, probes: &[ProbeEntry]) -> Result<String, String> {
    let matching: Vec<&ProbeEntry> = probes
        .iter()
        .filter(|p| want.is_none_or(|w| w.matches(p.usb.vid, p.usb.pid, p.usb.serial.as_deref())))
        .collect();
    let attached = || {
        if probes.is_empty() {
            "none".to_owned()
        } else {
            probes
                .iter()
                .map(|p| format!("{} ({})", p.usb, p.name))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    match (matching.as_slice(), want) {
        ([one], _) => Ok(format!("{} ({})", one.usb, one.name)),
        ([], Some(w)) => Err(format!(
            "probe {w} is not attached (attached: {})",
            attached()
        )),
        ([], None) => Err("no debug probe is attached".into()),
        (_, Some(w)) => Err(format!(
            "several probes match {w} ({}); add the serial number",
            attached()
        )),
        (_, None) => Err(format!(
            "several probes are attached ({}); set `probe:` to pick one",
            attached()
        )),
    }
}

/// Opens a TCP connection to `addr` (`host:port`) within `timeout`.
pub async fn tcp_reachable(addr: &str, timeout: std::time::Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot connect to {addr}: {e}")),
        Err(_) => Err(format!(
            "no answer from {addr} within {}",
            humantime::format_duration(timeout)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(path: &str, usb: &str) -> SerialPortEntry {
        SerialPortEntry {
            path: path.into(),
            by_id: None,
            usb: Some(usb.parse().unwrap()),
            manufacturer: None,
            product: None,
        }
    }

    #[test]
    fn a_usb_identity_resolves_to_exactly_one_port_or_says_why_not() {
        let ports = [
            port("/dev/ttyUSB0", "0403:6001:A"),
            port("/dev/ttyUSB1", "0403:6001:B"),
        ];
        assert_eq!(
            resolve_usb_port(&"0403:6001:B".parse().unwrap(), &ports).unwrap(),
            "/dev/ttyUSB1"
        );
        let many = resolve_usb_port(&"0403:6001".parse().unwrap(), &ports).unwrap_err();
        assert!(
            many.contains("2 serial ports match") && many.contains("add the serial number"),
            "{many}"
        );
        let none = resolve_usb_port(&"0403:6015".parse().unwrap(), &ports).unwrap_err();
        assert!(none.contains("/dev/ttyUSB0 (0403:6001:A)"), "{none}");
    }

    #[test]
    fn snippets_prefer_by_id_links_and_say_when_nothing_is_attached() {
        let empty = rig_snippets(&[], &[]);
        assert_eq!(empty.matches("none found").count(), 2, "{empty}");
        let mut p = port("/dev/ttyUSB0", "0403:6001:A12345");
        let with_serial = rig_snippets(&[], std::slice::from_ref(&p));
        assert!(
            with_serial.contains("usb: \"0403:6001:A12345\""),
            "{with_serial}"
        );
        p.by_id = Some("/dev/serial/by-id/usb-FTDI_A12345-if00-port0".into());
        let linked = rig_snippets(
            &[ProbeEntry {
                name: "STLink V3".into(),
                usb: "0483:374e:0025".parse().unwrap(),
            }],
            &[p],
        );
        assert!(
            linked.contains("port: /dev/serial/by-id/usb-FTDI_A12345-if00-port0"),
            "{linked}"
        );
        assert!(linked.contains("probe: \"0483:374e:0025\""), "{linked}");
    }

    #[test]
    fn by_id_links_of_a_missing_directory_are_empty() {
        assert!(by_id_links(Path::new("/nonexistent/otarig/by-id")).is_empty());
    }

    #[test]
    fn listing_probes_with_none_attached_is_an_empty_list_not_an_error() {
        // This host has no debug probe: the list is empty and nothing panics. On a bench
        // with a probe attached the entries must at least carry its USB identity.
        for probe in list_probes() {
            assert_ne!(probe.usb.vid, 0, "{probe:?}");
        }
    }

    #[test]
    fn programs_are_found_on_path_or_by_path_and_must_be_executable() {
        assert!(find_program("sh").is_some());
        assert_eq!(find_program("/bin/sh"), Some(PathBuf::from("/bin/sh")));
        assert!(find_program("otarig-no-such-tool").is_none());
        let plain = tempfile::NamedTempFile::new().unwrap();
        assert!(
            find_program(plain.path().to_str().unwrap()).is_none(),
            "not executable"
        );
    }

    #[tokio::test]
    async fn a_tool_answers_with_its_first_line_or_is_reported_silent_or_hung() {
        let d = std::time::Duration::from_secs(10);
        assert_eq!(
            tool_answers("sh", &["-c", "echo '****'; echo v1.2; exit 1"], d)
                .await
                .unwrap(),
            "v1.2"
        );
        // A tool that answers and then waits for input is not a hang.
        assert_eq!(
            tool_answers("sh", &["-c", "echo J-Link; sleep 100"], d)
                .await
                .unwrap(),
            "J-Link"
        );
        assert!(tool_answers("sh", &["-c", "true"], d)
            .await
            .unwrap_err()
            .contains("printed nothing"));
        let hung = tool_answers(
            "sh",
            &["-c", "sleep 100"],
            std::time::Duration::from_millis(200),
        )
        .await;
        assert!(hung.unwrap_err().contains("did not answer"));
        assert!(tool_answers("otarig-no-such-tool", &[], d)
            .await
            .unwrap_err()
            .contains("cannot start"));
    }

    #[test]
    fn a_named_probe_must_be_attached_and_an_unnamed_one_unique() {
        let p = |usb: &str| ProbeEntry {
            name: "STLink V3".into(),
            usb: usb.parse().unwrap(),
        };
        let probes = [p("0483:374e:A"), p("0483:374e:B")];
        assert!(probe_attached(Some(&"0483:374e:B".parse().unwrap()), &probes).is_ok());
        assert!(probe_attached(None, &probes)
            .unwrap_err()
            .contains("several probes"));
        assert!(probe_attached(Some(&"1366:0105".parse().unwrap()), &probes)
            .unwrap_err()
            .contains("1366:0105 is not attached"));
        assert_eq!(
            probe_attached(None, &[]).unwrap_err(),
            "no debug probe is attached"
        );
    }

    #[tokio::test]
    async fn tcp_reachability_connects_or_names_the_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tcp_reachable(&addr, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        drop(listener);
        // A port bound but not listening refuses connections, and no parallel test can take
        // it meanwhile (a closed listener's port can be handed straight to another).
        let closed = tokio::net::TcpSocket::new_v4().unwrap();
        closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = closed.local_addr().unwrap().to_string();
        let err = tcp_reachable(&addr, std::time::Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.contains(&addr), "{err}");
    }
}
