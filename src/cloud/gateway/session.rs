//! One connection, one task: read packets, answer them, write what other tasks
//! hand over, and enforce keep-alive, QoS 1 redelivery, pacing and faults.
//! Everything a device sends or receives is written to the transcript.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, LastWill, Packet, PubAck, Publish, SubAck, Subscribe,
    SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::policy;
use super::router::{min_qos, Broker, ClientState, CloseReason, Cmd, ConnLink, Ctl};
use super::transcript::{packet_name, Transcript, Who};
use super::GatewayConfig;
use crate::cloud::{topics, CloudServices, Route};
use crate::faults::{self, LinkFaults};
use crate::timeline::Direction;

/// What every connection task shares.
pub(crate) struct Shared {
    pub cfg: GatewayConfig,
    pub broker: Broker,
    pub services: Arc<CloudServices>,
    pub transcript: Transcript,
}

/// Largest packet the gateway writes (MQTT's own limit); devices with smaller
/// receive buffers drop what they cannot hold, as on AWS.
const MAX_OUT: usize = 268_435_455;

/// How a connection ended, for the log and the `Connection` event.
#[derive(Debug)]
enum End {
    /// The device sent DISCONNECT.
    Disconnect,
    /// The device closed the socket without DISCONNECT.
    PeerClosed,
    Io(String),
    /// The device broke the protocol or a limit; already logged.
    Violation(String),
    KeepAlive(Duration),
    Closed(CloseReason),
    Shutdown,
}

impl End {
    fn reason(&self) -> String {
        match self {
            End::Disconnect => "DISCONNECT".into(),
            End::PeerClosed => "closed by the device without DISCONNECT".into(),
            End::Io(e) => format!("I/O error: {e}"),
            End::Violation(v) => v.clone(),
            End::KeepAlive(d) => format!("keep-alive expired: nothing received for {d:?}"),
            End::Closed(CloseReason::TakenOver(why)) => why.clone(),
            End::Closed(CloseReason::Cut) => "cut by a fault".into(),
            End::Shutdown => "gateway shut down".into(),
        }
    }
}

type Step = Result<(), End>;

/// Serves one accepted (and, with TLS, handshaken) connection to its end.
pub(crate) async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    cn: Option<String>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let conn_id = shared.broker.next_conn_id();
    let mut io = Io {
        stream,
        rbuf: BytesMut::with_capacity(8 * 1024),
        wbuf: BytesMut::with_capacity(8 * 1024),
        max_in: shared.cfg.max_message_size,
    };
    let mut who = Who {
        conn: conn_id,
        client_id: String::new(),
        thing: cn.clone(),
    };
    let first = tokio::time::timeout(shared.cfg.connect_timeout, io.read_packet()).await;
    let connect = match first {
        Ok(Ok(Packet::Connect(c))) => c,
        Ok(Ok(other)) => {
            let why = format!(
                "first packet from {peer} was {} instead of CONNECT",
                packet_name(&other)
            );
            return refuse(&shared, &who, why);
        }
        Ok(Err(ReadError::Codec(
            CodecError::InvalidProtocol | CodecError::InvalidProtocolLevel(_),
        ))) => {
            let _ = io
                .write(&Packet::ConnAck(ConnAck::new(
                    ConnectReturnCode::RefusedProtocolVersion,
                    false,
                )))
                .await;
            return refuse(
                &shared,
                &who,
                format!("{peer} asked for an MQTT version other than 3.1.1"),
            );
        }
        Ok(Err(e)) => return refuse(&shared, &who, format!("bad CONNECT from {peer}: {e}")),
        Err(_) => {
            let why = format!(
                "no CONNECT from {peer} within {:?}",
                shared.cfg.connect_timeout
            );
            return refuse(&shared, &who, why);
        }
    };
    who.client_id = connect.client_id.clone();
    shared
        .transcript
        .packet(&who, Direction::In, &Packet::Connect(connect.clone()));

    let refusal = if connect.protocol != rumqttc::mqttbytes::Protocol::V4 {
        Some((
            ConnectReturnCode::RefusedProtocolVersion,
            "MQTT 5 is not supported; use 3.1.1".to_string(),
        ))
    } else if connect.client_id.is_empty() && !connect.clean_session {
        Some((
            ConnectReturnCode::BadClientId,
            "empty client id with a persistent session".to_string(),
        ))
    } else if let Err(e) =
        policy::check_connect(shared.cfg.policy, &connect.client_id, cn.as_deref())
    {
        Some((ConnectReturnCode::NotAuthorized, e.to_string()))
    } else {
        None
    };
    if let Some((code, why)) = refusal {
        let ack = Packet::ConnAck(ConnAck::new(code, false));
        shared.transcript.packet(&who, Direction::Out, &ack);
        let _ = io.write(&ack).await;
        return refuse(&shared, &who, why);
    }
    if who.client_id.is_empty() {
        who.client_id = format!("otarig-auto-{conn_id}");
    }
    let thing = cn.unwrap_or_else(|| who.client_id.clone());
    who.thing = Some(thing.clone());

    let (tx, rx) = mpsc::channel(shared.cfg.queue_depth.max(1));
    let (ctl_tx, ctl) = mpsc::unbounded_channel();
    let (done, closed) = watch::channel(false);
    let link = ConnLink {
        conn: conn_id,
        thing: Some(thing.clone()),
        tx: tx.clone(),
        ctl: ctl_tx,
        closed,
    };
    let attached = shared
        .broker
        .attach(&who.client_id, connect.clean_session, link);
    if let Some(old) = attached.replaced {
        info!(client = %who.client_id, old = old.conn, new = conn_id, "client id taken over");
        // Let the old connection save its unacknowledged messages first.
        let mut closed = old.closed;
        let _ = tokio::time::timeout(Duration::from_secs(2), closed.wait_for(|c| *c)).await;
    }
    let ack = Packet::ConnAck(ConnAck::new(
        ConnectReturnCode::Success,
        attached.session_present,
    ));
    shared.transcript.packet(&who, Direction::Out, &ack);
    if let Err(e) = io.write(&ack).await {
        shared.broker.detach(&attached.client, conn_id, Vec::new());
        let _ = done.send(true);
        shared
            .transcript
            .connection(&who, false, Some(format!("I/O error: {e}")));
        return;
    }
    info!(client = %who.client_id, %thing, conn = conn_id, %peer, "connected");
    shared.transcript.connection(&who, true, None);

    let keep_alive = (connect.keep_alive > 0)
        .then(|| Duration::from_secs(u64::from(connect.keep_alive)) * 3 / 2);
    let faults = shared.broker.faults_of(&thing);
    let mut conn = Conn {
        shared: shared.clone(),
        who,
        thing,
        io,
        keep_alive,
        last_rx: Instant::now(),
        rx,
        tx,
        ctl,
        client: attached.client,
        faults,
        next_pkid: 0,
        inflight: BTreeMap::new(),
        paced: VecDeque::new(),
        next_paced: Instant::now(),
        will: connect.last_will,
    };
    let end = match conn.resend_pending().await {
        Ok(()) => conn.run(shutdown).await,
        Err(end) => end,
    };
    conn.finish(end, done);
}

fn refuse(shared: &Shared, who: &Who, why: String) {
    warn!(conn = who.conn, client = %who.client_id, "connection refused: {why}");
    shared.transcript.connection(who, false, Some(why));
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("connection closed")]
    Closed,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Codec(CodecError),
}

struct Io<S> {
    stream: S,
    rbuf: BytesMut,
    wbuf: BytesMut,
    max_in: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Io<S> {
    async fn read_packet(&mut self) -> Result<Packet, ReadError> {
        loop {
            match Packet::read(&mut self.rbuf, self.max_in) {
                Ok(p) => return Ok(p),
                Err(CodecError::InsufficientBytes(_)) => {
                    if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                        return Err(ReadError::Closed);
                    }
                }
                Err(e) => return Err(ReadError::Codec(e)),
            }
        }
    }

    async fn write(&mut self, packet: &Packet) -> std::io::Result<()> {
        self.wbuf.clear();
        packet
            .write(&mut self.wbuf, MAX_OUT)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        self.stream.write_all(&self.wbuf).await?;
        self.stream.flush().await
    }
}

struct Conn<S> {
    shared: Arc<Shared>,
    who: Who,
    thing: String,
    io: Io<S>,
    keep_alive: Option<Duration>,
    last_rx: Instant,
    rx: mpsc::Receiver<Cmd>,
    /// For delay faults, which hand messages back to this task later.
    tx: mpsc::Sender<Cmd>,
    ctl: mpsc::UnboundedReceiver<Ctl>,
    client: Arc<ClientState>,
    faults: Arc<Mutex<LinkFaults>>,
    next_pkid: u16,
    /// Unacknowledged QoS 1 publishes to the device, and when they were sent.
    inflight: BTreeMap<u16, (Publish, Instant)>,
    paced: VecDeque<Publish>,
    next_paced: Instant,
    will: Option<LastWill>,
}

/// Completes at `deadline`; never, when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) -> End {
        loop {
            let stall = self
                .faults
                .lock()
                .expect("fault lock")
                .stalled_until(Instant::now());
            if let Some(until) = stall {
                // A stall holds everything, reading included: the device's
                // packets wait in the socket as on a frozen link.
                tokio::select! {
                    _ = sleep_until(Some(until)) => {}
                    Some(c) = self.ctl.recv() => if let Ctl::Close(r) = c { return End::Closed(r) },
                    _ = shutdown.changed() => return End::Shutdown,
                }
                continue;
            }
            let ka_deadline = self.keep_alive.map(|ka| self.last_rx + ka);
            let retry = self.shared.cfg.retry_interval;
            let retry_deadline = self.inflight.values().map(|(_, at)| *at + retry).min();
            let pace_deadline = (!self.paced.is_empty()).then_some(self.next_paced);
            let step = tokio::select! {
                biased;
                Some(c) = self.ctl.recv() => match c {
                    Ctl::Close(r) => Err(End::Closed(r)),
                    Ctl::Wake => Ok(()),
                },
                _ = shutdown.changed() => Err(End::Shutdown),
                read = self.io.stream.read_buf(&mut self.io.rbuf) => match read {
                    Ok(0) => Err(End::PeerClosed),
                    Ok(_) => {
                        self.last_rx = Instant::now();
                        self.drain_frames().await
                    }
                    Err(e) => Err(End::Io(e.to_string())),
                },
                Some(cmd) = self.rx.recv() => self.on_cmd(cmd).await,
                _ = sleep_until(ka_deadline) => Err(End::KeepAlive(self.keep_alive.unwrap_or_default())),
                _ = sleep_until(retry_deadline) => self.resend_unacked().await,
                _ = sleep_until(pace_deadline) => self.send_next_paced().await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    fn finish(mut self, end: End, done: watch::Sender<bool>) {
        let reason = end.reason();
        match &end {
            End::Disconnect => {
                info!(client = %self.who.client_id, thing = %self.thing, "disconnected")
            }
            End::Violation(_) => {} // logged where it was found, with its topic
            _ => {
                info!(client = %self.who.client_id, thing = %self.thing, "connection closed: {reason}")
            }
        }
        let unacked: Vec<Publish> = std::mem::take(&mut self.inflight)
            .into_values()
            .map(|(mut p, _)| {
                p.dup = true;
                p
            })
            .chain(self.paced.drain(..).filter(|p| p.qos == QoS::AtLeastOnce))
            .collect();
        self.shared
            .broker
            .detach(&self.client, self.who.conn, unacked);
        let _ = done.send(true);
        if !matches!(end, End::Disconnect) {
            if let Some(will) = self.will.take() {
                let mut p = Publish::from_bytes(will.topic, will.qos, will.message);
                p.retain = false;
                self.shared.broker.route(&p);
            }
        }
        self.shared
            .transcript
            .connection(&self.who, false, Some(reason));
    }

    fn violation(&self, why: String) -> End {
        warn!(client = %self.who.client_id, thing = %self.thing, conn = self.who.conn, "disconnecting: {why}");
        End::Violation(why)
    }

    async fn drain_frames(&mut self) -> Step {
        loop {
            match Packet::read(&mut self.io.rbuf, self.io.max_in) {
                Ok(packet) => self.on_packet(packet).await?,
                Err(CodecError::InsufficientBytes(_)) => return Ok(()),
                Err(CodecError::PayloadSizeLimitExceeded(n)) => {
                    let topic = peek_publish_topic(&self.io.rbuf)
                        .map(|t| format!(" on topic `{t}`"))
                        .unwrap_or_default();
                    return Err(self.violation(format!(
                        "packet of {n} bytes{topic} exceeds the gateway's max_message_size of {} bytes",
                        self.io.max_in
                    )));
                }
                Err(e) => return Err(self.violation(format!("malformed MQTT packet: {e}"))),
            }
        }
    }

    async fn on_packet(&mut self, packet: Packet) -> Step {
        self.shared
            .transcript
            .packet(&self.who, Direction::In, &packet);
        match packet {
            Packet::Publish(p) => self.on_publish(p).await,
            Packet::PubAck(ack) => {
                if self.inflight.remove(&ack.pkid).is_none() {
                    debug!(client = %self.who.client_id, pkid = ack.pkid, "PUBACK for no message in flight");
                }
                Ok(())
            }
            Packet::Subscribe(s) => self.on_subscribe(s).await,
            Packet::Unsubscribe(u) => {
                self.client
                    .subs
                    .write()
                    .expect("subscription lock")
                    .retain(|(f, _)| !u.topics.contains(f));
                self.write(Packet::UnsubAck(UnsubAck::new(u.pkid))).await
            }
            Packet::PingReq => self.write(Packet::PingResp).await,
            Packet::Disconnect => Err(End::Disconnect),
            Packet::Connect(_) => Err(self.violation("second CONNECT on one connection".into())),
            Packet::PubRec(_) | Packet::PubRel(_) | Packet::PubComp(_) => Err(self.violation(
                "QoS 2 packet: the gateway, like AWS IoT, supports QoS 0 and 1 only".into(),
            )),
            other => Err(self.violation(format!(
                "{} is a server-to-client packet",
                packet_name(&other)
            ))),
        }
    }

    async fn on_publish(&mut self, mut p: Publish) -> Step {
        if p.qos == QoS::ExactlyOnce {
            return Err(self.violation(format!(
                "QoS 2 publish on `{}`: the gateway, like AWS IoT, supports QoS 0 and 1 only",
                p.topic
            )));
        }
        if !topics::valid_topic_name(&p.topic) {
            return Err(self.violation(format!("publish to invalid topic name `{}`", p.topic)));
        }
        if let Err(e) = policy::check_publish(self.shared.cfg.policy, &self.thing, &p.topic) {
            return Err(self.violation(e.to_string()));
        }
        let decision = self.faults.lock().expect("fault lock").on_message(
            Direction::In,
            &p.topic,
            p.payload.len(),
        );
        if !decision.is_clean() {
            for what in decision.applied {
                self.shared.transcript.fault(Some(&self.thing), what);
            }
            if decision.drop {
                return Ok(()); // lost on the way in: no PUBACK, the device retries
            }
            if let Some(at) = decision.corrupt_at {
                p.payload = corrupted(&p.payload, at);
            }
            if let Some(by) = decision.delay {
                later(self.tx.clone(), by, Cmd::InboundLate(p));
                return Ok(());
            }
            if decision.duplicate {
                self.accept_publish(p.clone()).await?;
            }
        }
        self.accept_publish(p).await
    }

    /// A device publish that made it through: acknowledge, then answer it (the
    /// Jobs and stream services) or route it (any other topic).
    async fn accept_publish(&mut self, p: Publish) -> Step {
        // The publish arrived whole: it takes effect even if the device hangs up before
        // our PUBACK reaches it (a board that publishes its status and resets at once).
        let replies = match CloudServices::is_service_topic(&p.topic) {
            Some(thing) => {
                let thing = thing.to_string();
                self.shared
                    .services
                    .handle(&thing, &p.topic, &p.payload, SystemTime::now())
            }
            None => {
                self.shared.broker.route(&p);
                Vec::new()
            }
        };
        if p.qos == QoS::AtLeastOnce {
            self.write(Packet::PubAck(PubAck::new(p.pkid))).await?;
        }
        for reply in replies {
            let out = Publish::new(reply.topic, p.qos, reply.payload);
            match reply.route {
                // AWS IoT: the requester gets it, subscribed or not, and no one else.
                Route::Requester => self.send(out).await?,
                Route::Subscribers => {
                    self.shared.broker.route(&out);
                }
            }
        }
        Ok(())
    }

    async fn on_subscribe(&mut self, s: Subscribe) -> Step {
        let mut codes = Vec::with_capacity(s.filters.len());
        for f in &s.filters {
            if !topics::valid_filter(&f.path) {
                warn!(client = %self.who.client_id, thing = %self.thing, topic = %f.path, "invalid topic filter refused (0x80)");
                codes.push(SubscribeReasonCode::Failure);
                continue;
            }
            if let Err(e) = policy::check_subscribe(self.shared.cfg.policy, &self.thing, &f.path) {
                return Err(self.violation(e.to_string()));
            }
            let granted = min_qos(f.qos, QoS::AtLeastOnce);
            let mut subs = self.client.subs.write().expect("subscription lock");
            match subs.iter_mut().find(|(existing, _)| *existing == f.path) {
                Some(entry) => entry.1 = granted,
                None => subs.push((f.path.clone(), granted)),
            }
            codes.push(SubscribeReasonCode::Success(granted));
        }
        self.write(Packet::SubAck(SubAck::new(s.pkid, codes))).await
    }

    async fn on_cmd(&mut self, cmd: Cmd) -> Step {
        match cmd {
            Cmd::Deliver(p) => self.send(p).await,
            Cmd::DeliverLate(p) => self.send_paced(p).await,
            Cmd::InboundLate(p) => self.accept_publish(p).await,
        }
    }

    /// A publish to the device, through its faults and pacing.
    async fn send(&mut self, mut p: Publish) -> Step {
        let decision = self.faults.lock().expect("fault lock").on_message(
            Direction::Out,
            &p.topic,
            p.payload.len(),
        );
        if !decision.is_clean() {
            for what in decision.applied {
                self.shared.transcript.fault(Some(&self.thing), what);
            }
            if decision.drop {
                return Ok(());
            }
            if let Some(at) = decision.corrupt_at {
                p.payload = corrupted(&p.payload, at);
            }
            if let Some(by) = decision.delay {
                later(self.tx.clone(), by, Cmd::DeliverLate(p));
                return Ok(());
            }
            if decision.duplicate {
                self.send_paced(p.clone()).await?;
            }
        }
        self.send_paced(p).await
    }

    async fn send_paced(&mut self, p: Publish) -> Step {
        if let Some(gap) = self
            .shared
            .cfg
            .pace
            .filter(|_| topics::is_stream_data(&p.topic))
        {
            let now = Instant::now();
            if !self.paced.is_empty() || now < self.next_paced {
                self.paced.push_back(p);
                return Ok(());
            }
            self.next_paced = now + gap;
        }
        self.write_publish(p).await
    }

    async fn send_next_paced(&mut self) -> Step {
        let Some(p) = self.paced.pop_front() else {
            return Ok(());
        };
        self.next_paced = Instant::now() + self.shared.cfg.pace.unwrap_or_default();
        self.write_publish(p).await
    }

    async fn write_publish(&mut self, mut p: Publish) -> Step {
        if p.qos == QoS::AtLeastOnce {
            p.pkid = self.alloc_pkid();
            self.inflight.insert(p.pkid, (p.clone(), Instant::now()));
        } else {
            p.pkid = 0;
        }
        self.write(Packet::Publish(p)).await
    }

    fn alloc_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1);
            if self.next_pkid != 0 && !self.inflight.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
    }

    /// QoS 1 messages not acknowledged within the retry interval go again, DUP set.
    async fn resend_unacked(&mut self) -> Step {
        let now = Instant::now();
        let retry = self.shared.cfg.retry_interval;
        let due: Vec<u16> = self
            .inflight
            .iter()
            .filter(|(_, (_, at))| *at + retry <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some((p, at)) = self.inflight.get_mut(&id) {
                p.dup = true;
                *at = now;
                let p = p.clone();
                self.write(Packet::Publish(p)).await?;
            }
        }
        Ok(())
    }

    /// A resumed persistent session: what was unacknowledged or queued offline.
    async fn resend_pending(&mut self) -> Step {
        let pending: Vec<Publish> = self
            .client
            .pending
            .lock()
            .expect("pending lock")
            .drain(..)
            .collect();
        for p in pending {
            self.write_publish(p).await?;
        }
        Ok(())
    }

    async fn write(&mut self, packet: Packet) -> Step {
        self.shared
            .transcript
            .packet(&self.who, Direction::Out, &packet);
        self.io
            .write(&packet)
            .await
            .map_err(|e| End::Io(e.to_string()))
    }
}

fn corrupted(payload: &Bytes, at: usize) -> Bytes {
    let mut bytes = payload.to_vec();
    faults::corrupt(&mut bytes, at);
    Bytes::from(bytes)
}

fn later(tx: mpsc::Sender<Cmd>, by: Duration, cmd: Cmd) {
    tokio::spawn(async move {
        tokio::time::sleep(by).await;
        let _ = tx.send(cmd).await;
    });
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
