use super::*;

fn limits() -> Limits {
    Limits {
        max_inflight: 3,
        max_queued: 4,
        ..Limits::default()
    }
}

fn state(now: Instant) -> SessionState {
    SessionState::new(limits(), 60, None, Duration::from_secs(20), now)
}

fn qos1(topic: &str) -> Publish {
    Publish::new(topic, QoS::AtLeastOnce, b"x".to_vec())
}

#[test]
fn the_window_holds_qos1_until_acknowledged() {
    let t0 = Instant::now();
    let mut s = state(t0);
    let mut sent = Vec::new();
    for _ in 0..5 {
        sent.extend(s.publish(qos1("a"), t0).unwrap());
    }
    assert_eq!(sent.len(), 3, "only the window goes out");
    assert_eq!(s.inflight(), 3);
    // QoS 0 is not held by the window, but keeps its place in the queue.
    assert!(s
        .publish(Publish::new("a", QoS::AtMostOnce, vec![]), t0)
        .unwrap()
        .is_empty());
    assert!(s.puback(sent[0].pkid));
    assert!(!s.puback(sent[0].pkid), "a second PUBACK matches nothing");
    let next = s.poll(t0).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].qos, QoS::AtLeastOnce);
}

#[test]
fn a_device_that_never_acknowledges_is_a_slow_consumer_not_a_spin() {
    let t0 = Instant::now();
    let mut s = state(t0);
    let mut result = Ok(Vec::new());
    // 70,000 messages: without a window the 16-bit packet ids ran out here.
    for _ in 0..70_000 {
        result = s.publish(qos1("a"), t0);
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(
        result,
        Err(Breach::SlowConsumer {
            queued: 5,
            inflight: 3,
            ..
        })
    ));
}

#[test]
fn packet_ids_stay_unique_and_nonzero_across_wraparound() {
    let t0 = Instant::now();
    let mut s = SessionState::new(
        Limits {
            max_inflight: 100,
            ..Limits::default()
        },
        60,
        None,
        Duration::from_secs(20),
        t0,
    );
    let mut held = std::collections::BTreeSet::new();
    for i in 0..200_000u32 {
        let out = s.publish(qos1("a"), t0).unwrap();
        for p in out {
            assert_ne!(p.pkid, 0);
            assert!(
                held.insert(p.pkid),
                "pkid {} reused while in flight",
                p.pkid
            );
        }
        // Acknowledge all but a few long-lived ones, so ids wrap around them.
        if i % 3 == 0 {
            if let Some(&id) = held.iter().find(|id| **id % 7 != 0) {
                held.remove(&id);
                s.puback(id);
            }
        }
        if s.inflight() == 100 {
            let id = *held.iter().next().unwrap();
            held.remove(&id);
            s.puback(id);
            held.extend(s.poll(t0).unwrap().into_iter().map(|p| p.pkid));
        }
    }
}

#[test]
fn unacknowledged_messages_are_resent_with_dup_after_the_retry_interval() {
    let t0 = Instant::now();
    let mut s = state(t0);
    let first = s.publish(qos1("a"), t0).unwrap();
    assert!(!first[0].dup);
    assert_eq!(s.next_deadline(), t0 + Duration::from_secs(20));
    assert!(s.poll(t0 + Duration::from_secs(19)).unwrap().is_empty());
    // The device keeps talking, so keep-alive does not end it first.
    s.packet_received(t0 + Duration::from_secs(20));
    let again = s.poll(t0 + Duration::from_secs(20)).unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].dup);
    assert_eq!(again[0].pkid, first[0].pkid);
}

#[test]
fn keep_alive_expires_at_one_and_a_half_times_and_packets_restart_it() {
    let t0 = Instant::now();
    let mut s = state(t0); // 60 s keep-alive
    s.packet_received(t0 + Duration::from_secs(50));
    assert!(s.poll(t0 + Duration::from_secs(139)).is_ok());
    assert_eq!(
        s.poll(t0 + Duration::from_secs(140)),
        Err(Breach::KeepAlive(Duration::from_secs(90)))
    );
}

#[test]
fn keep_alive_zero_gets_the_aws_maximum() {
    let t0 = Instant::now();
    let s = SessionState::new(Limits::default(), 0, None, Duration::from_secs(20), t0);
    assert_eq!(s.next_deadline(), t0 + Duration::from_secs(1800));
}

#[test]
fn stream_data_is_paced_other_messages_wait_their_turn() {
    let t0 = Instant::now();
    let gap = Duration::from_millis(100);
    let mut s = SessionState::new(limits(), 60, Some(gap), Duration::from_secs(20), t0);
    let data = "$aws/things/T/streams/S/data/cbor";
    assert_eq!(s.publish(qos1(data), t0).unwrap().len(), 1);
    assert!(s.publish(qos1(data), t0).unwrap().is_empty());
    assert!(
        s.publish(qos1("other"), t0).unwrap().is_empty(),
        "order kept"
    );
    assert_eq!(s.next_deadline(), t0 + gap);
    assert_eq!(s.poll(t0 + gap).unwrap().len(), 2);
}

#[test]
fn unacknowledged_and_queued_qos1_are_kept_for_the_session() {
    let t0 = Instant::now();
    let mut s = state(t0);
    for _ in 0..4 {
        s.publish(qos1("a"), t0).unwrap();
    }
    s.publish(Publish::new("a", QoS::AtMostOnce, vec![]), t0)
        .unwrap();
    let kept = s.take_unacked();
    assert_eq!(kept.len(), 4, "QoS 0 is not kept");
    assert!(kept[..3].iter().all(|p| p.dup));
    assert!(!kept[3].dup);
    assert_eq!(s.inflight(), 0);
}

#[test]
fn subscribe_limits_follow_aws_iot() {
    let t0 = Instant::now();
    let s = SessionState::new(Limits::default(), 60, None, Duration::from_secs(20), t0);
    let many = |n: usize| {
        Subscribe::new_many((0..n).map(|i| {
            rumqttc::mqttbytes::v4::SubscribeFilter::new(format!("t/{i}"), QoS::AtLeastOnce)
        }))
    };
    assert!(s.subscribe(&many(8), &[]).is_ok());
    assert_eq!(
        s.subscribe(&many(9), &[]),
        Err(Breach::TooManyFilters { count: 9, max: 8 })
    );
    let existing: Vec<(String, QoS)> = (0..49)
        .map(|i| (format!("e/{i}"), QoS::AtLeastOnce))
        .collect();
    let grants = s.subscribe(&many(2), &existing).unwrap();
    assert_eq!(grants[0], Grant::Granted(QoS::AtLeastOnce));
    assert!(
        matches!(grants[1], Grant::Refused(_)),
        "the 51st is refused"
    );
    // Re-subscribing to a filter the session has does not count again.
    let again = Subscribe::new("e/0", QoS::AtMostOnce);
    let full: Vec<(String, QoS)> = (0..50)
        .map(|i| (format!("e/{i}"), QoS::AtLeastOnce))
        .collect();
    assert_eq!(
        s.subscribe(&again, &full).unwrap(),
        vec![Grant::Granted(QoS::AtMostOnce)]
    );
    let long = Subscribe::new("x".repeat(257), QoS::AtMostOnce);
    assert!(matches!(
        s.subscribe(&long, &[]).unwrap()[0],
        Grant::Refused(_)
    ));
    let deep = Subscribe::new("a/b/c/d/e/f/g/h/i", QoS::AtMostOnce);
    assert!(matches!(
        s.subscribe(&deep, &[]).unwrap()[0],
        Grant::Refused(_)
    ));
    let bad = Subscribe::new("a/#/b", QoS::AtMostOnce);
    assert!(matches!(
        s.subscribe(&bad, &[]).unwrap()[0],
        Grant::Refused(_)
    ));
}
