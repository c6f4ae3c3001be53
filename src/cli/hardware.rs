//! `otarig probes` (what is attached, as rig-file snippets) and `otarig doctor` (is this
//! bench ready for a nightly run: ports, probes, tools, PKI, endpoint).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::exit;
use crate::board::command::{split_command, FlashPreset};
use crate::board::discovery::{
    self, find_program, list_probes, list_serial_ports, probe_attached, tcp_reachable,
    tool_answers, ProbeEntry,
};
use crate::board::serial::{parse_framing, PortSpec, SerialConsole, SerialConsoleOptions};
use crate::cloud::pki;
use crate::config::flash_checks::{describe, FlasherFields};
use crate::config::rig::{
    self, BoardParts, ConsoleConfig, FlashConfig, NativeKind, PowerConfig, Rig,
};
use crate::config::Diagnostics;
use crate::scenario::bench::BenchVars;

/// How long a tool may take to print its version.
const TOOL_ANSWER: Duration = Duration::from_secs(20);
const CONNECT: Duration = Duration::from_secs(5);

#[derive(Args)]
pub struct ProbesArgs {
    /// Print JSON instead of YAML snippets
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DoctorArgs {
    /// The rig file describing the bench [default: the built-in rig, as `otarig run`]
    #[arg(long, value_name = "FILE")]
    rig: Option<PathBuf>,
    /// As for `otarig run`: where the state (and a PKI the rig does not name) lives
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

pub fn probes(args: ProbesArgs) -> u8 {
    let ports = match list_serial_ports() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BENCH;
        }
    };
    let probes = list_probes();
    if args.json {
        let value = serde_json::json!({ "probes": probes, "serial_ports": ports });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        print!("{}", discovery::rig_snippets(&probes, &ports));
    }
    exit::PASSED
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ok,
    Fail,
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        })
    }
}

/// One line of the doctor's table.
struct Row {
    subject: String,
    check: String,
    status: Status,
    detail: String,
}

impl Row {
    fn from(subject: &str, check: impl Into<String>, result: Result<String, String>) -> Row {
        let (status, detail) = match result {
            Ok(d) => (Status::Ok, d),
            Err(d) => (Status::Fail, d),
        };
        Row {
            subject: subject.into(),
            check: check.into(),
            status,
            detail,
        }
    }
}

fn table(rows: &[Row]) -> String {
    let w =
        |f: fn(&Row) -> usize, head: &str| rows.iter().map(f).max().unwrap_or(0).max(head.len());
    let (ws, wc) = (
        w(|r| r.subject.len(), "WHAT"),
        w(|r| r.check.len(), "CHECK"),
    );
    let mut out = format!("{:ws$}  {:wc$}  {:6}  DETAIL\n", "WHAT", "CHECK", "RESULT");
    for r in rows {
        out.push_str(&format!(
            "{:ws$}  {:wc$}  {:6}  {}\n",
            r.subject,
            r.check,
            r.status.to_string(),
            r.detail
        ));
    }
    out
}

pub fn doctor(args: DoctorArgs) -> u8 {
    let chip_check = |chip: &str| {
        crate::board::probe::check_chip(chip)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let mut rig = match super::project::RigChoice::load(args.rig.as_deref(), &[], Some(&chip_check))
    {
        Ok(choice) => choice.rig,
        Err(d) => return config_error(&d),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::BENCH;
        }
    };
    let state_dir = rig.use_state_dir(args.state_dir.as_deref());
    let rows = runtime.block_on(check_rig(&rig, &state_dir));
    print!("{}", table(&rows));
    let failed = rows.iter().filter(|r| r.status == Status::Fail).count();
    if failed > 0 {
        eprintln!(
            "error: {failed} bench problem(s) in {}; fix them before running scenarios",
            rig.file.display()
        );
        exit::BENCH
    } else {
        println!("bench {} is ready", rig.name);
        exit::PASSED
    }
}

fn config_error(diags: &Diagnostics) -> u8 {
    eprint!("{diags}");
    eprintln!("error: the rig file has errors (`otarig validate --rig FILE` shows the same)");
    exit::USAGE
}

async fn check_rig(rig: &Rig, state_dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    // Listing probes touches every USB driver; only do it when a board uses probe-rs.
    let uses_probes = rig.boards.iter().any(|b| {
        matches!(
            &b.parts,
            BoardParts::Hardware {
                flash: FlashConfig::ProbeRs(_),
                ..
            }
        )
    });
    let probes = if uses_probes {
        list_probes()
    } else {
        Vec::new()
    };
    // The placeholders of the bench, as a run with the default state directory sets them.
    let otarig = std::env::current_exe().unwrap_or_else(|_| "otarig".into());
    for board in &rig.boards {
        let vars = BenchVars::new(&state_dir.join("boards").join(&board.name), &otarig);
        if rig.labgrid_request(&board.name).is_some() {
            // Its console and power come from a place: checked with the places below.
            if let BoardParts::Hardware { flash, .. } = &board.parts {
                check_flash(&board.name, flash, &probes, &vars, &mut rows).await;
            }
            continue;
        }
        match &board.parts {
            BoardParts::Native(NativeKind::Sim) => rows.push(Row {
                subject: board.name.clone(),
                check: "native board".into(),
                status: Status::Skip,
                detail: "the simulator: no hardware to check".into(),
            }),
            BoardParts::Native(NativeKind::Program { path, .. }) => {
                check_program(rig, board, path, &vars, &mut rows)
            }
            BoardParts::Hardware {
                flash,
                console,
                power,
            } => {
                check_flash(&board.name, flash, &probes, &vars, &mut rows).await;
                let switchable = matches!(power, Some(PowerConfig::Command(_)));
                check_console(&board.name, console, switchable, &vars, &mut rows).await;
                if let Some(power) = power {
                    check_power(&board.name, power, &vars, &mut rows).await;
                }
            }
        }
    }
    if let Some(labgrid) = &rig.labgrid {
        let (rig, labgrid) = (rig.clone(), labgrid.clone());
        match tokio::task::spawn_blocking(move || check_labgrid(&rig, &labgrid)).await {
            Ok(more) => rows.extend(more),
            Err(e) => rows.push(Row::from("labgrid", "coordinator", Err(e.to_string()))),
        }
    }
    check_pki(rig, &mut rows);
    check_endpoint(rig, &mut rows).await;
    rows
}

/// The coordinator answers; each request has enough places, and each place would make a
/// board (a console, power where wanted, a thing name): docs/labgrid.md.
fn check_labgrid(rig: &Rig, labgrid: &crate::config::labgrid::Labgrid) -> Vec<Row> {
    use crate::labgrid::status;
    let mut rows = Vec::new();
    let client = find_program(&labgrid.client)
        .map(|p| p.display().to_string())
        .ok_or_else(|| {
            format!(
                "`{}` not found: `pip install labgrid` (25.0 or newer), or set `labgrid.client`",
                labgrid.client
            )
        });
    let found = client.is_ok();
    rows.push(Row::from("labgrid", labgrid.client.clone(), client));
    if !found {
        return rows;
    }
    let coordinator = format!("coordinator {}", labgrid.coordinator_text());
    let places = match status::places(labgrid) {
        Ok(places) => {
            rows.push(Row::from(
                "labgrid",
                coordinator,
                Ok(format!("{} place(s)", places.len())),
            ));
            places
        }
        Err(e) => {
            rows.push(Row::from("labgrid", coordinator, Err(e.to_string())));
            return rows;
        }
    };
    for request in &labgrid.requests {
        let matching = status::matching(&places, request);
        let listed: Vec<String> = matching
            .iter()
            .map(|p| format!("{} ({})", p.name, status::holder(p)))
            .collect();
        let count = request.boards.len();
        let detail = format!(
            "{} for {count} board(s): {}",
            matching.len(),
            listed.join(", ")
        );
        rows.push(Row::from(
            &request.name,
            format!("places matching {}", request.tags_text()),
            if matching.len() >= count {
                Ok(detail)
            } else {
                Err(format!("only {detail}: tag more places (`labgrid-client -p PLACE set-tags …`) or lower `count`"))
            },
        ));
        for place in matching {
            rows.push(Row::from(
                &request.name,
                format!("place {}", place.name),
                status::check_place(labgrid, rig, request, &place.name),
            ));
        }
    }
    rows
}

/// A native firmware program: the program the rig names (unless it is the one flashed at
/// each scenario) and the baseline's build for the board's platform. Its credentials are
/// the PKI's, checked with it.
fn check_program(
    rig: &Rig,
    board: &rig::Board,
    path: &Path,
    vars: &BenchVars,
    rows: &mut Vec<Row>,
) {
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map_err(|e| format!("{}: {e}", p.display()))
            .and_then(|m| {
                use std::os::unix::fs::PermissionsExt;
                if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                    Ok(format!("{} is executable", p.display()))
                } else {
                    Err(format!("{} is not an executable file", p.display()))
                }
            })
    };
    let raw = path.display().to_string();
    if raw.contains("{board_dir}") {
        rows.push(Row {
            subject: board.name.clone(),
            check: "program".into(),
            status: Status::Skip,
            detail: format!("{raw}: in the board folder, written by each scenario's flash"),
        });
    } else {
        let program = std::path::PathBuf::from(vars.expand(&raw));
        rows.push(Row::from(&board.name, "program", executable(&program)));
    }
    let Some(baseline) = &rig.baseline else {
        return;
    };
    let check = format!("baseline {baseline} ({})", board.platform);
    let build = crate::config::fixture::load_named(&rig.root.join("firmware-fixtures"), baseline)
        .map_err(|d| d.to_string())
        .and_then(|f| {
            f.files.get(&board.platform).cloned().ok_or_else(|| {
                format!(
                    "firmware-fixtures/{baseline}.yaml has no `{}` file under `files:`",
                    board.platform
                )
            })
        })
        .and_then(|files| executable(&files.flash));
    rows.push(Row::from(&board.name, check, build));
}

async fn check_flash(
    board: &str,
    flash: &FlashConfig,
    probes: &[ProbeEntry],
    vars: &BenchVars,
    rows: &mut Vec<Row>,
) {
    match flash {
        FlashConfig::Command(c) => {
            let preset = c.preset;
            // The rig loaded, so the preset's checks passed; say what it serves here.
            if let Some(spec) = preset.map(FlashPreset::spec) {
                let fields = FlasherFields {
                    part: c.part.as_deref(),
                    tool: c.tool.as_deref(),
                    serial: c.serial.as_deref(),
                    device: c.device.as_deref(),
                    own_args: c.args.is_some(),
                };
                rows.push(Row::from(
                    board,
                    "flash preset",
                    Ok(describe(spec, &fields)),
                ));
            }
            let version_args = preset.map(FlashPreset::version_args).unwrap_or(&[]);
            let program = c
                .program
                .clone()
                .or_else(|| preset.map(|p| p.default_program().to_string()))
                .map(|p| vars.expand(&p))
                .unwrap_or_default();
            check_tool(board, "flash tool", &program, version_args, rows).await;
        }
        FlashConfig::ProbeRs(p) => {
            let want = p.probe.clone();
            rows.push(Row::from(
                board,
                "debug probe",
                probe_attached(want.as_ref(), probes),
            ));
            rows.push(Row::from(
                board,
                "probe-rs chip",
                crate::board::probe::check_chip(&p.chip).map_err(|e| e.to_string()),
            ));
        }
    }
}

/// The program exists; with `version_args`, it also starts and answers.
async fn check_tool(
    board: &str,
    what: &str,
    program: &str,
    version_args: &[&str],
    rows: &mut Vec<Row>,
) {
    let Some(path) = find_program(program) else {
        rows.push(Row::from(
            board,
            what,
            Err(format!(
                "`{program}` not found (install it, or give its full path in the rig file)"
            )),
        ));
        return;
    };
    let path = path.display().to_string();
    let result = if version_args.is_empty() {
        Ok(format!(
            "{path} (found; not run: it would act on the bench)"
        ))
    } else {
        tool_answers(&path, version_args, TOOL_ANSWER)
            .await
            .map(|line| format!("{path}: {line}"))
    };
    rows.push(Row::from(board, what, result));
}

/// `switchable`: the rig powers the board on before a scenario, so a port that exists only
/// while the board is on may be absent now.
async fn check_console(
    board: &str,
    console: &ConsoleConfig,
    switchable: bool,
    vars: &BenchVars,
    rows: &mut Vec<Row>,
) {
    let ConsoleConfig::Serial(s) = console;
    let parity = match s.parity {
        rig::Parity::None => "none",
        rig::Parity::Odd => "odd",
        rig::Parity::Even => "even",
    };
    let framing = match parse_framing(s.data_bits, parity, s.stop_bits) {
        Ok(f) => f,
        Err(e) => {
            rows.push(Row::from(board, "console", Err(e)));
            return;
        }
    };
    let port = match &s.port {
        rig::SerialPortRef::Path(p) => PortSpec::Path(vars.expand(&p.display().to_string()).into()),
        rig::SerialPortRef::Usb(id) => PortSpec::Usb(id.clone()),
    };
    let network = crate::model::NetworkSerialPort::looks_like_url(&port.to_string());
    if let PortSpec::Path(path) = &port {
        // A network port is checked by connecting (below), not by its path.
        if switchable && !network && !path.exists() {
            rows.push(Row {
                subject: board.into(),
                check: format!("console {port}"),
                status: Status::Skip,
                detail: "absent: the board may be switched off (the rig switches it on before a scenario)".into(),
            });
            return;
        }
    }
    let mut options = SerialConsoleOptions::new(board, port.clone(), s.baud);
    (options.data_bits, options.parity, options.stop_bits) = framing;
    let console = SerialConsole::new(options);
    let result = tokio::task::spawn_blocking(move || console.check_open())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map(|path| format!("{path} opens at {} baud", s.baud));
    rows.push(Row::from(board, format!("console {port}"), result));
}

async fn check_power(board: &str, power: &PowerConfig, vars: &BenchVars, rows: &mut Vec<Row>) {
    match power {
        PowerConfig::Probe => rows.push(Row {
            subject: board.into(),
            check: "power".into(),
            status: Status::Skip,
            detail: "probe reset only; cannot power-cycle".into(),
        }),
        PowerConfig::Command(c) => {
            let lines = [
                ("power on", Some(&c.on)),
                ("power off", Some(&c.off)),
                ("power reset", c.reset.as_ref()),
            ];
            for (what, line) in lines.into_iter().filter_map(|(w, l)| Some((w, l?))) {
                match split_command(line) {
                    Ok(argv) => {
                        // Only uhubctl has a harmless version switch; others are not run.
                        let version: &[&str] = if argv[0].ends_with("uhubctl") {
                            &["-v"]
                        } else {
                            &[]
                        };
                        check_tool(board, what, &vars.expand(&argv[0]), version, rows).await;
                    }
                    Err(e) => rows.push(Row::from(board, what, Err(format!("`{line}`: {e}")))),
                }
            }
        }
    }
}

fn check_pki(rig: &Rig, rows: &mut Vec<Row>) {
    let mut missing = pki::missing_files(rig);
    let check = format!("{} files", pki::needed_files(rig).len());
    if missing.is_empty() {
        rows.push(Row::from(
            "pki",
            check,
            Ok(format!("in {}", rig.cloud.pki.display())),
        ));
    } else if rig.cloud.create_pki {
        // Boards told their credentials at start: a run creates what is missing.
        rows.push(Row {
            subject: "pki".into(),
            check,
            status: Status::Skip,
            detail: format!(
                "{} missing; a run creates them (the rig allows `create_pki`)",
                missing.len()
            ),
        });
    } else {
        const SHOWN: usize = 4;
        let more = missing.len().saturating_sub(SHOWN);
        missing.truncate(SHOWN);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        rows.push(Row::from(
            "pki",
            check,
            Err(format!(
                "missing: {}{more} (run `{}`, then build the certificates into the firmware: docs/pic32mz-bench.md)",
                missing.join(", "),
                pki::init_command(rig)
            )),
        ));
    }
}

async fn check_endpoint(rig: &Rig, rows: &mut Vec<Row>) {
    if let Some(client) = &rig.cloud.client {
        let result = tcp_reachable(&client.broker, CONNECT)
            .await
            .map(|()| "broker answers".to_owned());
        rows.push(Row::from(
            "cloud",
            format!("broker {}", client.broker),
            result,
        ));
        return;
    }
    let endpoint = &rig.cloud.endpoint;
    let bind = match tokio::net::TcpListener::bind(endpoint.bind).await {
        Ok(_) => Ok("free to bind".to_owned()),
        Err(e) => Err(format!(
            "cannot bind: {e} (another `otarig cloud` or broker running?)"
        )),
    };
    rows.push(Row::from(
        "cloud",
        format!("endpoint {}", endpoint.bind),
        bind,
    ));
    // Boards connect to `host`: it must name an address of this machine.
    let host = format!("{}:0", endpoint.host);
    let local = match tokio::net::lookup_host(&host).await {
        Ok(mut addrs) => match addrs.next() {
            Some(addr) => match std::net::TcpListener::bind(addr) {
                Ok(_) => Ok(format!("{} is an address of this host", addr.ip())),
                Err(e) => Err(format!(
                    "{} is not an address of this host ({e}): boards could not reach the endpoint",
                    addr.ip()
                )),
            },
            None => Err(format!("`{}` resolves to no address", endpoint.host)),
        },
        Err(e) => Err(format!("`{}` does not resolve: {e}", endpoint.host)),
    };
    rows.push(Row::from("cloud", format!("host {}", endpoint.host), local));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_columns_and_marks_failures_loudly() {
        let rows = [
            Row::from("pic32-a", "flash tool", Ok("/opt/ipecmd.sh: v6.20".into())),
            Row::from("pic32-b-long-name", "console /dev/x", Err("missing".into())),
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = lines[0].find("RESULT").unwrap();
        assert_eq!(&lines[1][col..col + 2], "ok");
        assert_eq!(&lines[2][col..col + 4], "FAIL");
    }
}
