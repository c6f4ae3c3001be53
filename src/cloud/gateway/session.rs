//! One connection, one task: the I/O loop around the connection's sans-IO
//! [`SessionState`]. It reads packets and answers them, writes what other tasks
//! hand over, and applies faults. Everything a device sends or receives is
//! written to the transcript.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, LastWill, Packet, PubAck, Publish, SubAck, Subscribe, UnsubAck,
};
use rumqttc::mqttbytes::QoS;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::faults::{self, LinkFaults};
use super::handshake::handshake;
use super::io::Io;
use super::policy;
use super::router::{Broker, ClientState, CloseReason, Cmd, ConnLink, Ctl};
use super::state::{Breach, Grant, SessionState};
use super::transcript::{packet_name, Transcript, Who};
use super::untrusted::{escaped, Untrusted};
use super::GatewayConfig;
use crate::cloud::{topics, CloudServices, Route};
use crate::timeline::Direction;

/// What every connection task shares.
pub(crate) struct Shared {
    pub cfg: GatewayConfig,
    pub broker: Broker,
    pub services: Arc<CloudServices>,
    pub transcript: Transcript,
    /// Answering a service request (a stream request's blocks above all) is the gateway's
    /// heavy work. Only a few connections do it at once; the others wait parked, so a
    /// device connecting meanwhile is not queued behind all of them.
    pub answering: tokio::sync::Semaphore,
}

/// Connections that may answer service requests at once.
pub(crate) const ANSWERING_AT_ONCE: usize = 2;

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
    /// Nothing heard within 1.5 × the keep-alive (the device may be off).
    Silent(String),
    Closed(CloseReason),
    Shutdown,
}

impl End {
    fn reason(&self) -> String {
        match self {
            End::Disconnect => "DISCONNECT".into(),
            End::PeerClosed => "closed by the device without DISCONNECT".into(),
            End::Io(e) => format!("I/O error: {e}"),
            End::Violation(v) | End::Silent(v) => v.clone(),
            End::Closed(CloseReason::TakenOver(why)) => why.clone(),
            End::Closed(CloseReason::Cut) => "cut by a fault".into(),
            End::Shutdown => "gateway shut down".into(),
        }
    }

    /// Whether the socket is still worth a goodbye (close_notify, FIN).
    fn say_goodbye(&self) -> bool {
        !matches!(self, End::PeerClosed | End::Io(_))
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
    let limits = &shared.cfg.limits;
    let mut io = Io::new(stream, shared.cfg.max_message_size, limits.write_timeout);
    let mut who = Who {
        conn: conn_id,
        client_id: String::new(),
        thing: cn.clone(),
    };
    let Some(connect) = handshake(&mut io, peer, &mut who, &shared).await else {
        return;
    };
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
        info!(client = %Untrusted(&who.client_id), old = old.conn, new = conn_id, "client id taken over");
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
    info!(client = %Untrusted(&who.client_id), thing = %Untrusted(&thing), conn = conn_id, %peer, "connected");
    shared.transcript.connection(&who, true, None);

    let state = SessionState::new(
        limits.clone(),
        connect.keep_alive,
        shared.cfg.pace,
        shared.cfg.retry_interval,
        Instant::now(),
    );
    let faults = shared.broker.faults_of(&thing);
    let mut conn = Conn {
        shared: shared.clone(),
        who,
        thing,
        io,
        state,
        rx,
        tx,
        ctl,
        client: attached.client,
        faults,
        will: connect.last_will,
    };
    let end = match conn.resend_pending().await {
        Ok(()) => conn.run(shutdown).await,
        Err(end) => end,
    };
    conn.finish(end, done).await;
}

struct Conn<S> {
    shared: Arc<Shared>,
    who: Who,
    thing: String,
    io: Io<S>,
    state: SessionState,
    rx: mpsc::Receiver<Cmd>,
    /// For delay faults, which hand messages back to this task later.
    tx: mpsc::Sender<Cmd>,
    ctl: mpsc::UnboundedReceiver<Ctl>,
    client: Arc<ClientState>,
    faults: Arc<Mutex<LinkFaults>>,
    will: Option<LastWill>,
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
                    _ = tokio::time::sleep_until(until.into()) => {}
                    Some(c) = self.ctl.recv() => if let Ctl::Close(r) = c { return End::Closed(r) },
                    _ = shutdown.changed() => return End::Shutdown,
                }
                continue;
            }
            let deadline = self.state.next_deadline();
            let step = tokio::select! {
                biased;
                Some(c) = self.ctl.recv() => match c {
                    Ctl::Close(r) => Err(End::Closed(r)),
                    Ctl::Wake => Ok(()),
                },
                _ = shutdown.changed() => Err(End::Shutdown),
                read = self.io.stream.read_buf(&mut self.io.rbuf) => match read {
                    Ok(0) => Err(End::PeerClosed),
                    Ok(_) => self.drain_frames().await,
                    Err(e) => Err(End::Io(e.to_string())),
                },
                Some(cmd) = self.rx.recv() => self.on_cmd(cmd).await,
                _ = tokio::time::sleep_until(deadline.into()) => self.poll().await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn finish(mut self, end: End, done: watch::Sender<bool>) {
        let reason = end.reason();
        let (client, thing) = (Untrusted(&self.who.client_id), Untrusted(&self.thing));
        match &end {
            End::Disconnect => info!(%client, %thing, "disconnected"),
            End::Violation(_) => {} // logged where it was found, with its topic
            _ => info!(%client, %thing, "connection closed: {}", escaped(&reason)),
        }
        let unacked = self.state.take_unacked();
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
        if end.say_goodbye() {
            self.io.close().await;
        }
    }

    fn violation(&self, why: String) -> End {
        warn!(client = %Untrusted(&self.who.client_id), thing = %Untrusted(&self.thing), conn = self.who.conn, "disconnecting: {}", escaped(&why));
        End::Violation(why)
    }

    async fn drain_frames(&mut self) -> Step {
        loop {
            match self.io.next_packet() {
                Ok(Some(packet)) => {
                    self.state.packet_received(Instant::now());
                    self.on_packet(packet).await?;
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.violation(e.to_string())),
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
                if !self.state.puback(ack.pkid) {
                    debug!(client = %Untrusted(&self.who.client_id), pkid = ack.pkid, "PUBACK for no message in flight");
                }
                self.poll().await
            }
            Packet::Subscribe(s) => self.on_subscribe(s).await,
            Packet::Unsubscribe(u) => {
                self.shared.broker.unsubscribe(&self.client, &u.topics);
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
        if let Err(breach) = self.state.check_publish_topic(&p.topic) {
            return Err(self.violation(breach.to_string()));
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
        let shared = self.shared.clone();
        // Held while the answer is made and gathered, not while it is written: a device
        // that does not read cannot keep others from being answered.
        let mut answering = None;
        // The publish arrived whole: it takes effect even if the device hangs up before
        // our PUBACK reaches it (a board that publishes its status and resets at once).
        let replies = match CloudServices::is_service_topic(&p.topic) {
            Some(thing) => {
                let thing = thing.to_string();
                answering = shared.answering.acquire().await.ok();
                self.shared
                    .services
                    .handle(&thing, &p.topic, &p.payload, SystemTime::now())
            }
            None => {
                self.shared.broker.route(&p);
                Vec::new()
            }
        };
        // The acknowledgement and the replies (a stream request's blocks) go out together.
        self.io.cork();
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
        drop(answering);
        until_closed(&mut self.ctl, self.io.uncork()).await
    }

    async fn on_subscribe(&mut self, s: Subscribe) -> Step {
        let grants = {
            let subs = self.client.subs.read().expect("subscription lock");
            self.state.subscribe(&s, &subs)
        };
        let grants = match grants {
            Ok(g) => g,
            Err(breach) => return Err(self.violation(breach.to_string())),
        };
        for (f, grant) in s.filters.iter().zip(&grants) {
            match grant {
                Grant::Refused(why) => {
                    warn!(client = %Untrusted(&self.who.client_id), thing = %Untrusted(&self.thing), topic = %Untrusted(&f.path), "subscription refused (0x80): {why}");
                }
                Grant::Granted(qos) => {
                    if let Err(e) =
                        policy::check_subscribe(self.shared.cfg.policy, &self.thing, &f.path)
                    {
                        return Err(self.violation(e.to_string()));
                    }
                    self.shared.broker.subscribe(&self.client, &f.path, *qos);
                }
            }
        }
        let codes = grants.iter().map(Grant::code).collect();
        self.write(Packet::SubAck(SubAck::new(s.pkid, codes))).await
    }

    async fn on_cmd(&mut self, cmd: Cmd) -> Step {
        match cmd {
            Cmd::Deliver(p) => self.send(p).await,
            Cmd::DeliverLate(p) => self.enqueue(p).await,
            Cmd::InboundLate(p) => self.accept_publish(p).await,
        }
    }

    /// A publish to the device, through its faults, then the window and pace.
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
                self.enqueue(p.clone()).await?;
            }
        }
        self.enqueue(p).await
    }

    async fn enqueue(&mut self, p: Publish) -> Step {
        match self.state.publish(p, Instant::now()) {
            Ok(ready) => self.write_all(ready).await,
            Err(breach) => Err(self.breach(breach)),
        }
    }

    /// Whatever time or a PUBACK made due: redeliveries, queued messages, or
    /// the end of a silent connection.
    async fn poll(&mut self) -> Step {
        match self.state.poll(Instant::now()) {
            Ok(due) => self.write_all(due).await,
            Err(breach) => Err(self.breach(breach)),
        }
    }

    fn breach(&self, breach: Breach) -> End {
        match breach {
            // Not a misdeed: the device went quiet (it may be powered off).
            Breach::KeepAlive(_) => End::Silent(breach.to_string()),
            other => self.violation(other.to_string()),
        }
    }

    async fn write_all(&mut self, publishes: Vec<Publish>) -> Step {
        for p in publishes {
            self.write(Packet::Publish(p)).await?;
        }
        Ok(())
    }

    /// A resumed persistent session: what was unacknowledged or queued offline.
    async fn resend_pending(&mut self) -> Step {
        let pending = self.shared.broker.take_pending(&self.client);
        for p in pending {
            self.enqueue(p).await?;
        }
        Ok(())
    }

    /// Writes one packet. A device that is not reading holds the write until
    /// the write timeout; a takeover or cut ends it at once instead.
    async fn write(&mut self, packet: Packet) -> Step {
        self.shared
            .transcript
            .packet(&self.who, Direction::Out, &packet);
        until_closed(&mut self.ctl, self.io.write(&packet)).await
    }
}

/// Runs a write unless a takeover or cut ends the connection first.
async fn until_closed(
    ctl: &mut mpsc::UnboundedReceiver<Ctl>,
    write: impl std::future::Future<Output = std::io::Result<()>>,
) -> Step {
    tokio::pin!(write);
    loop {
        tokio::select! {
            biased;
            Some(c) = ctl.recv() => match c {
                Ctl::Close(r) => return Err(End::Closed(r)),
                Ctl::Wake => {} // a stall is seen at the next turn of the loop
            },
            done = &mut write => return done.map_err(|e| End::Io(e.to_string())),
        }
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
