//! MQTT 3.1.1 rules for malformed packets that the codec (rumqttc's
//! mqttbytes) does not apply. Checked on a frame's raw bytes before it is
//! decoded; a breach closes the connection without a reply (§4.8).

use rumqttc::mqttbytes::v4::{Connect, Packet};

/// Why a frame is malformed, with the section of MQTT 3.1.1 it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("reserved fixed-header flags {flags:#06b} on {packet} (MQTT 3.1.1 §2.2.2 requires {want:#06b})")]
    HeaderFlags {
        packet: &'static str,
        flags: u8,
        want: u8,
    },
    #[error("PUBLISH with QoS bits 0b11 (MQTT 3.1.1 §3.3.1.2)")]
    PublishQos3,
    #[error("CONNECT with the reserved connect flag set (MQTT 3.1.1 §3.1.2.3)")]
    ConnectReserved,
    #[error("CONNECT with will QoS or retain but no will flag, or will QoS 3 (MQTT 3.1.1 §3.1.2.6, §3.1.2.7)")]
    ConnectWill,
    #[error("CONNECT with a password but no user name (MQTT 3.1.1 §3.1.2.9)")]
    ConnectPassword,
    #[error("SUBSCRIBE with reserved bits set in a requested QoS byte (MQTT 3.1.1 §3.8.3.1)")]
    SubscribeOptions,
    #[error("UNSUBSCRIBE without a topic filter (MQTT 3.1.1 §3.10.3)")]
    EmptyUnsubscribe,
    #[error("U+0000 in {what} (MQTT 3.1.1 §1.5.3)")]
    NulInString { what: &'static str },
}

/// Checks one whole frame (fixed header included), before decoding.
pub fn check_frame(frame: &[u8]) -> Result<(), Malformed> {
    let Some(&byte1) = frame.first() else {
        return Ok(());
    };
    let (kind, flags) = (byte1 >> 4, byte1 & 0x0f);
    let want = match kind {
        3 => {
            return if (flags >> 1) & 0b11 == 0b11 {
                Err(Malformed::PublishQos3)
            } else {
                Ok(())
            }
        }
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    if flags != want {
        return Err(Malformed::HeaderFlags {
            packet: name(kind),
            flags,
            want,
        });
    }
    let body = body(frame).unwrap_or_default();
    match kind {
        1 => check_connect_flags(body),
        8 => check_subscribe_options(body),
        _ => Ok(()),
    }
}

/// Checks a decoded packet: strings without U+0000, an UNSUBSCRIBE with a filter.
pub fn check_decoded(packet: &Packet) -> Result<(), Malformed> {
    if matches!(packet, Packet::Unsubscribe(u) if u.topics.is_empty()) {
        return Err(Malformed::EmptyUnsubscribe);
    }
    let nul = |s: &str| s.contains('\0');
    let bad = match packet {
        Packet::Connect(c) => connect_nul(c),
        Packet::Publish(p) if nul(&p.topic) => Some("the topic name"),
        Packet::Subscribe(s) if s.filters.iter().any(|f| nul(&f.path)) => Some("a topic filter"),
        Packet::Unsubscribe(u) if u.topics.iter().any(|t| nul(t)) => Some("a topic filter"),
        _ => None,
    };
    bad.map_or(Ok(()), |what| Err(Malformed::NulInString { what }))
}

fn connect_nul(c: &Connect) -> Option<&'static str> {
    if c.client_id.contains('\0') {
        return Some("the client id");
    }
    if c.last_will.as_ref().is_some_and(|w| w.topic.contains('\0')) {
        return Some("the will topic");
    }
    c.login
        .as_ref()
        .is_some_and(|l| l.username.contains('\0'))
        .then_some("the user name")
}

/// The variable header and payload of a frame.
fn body(frame: &[u8]) -> Option<&[u8]> {
    let mut i = 1;
    while frame.get(i)? & 0x80 != 0 {
        i += 1;
        if i > 4 {
            return None;
        }
    }
    frame.get(i + 1..)
}

fn check_connect_flags(body: &[u8]) -> Result<(), Malformed> {
    // Protocol name (u16-prefixed), then the level, then the connect flags.
    let Some(name_len) = body
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return Ok(()); // too short: the codec reports it
    };
    let Some(&flags) = body.get(2 + name_len + 1) else {
        return Ok(());
    };
    let (will, will_qos, will_retain) = (flags & 0x04 != 0, (flags >> 3) & 0b11, flags & 0x20);
    let (password, user) = (flags & 0x40 != 0, flags & 0x80 != 0);
    if flags & 0x01 != 0 {
        Err(Malformed::ConnectReserved)
    } else if will_qos == 0b11 || (!will && (will_qos != 0 || will_retain != 0)) {
        Err(Malformed::ConnectWill)
    } else if password && !user {
        Err(Malformed::ConnectPassword)
    } else {
        Ok(())
    }
}

fn check_subscribe_options(body: &[u8]) -> Result<(), Malformed> {
    let mut rest = body.get(2..).unwrap_or_default(); // after the packet id
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let Some(&options) = rest.get(2 + len) else {
            return Ok(()); // truncated: the codec reports it
        };
        if options & 0xfc != 0 {
            return Err(Malformed::SubscribeOptions);
        }
        rest = &rest[3 + len..];
    }
    Ok(())
}

fn name(kind: u8) -> &'static str {
    match kind {
        1 => "CONNECT",
        2 => "CONNACK",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        _ => "a packet of reserved type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rumqttc::mqttbytes::v4::{Publish, Subscribe};
    use rumqttc::mqttbytes::QoS;

    fn encode(p: Packet) -> Vec<u8> {
        let mut buf = BytesMut::new();
        p.write(&mut buf, 1 << 20).unwrap();
        buf.to_vec()
    }

    fn connect() -> Vec<u8> {
        encode(Packet::Connect(Connect::new("T")))
    }

    /// Offset of the connect flags in an encoded CONNECT with a short header.
    const CONNECT_FLAGS: usize = 2 + 2 + 4 + 1;

    #[test]
    fn well_formed_packets_pass() {
        assert_eq!(check_frame(&connect()), Ok(()));
        let sub = Subscribe::new("$aws/things/T/jobs/notify-next", QoS::AtLeastOnce);
        assert_eq!(check_frame(&encode(Packet::Subscribe(sub))), Ok(()));
        let mut publish = Publish::new("a/b", QoS::AtLeastOnce, b"x".to_vec());
        publish.pkid = 1;
        assert_eq!(check_frame(&encode(Packet::Publish(publish))), Ok(()));
        assert_eq!(check_frame(&[0xc0, 0x00]), Ok(())); // PINGREQ
    }

    #[test]
    fn reserved_connect_flag_is_malformed() {
        let mut c = connect();
        c[CONNECT_FLAGS] |= 0x01;
        assert_eq!(check_frame(&c), Err(Malformed::ConnectReserved));
    }

    #[test]
    fn will_bits_without_a_will_are_malformed() {
        let mut c = connect();
        c[CONNECT_FLAGS] |= 0x08; // will QoS 1, no will flag
        assert_eq!(check_frame(&c), Err(Malformed::ConnectWill));
        let mut c = connect();
        c[CONNECT_FLAGS] |= 0x40; // password, no user name
        assert_eq!(check_frame(&c), Err(Malformed::ConnectPassword));
    }

    #[test]
    fn subscribe_needs_flags_0010_and_clean_option_bytes() {
        let sub = encode(Packet::Subscribe(Subscribe::new("a", QoS::AtMostOnce)));
        let mut flags = sub.clone();
        flags[0] = 0x80;
        assert!(matches!(
            check_frame(&flags),
            Err(Malformed::HeaderFlags {
                packet: "SUBSCRIBE",
                ..
            })
        ));
        let mut options = sub;
        *options.last_mut().unwrap() |= 0x40;
        assert_eq!(check_frame(&options), Err(Malformed::SubscribeOptions));
    }

    #[test]
    fn other_reserved_flags_and_qos3_are_malformed() {
        assert!(check_frame(&[0xc1, 0x00]).is_err()); // PINGREQ with a flag
        assert!(check_frame(&[0xe8, 0x00]).is_err()); // DISCONNECT with flags
        assert_eq!(
            check_frame(&[0x36, 0x03, 0x00, 0x01, b'a']),
            Err(Malformed::PublishQos3)
        );
    }

    #[test]
    fn nul_in_a_string_is_malformed() {
        let c = Packet::Connect(Connect::new("a\0b"));
        assert_eq!(
            check_decoded(&c),
            Err(Malformed::NulInString {
                what: "the client id"
            })
        );
        let p = Packet::Publish(Publish::new("a\0", QoS::AtMostOnce, vec![]));
        assert!(check_decoded(&p).is_err());
        let mut empty = rumqttc::mqttbytes::v4::Unsubscribe::new("a");
        empty.topics.clear();
        assert_eq!(
            check_decoded(&Packet::Unsubscribe(empty)),
            Err(Malformed::EmptyUnsubscribe)
        );
        assert!(check_decoded(&Packet::Connect(Connect::new("ok"))).is_ok());
    }
}
