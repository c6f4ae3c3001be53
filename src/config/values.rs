//! Small value types shared by rig and scenario files: durations, percentages,
//! regexes, role targets, USB identities. Parsed from raw strings so that a bad
//! value becomes a positioned diagnostic instead of stopping the whole parse.

use std::fmt;
use std::time::Duration;

use regex::Regex;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// `30s`, `2m`, `500ms`, `1h 30m` (humantime).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        format!("`{s}` is not a duration ({e}); write e.g. `500ms`, `30s`, `2m`, `1h`")
    })
}

/// `50%` → 0.5. Only a number from 0 to 100 followed by `%`.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let bad = || {
        format!(
            "`{s}` is not a percentage; write a number from 0 to 100 followed by `%`, e.g. `50%`"
        )
    };
    let number = s.trim().strip_suffix('%').ok_or_else(bad)?;
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!(
            "`{s}` is out of range: a percentage is from 0% to 100%"
        ));
    }
    Ok(value / 100.0)
}

/// A probability written as a fraction from 0 to 1.
pub fn check_probability(p: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!(
            "probability {p} is out of range: write a fraction from 0 to 1 (0.1 = 10%)"
        ))
    }
}

pub fn compile_regex(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| {
        // regex's message spans several lines with a caret; keep its last line.
        let why = e.to_string();
        let why = why
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        let why = why.strip_prefix("error: ").unwrap_or(why);
        format!("`{s}` is not a valid regex: {why}")
    })
}

/// `boards: all | role | [roles]`, and `targets:` of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    All,
    Roles(Vec<String>),
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Targets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`all`, a role name, or a list of role names")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Targets, E> {
                Ok(if s == "all" {
                    Targets::All
                } else {
                    Targets::Roles(vec![s.to_string()])
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Targets, A::Error> {
                let mut roles = Vec::new();
                while let Some(r) = seq.next_element::<String>()? {
                    roles.push(r);
                }
                Ok(Targets::Roles(roles))
            }
        }
        d.deserialize_any(V)
    }
}

/// A USB device: `VID:PID[:SERIAL]`, hexadecimal ids (`0403:6001:A12345`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsbId {
    pub vid: u16,
    pub pid: u16,
    pub serial: Option<String>,
}

impl UsbId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("`{s}` is not a USB identity ({why}); write `VID:PID` or `VID:PID:SERIAL` in hex, e.g. `0403:6001:A12345`")
        };
        let mut parts = s.splitn(3, ':');
        let mut hex = |name: &str| {
            let p = parts
                .next()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| bad(&format!("no {name}")))?;
            u16::from_str_radix(p, 16)
                .map_err(|_| bad(&format!("{name} `{p}` is not a 16-bit hex number")))
        };
        let vid = hex("vendor id")?;
        let pid = hex("product id")?;
        let serial = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
        Ok(UsbId { vid, pid, serial })
    }
}

impl fmt::Display for UsbId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vid, self.pid)?;
        if let Some(s) = &self.serial {
            write!(f, ":{s}")?;
        }
        Ok(())
    }
}

/// An MQTT topic filter, checked the way a broker would (3.1.1 §4.7.1).
pub fn check_topic_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("an empty topic filter matches nothing; use `#` for every topic".into());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!(
                "topic filter `{filter}`: `#` must be a whole level and the last one"
            ));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!(
                "topic filter `{filter}`: `+` must be a whole level"
            ));
        }
    }
    Ok(())
}

/// An AWS stream id: 1 to 128 of `[a-zA-Z0-9_-]`.
pub fn is_stream_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_reject_nonsense() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        let e = parse_duration("5 parsecs").unwrap_err();
        assert!(e.contains("`5 parsecs` is not a duration"), "{e}");
    }

    #[test]
    fn percentages_are_fractions_in_range() {
        assert_eq!(parse_percent("50%"), Ok(0.5));
        assert_eq!(parse_percent("0%"), Ok(0.0));
        assert!(parse_percent("150%").unwrap_err().contains("out of range"));
        assert!(parse_percent("50").is_err());
        assert!(check_probability(1.5).is_err());
    }

    #[test]
    fn regex_errors_are_one_line() {
        let e = compile_regex("a[b").unwrap_err();
        assert!(e.starts_with("`a[b` is not a valid regex: "), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn usb_ids_parse_with_and_without_serial() {
        assert_eq!(
            UsbId::parse("0403:6001:A12345"),
            Ok(UsbId {
                vid: 0x0403,
                pid: 0x6001,
                serial: Some("A12345".into())
            })
        );
        assert_eq!(UsbId::parse("0483:374e").unwrap().to_string(), "0483:374e");
        assert!(UsbId::parse("0403").is_err());
        assert!(UsbId::parse("zz:6001").is_err());
    }

    #[test]
    fn topic_filters_follow_mqtt_rules() {
        assert!(check_topic_filter("$aws/things/+/streams/+/data/cbor").is_ok());
        assert!(check_topic_filter("a/#").is_ok());
        assert!(check_topic_filter("a/#/b").is_err());
        assert!(check_topic_filter("a/b+").is_err());
    }
}
