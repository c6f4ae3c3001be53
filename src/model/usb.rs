//! USB devices named as `lsusb` prints them, in rig files and on the command line.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A USB device: `VID:PID[:SERIAL]`, hexadecimal ids (`0403:6001:A12345`, `0x0403:0x6001`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct UsbId {
    pub vid: u16,
    pub pid: u16,
    pub serial: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("`{text}` is not a USB identity ({message}); write `VID:PID` or `VID:PID:SERIAL` in hex, e.g. `0403:6001:A12345`")]
pub struct UsbIdError {
    pub text: String,
    pub message: String,
}

impl FromStr for UsbId {
    type Err = UsbIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |message: String| UsbIdError {
            text: text.into(),
            message,
        };
        // The serial may itself contain ':' (some probes' do): split twice only.
        let mut parts = text.splitn(3, ':');
        let mut hex = |what: &str| {
            let part = parts
                .next()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| err(format!("no {what}")))?;
            let digits = part.strip_prefix("0x").unwrap_or(part);
            u16::from_str_radix(digits, 16)
                .map_err(|_| err(format!("{what} `{part}` is not a 16-bit hex number")))
        };
        let vid = hex("vendor id")?;
        let pid = hex("product id")?;
        let serial = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
        Ok(UsbId { vid, pid, serial })
    }
}

impl fmt::Display for UsbId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vid, self.pid)?;
        if let Some(serial) = &self.serial {
            write!(f, ":{serial}")?;
        }
        Ok(())
    }
}

impl UsbId {
    /// Whether a device with these ids matches; a selector without serial matches any.
    pub fn matches(&self, vid: u16, pid: u16, serial: Option<&str>) -> bool {
        self.vid == vid
            && self.pid == pid
            && self
                .serial
                .as_deref()
                .is_none_or(|want| serial == Some(want))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_parser_for_rig_files_and_the_command_line() {
        let id: UsbId = "0403:6001:A12345".parse().unwrap();
        assert_eq!(
            (id.vid, id.pid, id.serial.as_deref()),
            (0x0403, 0x6001, Some("A12345"))
        );
        assert_eq!(
            "0x0483:0x374E".parse::<UsbId>().unwrap().to_string(),
            "0483:374e"
        );
        assert_eq!(
            "1:2:a:b".parse::<UsbId>().unwrap().serial.as_deref(),
            Some("a:b")
        );
        let e = "0403".parse::<UsbId>().unwrap_err();
        assert!(e.to_string().contains("no product id"), "{e}");
        assert!("zz:6001".parse::<UsbId>().is_err());
        assert!(":6001".parse::<UsbId>().is_err());
        assert!(id.matches(0x0403, 0x6001, Some("A12345")));
        assert!(!id.matches(0x0403, 0x6001, Some("B")));
        let any: UsbId = "0403:6001".parse().unwrap();
        assert!(any.matches(0x0403, 0x6001, None));
    }
}
