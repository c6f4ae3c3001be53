//! One cloud per run where the endpoint is fixed: the whole catalog on a copy of
//! `rigs/sim.yaml` with a fixed port, four scenarios at once; and `cloud.client` honoured
//! by `otarig run`: a good update through a real Mosquitto. The real binary.

mod process_support;

use process_support::describe;

mod gateway_support;

use std::path::Path;
use std::process::Output;

/// A bench folder whose rig is `rigs/sim.yaml` with `bind` replaced, and the repository's
/// fixtures.
fn bench_with_sim_rig(cloud: &str) -> tempfile::TempDir {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("rigs")).unwrap();
    std::os::unix::fs::symlink(
        repo.join("firmware-fixtures"),
        root.path().join("firmware-fixtures"),
    )
    .unwrap();
    let sim = std::fs::read_to_string(repo.join("rigs/sim.yaml")).unwrap();
    let start = sim.find("cloud:\n").unwrap();
    let end = sim.find("defaults:\n").unwrap();
    let rig = format!("{}{cloud}\n{}", &sim[..start], &sim[end..]);
    std::fs::write(root.path().join("rigs/bench.yaml"), rig).unwrap();
    root
}

fn run(root: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_otarig"))
        .args(["run", "--rig", "rigs/bench.yaml", "--report-dir", "reports"])
        .args(args)
        .current_dir(root)
        .output()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_whole_catalog_shares_one_cloud_on_a_fixed_port_with_four_jobs() {
    let port = free_port();
    let root = bench_with_sim_rig(&format!(
        "cloud:\n  endpoint: {{ bind: 127.0.0.1:{port}, tls: true, policy: permissive }}\n  pki: .otarig/pki"
    ));
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let out = run(root.path(), &[scenarios.to_str().unwrap(), "--jobs", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
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
    let Some(broker) = gateway_support::start_mosquitto().await else {
        return;
    };
    let root = bench_with_sim_rig(&format!(
        "cloud:\n  client: {{ broker: 127.0.0.1:{} }}\n  pki: .otarig/pki",
        broker.port
    ));
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/greater-version.yaml");
    let root_path = root.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(&root_path, &[scenario.to_str().unwrap()]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
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
