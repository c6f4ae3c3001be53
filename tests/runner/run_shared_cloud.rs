//! One cloud per run where the endpoint is fixed: the whole catalog on a copy of
//! `rigs/sim.yaml` with a fixed port, four scenarios at once; and `cloud.client` honoured
//! by `otarig run`: a good update through a real Mosquitto. The real binary.

use std::path::Path;

use crate::support::gateway::start_mosquitto;
use crate::support::process::{describe, otarig_in, reserved_port, Out};
use crate::support::run::sim_bench;

/// `otarig run --rig rigs/bench.yaml --report-dir reports ARGS…` in the bench folder `root`.
fn run(root: &Path, args: &[&str]) -> Out {
    let mut all = vec!["run", "--rig", "rigs/bench.yaml", "--report-dir", "reports"];
    all.extend(args);
    otarig_in(&all, root)
}

#[test]
fn the_whole_catalog_shares_one_cloud_on_a_fixed_port_with_four_jobs() {
    let reserved = reserved_port();
    let port = reserved.port;
    let root = sim_bench(Some(&format!(
        "cloud:\n  endpoint: {{ bind: 127.0.0.1:{port}, tls: true, policy: permissive }}\n  pki: .otarig/pki"
    )), None);
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let out = run(root.path(), &[scenarios.to_str().unwrap(), "--jobs", "4"]);
    assert_eq!(out.code, Some(0), "{}", describe(&out));
    // Every scenario was told the same endpoint: one cloud, not one per scenario.
    let notes = std::fs::read_dir(root.path().join("reports/latest"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("events.jsonl")).ok())
        .filter(|events| events.contains(&format!("cloud at 127.0.0.1:{port} (TLS)")))
        .count();
    let scenario_count = std::fs::read_dir(&scenarios).unwrap().count();
    assert_eq!(notes, scenario_count, "{}", describe(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_attaches_to_the_labs_mosquitto_in_client_mode() {
    let Some(broker) = start_mosquitto().await else {
        return;
    };
    let root = sim_bench(
        Some(&format!(
            "cloud:\n  client: {{ broker: 127.0.0.1:{} }}\n  pki: .otarig/pki",
            broker.port
        )),
        None,
    );
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/greater-version.yaml");
    let root_path = root.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(&root_path, &[scenario.to_str().unwrap()]))
        .await
        .unwrap();
    assert_eq!(out.code, Some(0), "{}", describe(&out));
    let events = std::fs::read_to_string(
        root.path()
            .join("reports/latest/greater-version/events.jsonl"),
    )
    .unwrap();
    assert!(
        events.contains(&format!("cloud at 127.0.0.1:{} (plain TCP)", broker.port)),
        "the board was not pointed at Mosquitto"
    );
}
