//! AWS IoT MQTT-based file delivery ("streams") as a sans-IO service
//! (`topic, payload → replies`; no I/O, no clock).
//!
//! Reproduces AWS IoT's MQTT file-delivery documentation and docs/protocol.md §3:
//! - GetStream on `$aws/things/{thing}/streams/{streamId}/get/{cbor|json}`:
//!   fields `c,s,f,l,o,n,b`; the LSB-first bitmap (bit j of byte k is block
//!   `o + 8k + j`); `n` caps the blocks (default 131072 / `l`, 0 counts as
//!   absent); at most 128 KiB per request; one `data/{fmt}` message per block,
//!   ascending, each with `l` = that block's real length (the last block is
//!   short). Requested blocks past the end of the file are skipped.
//! - DescribeStream on `describe/{fmt}` → `description/{fmt}` (`c,s,d,r`).
//! - Errors on `rejected/{fmt}` as `{o, m, c}` (an over-long token is echoed as
//!   sent; no `c` when it was not text): InvalidTopic, InvalidCbor, InvalidJson, InvalidRequest (wrong
//!   types, missing `f`/`l`), BlockSizeOutOfBounds (`l` outside 256..=131072),
//!   OffsetOutOfBounds (`o` outside 0..=98304), BlockCountLimitExceeded (`n`
//!   outside 0..=98304), BlockBitmapLimitExceeded (bitmap ≥ 12288 bytes),
//!   ResourceNotFound (unknown stream or file, or no requested block exists),
//!   VersionMismatch (`s` ≠ the stream's version).
//! - CBOR byte strings for `p` and `b` (`serde_bytes`); in JSON `b` is a hex
//!   string (`"0x130080"`) and `p` base64.
//!
//! All replies use [`Route::Requester`]. The service's own output topics
//! (`data`, `description`, `rejected`) are ignored when they come back.
//! Stream data is immutable (`Arc<[u8]>`), so serving needs only `&self`.

mod bitmap;
mod progress;
mod request;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use bitmap::{encode_bitmap, select_blocks};
pub use progress::{Progress, ProgressTracker, REPORT_EVERY};
pub use request::{MAX_BITMAP_BYTES, MAX_BLOCK_COUNT, MAX_BLOCK_SIZE, MAX_OFFSET, MIN_BLOCK_SIZE};

use super::{Reply, Route};
use request::Fields;

/// The most data one GetStream returns.
pub const MAX_BYTES_PER_REQUEST: u32 = 131_072;

/// Payload format named by the topic's last segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Cbor,
    Json,
}

impl Format {
    fn from_segment(s: &str) -> Option<Format> {
        match s {
            "cbor" => Some(Format::Cbor),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Cbor => "cbor",
            Format::Json => "json",
        }
    }
}

/// Error codes of the file delivery service (`o` of a rejection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidTopic,
    InvalidJson,
    InvalidCbor,
    InvalidRequest,
    BlockSizeOutOfBounds,
    OffsetOutOfBounds,
    BlockCountLimitExceeded,
    BlockBitmapLimitExceeded,
    ResourceNotFound,
    VersionMismatch,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidTopic => "InvalidTopic",
            ErrorCode::InvalidJson => "InvalidJson",
            ErrorCode::InvalidCbor => "InvalidCbor",
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::BlockSizeOutOfBounds => "BlockSizeOutOfBounds",
            ErrorCode::OffsetOutOfBounds => "OffsetOutOfBounds",
            ErrorCode::BlockCountLimitExceeded => "BlockCountLimitExceeded",
            ErrorCode::BlockBitmapLimitExceeded => "BlockBitmapLimitExceeded",
            ErrorCode::ResourceNotFound => "ResourceNotFound",
            ErrorCode::VersionMismatch => "VersionMismatch",
        }
    }
}

/// A refused request: code and message (the token is added by the caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StreamRejection {
    code: ErrorCode,
    message: String,
    /// A token to echo although the request was refused before its token was
    /// accepted (an over-long one: the requester correlates by it).
    echo: Option<String>,
}

impl StreamRejection {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        StreamRejection {
            code,
            message: message.into(),
            echo: None,
        }
    }
}

/// A refused admin call.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    #[error("stream id `{stream_id}` is invalid: AWS allows 1..128 characters of [a-zA-Z0-9_-]")]
    InvalidStreamId { stream_id: String },
    #[error("stream `{stream_id}` has no files; give at least one (file id, bytes)")]
    NoFiles { stream_id: String },
    #[error("stream `{stream_id}`: file id {file_id} is out of range; AWS allows 0..=255")]
    FileIdOutOfRange { stream_id: String, file_id: u32 },
    #[error("stream `{stream_id}`: file id {file_id} is given twice; file ids must be unique")]
    DuplicateFileId { stream_id: String, file_id: u32 },
}

/// One stream: numbered immutable files and a version.
#[derive(Debug)]
pub struct Stream {
    pub id: String,
    /// 1 when first added, +1 each time it is replaced.
    pub version: u64,
    pub description: Option<String>,
    files: BTreeMap<u32, Arc<[u8]>>,
}

impl Stream {
    pub fn file(&self, file_id: u32) -> Option<&Arc<[u8]>> {
        self.files.get(&file_id)
    }

    /// `(file id, size in bytes)` of every file.
    pub fn files(&self) -> Vec<(u32, u64)> {
        self.files
            .iter()
            .map(|(&id, data)| (id, data.len() as u64))
            .collect()
    }
}

/// What one GetStream served, for progress counting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    pub thing: String,
    pub stream_id: String,
    pub file_id: u32,
    pub block_size: u32,
    /// Block ids sent, ascending.
    pub blocks: Vec<u32>,
    /// Blocks in the file at this block size.
    pub block_count: u64,
}

/// The replies to one request and, for an answered GetStream, what was served.
#[derive(Debug, Default)]
pub struct StreamOutcome {
    pub replies: Vec<Reply>,
    pub served: Option<Served>,
}

/// Every stream of the bench.
#[derive(Default)]
pub struct StreamService {
    streams: HashMap<String, Arc<Stream>>,
}

enum Op {
    Get,
    Describe,
}

/// The parts of `$aws/things/{thing}/streams/{streamId}/{op}/{fmt}`.
struct StreamTopic<'a> {
    thing: &'a str,
    stream_id: &'a str,
    op: Option<Op>,
    format: Option<Format>,
}

fn split_topic(topic: &str) -> Option<(&str, &str)> {
    let (thing, rest) = topic.strip_prefix("$aws/things/")?.split_once('/')?;
    Some((thing, rest.strip_prefix("streams/")?))
}

/// True for a topic in the streams namespace.
pub fn is_streams_topic(topic: &str) -> bool {
    split_topic(topic).is_some()
}

/// AWS streamId: 1..128 of `[a-zA-Z0-9_-]`.
pub fn is_valid_stream_id(id: &str) -> bool {
    crate::config::values::is_stream_id(id)
}

impl StreamService {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a stream, or replaces one with the same id (its version +1).
    pub fn add_stream(
        &mut self,
        stream_id: &str,
        files: Vec<(u32, Arc<[u8]>)>,
    ) -> Result<Arc<Stream>, StreamError> {
        if !is_valid_stream_id(stream_id) {
            return Err(StreamError::InvalidStreamId {
                stream_id: stream_id.to_string(),
            });
        }
        if files.is_empty() {
            return Err(StreamError::NoFiles {
                stream_id: stream_id.to_string(),
            });
        }
        let mut map = BTreeMap::new();
        for (file_id, data) in files {
            if file_id > 255 {
                return Err(StreamError::FileIdOutOfRange {
                    stream_id: stream_id.to_string(),
                    file_id,
                });
            }
            if map.insert(file_id, data).is_some() {
                return Err(StreamError::DuplicateFileId {
                    stream_id: stream_id.to_string(),
                    file_id,
                });
            }
        }
        let version = self.streams.get(stream_id).map_or(1, |s| s.version + 1);
        let stream = Arc::new(Stream {
            id: stream_id.to_string(),
            version,
            description: None,
            files: map,
        });
        self.streams.insert(stream_id.to_string(), stream.clone());
        Ok(stream)
    }

    /// Removes a stream; later requests for it get ResourceNotFound.
    pub fn remove_stream(&mut self, stream_id: &str) -> bool {
        self.streams.remove(stream_id).is_some()
    }

    pub fn stream(&self, stream_id: &str) -> Option<Arc<Stream>> {
        self.streams.get(stream_id).cloned()
    }

    /// Answers one device publish on `$aws/things/{thing}/streams/…`.
    pub fn handle(&self, topic: &str, payload: &[u8]) -> StreamOutcome {
        handle_with(topic, payload, |id| self.stream(id))
    }
}

/// [`StreamService::handle`] with the stream lookup supplied by the caller,
/// so a shared registry is locked only for the lookup, not while encoding.
pub fn handle_with(
    topic: &str,
    payload: &[u8],
    lookup: impl Fn(&str) -> Option<Arc<Stream>>,
) -> StreamOutcome {
    match parse_topic(topic) {
        Some(parsed) => serve(&parsed, payload, lookup),
        None => StreamOutcome::default(),
    }
}

fn parse_topic(topic: &str) -> Option<StreamTopic<'_>> {
    let (thing, rest) = split_topic(topic)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let stream_id = parts.first().copied().filter(|s| !s.is_empty())?;
    let (op, format) = match parts.as_slice() {
        [_, "data" | "description" | "rejected", _] => return None,
        [_, "get", fmt] => (Some(Op::Get), Format::from_segment(fmt)),
        [_, "describe", fmt] => (Some(Op::Describe), Format::from_segment(fmt)),
        _ => (None, parts.last().and_then(|f| Format::from_segment(f))),
    };
    Some(StreamTopic {
        thing,
        stream_id,
        op,
        format,
    })
}

fn serve(
    topic: &StreamTopic<'_>,
    payload: &[u8],
    lookup: impl Fn(&str) -> Option<Arc<Stream>>,
) -> StreamOutcome {
    let base = format!("$aws/things/{}/streams/{}", topic.thing, topic.stream_id);
    // An unusable topic is answered in JSON, the only format we can assume.
    let format = topic.format.unwrap_or(Format::Json);
    let reject = |rej: StreamRejection, token: Option<&str>| StreamOutcome {
        replies: vec![Reply {
            topic: format!("{base}/rejected/{}", format.as_str()),
            payload: wire::rejected(format, rej.code.as_str(), &rej.message, token),
            route: Route::Requester,
        }],
        served: None,
    };
    let (Some(op), Some(_), true) = (
        &topic.op,
        topic.format,
        super::jobs::is_valid_thing_name(topic.thing) && is_valid_stream_id(topic.stream_id),
    ) else {
        let rej = StreamRejection::new(
            ErrorCode::InvalidTopic,
            format!("topic `{base}/…` names no stream API; use get/{{cbor|json}} or describe/{{cbor|json}}"),
        );
        return reject(rej, None);
    };
    let fields = match Fields::decode(format, payload) {
        Ok(f) => f,
        Err(rej) => {
            let echo = rej.echo.clone();
            return reject(rej, echo.as_deref());
        }
    };
    let token = fields.client_token.as_deref();
    let not_found = |what: String| StreamRejection::new(ErrorCode::ResourceNotFound, what);
    match op {
        Op::Describe => {
            let Some(stream) = lookup(topic.stream_id) else {
                return reject(
                    not_found(format!("stream {} does not exist", topic.stream_id)),
                    token,
                );
            };
            let body = wire::description(
                format,
                token,
                stream.version,
                stream.description.as_deref(),
                &stream.files(),
            );
            StreamOutcome {
                replies: vec![Reply {
                    topic: format!("{base}/description/{}", format.as_str()),
                    payload: body,
                    route: Route::Requester,
                }],
                served: None,
            }
        }
        Op::Get => {
            let req = match fields.get_stream() {
                Ok(r) => r,
                Err(rej) => return reject(rej, token),
            };
            let Some(stream) = lookup(topic.stream_id) else {
                return reject(
                    not_found(format!("stream {} does not exist", topic.stream_id)),
                    token,
                );
            };
            if let Some(s) = req.version.filter(|&s| s != stream.version) {
                let rej = StreamRejection::new(
                    ErrorCode::VersionMismatch,
                    format!(
                        "stream {} is at version {}, the request asked for {s}",
                        stream.id, stream.version
                    ),
                );
                return reject(rej, token);
            }
            let file_id = u32::try_from(req.file_id).ok();
            let Some((file_id, data)) = file_id.and_then(|f| stream.file(f).map(|d| (f, d))) else {
                return reject(
                    not_found(format!("stream {} has no file {}", stream.id, req.file_id)),
                    token,
                );
            };
            let block_size = req.block_size;
            let block_count = data.len().div_ceil(block_size as usize) as u64;
            let cap = req
                .count
                .unwrap_or(MAX_BYTES_PER_REQUEST / block_size)
                .min(MAX_BYTES_PER_REQUEST / block_size);
            let blocks = select_blocks(req.offset, cap, req.bitmap.as_deref(), block_count as u32);
            if blocks.is_empty() {
                let rej = not_found(format!(
                    "no requested block exists in file {file_id} of stream {} ({block_count} blocks of {block_size} bytes from offset {})",
                    stream.id, req.offset
                ));
                return reject(rej, token);
            }
            let data_topic = format!("{base}/data/{}", format.as_str());
            let replies = blocks
                .iter()
                .map(|&i| {
                    let start = i as usize * block_size as usize;
                    let end = (start + block_size as usize).min(data.len());
                    Reply {
                        topic: data_topic.clone(),
                        payload: wire::data_block(format, token, file_id, i, &data[start..end]),
                        route: Route::Requester,
                    }
                })
                .collect();
            StreamOutcome {
                replies,
                served: Some(Served {
                    thing: topic.thing.to_string(),
                    stream_id: stream.id.clone(),
                    file_id,
                    block_size,
                    blocks,
                    block_count,
                }),
            }
        }
    }
}
