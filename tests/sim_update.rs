//! End to end: a simulated board on 0.9.4 takes a good 0.9.5 update through the real
//! gateway over mutual TLS (thing-scoped policy), from job to SUCCEEDED and 0.9.5 booted.

mod sim_support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use otarig::cloud::gateway::{Gateway, GatewayConfig, Policy, TlsSettings};
use otarig::cloud::jobdoc::{self, JobDocOptions};
use otarig::cloud::jobs::{ExecutionStatus, JobSpec};
use otarig::cloud::pki::{self, PkiLayout, PkiOptions};
use otarig::cloud::CloudServices;
use otarig::sim::{self, fixture, Endpoint, Nvs};
use otarig::timeline::Timeline;
use sim_support::{fixtures_dir, SimProcess};

const T: Duration = Duration::from_secs(60);

#[test]
fn a_good_update_from_0_9_4_to_0_9_5_through_the_gateway_over_tls() {
    let root = tempfile::tempdir().unwrap();
    let pki_dir = root.path().join("pki");
    pki::init(
        &pki_dir,
        &PkiOptions {
            things: vec!["Thing1".into()],
            ..PkiOptions::default()
        },
    )
    .unwrap();
    let layout = PkiLayout::new(&pki_dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let services = Arc::new(CloudServices::new(Arc::new(Timeline::in_memory())));
    let gateway = rt
        .block_on(Gateway::start(
            GatewayConfig {
                tls: Some(TlsSettings {
                    pki_dir: pki_dir.clone(),
                }),
                policy: Policy::ThingScoped,
                ..GatewayConfig::default()
            },
            services.clone(),
            Arc::new(Timeline::in_memory()),
        ))
        .unwrap();
    let port = gateway.local_addr().port();

    let dir = root.path().join("board");
    sim::provision(
        &dir,
        &Nvs {
            thing_name: "Thing1".into(),
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port,
                tls: true,
            },
            ca_cert: layout.ca_cert(),
            client_cert: layout.thing_cert("Thing1"),
            client_key: layout.thing_key("Thing1"),
            codesign_cert_dir: pki_dir.clone(),
            bootloader_key: layout.codesign_cert(),
            fault_line: None,
        },
    )
    .unwrap();
    let built_dir = root.path().join("built");
    let (v4, _) = fixture::build_to_dir(&fixtures_dir(), "app-v4", &pki_dir, &built_dir).unwrap();
    sim::write_factory_flash(&dir, &v4).unwrap();

    let mut board = SimProcess::start(&dir);
    board.expect(r"otarig-sim app version 0\.9\.4", T);
    board.expect(r"MQTT connection established with 127\.0\.0\.1:\d+\.$", T);
    let rss_idle = board.rss_kib();

    let (v5, _) = fixture::build_to_dir(&fixtures_dir(), "app-v5", &pki_dir, &built_dir).unwrap();
    let doc = jobdoc::build(&v5.ota, &JobDocOptions::from_pki(&layout, "s-update-v5").unwrap(), &[]).unwrap();
    services
        .add_stream(&doc.stream_id, vec![(u32::from(doc.file_id), Arc::from(doc.payload.clone()))])
        .unwrap();
    services
        .create_job(
            JobSpec::new("update-v5", doc.document.clone(), vec!["Thing1".into()]),
            SystemTime::now(),
        )
        .unwrap();

    board.expect(r"Job was accepted\. Attempting to start transfer\.", T);
    board.expect(r"\[prvPAL_CreateFileForRx\] Receive file created\.", T);
    board.expect(r"Received file block", T);
    let rss_download = board.rss_kib();
    board.expect(r"\[prvPAL_CloseFile\] sig-sha256-ecdsa signature verification passed\.", T);
    board.expect(r"File receive complete and signature is valid\.", T);
    board.expect(r"\[prvPAL_ResetDevice\] Resetting the device\.", T);
    board.expect(r"^Bootloader version 00\.09\.00$", T);
    board.expect(r"Booting image with sequence number 20 at 0x9d080000", T);
    board.expect(r"\[BOOT_PAL_LaunchApplicationDesc\] Memory banks are swapped\.", T);
    board.expect(r"otarig-sim app version 0\.9\.5", T);
    board.expect(r"\[prvPAL_SetPlatformImageState\] Accepted and committed final image\.", T);

    let deadline = Instant::now() + T;
    loop {
        let status = services.execution("update-v5", "Thing1").map(|e| e.status);
        if status == Some(ExecutionStatus::Succeeded) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "job not SUCCEEDED within {T:?} (now {status:?}); console:\n{}",
            board.seen.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let exec = services.execution("update-v5", "Thing1").unwrap();
    assert_eq!(exec.status_details.get("reason").map(String::as_str), Some("accepted v0.9.5"));
    eprintln!("otarig sim VmRSS: idle {rss_idle} KiB, during download {rss_download} KiB");
    drop(board);
    rt.block_on(gateway.shutdown());
}
