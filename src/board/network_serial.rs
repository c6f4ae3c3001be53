//! A serial console over the network: ser2net (alone, or started by a labgrid exporter
//! for a place's NetworkSerialPort) as `rfc2217://HOST:PORT` (telnet with the RFC 2217 COM
//! port option) or `socket://HOST:PORT` (raw TCP). The stream it opens is read by the
//! serial console's reader ([`super::serial`]) like a local port: lines, vanishing and
//! re-opening are the same.
//!
//! ser2net accepts a connection before it opens the device; when the device is missing
//! (the board is off and its USB serial port gone) it sends `Device open failure: …` and
//! closes. That text is ser2net's, never the board's: with RFC 2217 the device counts as
//! open once ser2net acknowledges the baud rate we set (it only does so with the device
//! open), and bytes before that are held back; in raw mode a connection closed within
//! [`RAW_SETTLE`] counts as a failure.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::model::{NetworkSerialPort, NetworkSerialProtocol};

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const BINARY: u8 = 0;
const ECHO: u8 = 1;
const SGA: u8 = 3;
/// RFC 2217's telnet option.
const COM_PORT_OPTION: u8 = 44;
const SET_BAUDRATE: u8 = 1;
const SET_DATASIZE: u8 = 2;
const SET_PARITY: u8 = 3;
const SET_STOPSIZE: u8 = 4;
/// A server's answer to a client command is the command's code plus 100.
const SERVER_OFFSET: u8 = 100;

/// How long connecting, and ser2net's answer to the COM port settings, may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// Raw mode has no handshake: a connection ser2net closes this soon after accepting it is
/// its refusal (`Device open failure`), not a board that printed and died.
pub const RAW_SETTLE: Duration = Duration::from_millis(500);

/// The framing asked of the far end (RFC 2217 only; raw mode takes what ser2net has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    pub baud: u32,
    pub data_bits: u8,
    /// RFC 2217 codes: 1 none, 2 odd, 3 even.
    pub parity: u8,
    /// RFC 2217 codes: 1 one stop bit, 2 two.
    pub stop_bits: u8,
}

impl Framing {
    pub fn new(baud: u32, data_bits: u8, parity: serialport::Parity, stop_bits: u8) -> Self {
        Framing {
            baud,
            data_bits,
            parity: match parity {
                serialport::Parity::None => 1,
                serialport::Parity::Odd => 2,
                serialport::Parity::Even => 3,
            },
            stop_bits,
        }
    }
}

/// Why a network serial port could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum NetworkSerialError {
    #[error("cannot connect to {url}: {source} (is ser2net, or the labgrid exporter, running there, and the place acquired?)")]
    Connect {
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("{url} accepted the connection but could not open the board's serial device ({said}): is the board powered and its serial adapter attached to the exporter host?")]
    DeviceOpen { url: String, said: String },
}

/// A connected port: bytes the board sent come out of `read`; telnet commands are
/// answered and dropped.
pub struct NetworkStream {
    tcp: TcpStream,
    decoder: Option<TelnetDecoder>,
    /// Board bytes decoded but not yet read.
    pending: Vec<u8>,
    raw: Vec<u8>,
}

/// Connects to `url` and, for RFC 2217, sets the framing and waits for ser2net to confirm
/// the device is open. `read` on the result times out every `poll` (as a local port does).
pub fn open(
    url: &NetworkSerialPort,
    framing: Framing,
    poll: Duration,
) -> Result<NetworkStream, NetworkSerialError> {
    let connect_err = |source| NetworkSerialError::Connect {
        url: url.to_string(),
        source,
    };
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(connect_err)?
        .collect();
    let mut last = io::Error::new(ErrorKind::NotFound, "the host name resolves to no address");
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_WITHIN) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let tcp = tcp.ok_or_else(|| connect_err(last))?;
    let _ = tcp.set_nodelay(true);
    let mut stream = NetworkStream {
        tcp,
        decoder: (url.protocol == NetworkSerialProtocol::Rfc2217).then(TelnetDecoder::new),
        pending: Vec::new(),
        raw: vec![0; 16 * 1024],
    };
    stream.settle(url, framing).map_err(|e| match e {
        Settle::Io(source) => connect_err(source),
        Settle::Closed(said) => NetworkSerialError::DeviceOpen {
            url: url.to_string(),
            said: if said.trim().is_empty() {
                "it closed the connection".into()
            } else {
                said.trim().to_string()
            },
        },
    })?;
    stream
        .tcp
        .set_read_timeout(Some(poll))
        .map_err(connect_err)?;
    Ok(stream)
}

enum Settle {
    Io(io::Error),
    /// The far end closed first; what it said.
    Closed(String),
}

impl NetworkStream {
    /// Until the device is known to be open: RFC 2217 until ser2net acknowledges the baud
    /// rate (or refuses the COM port option, or stays silent for [`CONNECT_WITHIN`]); raw
    /// for [`RAW_SETTLE`].
    fn settle(&mut self, url: &NetworkSerialPort, framing: Framing) -> Result<(), Settle> {
        let window = match &self.decoder {
            Some(_) => {
                let hello = TelnetDecoder::hello(framing);
                self.tcp.write_all(&hello).map_err(Settle::Io)?;
                CONNECT_WITHIN
            }
            None => RAW_SETTLE,
        };
        let deadline = Instant::now() + window;
        let mut early = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.tcp.set_read_timeout(Some(left)).map_err(Settle::Io)?;
            match self.tcp.read(&mut self.raw) {
                Ok(0) => return Err(Settle::Closed(String::from_utf8_lossy(&early).into())),
                Ok(n) => match &mut self.decoder {
                    Some(decoder) => {
                        let out = decoder.feed(&self.raw[..n]);
                        self.tcp.write_all(&out.replies).map_err(Settle::Io)?;
                        early.extend_from_slice(&out.data);
                        if decoder.device_open {
                            break;
                        }
                    }
                    None => early.extend_from_slice(&self.raw[..n]),
                },
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Closed hard: what it said before is all there is.
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return Err(Settle::Closed(String::from_utf8_lossy(&early).into()))
                }
                Err(e) => return Err(Settle::Io(e)),
            }
        }
        tracing::debug!(%url, early = early.len(), "network serial port open");
        self.pending = early;
        Ok(())
    }
}

impl Read for NetworkStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.pending.is_empty() {
                let n = buf.len().min(self.pending.len());
                buf[..n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                return Ok(n);
            }
            let n = self.tcp.read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            match &mut self.decoder {
                None => self.pending.extend_from_slice(&self.raw[..n]),
                Some(decoder) => {
                    let out = decoder.feed(&self.raw[..n]);
                    if !out.replies.is_empty() {
                        self.tcp.write_all(&out.replies)?;
                    }
                    // A read of only telnet commands must not look like the end of file.
                    self.pending = out.data;
                }
            }
        }
    }
}

/// What a chunk of telnet bytes held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The board's bytes (`IAC IAC` unescaped).
    pub data: Vec<u8>,
    /// Answers to the server's option negotiation.
    pub replies: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    /// After `IAC WILL|WONT|DO|DONT`: the option byte comes next.
    Option(u8),
    Sub,
    SubIac,
}

/// A client-side telnet decoder for RFC 2217: options are agreed once each (answers to
/// answers would loop), subnegotiations are parsed for the server's baud-rate answer.
#[derive(Debug)]
pub struct TelnetDecoder {
    state: State,
    sub: Vec<u8>,
    /// Options already answered, by (verb, option): a second request is not answered again.
    answered: Vec<(u8, u8)>,
    /// ser2net answered the baud rate (the device is open), or refused RFC 2217.
    pub device_open: bool,
}

impl TelnetDecoder {
    pub fn new() -> Self {
        TelnetDecoder {
            state: State::Data,
            sub: Vec::new(),
            // `hello` offers these itself.
            answered: vec![
                (WILL, BINARY),
                (DO, BINARY),
                (DO, SGA),
                (WILL, SGA),
                (WILL, COM_PORT_OPTION),
            ],
            device_open: false,
        }
    }

    /// What the client sends first: binary both ways, no go-ahead, the COM port option,
    /// and the framing.
    pub fn hello(f: Framing) -> Vec<u8> {
        let mut out = vec![
            IAC,
            WILL,
            BINARY,
            IAC,
            DO,
            BINARY,
            IAC,
            DO,
            SGA,
            IAC,
            WILL,
            SGA,
            IAC,
            WILL,
            COM_PORT_OPTION,
        ];
        let mut sub = |command: u8, value: &[u8]| {
            out.extend([IAC, SB, COM_PORT_OPTION, command]);
            for &b in value {
                out.push(b);
                if b == IAC {
                    out.push(IAC);
                }
            }
            out.extend([IAC, SE]);
        };
        sub(SET_BAUDRATE, &f.baud.to_be_bytes());
        sub(SET_DATASIZE, &[f.data_bits]);
        sub(SET_PARITY, &[f.parity]);
        sub(SET_STOPSIZE, &[f.stop_bits]);
        out
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Decoded {
        let mut out = Decoded::default();
        for &b in bytes {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, _) => {
                    out.data.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    out.data.push(IAC);
                    State::Data
                }
                (State::Iac, WILL | WONT | DO | DONT) => State::Option(b),
                (State::Iac, SB) => {
                    self.sub.clear();
                    State::Sub
                }
                // NOP, GA, break, …: nothing for a console reader.
                (State::Iac, _) => State::Data,
                (State::Option(verb), option) => {
                    self.negotiate(verb, option, &mut out.replies);
                    State::Data
                }
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => {
                    self.sub.push(b);
                    State::Sub
                }
                (State::SubIac, IAC) => {
                    self.sub.push(IAC);
                    State::Sub
                }
                (State::SubIac, SE) => {
                    self.subnegotiation();
                    State::Data
                }
                // A malformed subnegotiation: drop it and read on.
                (State::SubIac, _) => State::Data,
            };
        }
        out
    }

    fn negotiate(&mut self, verb: u8, option: u8, replies: &mut Vec<u8>) {
        if option == COM_PORT_OPTION && matches!(verb, DONT | WONT) {
            // No RFC 2217 there (a plain telnet server): nothing will confirm the device.
            self.device_open = true;
        }
        let answer = match verb {
            WILL if matches!(option, BINARY | SGA | ECHO | COM_PORT_OPTION) => DO,
            WILL => DONT,
            DO if matches!(option, BINARY | SGA | COM_PORT_OPTION) => WILL,
            DO => WONT,
            // Refusals need no answer beyond agreeing, which silence does.
            _ => return,
        };
        if !self.answered.contains(&(answer, option)) {
            self.answered.push((answer, option));
            replies.extend([IAC, answer, option]);
        }
    }

    fn subnegotiation(&mut self) {
        if let [COM_PORT_OPTION, command, ..] = self.sub[..] {
            if command == SET_BAUDRATE + SERVER_OFFSET {
                self.device_open = true;
            }
        }
    }
}

impl Default for TelnetDecoder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What ser2net 4.3 sent to a client when the device did not exist (captured).
    const SER2NET_NO_DEVICE: &[u8] = b"\xff\xfb\x03\xff\xfd\x03\xff\xfb\x01\xff\xfe\x01\xff\xfd\x00\xff\xfb\x00\xff\xfd,Device open failure: Value or file not found\r\n";
    /// …and when it opened the device: the answers to our settings, then the board's lines.
    const SER2NET_OPEN: &[u8] = b"\xff\xfb\x03\xff\xfd\x03\xff\xfb\x01\xff\xfe\x01\xff\xfd\x00\xff\xfb\x00\xff\xfd,\xff\xfa,k\x00\xff\xf0\xff\xfa,e\x00\x01\xc2\x00\xff\xf0line 0\r\n";

    #[test]
    fn a_missing_device_is_not_confirmed_and_its_text_is_ser2nets() {
        let mut d = TelnetDecoder::new();
        let out = d.feed(SER2NET_NO_DEVICE);
        assert!(!d.device_open);
        assert_eq!(
            out.data,
            b"Device open failure: Value or file not found\r\n"
        );
        // WILL ECHO gets DO ECHO; options hello already offered are not answered twice.
        assert_eq!(out.replies, [IAC, DO, ECHO]);
    }

    #[test]
    fn the_baud_rate_answer_confirms_the_device_and_data_follows() {
        let mut d = TelnetDecoder::new();
        let out = d.feed(SER2NET_OPEN);
        assert!(d.device_open);
        assert_eq!(out.data, b"line 0\r\n");
    }

    #[test]
    fn commands_split_across_reads_and_escaped_ff_bytes_decode() {
        let mut d = TelnetDecoder::new();
        let mut data = Vec::new();
        for chunk in [
            &b"a\xff"[..],
            b"\xffb\xff",
            b"\xfa,e\x00\x00",
            b"\xff\xff\xff",
            b"\xf0c",
        ] {
            data.extend(d.feed(chunk).data);
        }
        assert_eq!(data, b"a\xffbc");
        assert!(d.device_open, "baud answer with an escaped 0xFF byte in it");
    }

    #[test]
    fn a_server_without_rfc2217_counts_as_open() {
        let mut d = TelnetDecoder::new();
        d.feed(&[IAC, DONT, COM_PORT_OPTION]);
        assert!(d.device_open);
    }

    #[test]
    fn hello_sets_the_framing_with_iac_escaped() {
        // 0xFF in the baud rate's bytes must be doubled inside the subnegotiation.
        let hello = TelnetDecoder::hello(Framing {
            baud: 0x0001_C2FF,
            data_bits: 8,
            parity: 1,
            stop_bits: 1,
        });
        let baud = [
            IAC,
            SB,
            COM_PORT_OPTION,
            SET_BAUDRATE,
            0,
            1,
            0xC2,
            IAC,
            IAC,
            IAC,
            SE,
        ];
        assert!(hello.windows(baud.len()).any(|w| w == baud), "{hello:?}");
    }

    /// A fake ser2net on loopback: sends `script`, then closes (a refused device) or
    /// reads until the client goes away (an open one).
    fn fake_server(
        protocol: NetworkSerialProtocol,
        script: &'static [u8],
        close: bool,
    ) -> NetworkSerialPort {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(script).unwrap();
            if close {
                // As ser2net: read what the client sent before closing (closing on unread
                // bytes would reset the connection).
                s.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let _ = s.read(&mut [0u8; 256]);
                return;
            }
            let mut buf = [0u8; 256];
            while let Ok(1..) = s.read(&mut buf) {}
        });
        NetworkSerialPort {
            protocol,
            host: "127.0.0.1".into(),
            port,
        }
    }

    const FRAMING: Framing = Framing {
        baud: 115_200,
        data_bits: 8,
        parity: 1,
        stop_bits: 1,
    };

    /// Reads from an open port until `len` bytes came.
    fn read_some(stream: &mut NetworkStream, len: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < len {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    #[test]
    fn open_refuses_a_device_ser2net_could_not_open_and_names_it() {
        for protocol in [NetworkSerialProtocol::Rfc2217, NetworkSerialProtocol::Raw] {
            let script = match protocol {
                NetworkSerialProtocol::Rfc2217 => SER2NET_NO_DEVICE,
                NetworkSerialProtocol::Raw => b"Device open failure: Value or file not found\r\n",
            };
            let url = fake_server(protocol, script, true);
            let e = match open(&url, FRAMING, Duration::from_millis(100)) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{url}: a refused device opened"),
            };
            assert!(
                e.contains("Device open failure: Value or file not found")
                    && e.contains(&url.to_string()),
                "{e}"
            );
        }
    }

    #[test]
    fn open_reads_the_boards_bytes_only() {
        let url = fake_server(NetworkSerialProtocol::Rfc2217, SER2NET_OPEN, false);
        let Ok(mut stream) = open(&url, FRAMING, Duration::from_millis(100)) else {
            panic!("did not open");
        };
        assert_eq!(read_some(&mut stream, 8), b"line 0\r\n");
        // Raw: every byte is the board's.
        let url = fake_server(NetworkSerialProtocol::Raw, b"boot\r\n\xff", false);
        let Ok(mut stream) = open(&url, FRAMING, Duration::from_millis(100)) else {
            panic!("did not open");
        };
        assert_eq!(read_some(&mut stream, 7), b"boot\r\n\xff");
    }
}
