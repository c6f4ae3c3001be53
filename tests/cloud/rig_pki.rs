//! The PKI is the bench's identity: a run creates one only for a rig whose boards are told
//! their credentials at start; a physical rig with no PKI is a configuration error naming
//! `otarig pki init`; `--state-dir` never moves a rig's own `pki:`. The real binary.

use crate::support::process::{describe, otarig_in};
use crate::support::run::bench_folder;

use std::path::Path;

#[test]
fn the_shipped_physical_rig_without_its_pki_creates_none_and_names_pki_init() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rig = otarig::config::load_rig(&repo.join("rigs/pic32mz-curiosity.yaml")).unwrap();
    assert!(!rig.cloud.create_pki);
    if rig.cloud.pki.join("ca.pem").exists() {
        eprintln!(
            "skipped: this machine has the bench PKI {}",
            rig.cloud.pki.display()
        );
        return;
    }
    let reports = tempfile::tempdir().unwrap();
    let out = otarig_in(
        &[
            "run",
            "--rig",
            "rigs/pic32mz-curiosity.yaml",
            "--report-dir",
            reports.path().to_str().unwrap(),
        ],
        repo,
    );
    let stderr = out.stderr.as_str();
    assert_eq!(out.code, Some(2), "{}", describe(&out));
    assert!(stderr.contains("otarig pki init --dir"), "{stderr}");
    assert!(stderr.contains("--things Thing1,Thing2"), "{stderr}");
    assert!(
        !rig.cloud.pki.exists(),
        "a PKI was created at {}",
        rig.cloud.pki.display()
    );
    // Nothing ran, so nothing was reported.
    assert_eq!(std::fs::read_dir(reports.path()).unwrap().count(), 0);
}

const SCENARIO: &str =
    "name: healthy\nsummary: The baseline boots.\nboards: { dut: {} }\nrecovery: { settle: 1s }\n\
steps:\n  - expect: { board: dut, version: 0.9.4, within: 20s }\n";

fn bench(rig: &str) -> tempfile::TempDir {
    bench_folder(
        true,
        &[
            ("rigs/bench.yaml", rig),
            ("scenarios/healthy.yaml", SCENARIO),
        ],
    )
}

const PROFILE: &str = "defaults:\n  profile: { banner: 'otarig-sim app version', version: 'app version (?P<version>\\d+\\.\\d+\\.\\d+)', connected: 'MQTT connection established' }\n  baseline: app-v4\n";

#[test]
fn state_dir_moves_the_default_pki_but_never_the_rigs_own() {
    // The rig names its PKI and forbids creating one: it must be read where it is.
    let root = bench(&format!(
        "name: own-pki\ncloud: {{ endpoint: {{ bind: 127.0.0.1:0 }}, pki: bench-pki, create_pki: false }}\n{PROFILE}\
         boards:\n  - {{ name: sim-1, thing_name: Thing1, native: {{ sim: {{}} }} }}\n"
    ));
    let r = root.path();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--rig", "rigs/bench.yaml", "--report-dir", "reports"];
        args.extend_from_slice(extra);
        otarig_in(&args, r)
    };
    let missing = run(&["--state-dir", "state"]);
    assert_eq!(missing.code, Some(2), "{}", describe(&missing));
    assert!(!r.join("state/pki").exists() && !r.join("bench-pki").exists());

    let init = otarig_in(
        &["pki", "init", "--dir", "bench-pki", "--things", "Thing1"],
        r,
    );
    assert!((init.code == Some(0)), "{}", describe(&init));
    let ca = std::fs::read(r.join("bench-pki/ca.pem")).unwrap();
    let passed = run(&["--state-dir", "state"]);
    assert_eq!(passed.code, Some(0), "{}", describe(&passed));
    assert!(
        !r.join("state/pki").exists(),
        "--state-dir moved the rig's own PKI"
    );
    assert_eq!(std::fs::read(r.join("bench-pki/ca.pem")).unwrap(), ca);
}

#[test]
fn a_simulated_rig_gets_a_pki_under_its_state_dir_and_says_so() {
    let root = bench(&format!(
        "name: sims\ncloud: {{ endpoint: {{ bind: 127.0.0.1:0 }} }}\n{PROFILE}\
         boards:\n  - {{ name: sim-1, thing_name: Thing1, native: {{ sim: {{}} }} }}\n"
    ));
    let r = root.path();
    let args = [
        "run",
        "--rig",
        "rigs/bench.yaml",
        "--report-dir",
        "reports",
        "--state-dir",
        "state",
    ];
    let first = otarig_in(&args, r);
    assert_eq!(first.code, Some(0), "{}", describe(&first));
    assert!(first.stderr.as_str().contains("created a new bench PKI"));
    let ca = std::fs::read(r.join("state/pki/ca.pem")).unwrap();
    let second = otarig_in(&args, r);
    assert_eq!(second.code, Some(0), "{}", describe(&second));
    assert!(!second.stderr.as_str().contains("created a new bench PKI"));
    assert_eq!(std::fs::read(r.join("state/pki/ca.pem")).unwrap(), ca);
}
