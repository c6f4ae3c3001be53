//! Decoding GetStream and DescribeStream requests from CBOR or JSON into
//! typed requests, with the error codes of §3.5 for what AWS refuses.

use std::collections::BTreeMap;

use super::{ErrorCode, Format, StreamRejection};

/// The client token cap of the file delivery service.
const MAX_CLIENT_TOKEN: usize = 64;
/// Service quotas (AWS IoT Core, MQTT-based file delivery).
pub const MIN_BLOCK_SIZE: i128 = 256;
pub const MAX_BLOCK_SIZE: i128 = 131_072;
pub const MAX_OFFSET: i128 = 98_304;
pub const MAX_BLOCK_COUNT: i128 = 98_304;
/// The bitmap must be shorter than this many bytes.
pub const MAX_BITMAP_BYTES: usize = 12_288;

/// One decoded field value, whatever the format.
enum Field {
    Int(i128),
    Text(String),
    Bytes(Vec<u8>),
    Other,
}

/// A decoded request map and its valid client token.
pub(super) struct Fields {
    map: BTreeMap<String, Field>,
    pub client_token: Option<String>,
    format: Format,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct GetStreamRequest {
    pub version: Option<u64>,
    pub file_id: i128,
    pub block_size: u32,
    pub offset: u32,
    /// `None` when absent or 0 (then 131072 / `l` applies).
    pub count: Option<u32>,
    pub bitmap: Option<Vec<u8>>,
}

impl Fields {
    /// Decodes a request; an empty payload counts as an empty map.
    pub fn decode(format: Format, payload: &[u8]) -> Result<Fields, StreamRejection> {
        let map = if payload.iter().all(u8::is_ascii_whitespace) {
            BTreeMap::new()
        } else {
            match format {
                Format::Cbor => decode_cbor(payload)?,
                Format::Json => decode_json(payload)?,
            }
        };
        let client_token = match map.get("c") {
            None => None,
            Some(Field::Text(c)) if c.len() <= MAX_CLIENT_TOKEN => Some(c.clone()),
            Some(Field::Text(c)) => {
                let mut rej = StreamRejection::new(
                    ErrorCode::InvalidRequest,
                    format!("client token is longer than {MAX_CLIENT_TOKEN} bytes"),
                );
                rej.echo = Some(c.clone());
                return Err(rej);
            }
            Some(_) => {
                return Err(StreamRejection::new(
                    ErrorCode::InvalidRequest,
                    "client token `c` must be text",
                ))
            }
        };
        Ok(Fields {
            map,
            client_token,
            format,
        })
    }

    fn int(&self, key: &str) -> Result<Option<i128>, StreamRejection> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Field::Int(n)) => Ok(Some(*n)),
            Some(_) => Err(invalid(format!("`{key}` must be an integer"))),
        }
    }

    fn bitmap(&self) -> Result<Option<Vec<u8>>, StreamRejection> {
        match (self.map.get("b"), self.format) {
            (None, _) => Ok(None),
            (Some(Field::Bytes(b)), Format::Cbor) => Ok(Some(b.clone())),
            (Some(Field::Text(hex)), Format::Json) => parse_hex(hex).map(Some),
            (Some(_), Format::Cbor) => Err(invalid("`b` must be a byte string")),
            (Some(_), Format::Json) => {
                Err(invalid("`b` must be a hex string such as \"0x130080\""))
            }
        }
    }

    /// Type and range checks of GetStream, in the order the codes are listed.
    pub fn get_stream(&self) -> Result<GetStreamRequest, StreamRejection> {
        let version = self.int("s")?;
        let file_id = self
            .int("f")?
            .ok_or_else(|| invalid("file id `f` is required"))?;
        let block_size = self
            .int("l")?
            .ok_or_else(|| invalid("block size `l` is required"))?;
        let offset = self.int("o")?.unwrap_or(0);
        let count = self.int("n")?;
        let bitmap = self.bitmap()?;
        let version = match version {
            Some(s) => Some(
                u64::try_from(s).map_err(|_| invalid("stream version `s` must not be negative"))?,
            ),
            None => None,
        };
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size) {
            return Err(StreamRejection::new(
                ErrorCode::BlockSizeOutOfBounds,
                format!("block size {block_size} is outside {MIN_BLOCK_SIZE}..={MAX_BLOCK_SIZE}"),
            ));
        }
        if !(0..=MAX_OFFSET).contains(&offset) {
            return Err(StreamRejection::new(
                ErrorCode::OffsetOutOfBounds,
                format!("block offset {offset} is outside 0..={MAX_OFFSET}"),
            ));
        }
        if let Some(n) = count.filter(|n| !(0..=MAX_BLOCK_COUNT).contains(n)) {
            return Err(StreamRejection::new(
                ErrorCode::BlockCountLimitExceeded,
                format!("block count {n} is outside 0..={MAX_BLOCK_COUNT}"),
            ));
        }
        if let Some(b) = bitmap.as_ref().filter(|b| b.len() >= MAX_BITMAP_BYTES) {
            return Err(StreamRejection::new(
                ErrorCode::BlockBitmapLimitExceeded,
                format!(
                    "bitmap of {} bytes; it must be under {MAX_BITMAP_BYTES}",
                    b.len()
                ),
            ));
        }
        Ok(GetStreamRequest {
            version,
            file_id,
            block_size: block_size as u32,
            offset: offset as u32,
            count: count.filter(|&n| n > 0).map(|n| n as u32),
            bitmap,
        })
    }
}

fn invalid(message: impl Into<String>) -> StreamRejection {
    StreamRejection::new(ErrorCode::InvalidRequest, message)
}

fn decode_cbor(payload: &[u8]) -> Result<BTreeMap<String, Field>, StreamRejection> {
    use ciborium::Value;
    let value: Value = ciborium::de::from_reader(payload).map_err(|e| {
        StreamRejection::new(
            ErrorCode::InvalidCbor,
            format!("payload is not valid CBOR: {e}"),
        )
    })?;
    let Value::Map(entries) = value else {
        return Err(invalid("request must be a CBOR map"));
    };
    let mut map = BTreeMap::new();
    for (key, value) in entries {
        let Value::Text(key) = key else {
            return Err(invalid("request map keys must be text"));
        };
        let field = match value {
            Value::Integer(i) => Field::Int(i.into()),
            Value::Text(t) => Field::Text(t),
            Value::Bytes(b) => Field::Bytes(b),
            _ => Field::Other,
        };
        map.insert(key, field);
    }
    Ok(map)
}

fn decode_json(payload: &[u8]) -> Result<BTreeMap<String, Field>, StreamRejection> {
    use serde_json::Value;
    let value: Value = serde_json::from_slice(payload).map_err(|e| {
        StreamRejection::new(
            ErrorCode::InvalidJson,
            format!("payload is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(entries) = value else {
        return Err(invalid("request must be a JSON object"));
    };
    Ok(entries
        .into_iter()
        .map(|(key, value)| {
            let field = match value {
                Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => Field::Int(i.into()),
                    (None, Some(u)) => Field::Int(u.into()),
                    _ => Field::Other,
                },
                Value::String(s) => Field::Text(s),
                _ => Field::Other,
            };
            (key, field)
        })
        .collect())
}

/// `"0x130080"` (or without `0x`) → bytes 13 00 80.
fn parse_hex(text: &str) -> Result<Vec<u8>, StreamRejection> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    let bad = || {
        invalid(format!(
            "bitmap `{text}` is not an even number of hex digits"
        ))
    };
    if digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| bad()))
        .collect()
}
