//! A scenario's faults: its `link` steps made into the faults the gateway applies
//! (`cloud::gateway::faults`, which owns them and decides per message), with their seeds.
//!
//! Seeds: a `link` step's own `seed:`, else the attempt's seed ([`LinkSeeds`]): drawn
//! fresh from the OS for each scenario attempt, so `--repeat` explores, and recorded in
//! the report; `otarig run --seed N` gives every unseeded step `N` ([`seed_unseeded_links`]),
//! which replays an attempt that used seed `N`.

use rand::RngCore;

pub use crate::cloud::gateway::faults::{DelayFault, DirFilter, Fault, MessageFault};
use crate::config::scenario::{Link, LinkFault, Scenario, Step};

impl Fault {
    /// The faults of a scenario `link` step, their randomness started from `seed` (the
    /// step's own, else the attempt's: [`LinkSeeds::seed_for`]); fault `i` of the step
    /// uses `seed + i`. `#` there means "all of the board's traffic", which for OTA is
    /// `$aws/...`, so it covers both.
    pub fn from_link(link: &Link, seed: u64) -> Vec<Fault> {
        link.faults
            .iter()
            .enumerate()
            .flat_map(|(i, f)| Self::from_link_fault(f, seed.wrapping_add(i as u64)))
            .collect()
    }

    fn from_link_fault(fault: &LinkFault, seed: u64) -> Vec<Fault> {
        let msg = |topic: &str, probability: f64| -> Vec<MessageFault> {
            scenario_topics(topic)
                .into_iter()
                .map(|topic| MessageFault {
                    topic,
                    dir: DirFilter::Any,
                    every: None,
                    probability: Some(probability),
                    seed,
                })
                .collect()
        };
        match fault {
            LinkFault::Drop { topic, probability } => msg(topic, *probability)
                .into_iter()
                .map(Fault::Drop)
                .collect(),
            LinkFault::Duplicate { topic, probability } => msg(topic, *probability)
                .into_iter()
                .map(Fault::Duplicate)
                .collect(),
            LinkFault::Corrupt { topic, probability } => msg(topic, *probability)
                .into_iter()
                .map(Fault::Corrupt)
                .collect(),
            LinkFault::Delay { topic, by, jitter } => scenario_topics(topic)
                .into_iter()
                .map(|topic| {
                    Fault::Delay(DelayFault {
                        topic,
                        dir: DirFilter::Any,
                        every: None,
                        probability: None,
                        seed,
                        by: *by,
                        jitter: *jitter,
                    })
                })
                .collect(),
            LinkFault::Stall { duration } => vec![Fault::Stall {
                duration: *duration,
            }],
        }
    }
}

/// Whether a link fault's decisions depend on its seed: a drop, duplicate or corrupt that
/// happens to some messages and not others, where a corrupted byte falls, a delay's jitter.
pub fn is_random(fault: &LinkFault) -> bool {
    let some = |p: f64| p > 0.0 && p < 1.0;
    match fault {
        LinkFault::Drop { probability, .. } | LinkFault::Duplicate { probability, .. } => {
            some(*probability)
        }
        LinkFault::Corrupt { probability, .. } => *probability > 0.0,
        LinkFault::Delay { jitter, .. } => !jitter.is_zero(),
        LinkFault::Stall { .. } => false,
    }
}

/// A fresh seed from the operating system's generator: 32 bits, plenty of variety for
/// a flakiness hunt, short to type after `--seed`, and exact in any JSON reader (a
/// JavaScript number holds integers only up to 2^53).
pub fn fresh_seed() -> u64 {
    u64::from(rand::rngs::OsRng.next_u32())
}

/// The seeds of one scenario attempt's link steps: a step's own `seed:`, else the
/// attempt's seed, drawn once (fresh from the OS) when the first unseeded step with random
/// faults needs it, so every unseeded step of the attempt uses the same seed and
/// `otarig run --seed N` replays the attempt exactly.
#[derive(Debug)]
pub struct LinkSeeds {
    draw: fn() -> u64,
    attempt: Option<u64>,
    used: Vec<u64>,
}

impl Default for LinkSeeds {
    fn default() -> Self {
        LinkSeeds::drawing_with(fresh_seed)
    }
}

impl LinkSeeds {
    /// Draws the attempt's seed from the OS.
    pub fn new() -> Self {
        LinkSeeds::default()
    }

    /// Draws the attempt's seed with `draw` (tests).
    pub fn drawing_with(draw: fn() -> u64) -> Self {
        LinkSeeds {
            draw,
            attempt: None,
            used: Vec::new(),
        }
    }

    /// The seed `link`'s faults start from, and whether it was drawn for this attempt
    /// (the step has no `seed:`). Recorded when the step has random faults ([`is_random`]).
    pub fn seed_for(&mut self, link: &Link) -> (u64, bool) {
        let random = link.faults.iter().any(is_random);
        let (seed, drawn) = match link.seed {
            Some(seed) => (seed, false),
            None if random => (*self.attempt.get_or_insert_with(self.draw), true),
            // Nothing random: the seed decides nothing, so none is drawn or recorded.
            None => (self.attempt.unwrap_or(0), false),
        };
        if random && !self.used.contains(&seed) {
            self.used.push(seed);
        }
        (seed, drawn)
    }

    /// The seeds the attempt's random link faults used, in the order first used: what
    /// the report records (`ScenarioResult::seeds`).
    pub fn used(&self) -> Vec<u64> {
        self.used.clone()
    }
}

/// `otarig run --seed N`: every `link` step without a `seed:` gets `seed: N`, which is
/// what a recorded attempt seed `N` stood for.
pub fn seed_unseeded_links<C>(scenario: &mut Scenario<C>, seed: u64) {
    for step in &mut scenario.steps {
        if let Step::Link(link) = step {
            link.seed.get_or_insert(seed);
        }
    }
}

/// A scenario's `#` also means the `$aws` topics a board actually uses.
fn scenario_topics(topic: &str) -> Vec<String> {
    if topic == "#" {
        vec!["#".to_string(), "$aws/#".to_string()]
    } else {
        vec![topic.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Instant;

    use crate::cloud::gateway::faults::LinkFaults;
    use crate::timeline::Direction;

    fn link(seed: Option<u64>, faults: Vec<LinkFault>) -> Link {
        Link {
            role: "dut".into(),
            faults,
            seed,
        }
    }

    fn lossy(p: f64) -> LinkFault {
        LinkFault::Drop {
            topic: "#".into(),
            probability: p,
        }
    }

    /// Drops out of 64 messages on `a/b` for a step's faults built with `seed`.
    fn drops(link: &Link, seed: u64) -> Vec<bool> {
        let mut state = LinkFaults::new(&Fault::from_link(link, seed), Instant::now());
        (0..64)
            .map(|_| state.on_message(Direction::In, "a/b", 8).drop)
            .collect()
    }

    #[test]
    fn an_unseeded_step_draws_one_seed_per_attempt_and_records_it() {
        let unseeded = link(None, vec![lossy(0.5)]);
        let mut first = LinkSeeds::new();
        let (a, drawn) = first.seed_for(&unseeded);
        assert!(drawn);
        assert_eq!(
            first.seed_for(&unseeded),
            (a, true),
            "the attempt's seed, once drawn, serves its every unseeded step"
        );
        assert_eq!(first.used(), [a]);
        let mut second = LinkSeeds::new();
        let (b, _) = second.seed_for(&unseeded);
        assert_ne!(
            a, b,
            "another attempt draws another seed (not 0 every time)"
        );
        assert_ne!(
            drops(&unseeded, a),
            drops(&unseeded, b),
            "and so drops other messages"
        );
    }

    #[test]
    fn a_steps_own_seed_is_kept_and_recorded_and_needs_no_draw() {
        let mut seeds = LinkSeeds::drawing_with(|| panic!("nothing to draw"));
        assert_eq!(seeds.seed_for(&link(Some(7), vec![lossy(0.1)])), (7, false));
        // A step whose faults decide nothing by chance records no seed.
        seeds.seed_for(&link(None, vec![lossy(1.0)]));
        seeds.seed_for(&link(None, vec![]));
        assert_eq!(seeds.used(), [7]);
        let mut seeds = LinkSeeds::drawing_with(|| 99);
        seeds.seed_for(&link(None, vec![lossy(0.3)]));
        seeds.seed_for(&link(Some(7), vec![lossy(0.3)]));
        assert_eq!(seeds.used(), [99, 7], "in the order first used");
    }

    #[test]
    fn the_seed_option_replays_a_drawn_seed() {
        let mut seeds = LinkSeeds::new();
        let unseeded = link(None, vec![lossy(0.5)]);
        let (drawn, _) = seeds.seed_for(&unseeded);
        let recorded = drops(&unseeded, drawn);

        let yaml = "name: s\nboards:\n  dut: {}\nsteps:\n  - link: { board: dut, faults: [ { drop: { probability: 0.5 } } ] }\n  - link: { board: dut, seed: 3, faults: [ { drop: { probability: 0.5 } } ] }\n";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, yaml).unwrap();
        let mut scenario = crate::config::load_scenarios(&[file], None)
            .expect("scenario loads")
            .remove(0);
        seed_unseeded_links(&mut scenario, drawn);
        let seeds: Vec<Option<u64>> = scenario
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Link(l) => Some(l.seed),
                _ => None,
            })
            .collect();
        assert_eq!(seeds, [Some(drawn), Some(3)], "a step's own seed stays");
        let Step::Link(replayed) = &scenario.steps[0] else {
            panic!("a link step")
        };
        let mut replay = LinkSeeds::drawing_with(|| panic!("--seed draws nothing"));
        let (seed, drawn_again) = replay.seed_for(replayed);
        assert_eq!((seed, drawn_again), (drawn, false));
        assert_eq!(drops(replayed, seed), recorded, "the same decisions");
    }
}
