//! Client mode against a real Mosquitto: the services answer as an ordinary
//! MQTT client, replies arrive as ordinary publishes, and the v3 work-around
//! mirrors `$next/get/accepted` on notify-next.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::gateway::*;
use otarig::cloud::client::{ClientMode, ClientModeConfig};
use otarig::cloud::CloudServices;
use otarig::timeline::Timeline;
use rumqttc::QoS;

/// Asks until the service (which subscribes in the background) answers.
async fn ask_until_answered(
    dev: &mut Device,
    topic: &str,
    payload: &str,
    answer: impl Fn(&str) -> bool,
) -> rumqttc::Publish {
    let start = Instant::now();
    loop {
        dev.publish(topic, QoS::AtLeastOnce, payload).await;
        while let Ok(Some(e)) =
            tokio::time::timeout(Duration::from_millis(300), dev.rx.recv()).await
        {
            match e {
                DevEvent::Publish(p) if answer(&p.topic) => return p,
                DevEvent::Down(why) => panic!("device lost the broker: {why}"),
                _ => {}
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "client mode never answered on {topic}"
        );
    }
}

#[tokio::test]
async fn client_mode_serves_jobs_and_streams_through_mosquitto() {
    let Some(broker) = start_mosquitto().await else {
        return;
    };
    let addr: SocketAddr = ([127, 0, 0, 1], broker.port).into();
    let pki = make_pki(&[]);
    let timeline = Timeline::in_memory();
    let services = Arc::new(CloudServices::new(Arc::new(timeline.clone())));
    let layout = otarig::cloud::pki::PkiLayout::new(pki.path());
    let built = create_job_with(&layout, &services, "update-1", &[5u8; 10_000], &["Thing1"]);

    let cfg = ClientModeConfig::for_broker(&format!("127.0.0.1:{}", broker.port), true).unwrap();
    let client = ClientMode::start(cfg, services.clone(), Arc::new(timeline.clone()));

    // A 1.0.x-style device: subscribed to accepted, gets it as a plain publish.
    let mut v1 = Device::connect(addr, None, "Thing1", true).await;
    v1.subscribe(
        "$aws/things/Thing1/jobs/$next/get/accepted",
        QoS::AtLeastOnce,
    )
    .await;
    let reply = ask_until_answered(
        &mut v1,
        "$aws/things/Thing1/jobs/$next/get",
        r#"{"clientToken":"0:Thing1"}"#,
        |t| t.ends_with("$next/get/accepted"),
    )
    .await;
    assert_eq!(json(&reply)["execution"]["jobId"], "update-1");
    drop(v1);

    // A v3-style device: notify-next only; the mirror gives it the job.
    let mut v3 = Device::connect(addr, None, "Thing1-v3", true).await;
    v3.subscribe("$aws/things/Thing1/jobs/notify-next", QoS::AtMostOnce)
        .await;
    v3.publish(
        "$aws/things/Thing1/jobs/$next/get",
        QoS::AtLeastOnce,
        r#"{"clientToken":":Thing1"}"#,
    )
    .await;
    let mirrored = v3.publish_on(|t| t.ends_with("/notify-next")).await;
    let body = json(&mirrored);
    assert_eq!(body["execution"]["jobId"], "update-1");
    assert!(body.get("clientToken").is_none());

    // Streams: a block request answered with data/cbor.
    let base = format!("$aws/things/Thing1/streams/{}", built.stream_id);
    v3.subscribe(&format!("{base}/data/cbor"), QoS::AtMostOnce)
        .await;
    v3.publish(
        &format!("{base}/get/cbor"),
        QoS::AtMostOnce,
        get_stream_cbor("1", 0, 4096, 0, &[0b11], 2),
    )
    .await;
    let (_, i0, d0) = decode_block(&v3.publish_on(|t| t.ends_with("/data/cbor")).await.payload);
    let (_, i1, d1) = decode_block(&v3.publish_on(|t| t.ends_with("/data/cbor")).await.payload);
    assert_eq!((i0, i1, d0.len(), d1.len()), (0, 1, 4096, 4096));

    client.shutdown().await;
}
