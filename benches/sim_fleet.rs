//! How many simulated boards one machine runs at once, each doing a 256 KiB update through
//! the gateway over TLS, and what each `otarig sim` process costs in memory
//! (`cargo bench --bench sim_fleet`; `OTARIG_FLEET=N` boards, default 100).
//! Prints wall time, CPU seconds, and peak memory of the runner and of the boards.
//! Targets: 1,000 boards in under 3 minutes with the runner under 300 MB; 100 boards
//! within 3× the wall time of 20. Reports; asserts nothing.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Resident memory of one process (KiB): all of it, and the part that is its own
/// (anonymous: heap, stacks, dirtied data) rather than shared pages of the executable.
#[derive(Clone, Copy, Default)]
struct Rss {
    total: u64,
    anon: u64,
}

/// Every running `otarig sim` of this bench's executable (not other builds), by pid.
fn sim_rss() -> HashMap<u32, Rss> {
    let ours = std::fs::canonicalize(env!("CARGO_BIN_EXE_otarig")).ok();
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.get(1) != Some(&&b"sim"[..])
            || std::fs::read_link(entry.path().join("exe")).ok() != ours
        {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        };
        if let (Some(total), Some(anon)) = (field("VmRSS:"), field("RssAnon:")) {
            out.insert(pid, Rss { total, anon });
        }
    }
    out
}

/// The runner's peak resident memory (KiB, `VmHWM`) and CPU seconds so far.
fn runner_usage(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    Some((hwm, ticks / hz))
}

/// CPU seconds of every waited-for descendant: the runner and the boards it reaped.
fn children_cpu_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    secs(usage.user_time()) + secs(usage.system_time())
}

fn main() {
    let n: usize = std::env::var("OTARIG_FLEET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let tmp = tempfile::tempdir().expect("temp dir");
    // OTARIG_FLEET_DIR keeps the rig, reports and boards for a look afterwards.
    let kept = std::env::var_os("OTARIG_FLEET_DIR").map(std::path::PathBuf::from);
    let root = kept.as_deref().unwrap_or(tmp.path());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut rig = String::from(
        "name: fleet\ncloud: { endpoint: { policy: permissive }, pki: .otarig/pki }\n\
         defaults:\n  profile: { banner: 'otarig-sim app version', version: 'app version (?P<version>\\d+\\.\\d+\\.\\d+)', connected: 'MQTT connection established' }\n\
         \x20 timeouts: { boot: 120s, recovery: 120s, flash: 120s }\n  baseline: app-v4\nboards:\n",
    );
    let mut scenario = String::from(
        "name: fleet-256k\nsummary: every board updates to a 256 KiB 0.9.5 at once\nboards:\n",
    );
    for i in 1..=n {
        let _ = writeln!(
            rig,
            "  - {{ name: sim-{i}, thing_name: Thing{i}, native: {{ sim: {{}} }} }}"
        );
        let _ = writeln!(scenario, "  b{i}: {{}}");
    }
    scenario.push_str(
        "steps:\n  - job: { id: fleet, image: app-v5-256k, targets: all }\n\
         \x20 - expect: { boards: all, job: SUCCEEDED, within: 20m }\n\
         \x20 - expect: { boards: all, version: 0.9.5, within: 2m }\n",
    );
    write(&root.join("rigs/fleet.yaml"), &rig);
    write(&root.join("scenarios/fleet-256k.yaml"), &scenario);
    let v4 = std::fs::read_to_string(repo.join("firmware-fixtures/app-v4.yaml")).unwrap();
    write(&root.join("firmware-fixtures/app-v4.yaml"), &v4);
    let v5 = std::fs::read_to_string(repo.join("firmware-fixtures/app-v5.yaml")).unwrap();
    write(
        &root.join("firmware-fixtures/app-v5-256k.yaml"),
        &v5.replace("size: 65536", "size: 262144"),
    );

    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_otarig"))
        .current_dir(root)
        .args([
            "run",
            "scenarios/fleet-256k.yaml",
            "--rig",
            "rigs/fleet.yaml",
            "--report-dir",
            "reports",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("otarig runs");
    let (mut peak_procs, mut peak, mut peak_total) = (0usize, Rss::default(), 0u64);
    let (mut runner_peak_kib, mut runner_cpu) = (0u64, 0.0f64);
    // Read as it comes: a full pipe would stop the runner at its next progress line.
    let mut pipe = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut text).ok();
        text
    });
    while child.try_wait().expect("wait").is_none() {
        if let Some((hwm, cpu)) = runner_usage(child.id()) {
            runner_peak_kib = runner_peak_kib.max(hwm);
            runner_cpu = runner_cpu.max(cpu);
        }
        let rss = sim_rss();
        peak_procs = peak_procs.max(rss.len());
        for r in rss.values() {
            peak.total = peak.total.max(r.total);
            peak.anon = peak.anon.max(r.anon);
        }
        peak_total = peak_total.max(rss.values().map(|r| r.total).sum());
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = child.wait().expect("wait");
    let stdout = reader.join().expect("stdout reader");
    let all_cpu = children_cpu_seconds();
    let totals = stdout
        .lines()
        .rev()
        .find(|l| l.contains("Summary"))
        .unwrap_or("(no summary)");
    println!("{n} simulated boards, one 256 KiB update each, over TLS through the gateway:");
    println!("  {}", totals.trim());
    println!(
        "  wall time {:.1} s, exit {:?}",
        start.elapsed().as_secs_f64(),
        status.code()
    );
    println!("  peak concurrent `otarig sim` processes: {peak_procs}");
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "  runner: peak RSS {:.1} MiB, CPU {:.1} s; the runner and every board together: CPU {:.1} s",
        mib(runner_peak_kib),
        runner_cpu,
        all_cpu
    );
    println!(
        "  peak RSS of one `otarig sim`: {:.1} MiB, of which its own (anonymous) {:.1} MiB; \
         all of them together: {:.1} MiB",
        mib(peak.total),
        mib(peak.anon),
        mib(peak_total)
    );
}
