//! The gateway as AWS IoT Core for the Jobs and stream services: replies go
//! to the requesting connection only, subscribed or not; notifications go to
//! subscribers; invalid requests get the documented errors and nothing stops.

use crate::support::gateway::*;
use otarig::cloud::gateway::Policy;
use rumqttc::QoS;

const NEXT_GET: &str = "$aws/things/Thing1/jobs/$next/get";
const ACCEPTED: &str = "$aws/things/Thing1/jobs/$next/get/accepted";

#[tokio::test]
async fn v3_device_subscribed_only_to_notify_next_gets_its_next_get_reply() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    create_job(&bench, "update-1", &[1, 2, 3, 4], &["Thing1"]);
    let mut dev = bench.device("Thing1", "Thing1").await;
    // v3 (ota_mqtt.c since v3.0.0): subscribe to notify-next only, then ask.
    dev.subscribe("$aws/things/Thing1/jobs/notify-next", QoS::AtMostOnce)
        .await;
    dev.publish(NEXT_GET, QoS::AtLeastOnce, r#"{"clientToken":":Thing1"}"#)
        .await;
    let reply = dev.publish_on(|t| t == ACCEPTED).await;
    let body = json(&reply);
    assert_eq!(body["clientToken"], ":Thing1");
    assert_eq!(body["execution"]["jobId"], "update-1");
    assert!(
        body["execution"]["jobDocument"]["afr_ota"].is_object(),
        "jobDocument must be an embedded object"
    );
}

#[tokio::test]
async fn v1_device_subscribed_to_accepted_gets_the_reply_exactly_once() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    create_job(&bench, "update-1", &[1, 2, 3, 4], &["Thing1"]);
    let mut dev = bench.device("Thing1", "Thing1").await;
    dev.subscribe(ACCEPTED, QoS::AtLeastOnce).await;
    dev.subscribe("$aws/things/Thing1/jobs/notify-next", QoS::AtLeastOnce)
        .await;
    dev.publish(NEXT_GET, QoS::AtLeastOnce, r#"{"clientToken":"0:Thing1"}"#)
        .await;
    let first = dev.publish_on(|t| t == ACCEPTED).await;
    assert_eq!(json(&first)["clientToken"], "0:Thing1");
    // One connection, in order: a duplicate of the first reply would come
    // before the answer to the second request.
    dev.publish(NEXT_GET, QoS::AtLeastOnce, r#"{"clientToken":"1:Thing1"}"#)
        .await;
    let second = dev.publish_on(|t| t == ACCEPTED).await;
    assert_eq!(
        json(&second)["clientToken"],
        "1:Thing1",
        "the first reply was delivered twice"
    );
}

#[tokio::test]
async fn replies_reach_no_one_but_the_requester_while_notifications_reach_subscribers() {
    let bench = start_bench(&["Thing1", "Snoop"], Policy::Permissive, |_| {}).await;
    let mut snoop = bench.device("Snoop", "Snoop").await;
    snoop
        .subscribe("$aws/things/Thing1/jobs/#", QoS::AtLeastOnce)
        .await;
    snoop.subscribe("probe/done", QoS::AtLeastOnce).await;
    let mut dev = bench.device("Thing1", "Thing1").await;

    create_job(&bench, "update-1", &[9; 16], &["Thing1"]);
    let notify = snoop.publish_on(|_| true).await;
    assert_eq!(
        notify.topic, "$aws/things/Thing1/jobs/notify-next",
        "notify-next goes to subscribers"
    );

    dev.publish(NEXT_GET, QoS::AtLeastOnce, r#"{"clientToken":"0:Thing1"}"#)
        .await;
    dev.publish_on(|t| t == ACCEPTED).await;
    dev.publish("probe/done", QoS::AtLeastOnce, "x").await;
    // The snooper's queue is in order: a leaked reply would arrive before the
    // probe. notify and notify-next are broadcasts and may come in between.
    loop {
        let next = snoop.publish_on(|_| true).await;
        if next.topic == "probe/done" {
            break;
        }
        assert!(
            next.topic.ends_with("/notify") || next.topic.ends_with("/notify-next"),
            "a reply leaked to a subscriber: {}",
            next.topic
        );
    }
}

#[tokio::test]
async fn every_invalid_request_gets_the_documented_error_and_the_service_keeps_serving() {
    let bench = start_bench(&["Thing1"], Policy::ThingScoped, |_| {}).await;
    let built = create_job(&bench, "update-1", &[7; 10_000], &["Thing1"]);
    let mut dev = bench.device("Thing1", "Thing1").await;
    let stream = format!("$aws/things/Thing1/streams/{}", built.stream_id);

    let jobs_cases: [(&str, &[u8], &str); 4] = [
        (NEXT_GET, b"{not json", "InvalidJson"),
        (
            "$aws/things/Thing1/jobs/no-such-job/update",
            br#"{"status":"IN_PROGRESS"}"#,
            "ResourceNotFound",
        ),
        (
            "$aws/things/Thing1/jobs/update-1/update",
            br#"{"status":5}"#,
            "InvalidRequest",
        ),
        ("$aws/things/Thing1/jobs/frobnicate", b"{}", "InvalidTopic"),
    ];
    for (topic, payload, code) in jobs_cases {
        dev.publish(topic, QoS::AtLeastOnce, payload.to_vec()).await;
        let rejected = format!("{topic}/rejected");
        let reply = dev.publish_on(|t| t == rejected).await;
        assert_eq!(json(&reply)["code"], code, "{topic}");
    }

    let good = get_stream_cbor("t", 0, 4096, 0, &[0x01], 1);
    let mut wrong_type = cbor_map(&good);
    wrong_type.insert("l".into(), ciborium::Value::Text("4096".into()));
    let wrong_type = {
        let v = ciborium::Value::Map(
            wrong_type
                .into_iter()
                .map(|(k, v)| (ciborium::Value::Text(k), v))
                .collect(),
        );
        let mut out = Vec::new();
        ciborium::into_writer(&v, &mut out).unwrap();
        out
    };
    let stream_cases: [(String, Vec<u8>, &str, &str); 5] = [
        (
            format!("{stream}/get/cbor"),
            vec![0xff, 0x00, 0x13],
            "rejected/cbor",
            "InvalidCbor",
        ),
        (
            format!("{stream}/get/json"),
            b"{\"f\":".to_vec(),
            "rejected/json",
            "InvalidJson",
        ),
        (
            format!("{stream}/get/cbor"),
            wrong_type,
            "rejected/cbor",
            "InvalidRequest",
        ),
        (
            format!("{stream}/get/cbor"),
            get_stream_cbor("t", 0, 10, 0, &[1], 1),
            "rejected/cbor",
            "BlockSizeOutOfBounds",
        ),
        (
            "$aws/things/Thing1/streams/nope/get/cbor".into(),
            good.clone(),
            "rejected/cbor",
            "ResourceNotFound",
        ),
    ];
    for (topic, payload, suffix, code) in stream_cases {
        dev.publish(&topic, QoS::AtMostOnce, payload).await;
        let reply = dev.publish_on(|t| t.ends_with(suffix)).await;
        let fields = cbor_or_json_code(&reply.payload, suffix);
        assert_eq!(fields, code, "{topic}");
    }

    // Still serving, on the same connection.
    dev.publish(&format!("{stream}/get/cbor"), QoS::AtMostOnce, good)
        .await;
    let block = dev.publish_on(|t| t.ends_with("/data/cbor")).await;
    let (file, index, data) = decode_block(&block.payload);
    assert_eq!((file, index, data.len()), (0, 0, 4096));
}

fn cbor_or_json_code(payload: &[u8], suffix: &str) -> String {
    if suffix.ends_with("json") {
        let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
        v["o"].as_str().unwrap_or_default().to_string()
    } else {
        cbor_map(payload)
            .get("o")
            .and_then(|v| v.as_text())
            .unwrap_or_default()
            .to_string()
    }
}
