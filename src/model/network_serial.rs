//! A serial port reached over the network (ser2net, a labgrid NetworkSerialPort), written
//! as pyserial's URLs, which labgrid uses for the same two protocols: `rfc2217://HOST:PORT`
//! (telnet with the RFC 2217 COM port option, ser2net's `telnet(rfc2217)` accepter) and
//! `socket://HOST:PORT` (raw TCP, labgrid's protocol `raw`).

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkSerialProtocol {
    /// Telnet with the COM port control option: the far end sets baud rate and framing.
    Rfc2217,
    /// Plain bytes over TCP: framing is whatever the far end was configured with.
    Raw,
}

impl NetworkSerialProtocol {
    /// The URL scheme (pyserial's names).
    pub fn scheme(self) -> &'static str {
        match self {
            NetworkSerialProtocol::Rfc2217 => "rfc2217",
            NetworkSerialProtocol::Raw => "socket",
        }
    }

    /// labgrid's NetworkSerialPort `protocol` values: `rfc2217` (its default) and `raw`.
    pub fn from_labgrid(protocol: &str) -> Option<Self> {
        match protocol {
            "rfc2217" => Some(NetworkSerialProtocol::Rfc2217),
            "raw" => Some(NetworkSerialProtocol::Raw),
            _ => None,
        }
    }
}

/// `rfc2217://HOST:PORT` or `socket://HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetworkSerialPort {
    pub protocol: NetworkSerialProtocol,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("`{text}` is not a network serial port ({message}); write `rfc2217://HOST:PORT` (ser2net's telnet/RFC 2217) or `socket://HOST:PORT` (raw TCP)")]
pub struct NetworkSerialError {
    pub text: String,
    pub message: String,
}

impl NetworkSerialPort {
    /// Whether `text` is meant as a URL rather than a device path.
    pub fn looks_like_url(text: &str) -> bool {
        text.contains("://")
    }

    /// `host:port` as a socket address string (IPv6 hosts in brackets).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for NetworkSerialPort {
    type Err = NetworkSerialError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |message: &str| NetworkSerialError {
            text: text.into(),
            message: message.into(),
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| err("no `scheme://`"))?;
        let protocol = match scheme {
            "rfc2217" => NetworkSerialProtocol::Rfc2217,
            "socket" => NetworkSerialProtocol::Raw,
            other => return Err(err(&format!("unknown scheme `{other}`"))),
        };
        // Options after `?` (pyserial's `?logging=…`) are not supported: refuse them
        // rather than ignore them.
        if rest.contains(['?', '/']) {
            return Err(err("nothing may follow HOST:PORT"));
        }
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(|| err("no `]`"))?;
                (host, after.strip_prefix(':').ok_or_else(|| err("no port"))?)
            }
            None => rest.rsplit_once(':').ok_or_else(|| err("no port"))?,
        };
        if host.is_empty() {
            return Err(err("no host"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| err(&format!("port `{port}` is not 1-65535")))?;
        Ok(NetworkSerialPort {
            protocol,
            host: host.into(),
            port,
        })
    }
}

impl fmt::Display for NetworkSerialPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.protocol.scheme(), self.address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_print_back() {
        for text in [
            "rfc2217://bench-2.lab:5001",
            "socket://10.0.0.7:4000",
            "rfc2217://[::1]:5001",
        ] {
            let port: NetworkSerialPort = text.parse().unwrap();
            assert_eq!(port.to_string(), text);
        }
        let port: NetworkSerialPort = "socket://h:1".parse().unwrap();
        assert_eq!(port.protocol, NetworkSerialProtocol::Raw);
        assert_eq!(port.address(), "h:1");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (text, why) in [
            ("telnet://h:23", "unknown scheme `telnet`"),
            ("rfc2217://h", "no port"),
            ("rfc2217://:5000", "no host"),
            ("rfc2217://h:0", "port `0`"),
            ("rfc2217://h:99999", "port `99999`"),
            ("rfc2217://h:5000?logging=debug", "nothing may follow"),
        ] {
            let e = text.parse::<NetworkSerialPort>().unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
