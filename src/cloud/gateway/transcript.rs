//! The MQTT transcript: every packet through the gateway becomes an
//! `EventKind::Mqtt`, connects and disconnects `EventKind::Connection`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use ciborium_ll::{simple, Decoder, Header};
use rumqttc::mqttbytes::v4::Packet;

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
/// as some CBOR scalar by accident. Rendered straight from the bytes, without building
/// a value first: a stream's data blocks are most of a fleet's transcript.
fn cbor_as_json(payload: &[u8]) -> Option<String> {
    // Major types 4 (array) and 5 (map).
    if !matches!(payload.first()? >> 5, 4 | 5) {
        return None;
    }
    let mut decoder = Decoder::from(payload);
    let mut out = String::with_capacity(96);
    render(&mut decoder, &mut out, 0)?;
    (decoder.offset() == payload.len()).then_some(out)
}

/// Deeper nesting is not a message the OTA protocol sends: shown as hex instead.
const MAX_DEPTH: usize = 16;
/// Bytes of a byte string shown before its length.
const BYTES_SHOWN: usize = 16;

/// Appends the JSON rendering of the next CBOR item; `None` if it is not well-formed.
fn render(dec: &mut Decoder<&[u8]>, out: &mut String, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    match dec.pull().ok()? {
        Header::Positive(n) => {
            let _ = write!(out, "{n}");
        }
        Header::Negative(n) => {
            let _ = write!(out, "{}", n as i128 ^ !0);
        }
        Header::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f}");
        }
        Header::Float(_) => out.push_str("null"),
        Header::Simple(simple::FALSE) => out.push_str("false"),
        Header::Simple(simple::TRUE) => out.push_str("true"),
        Header::Simple(_) => out.push_str("null"),
        Header::Tag(_) => render(dec, out, depth + 1)?,
        Header::Bytes(len) => {
            let (shown, total) = byte_string(dec, len)?;
            let more = if total > shown.len() { "…" } else { "" };
            let _ = write!(out, "\"h'{}{more}' ({total} bytes)\"", hex(&shown));
        }
        Header::Text(len) => json_string(&text_string(dec, len)?, out),
        Header::Array(len) => {
            out.push('[');
            for i in 0.. {
                if len.is_some_and(|n| i == n) || (len.is_none() && at_break(dec)?) {
                    break;
                }
                if i > 0 {
                    out.push(',');
                }
                render(dec, out, depth + 1)?;
            }
            out.push(']');
        }
        Header::Map(len) => {
            out.push('{');
            for i in 0.. {
                if len.is_some_and(|n| i == n) || (len.is_none() && at_break(dec)?) {
                    break;
                }
                if i > 0 {
                    out.push(',');
                }
                // A text key as itself; any other key as its JSON text, quoted.
                let mut key = String::new();
                match dec.pull().ok()? {
                    Header::Text(len) => key = text_string(dec, len)?,
                    other => {
                        dec.push(other);
                        render(dec, &mut key, depth + 1)?;
                    }
                }
                json_string(&key, out);
                out.push(':');
                render(dec, out, depth + 1)?;
            }
            out.push('}');
        }
        Header::Break => return None,
    }
    Some(())
}

/// Whether an indefinite-length array or map ends here (the break is consumed).
fn at_break(dec: &mut Decoder<&[u8]>) -> Option<bool> {
    match dec.pull().ok()? {
        Header::Break => Some(true),
        other => {
            dec.push(other);
            Some(false)
        }
    }
}

/// The first [`BYTES_SHOWN`] bytes of a byte string and its length; the rest is skipped.
fn byte_string(dec: &mut Decoder<&[u8]>, len: Option<usize>) -> Option<(Vec<u8>, usize)> {
    let mut shown = Vec::with_capacity(BYTES_SHOWN);
    let mut total = 0;
    let mut buf = [0u8; 256];
    let mut segments = dec.bytes(len);
    while let Some(mut segment) = segments.pull().ok()? {
        while let Some(chunk) = segment.pull(&mut buf).ok()? {
            let room = BYTES_SHOWN - shown.len();
            shown.extend_from_slice(&chunk[..chunk.len().min(room)]);
            total += chunk.len();
        }
    }
    Some((shown, total))
}

fn text_string(dec: &mut Decoder<&[u8]>, len: Option<usize>) -> Option<String> {
    let mut text = String::new();
    let mut buf = [0u8; 256];
    let mut segments = dec.text(len);
    while let Some(mut segment) = segments.pull().ok()? {
        while let Some(chunk) = segment.pull(&mut buf).ok()? {
            text.push_str(chunk);
        }
    }
    Some(text)
}

fn json_string(text: &str, out: &mut String) {
    // serde_json's escaping, straight into `out`.
    let _ = serde_json::to_writer(StringWriter(out), text);
}

/// `io::Write` into a `String` (serde_json writes only UTF-8).
struct StringWriter<'a>(&'a mut String);

impl std::io::Write for StringWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(bytes).map_err(std::io::Error::other)?;
        self.0.push_str(text);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
    use ciborium::Value as Cbor;
    use serde_json::Value as Json;

    use super::*;

    fn cbor(value: &Cbor) -> Vec<u8> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).unwrap();
        bytes
    }

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

    #[test]
    fn cbor_renders_as_the_json_of_its_value() {
        let value = Cbor::Array(vec![
            Cbor::Integer((-5).into()),
            Cbor::Integer(u64::MAX.into()),
            Cbor::Float(1.5),
            Cbor::Bool(true),
            Cbor::Null,
            Cbor::Text("quote \" and \\ and é".into()),
            Cbor::Tag(24, Box::new(Cbor::Bytes(vec![1, 2]))),
            Cbor::Map(vec![(Cbor::Integer(7.into()), Cbor::Array(vec![]))]),
        ]);
        let json: Json = serde_json::from_str(&render_payload(&cbor(&value), 4096)).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                -5,
                u64::MAX,
                1.5,
                true,
                null,
                "quote \" and \\ and é",
                "h'0102' (2 bytes)",
                { "7": [] }
            ])
        );
    }

    #[test]
    fn indefinite_lengths_render_and_broken_cbor_is_hex() {
        // {_ "p": (_ h'0102', h'03'), "t": (_ "a", "b") } with indefinite lengths.
        let bytes = [
            0xbf, 0x61, b'p', 0x5f, 0x42, 1, 2, 0x41, 3, 0xff, 0x61, b't', 0x7f, 0x61, b'a', 0x61,
            b'b', 0xff, 0xff,
        ];
        assert_eq!(
            render_payload(&bytes, 4096),
            r#"{"p":"h'010203' (3 bytes)","t":"ab"}"#
        );
        // Cut short, trailing bytes, a lone break, nesting past the bound: not CBOR here.
        for broken in [
            &bytes[..10],
            &[0xa0, 0x00][..],
            &[0x81, 0xff][..],
            &[0x81; 40][..],
        ] {
            assert_eq!(render_payload(broken, 4096), hex(broken));
        }
    }
}
