//! What the gateway does to a thing's MQTT traffic: drop, delay, duplicate or corrupt
//! matching messages, stall everything, cut the connection (docs/architecture.md § The
//! gateway).
//!
//! Faults are data (serde), so a scenario or the admin socket can name them; [`LinkFaults`]
//! is the sans-IO state that decides, per message, what the gateway does. Randomness comes
//! from a seeded RNG per fault, so the same seed and the same traffic make the same
//! decisions. Turning a scenario's `link` steps into these, with their seeds, is
//! `crate::faults`.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
// A generator with a fixed, documented algorithm (ChaCha, 12 rounds): rand_chacha promises
// the same stream for a seed across versions, which rand's `StdRng` does not (issue 13).
// ChaCha12 is also what rand 0.8's `StdRng` is, so seeds recorded before the switch replay
// the same decisions.
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};

use crate::cloud::topics;
use crate::timeline::Direction;

/// One fault on a thing's traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The message is never delivered.
    Drop(MessageFault),
    /// The message is delivered twice.
    Duplicate(MessageFault),
    /// One payload byte is inverted.
    Corrupt(MessageFault),
    /// The message is delivered late (other traffic overtakes it).
    Delay(DelayFault),
    /// All of the thing's traffic is held, in both directions, for this long
    /// from the moment the fault is set.
    Stall {
        #[serde(rename = "for", with = "humantime_serde")]
        duration: Duration,
    },
    /// The connection is closed at once (no DISCONNECT, like a pulled cable).
    Cut,
}

/// Which messages a message fault applies to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageFault {
    /// MQTT topic filter; `#` does not match `$aws/...`, so name those explicitly.
    #[serde(default = "every_topic")]
    pub topic: String,
    #[serde(default)]
    pub dir: DirFilter,
    /// Apply to every Nth matching message (1 = all). Takes precedence over
    /// `probability`.
    #[serde(default)]
    pub every: Option<u32>,
    /// Apply to each matching message with this probability (default 1).
    #[serde(default)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub seed: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayFault {
    #[serde(default = "every_topic")]
    pub topic: String,
    #[serde(default)]
    pub dir: DirFilter,
    #[serde(default)]
    pub every: Option<u32>,
    #[serde(default)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub seed: u64,
    #[serde(with = "humantime_serde")]
    pub by: Duration,
    /// Up to this much more, uniformly.
    #[serde(default, with = "humantime_serde")]
    pub jitter: Duration,
}

/// Which direction a fault applies to, seen from the gateway.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirFilter {
    #[default]
    Any,
    /// Device → cloud.
    In,
    /// Cloud → device.
    Out,
}

fn every_topic() -> String {
    "$aws/#".to_string()
}

impl MessageFault {
    /// Every message on topics matching `topic`, both directions.
    pub fn all(topic: impl Into<String>) -> Self {
        MessageFault {
            topic: topic.into(),
            dir: DirFilter::Any,
            every: None,
            probability: None,
            seed: 0,
        }
    }
}

impl Fault {
    /// Short text for the timeline.
    pub fn describe(&self) -> String {
        match self {
            Fault::Drop(m) => format!("drop {}", m.describe()),
            Fault::Duplicate(m) => format!("duplicate {}", m.describe()),
            Fault::Corrupt(m) => format!("corrupt {}", m.describe()),
            Fault::Delay(d) => format!("delay {} by {:?} (+{:?})", d.topic, d.by, d.jitter),
            Fault::Stall { duration } => format!("stall all traffic for {duration:?}"),
            Fault::Cut => "cut the connection".to_string(),
        }
    }
}

impl MessageFault {
    fn describe(&self) -> String {
        match (self.every, self.probability) {
            (Some(n), _) => format!("every {n}th message on {}", self.topic),
            (None, Some(p)) => format!("{:.0}% of messages on {}", p * 100.0, self.topic),
            (None, None) => format!("every message on {}", self.topic),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    Drop,
    Duplicate,
    Corrupt,
    Delay { by: Duration, jitter: Duration },
}

struct Active {
    filter: String,
    dir: DirFilter,
    every: Option<u32>,
    probability: f64,
    action: Action,
    rng: ChaCha12Rng,
    matched: u64,
}

/// What to do with one message. Several faults may apply at once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub drop: bool,
    pub duplicate: bool,
    /// Invert the payload byte at this index.
    pub corrupt_at: Option<usize>,
    pub delay: Option<Duration>,
    /// One line per applied fault, for `EventKind::Fault`.
    pub applied: Vec<String>,
}

impl Decision {
    pub fn is_clean(&self) -> bool {
        self.applied.is_empty()
    }
}

/// The faults in force on one thing's traffic.
#[derive(Default)]
pub struct LinkFaults {
    active: Vec<Active>,
    stall_until: Option<Instant>,
}

impl LinkFaults {
    /// Faults set at `now`; a `Stall` starts counting from `now`. `Cut` is an
    /// action, not a state: the caller applies it (see [`wants_cut`]).
    pub fn new(faults: &[Fault], now: Instant) -> Self {
        let mut link = LinkFaults::default();
        for fault in faults {
            let (m, action) = match fault {
                Fault::Drop(m) => (m.clone(), Action::Drop),
                Fault::Duplicate(m) => (m.clone(), Action::Duplicate),
                Fault::Corrupt(m) => (m.clone(), Action::Corrupt),
                Fault::Delay(d) => (
                    MessageFault {
                        topic: d.topic.clone(),
                        dir: d.dir,
                        every: d.every,
                        probability: d.probability,
                        seed: d.seed,
                    },
                    Action::Delay {
                        by: d.by,
                        jitter: d.jitter,
                    },
                ),
                Fault::Stall { duration } => {
                    let until = now + *duration;
                    link.stall_until = Some(link.stall_until.map_or(until, |u| u.max(until)));
                    continue;
                }
                Fault::Cut => continue,
            };
            link.active.push(Active {
                filter: m.topic,
                dir: m.dir,
                every: m.every.map(|n| n.max(1)),
                probability: m.probability.unwrap_or(1.0).clamp(0.0, 1.0),
                action,
                rng: ChaCha12Rng::seed_from_u64(m.seed),
                matched: 0,
            });
        }
        link
    }

    /// Until when all traffic is held, if a stall is in force at `now`.
    pub fn stalled_until(&self, now: Instant) -> Option<Instant> {
        self.stall_until.filter(|until| *until > now)
    }

    /// Decide the fate of one message of `len` payload bytes.
    pub fn on_message(&mut self, dir: Direction, topic: &str, len: usize) -> Decision {
        let mut decision = Decision::default();
        for f in &mut self.active {
            let dir_ok = matches!(
                (f.dir, dir),
                (DirFilter::Any, _)
                    | (DirFilter::In, Direction::In)
                    | (DirFilter::Out, Direction::Out)
            );
            if !dir_ok || !topics::matches(&f.filter, topic) {
                continue;
            }
            f.matched += 1;
            let hit = match f.every {
                Some(n) => f.matched % u64::from(n) == 0,
                None => f.rng.gen_bool(f.probability),
            };
            if !hit {
                continue;
            }
            match f.action {
                Action::Drop => decision.drop = true,
                Action::Duplicate => decision.duplicate = true,
                Action::Corrupt if len > 0 => decision.corrupt_at = Some(f.rng.gen_range(0..len)),
                Action::Corrupt => continue,
                Action::Delay { by, jitter } => {
                    let extra = if jitter.is_zero() {
                        Duration::ZERO
                    } else {
                        jitter.mul_f64(f.rng.gen_range(0.0..1.0))
                    };
                    decision.delay = Some(by + extra);
                }
            }
            let what = match f.action {
                Action::Drop => "dropped",
                Action::Duplicate => "duplicated",
                Action::Corrupt => "corrupted",
                Action::Delay { .. } => "delayed",
            };
            let arrow = match dir {
                Direction::In => "device→cloud",
                Direction::Out => "cloud→device",
            };
            decision
                .applied
                .push(format!("{what} {arrow} message #{} on {topic}", f.matched));
        }
        decision
    }
}

/// Whether a fault list asks for the connection to be cut now.
pub fn wants_cut(faults: &[Fault]) -> bool {
    faults.iter().any(|f| matches!(f, Fault::Cut))
}

/// Invert one byte: enough to break a signature or a CBOR frame.
pub fn corrupt(payload: &mut [u8], at: usize) {
    if let Some(b) = payload.get_mut(at) {
        *b = !*b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_every(n: u32, topic: &str) -> Fault {
        Fault::Drop(MessageFault {
            every: Some(n),
            ..MessageFault::all(topic)
        })
    }

    #[test]
    fn every_nth_matching_message_is_dropped_and_others_pass() {
        let mut link = LinkFaults::new(&[drop_every(3, "a/#")], Instant::now());
        let drops: Vec<bool> = (0..6)
            .map(|_| link.on_message(Direction::Out, "a/b", 10).drop)
            .collect();
        assert_eq!(drops, [false, false, true, false, false, true]);
        assert!(link.on_message(Direction::Out, "b/c", 10).is_clean());
    }

    #[test]
    fn the_same_seed_makes_the_same_decisions() {
        let fault = Fault::Drop(MessageFault {
            probability: Some(0.3),
            seed: 42,
            ..MessageFault::all("#")
        });
        let run = || {
            let mut link = LinkFaults::new(std::slice::from_ref(&fault), Instant::now());
            (0..200)
                .map(|_| link.on_message(Direction::In, "x", 1).drop)
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let dropped = first.iter().filter(|d| **d).count();
        assert!(
            (20..120).contains(&dropped),
            "{dropped} of 200 dropped at p=0.3"
        );
    }

    #[test]
    fn direction_filter_limits_a_fault_to_one_way() {
        let fault = Fault::Duplicate(MessageFault {
            dir: DirFilter::Out,
            ..MessageFault::all("#")
        });
        let mut link = LinkFaults::new(&[fault], Instant::now());
        assert!(!link.on_message(Direction::In, "x", 1).duplicate);
        assert!(link.on_message(Direction::Out, "x", 1).duplicate);
    }

    #[test]
    fn stall_is_counted_from_when_it_is_set() {
        let now = Instant::now();
        let link = LinkFaults::new(
            &[Fault::Stall {
                duration: Duration::from_secs(5),
            }],
            now,
        );
        assert_eq!(link.stalled_until(now), Some(now + Duration::from_secs(5)));
        assert_eq!(link.stalled_until(now + Duration::from_secs(6)), None);
    }

    #[test]
    fn corrupt_and_delay_carry_their_parameters() {
        let faults = [
            Fault::Corrupt(MessageFault::all("#")),
            Fault::Delay(DelayFault {
                topic: "#".into(),
                dir: DirFilter::Any,
                every: None,
                probability: None,
                seed: 1,
                by: Duration::from_millis(100),
                jitter: Duration::ZERO,
            }),
        ];
        let mut link = LinkFaults::new(&faults, Instant::now());
        let d = link.on_message(Direction::Out, "t", 4);
        assert!(d.corrupt_at.unwrap() < 4);
        assert_eq!(d.delay, Some(Duration::from_millis(100)));
        assert_eq!(d.applied.len(), 2);
        let mut payload = [0u8, 1, 2, 3];
        corrupt(&mut payload, 1);
        assert_eq!(payload, [0, 0xFE, 2, 3]);
    }

    #[test]
    fn faults_deserialise_from_their_serde_form() {
        let text = r#"[{"drop": {"topic": "$aws/things/+/streams/+/data/#", "probability": 0.1, "seed": 7}},
                       {"delay": {"by": "200ms", "jitter": "50ms"}},
                       {"stall": {"for": "3s"}},
                       "cut"]"#;
        let faults: Vec<Fault> = serde_json::from_str(text).unwrap();
        assert_eq!(faults.len(), 4);
        assert!(matches!(&faults[0], Fault::Drop(m) if m.seed == 7 && m.probability == Some(0.1)));
        assert!(matches!(&faults[1], Fault::Delay(d) if d.topic == "$aws/#"));
        assert!(wants_cut(&faults));
    }

    #[test]
    fn a_seed_makes_the_same_decisions_in_every_version() {
        // Pinned: ChaCha12 from rand_chacha, whose output for a seed is documented to stay.
        // (These are also the decisions rand 0.8's StdRng made, checked when switching.)
        let fault = Fault::Drop(MessageFault {
            probability: Some(0.5),
            seed: 42,
            ..MessageFault::all("#")
        });
        let mut link = LinkFaults::new(&[fault], Instant::now());
        let bits: String = (0..32)
            .map(|_| {
                if link.on_message(Direction::In, "x", 1).drop {
                    '1'
                } else {
                    '0'
                }
            })
            .collect();
        assert_eq!(bits, "00011100110011011010010111011010");
    }
}
