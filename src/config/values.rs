//! Small value types shared by rig and scenario files: durations, percentages,
//! regexes, role targets, USB identities. Parsed from raw strings so that a bad
//! value becomes a positioned diagnostic instead of stopping the whole parse.

use std::fmt;
use std::time::Duration;

use regex::Regex;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// `30s`, `2m`, `500ms`, `1h 30m` (humantime). A number too large for a duration is an
/// error, never a wrap-around.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| duration_error(s, e))
}

fn duration_error(s: &str, e: humantime::DurationError) -> String {
    match e {
        humantime::DurationError::NumberOverflow => {
            format!("`{s}` is too long to be a duration; write e.g. `500ms`, `30s`, `2m`, `1h`")
        }
        e => format!("`{s}` is not a duration ({e}); write e.g. `500ms`, `30s`, `2m`, `1h`"),
    }
}

/// The values a duration field accepts: zero where it means nothing, and any length
/// that would outlast a test run, are errors (docs/configuration.md, "Durations").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationBounds {
    pub min: Duration,
    pub max: Duration,
    /// What the field is, for messages: "an expectation's within".
    pub what: &'static str,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;

/// Every duration field of rig, scenario and fixture files and its bounds. The table in
/// docs/configuration.md ("Durations") is this list.
pub mod bounds {
    use super::{ms, secs, DurationBounds, HOUR, MINUTE};

    const fn b(
        min: std::time::Duration,
        max: std::time::Duration,
        what: &'static str,
    ) -> DurationBounds {
        DurationBounds { min, max, what }
    }

    // Scenario files.
    pub const SCENARIO_TIMEOUT: DurationBounds =
        b(secs(1), secs(24 * HOUR), "a scenario's timeout");
    pub const RECOVERY_WITHIN: DurationBounds =
        b(ms(100), secs(HOUR), "a scenario's recovery.within");
    pub const RECOVERY_SETTLE: DurationBounds =
        b(ms(0), secs(10 * 60), "a scenario's recovery.settle");
    pub const EXPECT_WITHIN: DurationBounds = b(ms(100), secs(HOUR), "an expectation's within");
    pub const EXPECT_FOR: DurationBounds = b(ms(100), secs(HOUR), "a not_console window");
    pub const STEP_TIMEOUT: DurationBounds = b(secs(1), secs(24 * HOUR), "a job's step_timeout");
    pub const WAIT: DurationBounds = b(ms(10), secs(HOUR), "a wait step");
    pub const OFF_FOR: DurationBounds = b(ms(10), secs(10 * MINUTE), "a power-off time");
    pub const DOWN_FOR: DurationBounds =
        b(ms(10), secs(10 * MINUTE), "a broker restart's down time");
    pub const DELAY_BY: DurationBounds = b(ms(1), secs(10 * MINUTE), "a link delay");
    pub const DELAY_JITTER: DurationBounds = b(ms(0), secs(10 * MINUTE), "a link delay's jitter");
    pub const STALL_FOR: DurationBounds = b(ms(10), secs(HOUR), "a link stall");
    // Rig files.
    pub const BOOT_TIMEOUT: DurationBounds = b(ms(100), secs(HOUR), "a board's boot timeout");
    pub const RECOVERY_TIMEOUT: DurationBounds =
        b(ms(100), secs(HOUR), "a board's recovery timeout");
    pub const FLASH_TIMEOUT: DurationBounds = b(ms(100), secs(HOUR), "a board's flash timeout");
    pub const FLASHER_TIMEOUT: DurationBounds =
        b(secs(1), secs(HOUR), "a command flasher's timeout");
    pub const POWER_TIMEOUT: DurationBounds =
        b(ms(100), secs(10 * MINUTE), "a power command's timeout");
    pub const PACE: DurationBounds = b(ms(0), secs(10), "the stream pace");
    pub const LABGRID_WAIT: DurationBounds =
        b(secs(1), secs(24 * HOUR), "the wait for labgrid places");
    // Fixture files (the simulator's delays).
    pub const FIXTURE_DELAY: DurationBounds = b(ms(0), secs(HOUR), "a simulated firmware delay");
}

/// A duration for field `field` (its key, for the message) within `b`:
/// `within 0s is below the minimum 100ms for an expectation's within`.
pub fn parse_duration_in(field: &str, s: &str, b: DurationBounds) -> Result<Duration, String> {
    let written = s.trim();
    match humantime::parse_duration(written) {
        Ok(d) => check_duration(field, written, d, b).map(|()| d),
        // Longer than any bound: 9e18 s, 1e30 h.
        Err(humantime::DurationError::NumberOverflow) => Err(above(field, written, b)),
        Err(e) => Err(duration_error(s, e)),
    }
}

fn above(field: &str, written: &str, b: DurationBounds) -> String {
    format!(
        "{field} {written} is above the maximum {} for {}",
        show(b.max),
        b.what
    )
}

/// A bound as one writes it: `100ms`, `1s`, `10m`, `24h`.
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".into(),
        _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        _ if ms % 1000 == 0 => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

/// `d` (written `written`) is within `b`.
pub fn check_duration(
    field: &str,
    written: &str,
    d: Duration,
    b: DurationBounds,
) -> Result<(), String> {
    if d < b.min {
        Err(format!(
            "{field} {written} is below the minimum {} for {}",
            show(b.min),
            b.what
        ))
    } else if d > b.max {
        Err(above(field, written, b))
    } else {
        Ok(())
    }
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
    fn durations_are_bounded_per_field_with_the_bound_in_the_message() {
        let b = bounds::EXPECT_WITHIN;
        assert_eq!(
            parse_duration_in("within", "30s", b),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            parse_duration_in("within", "0s", b).unwrap_err(),
            "within 0s is below the minimum 100ms for an expectation's within"
        );
        assert_eq!(
            parse_duration_in("within", "100 years", b).unwrap_err(),
            "within 100 years is above the maximum 1h for an expectation's within"
        );
        // Fits a u64 of seconds but no run: an error, not an overflow later.
        assert!(parse_duration_in("within", "9000000000000000000s", b)
            .unwrap_err()
            .contains("above the maximum 1h"));
        // Does not fit at all: the same error, not humantime's "number is too large".
        assert!(parse_duration_in(
            "timeout",
            "99999999999999999999999s",
            bounds::SCENARIO_TIMEOUT
        )
        .unwrap_err()
        .contains("timeout 99999999999999999999999s is above the maximum 24h"));
        assert!(parse_duration("99999999999999999999999s")
            .unwrap_err()
            .contains("too long"));
        assert!(parse_duration_in("within", "soon", b)
            .unwrap_err()
            .contains("`soon` is not a duration"));
        // Zero is allowed where it means something (no jitter, no pacing).
        assert_eq!(
            parse_duration_in("jitter", "0s", bounds::DELAY_JITTER),
            Ok(Duration::ZERO)
        );
        assert_eq!(
            parse_duration_in("pace", "0ms", bounds::PACE),
            Ok(Duration::ZERO)
        );
    }

    #[test]
    fn every_bound_has_a_positive_or_meaningful_zero_minimum_below_its_maximum() {
        use bounds::*;
        for b in [
            SCENARIO_TIMEOUT,
            RECOVERY_WITHIN,
            RECOVERY_SETTLE,
            EXPECT_WITHIN,
            EXPECT_FOR,
            STEP_TIMEOUT,
            WAIT,
            OFF_FOR,
            DOWN_FOR,
            DELAY_BY,
            DELAY_JITTER,
            STALL_FOR,
            BOOT_TIMEOUT,
            RECOVERY_TIMEOUT,
            FLASH_TIMEOUT,
            FLASHER_TIMEOUT,
            POWER_TIMEOUT,
            PACE,
            FIXTURE_DELAY,
        ] {
            assert!(b.min < b.max, "{b:?}");
            assert!(b.max <= Duration::from_secs(24 * 3600), "{b:?}");
        }
        assert_eq!(show(Duration::from_secs(24 * 3600)), "24h");
        assert_eq!(show(Duration::from_millis(100)), "100ms");
        assert_eq!(show(Duration::from_secs(600)), "10m");
        assert_eq!(show(Duration::ZERO), "0s");
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
}
