//! `otarig cloud` run on its own, as a bench user does: the real binary in the
//! foreground, `otarig job …` processes from "another terminal" talking to it
//! over the admin socket, and a device using the certificate files it printed.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rumqttc::{QoS, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use crate::support::gateway::{json, DevEvent, Device, DEADLINE};
use crate::support::process::{otarig, s, Background, Banner, Out, BENCH, ROOT, USAGE};

const NOTIFY_NEXT: &str = "$aws/things/Thing1/jobs/notify-next";
const NEXT_GET: &str = "$aws/things/Thing1/jobs/$next/get";

/// `otarig job create --pki PKI --image IMAGE --targets TARGETS EXTRA…`
fn job_create(pki: &Path, image: &Path, targets: &str, extra: &[&str]) -> Out {
    let mut args = vec!["job", "create", "--pki", s(pki), "--image", s(image)];
    args.extend(["--targets", targets]);
    args.extend(extra);
    otarig(&args)
}

/// A foreground `otarig cloud ARGS…`, up to "press Ctrl-C to stop", and its banner.
fn start_cloud(args: &[&str]) -> (Background, Banner) {
    let mut cloud = Background::otarig(args);
    let banner = Banner::parse(&cloud.ready());
    (cloud, banner)
}

/// A device configured only from the files the cloud printed, as a board is.
async fn device_from_files(banner: &Banner, thing: &str) -> Device {
    let (cert, key) = &banner.things[thing];
    let pem = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&pem(&banner.ca)) {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain = CertificateDer::pem_slice_iter(&pem(cert))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&pem(key)).expect("a private key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let mut opts = Device::options(banner.addr, None, thing, true);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(config),
    )));
    let mut dev = Device::start(opts, 256);
    match dev.next(DEADLINE).await {
        DevEvent::ConnAck(ack) => assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success),
        other => panic!("{thing}: expected CONNACK, got {other:?}"),
    }
    dev
}

/// thing → execution status, from `otarig job status ID` or a cancel's answer.
fn executions(job: &Value) -> BTreeMap<String, String> {
    job["executions"]
        .as_array()
        .unwrap_or_else(|| panic!("no executions in {job}"))
        .iter()
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap().to_string();
            (field("thing"), field("status"))
        })
        .collect()
}

fn job_status(pki: &Path, id: &str) -> BTreeMap<String, String> {
    executions(&otarig(&["job", "status", id, "--pki", s(pki)]).json())
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(t, st)| (t.to_string(), st.to_string()))
        .collect()
}

/// A cloud on a fresh PKI for Thing1 and Thing2, ready.
fn cloud_for_two_things(tmp: &Path) -> (PathBuf, Background, Banner) {
    let pki = tmp.join("pki");
    let init = otarig(&["pki", "init", "--dir", s(&pki), "--things", "Thing1,Thing2"]);
    assert_eq!(init.code, Some(0), "pki init: {}", init.stderr);
    let (cloud, banner) = start_cloud(&["cloud", "--pki", s(&pki), "--bind", "127.0.0.1:0"]);
    (pki, cloud, banner)
}

#[tokio::test]
async fn a_cloud_run_alone_serves_a_device_and_obeys_job_commands_from_other_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, mut cloud, banner) = cloud_for_two_things(tmp.path());

    assert!(banner.addr.ip().is_loopback() && banner.addr.port() != 0);
    assert!(
        banner.endpoint_line.contains("mqtts"),
        "{}",
        banner.endpoint_line
    );
    assert_eq!(banner.ca, pki.join("ca.pem"));
    assert!(banner.ca.is_file());
    let things: Vec<&str> = banner.things.keys().map(String::as_str).collect();
    assert_eq!(things, ["Thing1", "Thing2"]);
    for (thing, (cert, key)) in &banner.things {
        assert_eq!(cert, &pki.join(format!("things/{thing}.pem")));
        assert_eq!(key, &pki.join(format!("things/{thing}.key")));
        assert!(
            cert.is_file() && key.is_file(),
            "{thing}'s files must exist"
        );
    }
    assert_eq!(banner.admin, pki.join("admin.sock"));
    let meta = std::fs::metadata(&banner.admin).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let mut dev = device_from_files(&banner, "Thing1").await;
    dev.subscribe(NOTIFY_NEXT, QoS::AtLeastOnce).await;

    let image = tmp.path().join("app-v5.bin");
    let bytes: Vec<u8> = (0..9001u32).map(|i| (i * 7) as u8).collect();
    std::fs::write(&image, &bytes).unwrap();
    let created = job_create(&pki, &image, "Thing1,Thing2", &["--version", "0.9.5"]).json();
    let id = created["id"].as_str().expect("job create prints the id");
    assert_eq!(created["version"], "0.9.5");

    // The job reaches the device the way the OTA agent sees it.
    let notify = json(&dev.publish_on(|t| t == NOTIFY_NEXT).await);
    assert_eq!(notify["execution"]["jobId"], id);
    let ota = &notify["execution"]["jobDocument"]["afr_ota"];
    assert_eq!(ota["files"][0]["filesize"], bytes.len());
    assert_eq!(ota["streamname"], created["stream"]);
    dev.publish(NEXT_GET, QoS::AtLeastOnce, r#"{"clientToken":"0:Thing1"}"#)
        .await;
    let next = json(
        &dev.publish_on(|t| t == format!("{NEXT_GET}/accepted"))
            .await,
    );
    assert_eq!(next["execution"]["jobId"], id);
    assert_eq!(
        next["execution"]["jobDocument"],
        notify["execution"]["jobDocument"]
    );

    assert_eq!(
        job_status(&pki, id),
        expect(&[("Thing1", "QUEUED"), ("Thing2", "QUEUED")])
    );
    let all = otarig(&["job", "status", "--pki", s(&pki)]).json();
    assert_eq!(all.as_array().map(|a| a.len()), Some(1), "{all}");
    assert_eq!(all[0]["id"], id);

    let update = format!("$aws/things/Thing1/jobs/{id}/update");
    dev.publish(&update, QoS::AtLeastOnce, r#"{"status":"IN_PROGRESS"}"#)
        .await;
    dev.publish_on(|t| t == format!("{update}/accepted")).await;

    // Without --force an execution already IN_PROGRESS is left alone.
    let cancelled = otarig(&["job", "cancel", id, "--pki", s(&pki)]).json();
    let after = expect(&[("Thing1", "IN_PROGRESS"), ("Thing2", "CANCELED")]);
    assert_eq!(executions(&cancelled), after);
    assert_eq!(job_status(&pki, id), after);

    let forced = otarig(&["job", "cancel", id, "--force", "--pki", s(&pki)]).json();
    let after = expect(&[("Thing1", "CANCELED"), ("Thing2", "CANCELED")]);
    assert_eq!(executions(&forced), after);
    assert_eq!(job_status(&pki, id), after);
    assert_eq!(forced["status"], "CANCELED", "AWS's job status names");

    let status = cloud.interrupt();
    let stderr = cloud.stderr_text();
    assert_eq!(status.code(), Some(0), "Ctrl-C is a clean stop: {stderr}");
    assert!(
        !banner.admin.exists(),
        "the admin socket is removed on exit"
    );
}

#[tokio::test]
async fn job_commands_without_a_running_cloud_say_to_start_one() {
    let empty = tempfile::tempdir().unwrap();
    let dir = s(empty.path());
    let run = otarig(&["job", "status", "--pki", dir]);
    assert_eq!(run.code, Some(BENCH), "stderr: {}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains(dir),
        "names the PKI dir: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("start `otarig cloud --pki {dir}`")),
        "says what to do: {}",
        run.stderr
    );
}

#[tokio::test]
async fn a_stale_socket_from_a_killed_cloud_neither_answers_nor_blocks_the_next_cloud() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, mut killed, banner) = cloud_for_two_things(tmp.path());
    killed.kill(); // SIGKILL: no chance to clean up
    assert!(banner.admin.exists(), "SIGKILL leaves the socket behind");

    let run = otarig(&["job", "status", "--pki", s(&pki)]);
    assert_eq!(run.code, Some(BENCH), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("start `otarig cloud"), "{}", run.stderr);

    let (_next, _) = start_cloud(&["cloud", "--pki", s(&pki), "--bind", "127.0.0.1:0"]);
    let jobs = otarig(&["job", "status", "--pki", s(&pki)]).json();
    assert_eq!(jobs, Value::Array(vec![]));
}

#[tokio::test]
async fn job_create_with_a_missing_image_names_it_and_the_cloud_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, mut cloud, _) = cloud_for_two_things(tmp.path());
    let missing = tmp.path().join("no-such-image.bin");
    let run = job_create(&pki, &missing, "Thing1", &[]);
    assert_eq!(run.code, Some(USAGE), "stderr: {}", run.stderr);
    assert!(run.stderr.contains(s(&missing)), "{}", run.stderr);
    assert!(cloud.still_running(), "{}", cloud.context());
    let jobs = otarig(&["job", "status", "--pki", s(&pki)]).json();
    assert_eq!(jobs, Value::Array(vec![]), "no job was created");
}

#[tokio::test]
async fn job_create_for_an_unknown_thing_names_it_and_the_cloud_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, mut cloud, _) = cloud_for_two_things(tmp.path());
    let image = tmp.path().join("app.bin");
    std::fs::write(&image, [1u8; 100]).unwrap();
    let run = job_create(&pki, &image, "Thing1,Ghost", &[]);
    assert_eq!(run.code, Some(USAGE), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("Ghost"), "{}", run.stderr);
    assert!(run.stderr.contains(s(&pki)), "{}", run.stderr);
    assert!(cloud.still_running(), "{}", cloud.context());
    let jobs = otarig(&["job", "status", "--pki", s(&pki)]).json();
    assert_eq!(jobs, Value::Array(vec![]), "no job was created");
}

#[tokio::test]
async fn a_cloud_from_a_rig_file_serves_the_rigs_things() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let rig = otarig::config::load_rig(&Path::new(ROOT).join("rigs/sim.yaml")).unwrap();
    let (mut cloud, banner) = start_cloud(&[
        "cloud",
        "--rig",
        "rigs/sim.yaml",
        "--pki",
        s(&pki),
        "--bind",
        "127.0.0.1:0",
    ]);
    let policy = format!("policy {}", rig.cloud.endpoint.policy);
    assert!(
        banner.endpoint_line.contains(&policy),
        "{}",
        banner.endpoint_line
    );
    let served: BTreeSet<&str> = banner.things.keys().map(String::as_str).collect();
    let boards: BTreeSet<&str> = rig.boards.iter().map(|b| b.thing_name.as_str()).collect();
    assert_eq!(served, boards);
    // The last board's thing: its certificate was issued from the rig alone.
    let last = &rig.boards.last().unwrap().thing_name;
    let mut dev = device_from_files(&banner, last).await;
    let get = format!("$aws/things/{last}/jobs/$next/get");
    dev.publish(&get, QoS::AtLeastOnce, r#"{"clientToken":"r"}"#)
        .await;
    let reply = json(&dev.publish_on(|t| t == format!("{get}/accepted")).await);
    assert_eq!(reply["clientToken"], "r");
    assert_eq!(cloud.interrupt().code(), Some(0));
}

#[tokio::test]
async fn a_second_cloud_on_the_same_pki_fails_and_leaves_the_first_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, mut first, banner) = cloud_for_two_things(tmp.path());
    let image = tmp.path().join("app.bin");
    std::fs::write(&image, [2u8; 100]).unwrap();
    let created = job_create(&pki, &image, "Thing1", &["--id", "first-cloud-job"]).json();
    assert_eq!(created["id"], "first-cloud-job");

    let mut second = Background::otarig(&["cloud", "--pki", s(&pki), "--bind", "127.0.0.1:0"]);
    let status = second.exit();
    let stderr = second.stderr_text();
    assert_eq!(status.code(), Some(BENCH), "stderr: {stderr}");
    assert!(
        stderr.contains("another otarig cloud is serving") && stderr.contains(s(&banner.admin)),
        "{stderr}"
    );
    assert!(
        !second
            .seen
            .iter()
            .any(|l| l.starts_with("admin socket:") || l.starts_with("endpoint:")),
        "the second cloud announced itself as serving: {:?}",
        second.seen
    );

    // The socket is still the first cloud's: it knows the job.
    assert!(banner.admin.exists());
    assert!(first.still_running(), "{}", first.context());
    let jobs = otarig(&["job", "status", "--pki", s(&pki)]).json();
    assert_eq!(jobs[0]["id"], "first-cloud-job", "{jobs}");
    assert_eq!(first.interrupt().code(), Some(0));
}

#[tokio::test]
async fn cloud_and_job_given_the_same_rig_read_the_same_pki() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (mut cloud, _) = start_cloud(&[
        "cloud",
        "--rig",
        "rigs/sim.yaml",
        "--state-dir",
        s(&state),
        "--bind",
        "127.0.0.1:0",
    ]);
    // The simulated rig may create its PKI: under the state directory, as `run` would.
    assert!(state.join("pki/ca.pem").is_file(), "{}", cloud.context());
    let status = otarig(&[
        "job",
        "status",
        "--rig",
        "rigs/sim.yaml",
        "--state-dir",
        s(&state),
    ]);
    assert_eq!(status.code, Some(0), "{}", status.stderr);
    assert_eq!(status.json(), serde_json::json!([]));
    // Without the state directory the rig's PKI is elsewhere: no cloud runs there.
    let elsewhere = otarig(&["job", "status", "--pki", s(&tmp.path().join("nowhere"))]);
    assert_eq!(elsewhere.code, Some(3), "{}", elsewhere.stderr);
    assert_eq!(cloud.interrupt().code(), Some(0));
}

/// Thing1 asks Thing2's queue: answered under `permissive`, disconnected under `thing-scoped`.
async fn reaches_another_things_topics(banner: &Banner) -> bool {
    let mut dev = device_from_files(banner, "Thing1").await;
    let get = "$aws/things/Thing2/jobs/$next/get";
    dev.publish(get, QoS::AtLeastOnce, r#"{"clientToken":"cross"}"#)
        .await;
    loop {
        match dev.next(DEADLINE).await {
            DevEvent::Publish(p) if p.topic == format!("{get}/accepted") => return true,
            DevEvent::Down(_) => return false,
            _ => {}
        }
    }
}

#[tokio::test]
async fn the_policy_is_thing_scoped_unless_the_rig_or_policy_flag_says_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let init = otarig(&["pki", "init", "--dir", s(&pki), "--things", "Thing1,Thing2"]);
    assert_eq!(init.code, Some(0), "pki init: {}", init.stderr);
    let base = ["cloud", "--pki", s(&pki), "--bind", "127.0.0.1:0"];
    // rigs/sim.yaml says permissive (its wrong-thing-name scenario needs it).
    let sim_rig = ["--rig", "rigs/sim.yaml"];
    let cases: [(&[&str], &str); 5] = [
        (&[], "thing-scoped"),
        (&["--policy", "permissive"], "permissive"),
        (&["--policy", "thing-scoped"], "thing-scoped"),
        (&sim_rig, "permissive"),
        (
            &["--rig", "rigs/sim.yaml", "--policy", "thing-scoped"],
            "thing-scoped",
        ),
    ];
    for (extra, want) in cases {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (mut cloud, banner) = start_cloud(&args);
        assert!(
            banner.endpoint_line.ends_with(&format!("policy {want}")),
            "{args:?}: {}",
            banner.endpoint_line
        );
        assert_eq!(
            reaches_another_things_topics(&banner).await,
            want == "permissive",
            "{args:?}: Thing1 on Thing2's topic under {want}"
        );
        assert_eq!(cloud.interrupt().code(), Some(0), "{args:?}");
    }
    let bad = otarig(&[&base[..], &["--policy", "open"]].concat());
    assert_eq!(bad.code, Some(USAGE), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("thing-scoped"),
        "names the choices: {}",
        bad.stderr
    );
}

/// A person watching `otarig cloud` sees, on stderr, each device that connects or goes
/// away and each job execution change, one line each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_says_who_connects_and_what_their_jobs_do() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, cloud, banner) = cloud_for_two_things(tmp.path());
    let dev = device_from_files(&banner, "Thing1").await;
    cloud.wait_for_stderr("otarig_cloud: connected: Thing1 (connection ");

    let image = tmp.path().join("app-v5.bin");
    std::fs::write(&image, vec![7u8; 2048]).unwrap();
    let created = job_create(&pki, &image, "Thing1", &[]).json();
    let id = created["id"].as_str().unwrap();
    cloud.wait_for_stderr(&format!("otarig_cloud: job {id} on Thing1: QUEUED"));
    let update = format!("$aws/things/Thing1/jobs/{id}/update");
    dev.client
        .publish(
            &update,
            QoS::AtLeastOnce,
            false,
            r#"{"status":"IN_PROGRESS","statusDetails":{"step":"download"}}"#,
        )
        .await
        .unwrap();
    cloud.wait_for_stderr(&format!(
        "otarig_cloud: job {id} on Thing1: IN_PROGRESS (step=download)"
    ));
    dev.client.disconnect().await.unwrap();
    cloud.wait_for_stderr("otarig_cloud: disconnected: Thing1 (connection ");
}

/// Field boards (mbedTLS, OpenSSL) send the endpoint's IP address as SNI when they connect
/// by IP; rustls ignores it, and must not log a warning per connection into the run's
/// output. A ClientHello with an IP address as its server name, then the cloud's stderr.
#[tokio::test]
async fn a_device_sending_an_ip_address_as_sni_is_served_without_a_log_line() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let (_pki, mut cloud, banner) = cloud_for_two_things(tmp.path());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&std::fs::read(&banner.ca).unwrap()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // rustls never sends an IP as SNI: a DNS name of the same length, swapped in the bytes.
    let (placeholder, ip) = (b"abc.def.g", b"127.0.0.1");
    let name = rustls::pki_types::ServerName::try_from("abc.def.g").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    let at = hello
        .windows(placeholder.len())
        .position(|w| w == placeholder)
        .expect("the server name is in the ClientHello");
    hello[at..at + ip.len()].copy_from_slice(ip);
    let mut tcp = std::net::TcpStream::connect(banner.addr).unwrap();
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    tcp.write_all(&hello).unwrap();
    let mut first = [0u8; 1];
    tcp.read_exact(&mut first).unwrap();
    assert_eq!(first[0], 0x16, "the cloud answers with a handshake record");
    drop(tcp);
    let status = cloud.interrupt();
    let stderr = cloud.stderr_text();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("SNI") && !stderr.contains("rustls"),
        "a log line about the device's SNI: {stderr}"
    );
}

/// One board needs a pty, a connection and a child process: a cloud (and a run) started
/// under the usual soft limit of open files takes the hard limit, so 1,000 boards fit.
#[test]
fn otarig_raises_its_open_file_limit_to_the_hard_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    use std::os::unix::process::CommandExt;
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if hard <= 64 {
        return; // nothing to raise to
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let init = otarig(&["pki", "init", "--dir", s(&pki), "--things", "Thing1"]);
    assert_eq!(init.code, Some(0), "pki init: {}", init.stderr);
    let mut cmd =
        crate::support::process::command(&["cloud", "--pki", s(&pki), "--bind", "127.0.0.1:0"]);
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || setrlimit(Resource::RLIMIT_NOFILE, 64, hard).map_err(Into::into));
    }
    let mut cloud = Background::spawn(&mut cmd);
    cloud.ready();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", cloud.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let soft: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_eq!(soft, hard, "{line}");
}

/// `otarig job create` with AWS's rollout, abort and retry JSON: the job rolls out one
/// thing a minute, the first failure aborts it, the second thing never gets an execution,
/// and the cloud says why on its stderr and in `job status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_create_takes_aws_rollout_abort_and_retry_configs() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, mut cloud, banner) = cloud_for_two_things(tmp.path());
    let mut dev = device_from_files(&banner, "Thing1").await;
    dev.subscribe(NOTIFY_NEXT, QoS::AtLeastOnce).await;
    let image = tmp.path().join("app-v5.bin");
    std::fs::write(&image, vec![7u8; 2048]).unwrap();
    let abort = tmp.path().join("abort.json");
    std::fs::write(
        &abort,
        r#"{"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
            "thresholdPercentage": 100, "minNumberOfExecutedThings": 1}]}"#,
    )
    .unwrap();
    let abort_flag = format!("file://{}", abort.display());

    // Refused before the cloud is asked: the flag and the field are named.
    let bad = job_create(
        &pki,
        &image,
        "Thing1,Thing2",
        &[
            "--job-executions-rollout-config",
            r#"{"maximumPerMinute": 0}"#,
        ],
    );
    assert_eq!(bad.code, Some(USAGE), "stderr: {}", bad.stderr);
    assert!(
        bad.stderr.contains("--job-executions-rollout-config")
            && bad
                .stderr
                .contains("maximumPerMinute must be 1 to 1000 things a minute, got 0"),
        "{}",
        bad.stderr
    );
    assert!(cloud.still_running(), "{}", cloud.context());
    let jobs = otarig(&["job", "status", "--pki", s(&pki)]).json();
    assert_eq!(jobs, Value::Array(vec![]), "no job was created");

    let created = job_create(
        &pki,
        &image,
        "Thing1,Thing2",
        &[
            "--job-executions-rollout-config",
            r#"{"maximumPerMinute": 1}"#,
            "--abort-config",
            &abort_flag,
            "--job-executions-retry-config",
            r#"{"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 1}]}"#,
        ],
    )
    .json();
    let id = created["id"].as_str().unwrap().to_string();
    let notify = json(&dev.publish_on(|t| t == NOTIFY_NEXT).await);
    assert_eq!(notify["execution"]["jobId"], id.as_str());
    let status = otarig(&["job", "status", &id, "--pki", s(&pki)]).json();
    assert_eq!(executions(&status), expect(&[("Thing1", "QUEUED")]));
    assert_eq!(status["waiting"], serde_json::json!(["Thing2"]));
    assert_eq!(
        status["jobExecutionsRolloutConfig"],
        serde_json::json!({"maximumPerMinute": 1})
    );
    assert_eq!(
        status["abortConfig"]["criteriaList"][0]["failureType"],
        "FAILED"
    );
    assert_eq!(
        status["jobExecutionsRetryConfig"]["criteriaList"][0],
        serde_json::json!({"failureType": "TIMED_OUT", "numberOfRetries": 1})
    );

    let update = format!("$aws/things/Thing1/jobs/{id}/update");
    dev.publish(&update, QoS::AtLeastOnce, r#"{"status":"FAILED"}"#)
        .await;
    dev.publish_on(|t| t == format!("{update}/accepted")).await;
    cloud.wait_for_stderr(&format!(
        "otarig_cloud: job {id} aborted (canceled): 1 of 1 executed things FAILED"
    ));
    let status = otarig(&["job", "status", &id, "--pki", s(&pki)]).json();
    assert_eq!(status["status"], "CANCELED");
    assert_eq!(executions(&status), expect(&[("Thing1", "FAILED")]));
    assert_eq!(status["waiting"], serde_json::json!([]));
    assert_eq!(status["abort"]["neverRolledOut"], 1, "{status}");
    assert_eq!(status["abort"]["executedThings"], 1, "{status}");
}
