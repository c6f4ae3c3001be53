//! A board that is not otarig's simulator: `tests/foreign_firmware/otademo.c`, a small POSIX
//! firmware written from the AWS IoT protocol (libmosquitto over mutual TLS, cJSON, OpenSSL
//! ECDSA), built here with `cc` and run by `otarig run` as `native: { program: … }` with no
//! wrapper: told its identity through a placeholder and OTARIG_* variables, flashed from a
//! fixture's `posix` file, sent that platform's file by the job, booted from the job
//! document's `filepath` after it exits to activate.
//!
//! Needs a C compiler and libmosquitto-dev, libcjson-dev, libssl-dev; skipped without them
//! unless OTARIG_REQUIRE_FOREIGN_FIRMWARE=1 (CI sets it).

use crate::support::process::{describe, otarig_in};

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/foreign_firmware/otademo.c"
);

/// Builds the firmware at `version` into `out`; `None` when this machine cannot.
fn build(version: &str, out: &Path) -> Option<PathBuf> {
    let result = Command::new("cc")
        .args(["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-DAPP_VERSION=\"{version}\""))
        .arg(SOURCE)
        .args(["-lmosquitto", "-lcjson", "-lcrypto", "-o"])
        .arg(out)
        .output();
    match result {
        Ok(o) if o.status.success() => Some(out.to_path_buf()),
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("OTARIG_REQUIRE_FOREIGN_FIRMWARE").is_none(),
                "cannot build the foreign firmware: {why}"
            );
            eprintln!("skipped: cannot build the foreign firmware ({why})");
            None
        }
    }
}

const RIG: &str = r#"name: posix-bench
cloud:
  endpoint: { bind: 127.0.0.1:0, tls: true, policy: thing-scoped, pace: 1ms }
defaults:
  profile:
    banner: 'demo-fw: boot v'
    version: 'demo-fw: boot v(?P<version>\d+\.\d+\.\d+)'
    connected: 'demo-fw: mqtt up'
  timeouts: { boot: 30s, recovery: 30s, flash: 20s }
  baseline: demo-0.9.4
boards:
  - name: posix-1
    thing_name: Thing1
    native: { program: { path: "{board_dir}/.flash/otademo-0.9.4", args: ["--thing", "{thing}"] } }
  - name: posix-2
    thing_name: Thing2
    native: { program: { path: "{board_dir}/.flash/otademo-0.9.4", args: ["--thing", "{thing}"] } }
"#;

/// (file name, text) of each scenario.
const SCENARIOS: &[(&str, &str)] = &[
    (
        "good-update",
        r#"summary: The new build is streamed, verified, booted from its filepath and accepted.
boards: { dut: {} }
steps:
  - job: { id: update, image: demo-0.9.5, targets: all }
  - expect: { board: dut, console: 'demo-fw: signature ok', within: 60s }
  - expect: { board: dut, job: SUCCEEDED, reason: 'accepted v0\.9\.5', within: 60s }
  - expect: { board: dut, version: 0.9.5, within: 30s }
never: { boards: all, console: 'config error' }
"#,
    ),
    (
        "bad-signature",
        r#"summary: A signature altered after signing fails the board's ECDSA check; it stays on 0.9.4.
boards: { dut: {} }
steps:
  - job: { id: bad, image: demo-0.9.5, targets: all, faults: [corrupt_signature] }
  - expect: { board: dut, job: FAILED, reason: 'signature check failed', within: 60s }
  - expect: { board: dut, version: 0.9.4, within: 10s }
never: { boards: all, console: 'activating new image' }
"#,
    ),
    (
        "same-version",
        r#"summary: A rebuild of the running version boots, rejects itself and the board falls back to its flashed 0.9.4.
boards: { dut: {} }
steps:
  - job: { id: again, image: demo-0.9.4-rebuild, targets: all }
  - expect: { board: dut, job: FAILED, reason: 'not newer than 0\.9\.4', within: 60s }
  - expect: { board: dut, console: 'demo-fw: boot v0\.9\.4', within: 30s }
"#,
    ),
    (
        "power-cut-mid-download",
        r#"summary: Power is cut at a third of the download; the old build boots, downloads again and the update succeeds.
boards: { dut: {} }
steps:
  - job: { id: update, image: demo-0.9.5-large, targets: all }
  - power_cut: { board: dut, at_progress: 30%, of: update, off_for: 1s }
  - expect: { board: dut, console: 'demo-fw: boot v0\.9\.4', within: 30s }
  - expect: { board: dut, job: SUCCEEDED, within: 2m }
  - expect: { board: dut, version: 0.9.5, within: 30s }
"#,
    ),
    (
        "signed-with-another-key",
        r#"summary: A job signed with a key the board does not trust (set on the step) fails.
boards: { dut: {} }
steps:
  - job: { id: foreign-key, image: demo-0.9.5, targets: all, key: ../other-codesign.key, certfile: not-on-the-device.pem }
  - expect: { board: dut, job: FAILED, reason: 'signature check failed', within: 60s }
"#,
    ),
];

#[test]
fn a_foreign_posix_firmware_updates_rejects_and_survives_power_cuts_through_otarig_run() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // OTARIG_KEEP=DIR: run in DIR (made beforehand) and keep the reports to read.
    let r_keep = std::env::var("OTARIG_KEEP")
        .ok()
        .map(std::path::PathBuf::from);
    let r = r_keep.as_deref().unwrap_or(r);
    let builds = r.join("build");
    std::fs::create_dir_all(&builds).unwrap();
    let Some(v4) = build("0.9.4", &builds.join("otademo-0.9.4")) else {
        return;
    };
    let v5 = build("0.9.5", &builds.join("otademo-0.9.5")).unwrap();
    // A separate build of the same version: different bytes, same version number.
    let rebuild_dir = builds.join("rebuild");
    std::fs::create_dir_all(&rebuild_dir).unwrap();
    let rebuild = build("0.9.4", &rebuild_dir.join("otademo-0.9.4")).unwrap();
    // The same program with 1 MiB appended (an executable's loader ignores it): a download
    // long enough to cut in the middle.
    let mut large = std::fs::read(&v5).unwrap();
    large.extend(std::iter::repeat_n(0xA5u8, 1 << 20));
    let large_path = builds.join("otademo-0.9.5-large");
    std::fs::write(&large_path, large).unwrap();

    for dir in ["rigs", "scenarios", "firmware-fixtures"] {
        std::fs::create_dir(r.join(dir)).unwrap();
    }
    std::fs::write(r.join("rigs/posix.yaml"), RIG).unwrap();
    for (name, version, file) in [
        ("demo-0.9.4", "0.9.4", &v4),
        ("demo-0.9.5", "0.9.5", &v5),
        ("demo-0.9.4-rebuild", "0.9.4", &rebuild),
        ("demo-0.9.5-large", "0.9.5", &large_path),
    ] {
        std::fs::write(
            r.join(format!("firmware-fixtures/{name}.yaml")),
            format!(
                "version: {version}\nfiles: {{ posix: {} }}\n",
                file.display()
            ),
        )
        .unwrap();
    }
    for (name, text) in SCENARIOS {
        std::fs::write(
            r.join(format!("scenarios/{name}.yaml")),
            format!("name: {name}\n{text}"),
        )
        .unwrap();
    }
    // A second PKI's code-signing key: valid P-256, not trusted by the board.
    let other = otarig_in(&["pki", "init", "--dir", "other-pki", "--things", "X"], r);
    assert!((other.code == Some(0)), "{}", describe(&other));
    std::fs::copy(
        r.join("other-pki/codesign.key"),
        r.join("other-codesign.key"),
    )
    .unwrap();

    let out = otarig_in(
        &[
            "run",
            "--rig",
            "rigs/posix.yaml",
            "--report-dir",
            "reports",
            "--jobs",
            "2",
        ],
        r,
    );
    assert_eq!(out.code, Some(0), "{}", describe(&out));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.join("reports/latest/summary.json")).unwrap())
            .unwrap();
    let text = summary.to_string();
    for (name, _) in SCENARIOS {
        assert!(
            text.contains(&format!("\"{name}\"")),
            "{name} missing from {text}"
        );
    }

    // The job's default certfile is found where a POSIX PAL opens it: the board folder.
    let good = std::fs::read_to_string(r.join("reports/latest/good-update/events.jsonl")).unwrap();
    assert!(
        good.contains("checking sig-sha256-ecdsa with codesign.pem"),
        "{good}"
    );

    // The power cut really came mid-download: the job's first download did not finish.
    let events = std::fs::read_to_string(
        std::fs::read_dir(r.join("reports/latest"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.ends_with("power-cut-mid-download"))
            .unwrap()
            .join("events.jsonl"),
    )
    .unwrap();
    let cut = events.find("power cut").expect("a power cut event");
    let activated = events.find("activating new image").expect("an activation");
    assert!(
        cut < activated,
        "the download finished before the power cut"
    );
}
