//! Unseeded link faults through the binary: each attempt draws its own seed, noted on its
//! timeline and recorded in the report, and `otarig run --seed N` replays one.

use std::path::Path;

use otarig::report::summary;

use crate::support::process::{describe, otarig, s, Out};

/// A link step without `seed:` whose drops are random (on a topic no board uses, so the
/// scenario passes whatever the seed), and a seeded one.
const SCENARIO: &str = "\
name: unseeded-link
summary: An unseeded and a seeded lossy link on a topic nobody uses.
recovery: { settle: 1s }
boards:
  dut: {}
steps:
  - link: { board: dut, faults: [ { drop: { topic: 'nothing/here', probability: 0.5 } } ] }
  - wait: 200ms
  - link: { board: dut, seed: 7, faults: [ { drop: { topic: 'nothing/here', probability: 0.5 } } ] }
  - wait: 200ms
";

fn run(tmp: &Path, extra: &[&str]) -> (Out, summary::SummaryFile) {
    let file = tmp.join("unseeded-link.yaml");
    std::fs::write(&file, SCENARIO).unwrap();
    let reports = tmp.join("reports");
    let state = tmp.join("state");
    let mut args = vec!["run", s(&file)];
    args.extend(extra);
    args.extend(["--report-dir", s(&reports), "--state-dir", s(&state)]);
    let out = otarig(&args);
    assert_eq!(out.code, Some(0), "{}", describe(&out));
    let text = std::fs::read_to_string(reports.join("latest/summary.json")).unwrap();
    (out, summary::from_json(&text).unwrap())
}

/// The seeds the timeline of each attempt says were drawn for it, in attempt order.
fn drawn_on_timelines(tmp: &Path, attempts: u32) -> Vec<u64> {
    let latest = tmp.join("reports/latest");
    (1..=attempts)
        .map(|a| {
            let dir = if a == 1 {
                latest.join("unseeded-link")
            } else {
                latest.join(format!("unseeded-link.{a}"))
            };
            let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
            let note = events
                .lines()
                .find(|l| l.contains("drawn for this attempt"))
                .unwrap_or_else(|| panic!("attempt {a}: no drawn seed on the timeline"));
            let value: serde_json::Value = serde_json::from_str(note).unwrap();
            let text = value["text"].as_str().unwrap();
            let seed = text.split("seed ").nth(1).unwrap();
            seed.split(',').next().unwrap().parse().unwrap()
        })
        .collect()
}

#[test]
fn the_seed_option_is_what_every_unseeded_link_step_uses_and_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, summary) = run(tmp.path(), &["--seed", "4242", "--repeat", "2"]);
    for s in &summary.run.scenarios {
        assert_eq!(
            s.seeds,
            [4242, 7],
            "attempt {}: {}",
            s.attempt,
            describe(&out)
        );
    }
    let table = &out.stdout;
    assert!(table.contains("SEED"), "{table}");
    assert!(table.contains("4242, 7"), "{table}");
    let junit = std::fs::read_to_string(tmp.path().join("reports/latest/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<property name="attempt.2.seeds" value="4242,7"/>"#),
        "{junit}"
    );
}

#[test]
fn each_attempt_draws_its_own_seed_and_notes_it_on_its_timeline() {
    let tmp = tempfile::tempdir().unwrap();
    run(tmp.path(), &["--repeat", "2"]);
    let drawn = drawn_on_timelines(tmp.path(), 2);
    assert_ne!(drawn[0], drawn[1], "not seed 0 every time");
}

/// Needs the hook in src/scenario/execute/mod.rs that records `CloudSession::link_seeds`
/// in the scenario's result (the lead adds it; see docs in that commit).
#[test]
fn the_drawn_seeds_are_recorded_in_the_report_and_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, summary) = run(tmp.path(), &["--repeat", "2"]);
    let drawn = drawn_on_timelines(tmp.path(), 2);
    let mut recorded: Vec<(u32, Vec<u64>)> = summary
        .run
        .scenarios
        .iter()
        .map(|s| (s.attempt, s.seeds.clone()))
        .collect();
    recorded.sort();
    assert_eq!(
        recorded,
        [(1, vec![drawn[0], 7]), (2, vec![drawn[1], 7])],
        "each attempt's drawn seed, then the step's own"
    );

    let replay = tempfile::tempdir().unwrap();
    let seed = drawn[1].to_string();
    let (_, again) = run(replay.path(), &["--seed", &seed]);
    assert_eq!(again.run.scenarios[0].seeds, [drawn[1], 7]);
}
