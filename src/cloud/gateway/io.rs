//! A connection's bytes: frames in (checked for MQTT 3.1.1 conformance before
//! they are decoded), packets out with a write timeout, and a close that says
//! goodbye the way AWS IoT does (TLS close_notify, then FIN).

use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::Packet;
use rumqttc::mqttbytes::{self, Error as CodecError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::conformance::{self, Malformed};

/// Largest packet the gateway writes (MQTT's own limit); devices with smaller
/// receive buffers drop what they cannot hold, as on AWS.
const MAX_OUT: usize = 268_435_455;

/// The write buffer a connection keeps between writes.
const WBUF_KEPT: usize = 8 * 1024;

/// How long a closing connection is drained, so the peer sees FIN, not RST.
const LINGER: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("packet of {len} bytes{topic} exceeds the gateway's max_message_size of {max} bytes")]
    TooLarge {
        len: usize,
        max: usize,
        topic: String,
    },
    #[error("malformed MQTT packet: {0}")]
    Malformed(#[from] Malformed),
    #[error("malformed MQTT packet: {0}")]
    Codec(CodecError),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("connection closed")]
    Closed,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
}

pub(crate) struct Io<S> {
    pub stream: S,
    pub rbuf: BytesMut,
    wbuf: BytesMut,
    max_in: usize,
    write_timeout: Duration,
    /// Packets are gathered in `wbuf` and written together on [`Io::uncork`].
    corked: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    pub fn new(stream: S, max_in: usize, write_timeout: Duration) -> Io<S> {
        Io {
            stream,
            rbuf: BytesMut::with_capacity(8 * 1024),
            wbuf: BytesMut::with_capacity(WBUF_KEPT),
            max_in,
            write_timeout,
            corked: false,
        }
    }

    /// The next whole packet in the read buffer, if one is there.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, FrameError> {
        let header = match mqttbytes::check(self.rbuf.iter(), self.max_in) {
            Ok(h) => h,
            Err(CodecError::InsufficientBytes(_)) => return Ok(None),
            Err(CodecError::PayloadSizeLimitExceeded(len)) => {
                let topic = peek_publish_topic(&self.rbuf)
                    .map(|t| format!(" on topic `{t}`"))
                    .unwrap_or_default();
                return Err(FrameError::TooLarge {
                    len,
                    max: self.max_in,
                    topic,
                });
            }
            Err(e) => return Err(FrameError::Codec(e)),
        };
        conformance::check_frame(&self.rbuf[..header.frame_length()])?;
        let packet = Packet::read(&mut self.rbuf, self.max_in).map_err(FrameError::Codec)?;
        conformance::check_decoded(&packet)?;
        Ok(Some(packet))
    }

    /// Reads until a whole packet is buffered.
    pub async fn read_packet(&mut self) -> Result<Packet, ReadError> {
        loop {
            if let Some(p) = self.next_packet()? {
                return Ok(p);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(ReadError::Closed);
            }
        }
    }

    /// Writes one packet; a device that does not take it within the write
    /// timeout is not reading, and the write fails.
    /// While corked, the packet only joins the ones gathered.
    pub async fn write(&mut self, packet: &Packet) -> std::io::Result<()> {
        packet
            .write(&mut self.wbuf, MAX_OUT)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        if self.corked {
            return Ok(());
        }
        self.write_gathered().await
    }

    /// From now on packets are gathered, to go out in one TLS write: a file-stream
    /// request's blocks (up to a bitmap's worth) cost one system call instead of one
    /// each, on both ends.
    pub fn cork(&mut self) {
        self.corked = true;
    }

    /// Writes what was gathered, and each packet at once again.
    pub async fn uncork(&mut self) -> std::io::Result<()> {
        self.corked = false;
        self.write_gathered().await
    }

    async fn write_gathered(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.wbuf).await?;
            self.stream.flush().await
        };
        let done = tokio::time::timeout(self.write_timeout, write).await;
        // A gathered burst's room is given back: a thousand idle connections would
        // otherwise each keep a stream request's worth.
        if self.wbuf.capacity() > WBUF_KEPT {
            self.wbuf = BytesMut::with_capacity(WBUF_KEPT);
        } else {
            self.wbuf.clear();
        }
        match done {
            Ok(done) => done,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the device took nothing for {:?} (not reading)",
                    self.write_timeout
                ),
            )),
        }
    }

    /// Ends the connection from our side: TLS close_notify and FIN, then what
    /// the peer still sends is read and dropped for a moment, so its kernel
    /// sees an orderly close rather than a reset. Bounded in time: a peer that
    /// reads nothing cannot hold the task.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(self.write_timeout.min(LINGER), self.stream.shutdown()).await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(LINGER, async {
            while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

/// The topic of a PUBLISH whose header is in `buf`, even if its body is not
/// (and never will be: it is too large to read).
fn peek_publish_topic(buf: &[u8]) -> Option<String> {
    if buf.first()? >> 4 != 3 {
        return None;
    }
    let mut i = 1;
    while *buf.get(i)? & 0x80 != 0 {
        i += 1;
        if i > 4 {
            return None;
        }
    }
    let len = usize::from(u16::from_be_bytes([*buf.get(i + 1)?, *buf.get(i + 2)?]));
    let topic = buf.get(i + 3..i + 3 + len)?;
    Some(String::from_utf8_lossy(topic).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::v4::Publish;
    use rumqttc::mqttbytes::QoS;

    #[test]
    fn topic_of_an_oversized_publish_is_read_from_its_header() {
        let mut buf = BytesMut::new();
        Packet::Publish(Publish::new(
            "$aws/things/T/x",
            QoS::AtMostOnce,
            vec![0u8; 300],
        ))
        .write(&mut buf, MAX_OUT)
        .unwrap();
        buf.truncate(30);
        assert_eq!(peek_publish_topic(&buf).as_deref(), Some("$aws/things/T/x"));
        assert_eq!(peek_publish_topic(&[0x10, 0x00]), None);
    }
}
