//! Boards from a labgrid coordinator (docs/labgrid.md), on a real coordinator and exporter
//! on loopback ([`Lab`]): simulated boards on the exporter side, their UARTs served by
//! ser2net, their power switched through labgrid. Two concurrent `otarig run`s of the core
//! scenarios share the boards one after the other (the coordinator's own event stream
//! shows no overlap), and a run killed with SIGKILL leaves no lock once the documented CI
//! after-step has run. Skipped where labgrid or ser2net is missing, unless
//! OTARIG_REQUIRE_LABGRID=1 (CI).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::lab::{self, Lab};
use crate::support::process::{s, Background, BIN, ROOT};
use crate::support::run::bench_folder;

/// A run of the core scenarios takes well under this on the 2-core CI machine.
const RUN_WITHIN: Duration = Duration::from_secs(600);
const OWNER_HOST: &str = "ci-runner";

/// `otarig run` of `scenarios` on the lab's rig, as CI job `job` (its labgrid owner).
fn start_run(bench: &Path, work: &Path, job: &str, scenarios: &[&str]) -> Background {
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--rig", "rigs/lab.yaml"]);
    for name in scenarios {
        cmd.arg(
            Path::new(ROOT)
                .join("scenarios")
                .join(format!("{name}.yaml")),
        );
    }
    cmd.args([
        "--state-dir",
        s(&work.join("state")),
        "--report-dir",
        s(&work.join("reports")),
    ])
    .current_dir(bench)
    .env("LG_USERNAME", job)
    .env("LG_HOSTNAME", OWNER_HOST)
    .stdin(Stdio::null());
    Background::spawn(&mut cmd)
}

/// Waits (up to [`RUN_WITHIN`]) for a run to end; its exit code.
fn finish(run: &mut Background) -> Option<i32> {
    let start = Instant::now();
    while run.still_running() {
        assert!(
            start.elapsed() < RUN_WITHIN,
            "the run did not end\n{}",
            run.context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    run.exit().code()
}

/// place → (locked at, released at), from what a run printed.
fn lock_times(stderr: &str) -> BTreeMap<String, (String, String)> {
    let mut times: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("otarig: labgrid: board ") {
            if let (Some(place), Some(at)) = (
                rest.split(" is place ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next()),
                rest.rsplit(" at ").next(),
            ) {
                times.entry(place.into()).or_default().0 = at.into();
            }
        }
        if let Some(rest) = line.strip_prefix("otarig: labgrid: released place ") {
            let place = rest.split(' ').next().unwrap();
            times.entry(place.into()).or_default().1 = rest.rsplit(" at ").next().unwrap().into();
        }
    }
    times
}

/// Every scenario's board verdicts, from the run's summary.json.
fn verdicts(work: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(work.join("reports/latest/summary.json")).unwrap();
    let file = otarig::report::summary::from_json(&text).unwrap();
    file.run
        .scenarios
        .iter()
        .flat_map(|s| {
            s.boards
                .iter()
                .map(move |b| format!("{} {} {}", s.name, b.role, b.verdict.as_str()))
        })
        .collect()
}

#[test]
fn two_concurrent_runs_take_the_lab_boards_in_turn_and_pass_the_core_scenarios() {
    if !lab::available("labgrid concurrent runs") {
        return;
    }
    let lab = Lab::start(2);
    // The coordinator's own record of every lock change, from before the first run.
    let mut monitor = Background::spawn(
        Command::new("labgrid-client")
            .args(["-x", &lab.coordinator, "monitor"])
            .stdin(Stdio::null()),
    );
    let bench = bench_folder(true, &[("rigs/lab.yaml", &lab.rig(2))]);
    let (work_a, work_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let core = ["same-version", "greater-version"];

    let mut a = start_run(bench.path(), work_a.path(), "job-a", &core);
    a.wait_for_stderr("board lab-1 is place");
    a.wait_for_stderr("board lab-2 is place");
    let held = lab.held();
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        held.iter().all(|(owner, _)| owner == "ci-runner/job-a"),
        "{held:?}"
    );
    // B starts while A holds both boards: it must wait for them, not fail or share.
    let mut b = start_run(bench.path(), work_b.path(), "job-b", &core);
    b.wait_for_stderr("otarig: labgrid: taking 2 board(s)");
    let code_a = finish(&mut a);
    let code_b = finish(&mut b);
    let (err_a, err_b) = (a.stderr_text(), b.stderr_text());
    assert_eq!(code_a, Some(0), "run A\n{}\n{err_a}", a.seen.join("\n"));
    assert_eq!(code_b, Some(0), "run B\n{}\n{err_b}", b.seen.join("\n"));
    for work in [&work_a, &work_b] {
        let verdicts = verdicts(work.path());
        assert_eq!(verdicts.len(), 2, "{verdicts:?}");
        assert!(
            verdicts.iter().all(|v| v.ends_with(" passed")),
            "{verdicts:?}"
        );
    }

    // The runs' own record: B locked each place only after A released it.
    let (times_a, times_b) = (lock_times(&err_a), lock_times(&err_b));
    assert_eq!(times_a.len(), 2, "{err_a}");
    assert_eq!(times_b.len(), 2, "{err_b}");
    for (place, (locked_b, released_b)) in &times_b {
        let (locked_a, released_a) = &times_a[place];
        assert!(
            locked_a < released_a && released_a < locked_b && locked_b < released_b,
            "{place}: A {locked_a}..{released_a}, B {locked_b}..{released_b}"
        );
    }

    // The coordinator's record: each place went None → job-a → None → job-b → None.
    for place in &lab.places {
        monitor.wait_for(&format!("^Place {place} changed:$"));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let holders = |seen: &[String]| {
        let mut by_place: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut place = None;
        for line in seen {
            if !line.starts_with(' ') {
                // A new record: a place's (ours) or a resource's (not).
                place = line
                    .strip_prefix("Place ")
                    .and_then(|l| l.strip_suffix(" changed:"))
                    .map(str::to_string);
            } else if let (Some(p), Some(change)) = (&place, line.trim().strip_prefix("acquired: "))
            {
                by_place
                    .entry(p.clone())
                    .or_default()
                    .push(change.to_string());
            }
        }
        by_place
    };
    let expected = [
        "None -> ci-runner/job-a",
        "ci-runner/job-a -> None",
        "None -> ci-runner/job-b",
        "ci-runner/job-b -> None",
    ];
    loop {
        let by_place = holders(&monitor.seen);
        if lab
            .places
            .iter()
            .all(|p| by_place.get(p).is_some_and(|c| c.len() >= 4))
        {
            for place in &lab.places {
                assert_eq!(
                    by_place[place],
                    expected,
                    "{place}\n{}",
                    monitor.seen.join("\n")
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "monitor:\n{}",
            monitor.seen.join("\n")
        );
        monitor.wait_for("acquired: ");
    }

    // Nothing is left held or reserved, and the boards were driven through labgrid: power
    // through the place's power switch, the console through the exporter's ser2net.
    assert!(lab.held().is_empty(), "{:?}", lab.held());
    assert!(
        !lab.reservations().contains("token:"),
        "{}",
        lab.reservations()
    );
    let power = lab.power_log();
    for needle in ["board-1 on", "board-1 off", "board-2 on", "board-2 off"] {
        assert!(
            power.contains(needle),
            "`{needle}` not in the power switch's log:\n{power}"
        );
    }
    let events = std::fs::read_to_string(
        work_a
            .path()
            .join("reports/latest/same-version/events.jsonl"),
    )
    .unwrap();
    for needle in ["rfc2217://127.0.0.1:", "power on", "sim flash --dir"] {
        assert!(
            events.contains(needle),
            "`{needle}` not in same-version's events"
        );
    }
}

/// The CI after-step as docs/labgrid.md shows it (between its `ci-cleanup` markers).
fn documented_cleanup() -> String {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/labgrid.md")).unwrap();
    let start = doc
        .find("<!-- ci-cleanup:begin -->")
        .expect("docs/labgrid.md has the CI after-step");
    let end = doc.find("<!-- ci-cleanup:end -->").unwrap();
    let block = &doc[start..end];
    let code = block.split("```sh\n").nth(1).unwrap();
    code.split("```").next().unwrap().to_string()
}

#[test]
fn a_killed_run_leaves_no_lock_after_the_documented_ci_cleanup() {
    if !lab::available("labgrid killed run") {
        return;
    }
    let lab = Lab::start(2);
    let bench = bench_folder(true, &[("rigs/lab.yaml", &lab.rig(1))]);
    let work = tempfile::tempdir().unwrap();
    let mut run = start_run(bench.path(), work.path(), "job-killed", &["same-version"]);
    run.wait_for_stderr("board lab-1 is place");
    run.kill();
    let held = lab.held();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0].0, "ci-runner/job-killed",
        "SIGKILL: nothing could release it"
    );
    // Another job's lock on the other place must survive this job's cleanup.
    let other = lab
        .places
        .iter()
        .find(|p| **p != held[0].1)
        .unwrap()
        .clone();
    let out = Command::new("labgrid-client")
        .args(["-x", &lab.coordinator, "-p", &other, "acquire"])
        .env("LG_USERNAME", "someone-else")
        .env("LG_HOSTNAME", OWNER_HOST)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &documented_cleanup()])
        .env("LG_USERNAME", "job-killed")
        .env("LG_HOSTNAME", OWNER_HOST)
        .env("LG_COORDINATOR", &lab.coordinator)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the documented cleanup failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lab.held(),
        [("ci-runner/someone-else".to_string(), other.clone())],
        "only the killed job's lock is gone"
    );

    // `board list` and `doctor` show the places with who holds them.
    let list = Command::new(BIN)
        .args(["board", "list", "--rig", "rigs/lab.yaml"])
        .current_dir(bench.path())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.status.code(), Some(0), "{table}");
    assert!(
        table.contains("labgrid NetworkSerialPort of a place with board=otarig-sim"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.contains(&other))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("ci-runner/someone-else"), "{table}");
    let doctor = Command::new(BIN)
        .args([
            "doctor",
            "--rig",
            "rigs/lab.yaml",
            "--state-dir",
            s(&work.path().join("state")),
        ])
        .current_dir(bench.path())
        .output()
        .unwrap();
    let rows = String::from_utf8_lossy(&doctor.stdout);
    for (check, detail) in [
        (
            format!("coordinator {}", lab.coordinator),
            "2 place(s)".to_string(),
        ),
        (
            "places matching board=otarig-sim".into(),
            "2 for 1 board(s)".into(),
        ),
        (
            format!("place {other}"),
            "held by ci-runner/someone-else".into(),
        ),
        (
            "place board-".into(),
            "console RawSerialPort on lab-exporter, power NetworkPowerPort".into(),
        ),
    ] {
        assert!(
            rows.lines()
                .any(|l| l.contains(&check) && l.contains(" ok ") && l.contains(&detail)),
            "no ok row `{check}` … `{detail}`:\n{rows}"
        );
    }
}

/// `labgrid-client -p PLACE acquire|release` as another CI job.
fn as_other_job(lab: &Lab, place: &str, action: &str) {
    let out = Command::new("labgrid-client")
        .args(["-x", &lab.coordinator, "-p", place, action])
        .env("LG_USERNAME", "someone-else")
        .env("LG_HOSTNAME", OWNER_HOST)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_run_gives_everything_back_when_it_times_out_or_is_interrupted() {
    if !lab::available("labgrid interrupted runs") {
        return;
    }
    let lab = Lab::start(2);
    for place in &lab.places {
        as_other_job(&lab, place, "acquire");
    }
    let rig = lab.rig(1);
    let bench = bench_folder(
        true,
        &[
            ("rigs/lab.yaml", rig.as_str()),
            ("rigs/short.yaml", &rig.replace("wait: 10m", "wait: 3s")),
            (
                "rigs/three.yaml",
                &rig.replace("count: 1", "count: 3")
                    .replace("[Thing1]", "[Thing1, Thing2, Thing3]"),
            ),
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let run_with = |rig: &str| {
        let out = Command::new(BIN)
            .args([
                "run",
                "--rig",
                rig,
                s(&Path::new(ROOT).join("scenarios/same-version.yaml")),
            ])
            .args([
                "--state-dir",
                s(&work.path().join("state")),
                "--report-dir",
                s(&work.path().join("reports")),
            ])
            .current_dir(bench.path())
            .env("LG_USERNAME", "job-t")
            .env("LG_HOSTNAME", OWNER_HOST)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // More boards than places with the tags: refused at once, nothing reserved.
    let (code, stderr) = run_with("rigs/three.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("wants 3 board(s) but only 2 place(s) have the tags board=otarig-sim"),
        "{stderr}"
    );

    // Both places held by another job: the wait runs out, saying who holds them.
    let (code, stderr) = run_with("rigs/short.yaml");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("waited 3s for 1 labgrid place(s) and locked 0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("board-1 is held by ci-runner/someone-else"),
        "{stderr}"
    );
    assert!(
        !lab.reservations().contains("job-t"),
        "{}",
        lab.reservations()
    );

    // Ctrl-C while waiting: the reservation is cancelled.
    let start = || start_run(bench.path(), work.path(), "job-t", &["same-version"]);
    let mut run = start();
    run.wait_for_stderr("otarig: labgrid: taking 1 board(s)");
    let waiting = Instant::now();
    while !lab.reservations().contains("ci-runner/job-t") {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "no reservation of job-t"
        );
    }
    assert_eq!(run.interrupt().code(), Some(3), "{}", run.context());
    assert!(run
        .stderr_text()
        .contains("interrupted while waiting for labgrid places"));
    assert!(
        !lab.reservations().contains("job-t"),
        "{}",
        lab.reservations()
    );

    // Ctrl-C while running scenarios: boards off, reports written, then the place released.
    as_other_job(&lab, "board-2", "release");
    let mut run = start();
    run.wait_for_stderr("board lab-1 is place board-2");
    assert_eq!(run.interrupt().code(), Some(3), "{}", run.context());
    assert!(
        run.stderr_text().contains("released place board-2"),
        "{}",
        run.context()
    );
    assert_eq!(
        lab.held(),
        [("ci-runner/someone-else".to_string(), "board-1".to_string())]
    );
    assert!(
        !lab.reservations().contains("job-t"),
        "{}",
        lab.reservations()
    );
}
