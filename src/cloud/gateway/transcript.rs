//! The MQTT transcript: every packet through the gateway becomes an
//! `EventKind::Mqtt`, connects and disconnects `EventKind::Connection`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use ciborium::Value as Cbor;
use rumqttc::mqttbytes::v4::Packet;
use serde_json::Value as Json;

use crate::timeline::{Direction, EventKind, EventSink, Source};

/// Who a connection is, for its events.
#[derive(Clone, Debug, Default)]
pub(crate) struct Who {
    pub conn: u64,
    pub client_id: String,
    pub thing: Option<String>,
}

/// Emits transcript events with the right source and payload rendering.
pub(crate) struct Transcript {
    sink: Arc<dyn EventSink>,
    boards: HashMap<String, String>,
    limit: usize,
}

impl Transcript {
    pub fn new(sink: Arc<dyn EventSink>, boards: HashMap<String, String>, limit: usize) -> Self {
        Transcript {
            sink,
            boards,
            limit,
        }
    }

    /// The board a thing belongs to, when the rig said so; the cloud otherwise.
    pub fn source(&self, thing: Option<&str>) -> Source {
        match thing.and_then(|t| self.boards.get(t)) {
            Some(board) => Source::board(board.clone()),
            None => Source::Cloud,
        }
    }

    pub fn packet(&self, who: &Who, dir: Direction, packet: &Packet) {
        let (topic, qos, payload, len) = match packet {
            Packet::Publish(p) => (
                Some(p.topic.clone()),
                Some(p.qos as u8),
                Some(render_payload(&p.payload, self.limit)),
                p.payload.len(),
            ),
            Packet::Subscribe(s) => (
                Some(join(s.filters.iter().map(|f| f.path.as_str()))),
                s.filters.iter().map(|f| f.qos as u8).max(),
                None,
                0,
            ),
            Packet::Unsubscribe(u) => (
                Some(join(u.topics.iter().map(String::as_str))),
                None,
                None,
                0,
            ),
            Packet::SubAck(s) => (
                None,
                None,
                Some(format!("{:?}", s.return_codes)),
                s.return_codes.len(),
            ),
            Packet::ConnAck(c) => (None, None, Some(format!("{:?}", c.code)), 0),
            _ => (None, None, None, 0),
        };
        self.sink.emit(
            self.source(who.thing.as_deref()),
            EventKind::Mqtt {
                conn: who.conn,
                client_id: who.client_id.clone(),
                thing: who.thing.clone(),
                dir,
                packet: packet_name(packet).to_string(),
                topic,
                qos,
                payload,
                len,
            },
        );
    }

    pub fn connection(&self, who: &Who, connected: bool, reason: Option<String>) {
        self.sink.emit(
            self.source(who.thing.as_deref()),
            EventKind::Connection {
                conn: who.conn,
                client_id: who.client_id.clone(),
                thing: who.thing.clone(),
                connected,
                reason,
            },
        );
    }

    pub fn fault(&self, thing: Option<&str>, what: String) {
        self.sink
            .emit(self.source(thing), EventKind::Fault { what });
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

pub(crate) fn packet_name(packet: &Packet) -> &'static str {
    match packet {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect => "DISCONNECT",
    }
}

/// UTF-8 as text, a CBOR map or array as JSON text (byte strings shown as a
/// hex prefix and their length), anything else as hex; cut to `limit` chars.
pub fn render_payload(payload: &[u8], limit: usize) -> String {
    let text = if let Ok(s) = std::str::from_utf8(payload) {
        s.to_string()
    } else if let Some(json) = cbor_as_json(payload) {
        json
    } else {
        hex(&payload[..payload.len().min(limit / 2 + 1)])
    };
    truncate(text, limit)
}

fn truncate(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Only a whole-buffer CBOR map or array counts: short binary blobs often parse
/// as some CBOR scalar by accident.
fn cbor_as_json(payload: &[u8]) -> Option<String> {
    let mut rest = payload;
    let value: Cbor = ciborium::from_reader(&mut rest).ok()?;
    if !rest.is_empty() || !matches!(value, Cbor::Map(_) | Cbor::Array(_)) {
        return None;
    }
    serde_json::to_string(&to_json(&value)).ok()
}

fn to_json(value: &Cbor) -> Json {
    match value {
        Cbor::Integer(i) => {
            let i = i128::from(*i);
            i64::try_from(i)
                .map(Json::from)
                .unwrap_or_else(|_| Json::String(i.to_string()))
        }
        Cbor::Bytes(b) => {
            const SHOWN: usize = 16;
            let more = if b.len() > SHOWN { "…" } else { "" };
            Json::String(format!(
                "h'{}{more}' ({} bytes)",
                hex(&b[..b.len().min(SHOWN)]),
                b.len()
            ))
        }
        Cbor::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Cbor::Text(s) => Json::String(s.clone()),
        Cbor::Bool(b) => Json::Bool(*b),
        Cbor::Null => Json::Null,
        Cbor::Tag(_, inner) => to_json(inner),
        Cbor::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Cbor::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cbor::Text(s) => s.clone(),
                        other => to_json(other).to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        _ => Json::Null,
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_payloads_are_shown_as_text() {
        assert_eq!(
            render_payload(br#"{"clientToken":"0:T"}"#, 100),
            r#"{"clientToken":"0:T"}"#
        );
    }

    #[test]
    fn cbor_maps_are_shown_as_json_with_byte_strings_abbreviated() {
        let block = ciborium::Value::Map(vec![
            (Cbor::Text("f".into()), Cbor::Integer(0.into())),
            (Cbor::Text("i".into()), Cbor::Integer(3.into())),
            (Cbor::Text("p".into()), Cbor::Bytes(vec![0xAB; 4096])),
        ]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&block, &mut bytes).unwrap();
        let shown = render_payload(&bytes, 2048);
        let json: Json = serde_json::from_str(&shown).unwrap();
        assert_eq!(json["i"], 3);
        assert!(json["p"].as_str().unwrap().ends_with("(4096 bytes)"));
    }

    #[test]
    fn other_binary_is_hex_and_long_text_is_cut() {
        assert_eq!(render_payload(&[0xff, 0x00, 0x10], 100), "ff0010");
        let long = "x".repeat(5000);
        let shown = render_payload(long.as_bytes(), 100);
        assert_eq!(shown.chars().count(), 101);
        assert!(shown.ends_with('…'));
    }
}
