//! The attacker's tools for the hostile-device tests: MQTT packets written
//! byte by byte (so malformed ones can be sent), a raw TLS connection that
//! tells a TLS close_notify from a bare EOF, `otarig cloud` run as a process
//! with its CPU, memory and sockets read from /proc, and the check that a
//! legitimate device is still served. Beside `super::gateway`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use otarig::cloud::pki::{self, PkiLayout};
use rumqttc::tokio_rustls::client::TlsStream;
use rumqttc::tokio_rustls::rustls::pki_types::ServerName;
use rumqttc::tokio_rustls::TlsConnector;
use rumqttc::QoS;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpSocket, TcpStream};

use super::gateway::{json, Device, DEADLINE};
use super::process::{command, otarig, s, Background, Banner};

// ---------------------------------------------------------------------------
// MQTT 3.1.1 packets, byte by byte
// ---------------------------------------------------------------------------

pub mod mqtt {
    /// The variable-length "remaining length" (§2.2.3).
    pub fn remaining_length(mut n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut b = (n % 128) as u8;
            n /= 128;
            if n > 0 {
                b |= 0x80;
            }
            out.push(b);
            if n == 0 {
                return out;
            }
        }
    }

    /// A packet from its first byte (type and flags) and body.
    pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        out.extend(remaining_length(body.len()));
        out.extend_from_slice(body);
        out
    }

    /// A length-prefixed string (§1.5.3), bytes as given (so U+0000 can be sent).
    pub fn string(s: &[u8]) -> Vec<u8> {
        let mut out = (s.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(s);
        out
    }

    pub struct Will<'a> {
        pub topic: &'a str,
        pub payload: &'a [u8],
        pub qos: u8,
    }

    /// CONNECT with `extra_flags` or-ed into the connect flags (bit 0 is reserved).
    pub fn connect_raw(
        client_id: &[u8],
        keep_alive: u16,
        clean: bool,
        will: Option<Will>,
        extra_flags: u8,
    ) -> Vec<u8> {
        let mut body = string(b"MQTT");
        body.push(4);
        let mut flags = extra_flags;
        if clean {
            flags |= 0x02;
        }
        if let Some(w) = &will {
            flags |= 0x04 | (w.qos << 3);
        }
        body.push(flags);
        body.extend(keep_alive.to_be_bytes());
        body.extend(string(client_id));
        if let Some(w) = &will {
            body.extend(string(w.topic.as_bytes()));
            body.extend(string(w.payload));
        }
        packet(0x10, &body)
    }

    pub fn connect(client_id: &str, keep_alive: u16, clean: bool) -> Vec<u8> {
        connect_raw(client_id.as_bytes(), keep_alive, clean, None, 0)
    }

    /// SUBSCRIBE with the given first byte (0x82 is the only valid one).
    pub fn subscribe_raw(first: u8, pkid: u16, filters: &[(&[u8], u8)]) -> Vec<u8> {
        let mut body = pkid.to_be_bytes().to_vec();
        for (f, qos) in filters {
            body.extend(string(f));
            body.push(*qos);
        }
        packet(first, &body)
    }

    pub fn subscribe(pkid: u16, filters: &[(&str, u8)]) -> Vec<u8> {
        let filters: Vec<(&[u8], u8)> = filters.iter().map(|(f, q)| (f.as_bytes(), *q)).collect();
        subscribe_raw(0x82, pkid, &filters)
    }

    pub fn unsubscribe_raw(first: u8, pkid: u16, filters: &[&str]) -> Vec<u8> {
        let mut body = pkid.to_be_bytes().to_vec();
        for f in filters {
            body.extend(string(f.as_bytes()));
        }
        packet(first, &body)
    }

    /// PUBLISH with the given QoS bits (3 is malformed); `pkid` is written for QoS > 0.
    pub fn publish_raw(topic: &[u8], qos: u8, pkid: u16, payload: &[u8]) -> Vec<u8> {
        let mut body = string(topic);
        if qos > 0 {
            body.extend(pkid.to_be_bytes());
        }
        body.extend_from_slice(payload);
        packet(0x30 | (qos << 1), &body)
    }

    pub fn publish(topic: &str, qos: u8, pkid: u16, payload: &[u8]) -> Vec<u8> {
        publish_raw(topic.as_bytes(), qos, pkid, payload)
    }

    pub fn puback(pkid: u16) -> Vec<u8> {
        packet(0x40, &pkid.to_be_bytes())
    }

    pub fn pingreq() -> Vec<u8> {
        vec![0xC0, 0x00]
    }

    pub fn disconnect() -> Vec<u8> {
        vec![0xE0, 0x00]
    }

    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const SUBACK: u8 = 9;
    pub const UNSUBACK: u8 = 11;
    pub const PINGRESP: u8 = 13;

    pub fn name(kind: u8) -> &'static str {
        [
            "reserved(0)",
            "CONNECT",
            "CONNACK",
            "PUBLISH",
            "PUBACK",
            "PUBREC",
            "PUBREL",
            "PUBCOMP",
            "SUBSCRIBE",
            "SUBACK",
            "UNSUBSCRIBE",
            "UNSUBACK",
            "PINGREQ",
            "PINGRESP",
            "DISCONNECT",
            "reserved(15)",
        ][usize::from(kind & 0x0f)]
    }
}

/// One packet from the gateway, undecoded beyond its fixed header.
#[derive(Clone, Debug)]
pub struct Frame {
    pub first: u8,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn kind(&self) -> u8 {
        self.first >> 4
    }

    pub fn name(&self) -> &'static str {
        mqtt::name(self.kind())
    }

    /// CONNACK's return code.
    pub fn connack_code(&self) -> u8 {
        assert_eq!(self.kind(), mqtt::CONNACK, "not a CONNACK: {self:?}");
        self.body[1]
    }

    /// SUBACK's return codes.
    pub fn suback_codes(&self) -> Vec<u8> {
        assert_eq!(self.kind(), mqtt::SUBACK, "not a SUBACK: {self:?}");
        self.body[2..].to_vec()
    }

    pub fn qos(&self) -> u8 {
        (self.first >> 1) & 3
    }

    pub fn dup(&self) -> bool {
        self.first & 0x08 != 0
    }

    /// A PUBLISH's topic, packet id (0 at QoS 0) and payload.
    pub fn publish(&self) -> (String, u16, &[u8]) {
        assert_eq!(self.kind(), mqtt::PUBLISH, "not a PUBLISH: {self:?}");
        let len = usize::from(u16::from_be_bytes([self.body[0], self.body[1]]));
        let topic = String::from_utf8_lossy(&self.body[2..2 + len]).into_owned();
        let mut at = 2 + len;
        let pkid = if self.qos() > 0 {
            at += 2;
            u16::from_be_bytes([self.body[at - 2], self.body[at - 1]])
        } else {
            0
        };
        (topic, pkid, &self.body[at..])
    }

    /// The packet id of a PUBACK, SUBACK or UNSUBACK.
    pub fn pkid(&self) -> u16 {
        u16::from_be_bytes([self.body[0], self.body[1]])
    }
}

/// How a connection ended, as a TLS client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// The server sent a TLS close_notify: `read` returned Ok(0).
    CloseNotify,
    /// TCP ended without close_notify (rustls: UnexpectedEof) or was reset.
    Abrupt(String),
}

#[derive(Debug)]
pub enum Got {
    Frame(Frame),
    Closed(Closed),
}

/// Reads frames off any byte stream.
pub struct FrameReader<R> {
    pub r: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(r: R) -> Self {
        FrameReader {
            r,
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    fn parse(&mut self) -> Option<Frame> {
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *self.buf.get(i)?;
            len |= usize::from(b & 0x7f) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            assert!(i <= 5, "the gateway sent a remaining length over 4 bytes");
        }
        if self.buf.len() < i + len {
            return None;
        }
        let frame = self.buf.split_to(i + len);
        Some(Frame {
            first: frame[0],
            body: frame[i..].to_vec(),
        })
    }

    /// The next frame or the end of the connection; waits as long as it takes.
    pub async fn next(&mut self) -> Got {
        loop {
            if let Some(f) = self.parse() {
                return Got::Frame(f);
            }
            match self.r.read_buf(&mut self.buf).await {
                Ok(0) => return Got::Closed(Closed::CloseNotify),
                Ok(_) => {}
                Err(e) => return Got::Closed(Closed::Abrupt(format!("{:?}: {e}", e.kind()))),
            }
        }
    }

    /// The next frame or close within `within`; `None` when nothing came.
    pub async fn next_within(&mut self, within: Duration) -> Option<Got> {
        tokio::time::timeout(within, self.next()).await.ok()
    }
}

type Tls = TlsStream<TcpStream>;

/// A raw MQTT connection over the bench's mutual TLS.
pub struct RawConn {
    pub rx: FrameReader<ReadHalf<Tls>>,
    pub tx: WriteHalf<Tls>,
}

/// The TLS client stream of `thing`'s certificate to `addr`; `rcvbuf` shrinks
/// the socket's receive buffer (a device that stops reading fills it quickly).
pub async fn tls_stream(
    addr: SocketAddr,
    layout: &PkiLayout,
    thing: &str,
    rcvbuf: Option<u32>,
) -> Tls {
    let config = pki::client_config(layout, thing).unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(n) = rcvbuf {
        socket.set_recv_buffer_size(n).unwrap();
    }
    let tcp = tokio::time::timeout(DEADLINE, socket.connect(addr))
        .await
        .expect("TCP connect within the deadline")
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(DEADLINE, TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("TLS handshake within the deadline")
        .unwrap_or_else(|e| panic!("TLS handshake as {thing} failed: {e}"))
}

impl RawConn {
    /// TLS with `thing`'s certificate, before any MQTT byte.
    pub async fn open(addr: SocketAddr, layout: &PkiLayout, thing: &str) -> RawConn {
        Self::from_stream(tls_stream(addr, layout, thing, None).await)
    }

    pub fn from_stream(s: Tls) -> RawConn {
        let (r, w) = tokio::io::split(s);
        RawConn {
            rx: FrameReader::new(r),
            tx: w,
        }
    }

    /// TLS, CONNECT as `thing` (client id = thing) and a successful CONNACK.
    pub async fn connected(
        addr: SocketAddr,
        layout: &PkiLayout,
        thing: &str,
        keep_alive: u16,
    ) -> RawConn {
        let mut c = Self::open(addr, layout, thing).await;
        c.send(&mqtt::connect(thing, keep_alive, true))
            .await
            .unwrap();
        let ack = c.expect_frame("CONNACK").await;
        assert_eq!(
            (ack.kind(), ack.connack_code()),
            (mqtt::CONNACK, 0),
            "{thing}: expected CONNACK 0, got {ack:?}"
        );
        c
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tx.write_all(bytes).await?;
        self.tx.flush().await
    }

    /// The next frame; fails the test on a close or after the deadline.
    pub async fn expect_frame(&mut self, what: &str) -> Frame {
        match self.rx.next_within(DEADLINE).await {
            Some(Got::Frame(f)) => f,
            Some(Got::Closed(c)) => {
                panic!("expected {what}, but the gateway closed the connection ({c:?})")
            }
            None => panic!("expected {what}, got nothing within {DEADLINE:?}"),
        }
    }

    /// The next frame of `kind`, skipping PUBLISH, PUBACK and PINGRESP.
    pub async fn expect_kind(&mut self, kind: u8) -> Frame {
        loop {
            let f = self.expect_frame(mqtt::name(kind)).await;
            if f.kind() == kind {
                return f;
            }
            assert!(
                matches!(f.kind(), mqtt::PUBLISH | mqtt::PUBACK | mqtt::PINGRESP),
                "expected {}, got {}",
                mqtt::name(kind),
                f.name()
            );
        }
    }

    /// Ok when the gateway closes the connection within `within` without
    /// sending any packet first; otherwise what it did instead.
    pub async fn closed_without_reply(&mut self, within: Duration) -> Result<Closed, String> {
        match self.rx.next_within(within).await {
            Some(Got::Closed(c)) => Ok(c),
            Some(Got::Frame(f)) => Err(format!(
                "the gateway answered with {} ({:02x?}) instead of closing without a reply",
                f.name(),
                &f.body[..f.body.len().min(16)]
            )),
            None => Err(format!("the connection was still open after {within:?}")),
        }
    }

    /// Ok when the gateway closes within `within`; packets before the close are
    /// skipped. Err says what was seen.
    pub async fn closed_within(&mut self, within: Duration) -> Result<Closed, String> {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            let left = within.saturating_sub(start.elapsed());
            match self.rx.next_within(left).await {
                Some(Got::Closed(c)) => return Ok(c),
                Some(Got::Frame(f)) => seen.push(f.name()),
                None => {
                    seen.dedup();
                    return Err(format!(
                        "the connection was still open after {within:?} (received: {seen:?})"
                    ));
                }
            }
        }
    }
}

/// Asks `stream` (file `file`, at least 128 KiB) for 8 MiB of blocks at QoS 0
/// and then never reads again: the gateway's writes to this connection block
/// once the socket buffers are full (open it with a small `rcvbuf`).
/// Sends `packet` one byte at a time, a byte every `every` while nothing comes back, for
/// at most `bound`: a slow-loris. What came back (`None`: nothing within `bound`) and how
/// many bytes were sent.
pub async fn trickle(
    c: &mut RawConn,
    packet: &[u8],
    every: Duration,
    bound: Duration,
) -> (Option<Got>, usize) {
    let start = Instant::now();
    let mut i = 0;
    loop {
        if let Some(got) = c.rx.next_within(every).await {
            return (Some(got), i);
        }
        if start.elapsed() > bound {
            return (None, i);
        }
        if c.send(&packet[i..i + 1]).await.is_err() {
            return (Some(Got::Closed(Closed::Abrupt("write failed".into()))), i);
        }
        i += 1;
    }
}

pub async fn request_more_than_it_reads(conn: &mut RawConn, thing: &str, stream: &str, file: u32) {
    let get = format!("$aws/things/{thing}/streams/{stream}/get/cbor");
    let request = super::gateway::get_stream_cbor("stuck", file, 4096, 0, &[0xff; 4], 32);
    let mut all = Vec::new();
    for _ in 0..64 {
        all.extend(mqtt::publish(&get, 0, 0, &request));
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.send(&all)).await;
}

// ---------------------------------------------------------------------------
// A legitimate device
// ---------------------------------------------------------------------------

/// A legitimate device (`thing`'s certificate, client id = thing) connects and
/// gets an answer to `$aws/things/{thing}/jobs/$next/get`; `after` says after
/// what, for the failure message.
pub async fn assert_legit_device_served(
    addr: SocketAddr,
    pki_dir: &Path,
    thing: &str,
    after: &str,
) {
    let served = async {
        let mut dev = Device::connect(addr, Some((pki_dir, thing)), thing, true).await;
        let get = format!("$aws/things/{thing}/jobs/$next/get");
        dev.publish(&get, QoS::AtLeastOnce, r#"{"clientToken":"legit"}"#)
            .await;
        let answer = json(&dev.publish_on(|t| t == format!("{get}/accepted")).await);
        assert_eq!(answer["clientToken"], "legit", "{answer}");
        let _ = dev.client.disconnect().await;
    };
    if tokio::time::timeout(DEADLINE * 2, served).await.is_err() {
        panic!(
            "after {after}: a legitimate device {thing} was not served within {:?}",
            DEADLINE * 2
        );
    }
}

/// Polls `check` every 100 ms until it returns Ok or `within` passes; returns
/// the last error.
pub async fn poll_until<T>(
    within: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        let r = check();
        if r.is_ok() || start.elapsed() >= within {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// utime + stime of a process, in seconds.
/// Polls `established` (a count of ESTABLISHED sockets) until it is 1, for at most
/// `within`; the distinct counts seen, in order, as the error.
pub async fn until_one_established(
    within: Duration,
    established: impl Fn() -> usize,
) -> Result<(), Vec<usize>> {
    let mut counts = Vec::new();
    let r = poll_until(within, || {
        let n = established();
        counts.push(n);
        if n == 1 {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    })
    .await;
    counts.dedup();
    r.map_err(|_| counts)
}

pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces: fields are counted after its `)`.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

/// A `Vm…:` value of /proc/<pid>/status, in KiB.
pub fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// TCP sockets in ESTABLISHED state whose local port is `port`, among the
/// file descriptors of `pid` (the server side of connections to a gateway).
pub fn established_on_port(pid: u32, port: u16) -> usize {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in dir.flatten() {
            if let Ok(target) = std::fs::read_link(e.path()) {
                let t = target.to_string_lossy();
                if let Some(n) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    inodes.insert(n.to_string());
                }
            }
        }
    }
    let mut count = 0;
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let local_port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && f[3] == "01" && inodes.contains(f[9]) {
                count += 1;
            }
        }
    }
    count
}

// ---------------------------------------------------------------------------
// `otarig cloud` as a process
// ---------------------------------------------------------------------------

/// A foreground `otarig cloud` on a fresh PKI; killed on drop.
pub struct CloudProc {
    pub process: Background,
    pub pid: u32,
    pub addr: SocketAddr,
    pub pki: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl CloudProc {
    /// `otarig cloud --pki TMP --things THINGS --bind 127.0.0.1:0` with `env`,
    /// up to "press Ctrl-C to stop".
    pub fn start(things: &[&str], env: &[(&str, &str)]) -> CloudProc {
        let dir = tempfile::tempdir().unwrap();
        let mut me = Self::start_in(&dir.path().join("pki"), things, env);
        me._dir = Some(dir);
        me
    }

    pub fn start_in(pki: &Path, things: &[&str], env: &[(&str, &str)]) -> CloudProc {
        let mut cmd = command(&["cloud", "--pki", s(pki), "--bind", "127.0.0.1:0"]);
        if !things.is_empty() {
            cmd.args(["--things", &things.join(",")]);
        }
        cmd.env_remove("RUST_LOG").env_remove("OTARIG_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        // Stdout is read on into a channel, so the cloud never blocks on it.
        let mut process = Background::spawn(&mut cmd);
        let banner = Banner::parse(&process.ready());
        CloudProc {
            pid: process.pid(),
            process,
            addr: banner.addr,
            pki: pki.to_path_buf(),
            _dir: None,
        }
    }

    pub fn layout(&self) -> PkiLayout {
        PkiLayout::new(&self.pki)
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }

    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid)
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(self.pid, "VmHWM:")
    }

    pub fn established(&self) -> usize {
        established_on_port(self.pid, self.addr.port())
    }

    pub fn still_running(&mut self) -> bool {
        self.process.still_running()
    }

    /// `otarig job create` for `image` and `targets`; returns (job id, stream id, file id).
    pub fn job_create(&self, image: &[u8], targets: &[&str]) -> (String, String, u32) {
        let path = self
            .pki
            .parent()
            .unwrap()
            .join(format!("image-{}.bin", rand::random::<u32>()));
        std::fs::write(&path, image).unwrap();
        let v = otarig(&[
            "job",
            "create",
            "--pki",
            s(&self.pki),
            "--image",
            s(&path),
            "--targets",
            &targets.join(","),
        ])
        .json();
        (
            v["id"].as_str().unwrap().to_string(),
            v["stream"].as_str().unwrap().to_string(),
            v["file_id"].as_u64().unwrap_or(0) as u32,
        )
    }
}
