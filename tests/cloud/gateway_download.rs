//! A whole OTA download through the gateway, as a v3 agent does it: job
//! document from `$next/get`, then bitmap-driven GetStream requests for 4 KiB
//! blocks, re-asking for what a fault dropped; meanwhile another device throws
//! bad input at the endpoint and the download is not disturbed.

use std::time::Duration;

use crate::support::gateway::*;
use base64::Engine;
use otarig::cloud::gateway::Policy;
use otarig::cloud::pki;
use otarig::cloud::signing;
use otarig::faults::{DirFilter, Fault, MessageFault};
use otarig::timeline::EventKind;
use rumqttc::tokio_rustls::rustls::pki_types::ServerName;
use rumqttc::tokio_rustls::TlsConnector;
use rumqttc::QoS;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

const BLOCK: usize = 4096;
/// Blocks asked for per request (the v3 demo asks for 8; more makes drops likelier per round).
const PER_REQUEST: u32 = 32;
/// The agent's own request timer: re-ask for what has not come.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(400);

fn image(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Downloads file 0 of `stream` like the v3 agent; reports blocks received.
async fn download(
    dev: &mut Device,
    thing: &str,
    stream: &str,
    size: usize,
    progress: watch::Sender<usize>,
) -> (Vec<u8>, u32) {
    let base = format!("$aws/things/{thing}/streams/{stream}");
    dev.subscribe(&format!("{base}/data/cbor"), QoS::AtMostOnce)
        .await;
    let blocks = size.div_ceil(BLOCK);
    let mut have: Vec<Option<Vec<u8>>> = vec![None; blocks];
    let mut requests = 0u32;
    loop {
        let missing: Vec<usize> = (0..blocks).filter(|i| have[*i].is_none()).collect();
        let Some(&first) = missing.first() else { break };
        let window: Vec<usize> = missing
            .iter()
            .copied()
            .take_while(|i| *i < first + 8 * 64)
            .take(PER_REQUEST as usize)
            .collect();
        let mut bitmap = vec![0u8; (window.last().unwrap() - first) / 8 + 1];
        for i in &window {
            let rel = i - first;
            bitmap[rel / 8] |= 1 << (rel % 8);
        }
        let req = get_stream_cbor(
            &format!("{requests}"),
            0,
            BLOCK as u32,
            first as u32,
            &bitmap,
            PER_REQUEST,
        );
        dev.publish(&format!("{base}/get/cbor"), QoS::AtMostOnce, req)
            .await;
        requests += 1;
        let mut outstanding = window.len();
        while outstanding > 0 {
            match tokio::time::timeout(REQUEST_TIMEOUT, dev.rx.recv()).await {
                Err(_) => break, // the request timer fired: ask again for what is missing
                Ok(Some(DevEvent::Publish(p))) if p.topic.ends_with("/data/cbor") => {
                    let (file, index, data) = decode_block(&p.payload);
                    assert_eq!(file, 0);
                    let slot = &mut have[index as usize];
                    if slot.is_none() {
                        *slot = Some(data);
                        outstanding = outstanding.saturating_sub(1);
                        let _ = progress.send(have.iter().filter(|b| b.is_some()).count());
                    }
                }
                Ok(Some(DevEvent::Publish(p))) if p.topic.contains("/rejected/") => {
                    panic!("stream request rejected: {:?}", cbor_map(&p.payload))
                }
                Ok(Some(DevEvent::Down(why))) => {
                    panic!("{thing} lost its connection mid-download: {why}")
                }
                Ok(Some(_)) => {}
                Ok(None) => panic!("{thing}: event loop ended"),
            }
        }
        assert!(requests < 10_000, "download is not converging");
    }
    (have.into_iter().flatten().flatten().collect(), requests)
}

#[tokio::test]
async fn full_download_with_dropped_blocks_while_another_device_misbehaves() {
    let bench = start_bench(&["Thing1", "Thing2"], Policy::ThingScoped, |_| {}).await;
    let size = 1024 * 1024;
    let image = image(size);
    let built = create_job(&bench, "update-big", &image, &["Thing1"]);
    assert_eq!(built.payload, image);

    let mut dev = bench.device("Thing1", "Thing1").await;
    dev.subscribe("$aws/things/Thing1/jobs/notify-next", QoS::AtMostOnce)
        .await;
    let doc = dev.next_job("Thing1").await;
    let file = &doc["execution"]["jobDocument"]["afr_ota"]["files"][0];
    let stream = doc["execution"]["jobDocument"]["afr_ota"]["streamname"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(file["filesize"], size);
    let signature = file["sig-sha256-ecdsa"].as_str().unwrap().to_string();

    // Every 7th block to Thing1 is lost on the way.
    bench.gateway.set_faults(
        "Thing1",
        vec![Fault::Drop(MessageFault {
            dir: DirFilter::Out,
            every: Some(7),
            ..MessageFault::all("$aws/things/Thing1/streams/+/data/cbor")
        })],
    );

    let (progress_tx, mut progress) = watch::channel(0usize);
    let downloader = tokio::spawn(async move {
        let out = download(&mut dev, "Thing1", &stream, size, progress_tx).await;
        (out, dev)
    });
    // Misbehave once the download is under way.
    progress.wait_for(|n| *n >= 16).await.unwrap();
    misbehave(&bench).await;

    let ((data, requests), _dev) = downloader.await.unwrap();
    assert_eq!(data.len(), size);
    assert_eq!(
        Sha256::digest(&data),
        Sha256::digest(&image),
        "downloaded image differs"
    );
    assert!(
        requests > (size / BLOCK) as u32 / PER_REQUEST,
        "dropped blocks were never re-asked"
    );
    let drops = bench
        .timeline
        .events()
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Fault { what } if what.starts_with("dropped")))
        .count();
    assert!(drops > 0, "the drop fault never fired");

    let der = base64::engine::general_purpose::STANDARD
        .decode(&signature)
        .unwrap();
    let layout = bench.layout();
    let trusted = std::fs::read_to_string(layout.codesign_cert()).unwrap();
    let untrusted = std::fs::read_to_string(layout.untrusted_codesign_cert()).unwrap();
    assert!(
        signing::verify_with_cert_pem(&trusted, &data, &der).unwrap(),
        "signature fails with the trusted cert"
    );
    assert!(
        !signing::verify_with_cert_pem(&untrusted, &data, &der).unwrap(),
        "signature verifies with the untrusted cert"
    );
}

/// Bad input from Thing2 and from strangers: each gets an error or a clean
/// disconnect, and is recorded.
async fn misbehave(bench: &Bench) {
    let addr = bench.addr();
    let layout = bench.layout();

    // Malformed CBOR and JSON, and wrong types, get the services' errors.
    let mut t2 = bench.device("Thing2", "Thing2").await;
    t2.publish(
        "$aws/things/Thing2/streams/x/get/cbor",
        QoS::AtMostOnce,
        vec![0xbf, 0xff, 0xff],
    )
    .await;
    t2.publish_on(|t| t.ends_with("/rejected/cbor")).await;
    t2.publish(
        "$aws/things/Thing2/jobs/$next/get",
        QoS::AtLeastOnce,
        "{\"clientToken\":",
    )
    .await;
    t2.publish_on(|t| t.ends_with("$next/get/rejected")).await;
    t2.publish(
        "$aws/things/Thing2/jobs/$next/get",
        QoS::AtLeastOnce,
        r#"{"clientToken":[1,2]}"#,
    )
    .await;
    t2.publish_on(|t| t.ends_with("$next/get/rejected")).await;

    // A payload over the limit: disconnected, topic named.
    t2.publish(
        "$aws/things/Thing2/jobs/$next/get",
        QoS::AtMostOnce,
        vec![b'x'; 200 * 1024],
    )
    .await;
    t2.down().await;

    // Garbage instead of MQTT, over a proper TLS session.
    let connector = TlsConnector::from(pki::client_config(&layout, "Thing2").unwrap());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(&[0x00, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x7f])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(DEADLINE, tls.read_to_end(&mut rest))
        .await
        .expect("garbage connection not closed");
    assert!(
        read.is_err() || rest.is_empty(),
        "garbage got an answer: {rest:?}"
    );

    // TLS without a client certificate.
    let anon = TlsConnector::from(pki::anonymous_client_config(&layout).unwrap());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let refused = match anon
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
    {
        // TLS 1.3: the server's refusal arrives with the first read.
        Ok(mut s) => {
            let _ = s.write_all(b"\x10\x00").await;
            let mut buf = [0u8; 16];
            !matches!(tokio::time::timeout(DEADLINE, s.read(&mut buf)).await.expect("no refusal"), Ok(n) if n > 0)
        }
        Err(_) => true,
    };
    assert!(refused, "a TLS client without certificate was served");

    let reason = bench.disconnect_reason("Thing2").await;
    assert!(
        reason.contains("$aws/things/Thing2/jobs/$next/get") && reason.contains("max_message_size"),
        "{reason}"
    );
    bench
        .wait_event("the refused certificate-less client", |e| {
            matches!(&e.kind, EventKind::Connection { connected: false, reason: Some(r), .. } if r.contains("TLS handshake"))
        })
        .await;
}
