//! The admin channel `otarig job` uses: a 0600 Unix socket in the PKI
//! directory, JSON lines; jobs created there reach devices at the gateway.

use std::os::unix::fs::PermissionsExt;

use crate::support::gateway::*;
use otarig::cloud::admin::{self, AdminError, AdminServer, Request};
use otarig::cloud::gateway::Policy;

#[tokio::test]
async fn job_create_status_and_cancel_over_the_admin_socket() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let dir = bench.dir.path().to_path_buf();
    assert!(matches!(
        admin::request(&dir, &Request::Status { id: None }).await,
        Err(AdminError::NotRunning { .. })
    ));
    let server = AdminServer::start(bench.layout(), bench.services.clone()).unwrap();
    let mode = std::fs::metadata(server.path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode, 0o600,
        "admin socket must be private to the bench user"
    );

    let image = dir.join("app.bin");
    std::fs::write(&image, vec![0x5a; 9000]).unwrap();
    let created = admin::request(
        &dir,
        &Request::CreateJob {
            image: image.clone(),
            targets: vec!["Thing1".into()],
            version: Some("0.9.5".into()),
            id: Some("job-a".into()),
            document: Default::default(),
            controls: Default::default(),
        },
    )
    .await
    .unwrap();
    assert_eq!(created["id"], "job-a");
    assert_eq!(created["size"], 9000);
    assert!(created["signature"].as_str().unwrap().starts_with("ME"));

    // A device at the gateway gets the job the admin created.
    let mut dev = bench.device("Thing1", "Thing1").await;
    let doc = dev.next_job("Thing1").await;
    assert_eq!(doc["execution"]["jobId"], "job-a");
    assert_eq!(
        doc["execution"]["jobDocument"]["afr_ota"]["streamname"],
        created["stream"]
    );

    let status = admin::request(
        &dir,
        &Request::Status {
            id: Some("job-a".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(status["executions"][0]["thing"], "Thing1");
    assert_eq!(status["executions"][0]["status"], "QUEUED");

    let cancelled = admin::request(
        &dir,
        &Request::CancelJob {
            id: "job-a".into(),
            force: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(cancelled["executions"][0]["status"], "CANCELED");

    let missing = admin::request(
        &dir,
        &Request::Status {
            id: Some("nope".into()),
        },
    )
    .await;
    assert!(matches!(missing, Err(AdminError::Refused(m)) if m.contains("nope")));
    let bad_image = admin::request(
        &dir,
        &Request::CreateJob {
            image: dir.join("missing.bin"),
            targets: vec!["Thing1".into()],
            version: None,
            id: None,
            document: Default::default(),
            controls: Default::default(),
        },
    )
    .await;
    assert!(matches!(bad_image, Err(AdminError::Refused(m)) if m.contains("missing.bin")));
    // The socket's client is not trusted to have checked the controls.
    let controls: otarig::cloud::jobs::controls_json::ControlsJson =
        serde_json::from_str(r#"{"jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "ALL", "numberOfRetries": 11}]}}"#)
            .unwrap();
    let bad_controls = admin::request(
        &dir,
        &Request::CreateJob {
            image: image.clone(),
            targets: vec!["Thing1".into()],
            version: None,
            id: Some("job-b".into()),
            document: Default::default(),
            controls: Box::new(controls),
        },
    )
    .await;
    assert!(
        matches!(&bad_controls, Err(AdminError::Refused(m))
            if m == "jobExecutionsRetryConfig: numberOfRetries must be 0 to 10, got 11"),
        "{bad_controls:?}"
    );
    drop(server);
    assert!(
        !dir.join(admin::SOCKET_NAME).exists(),
        "socket removed on shutdown"
    );
}
