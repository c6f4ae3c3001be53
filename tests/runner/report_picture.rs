//! The timeline picture: one lane per board, every kind of mark, the verdict at the
//! end, hover titles with the exact event text, and well-formed SVG.

use otarig::report::picture::{render, Lane};
use otarig::report::Verdict;
use otarig::timeline::{Event, EventKind, PowerState, Source};

use crate::support::events::{conn, ev, job, line};

/// An OTA that succeeds on sim-2 and bricks sim-1 after a power cut mid-download.
fn story() -> Vec<Event> {
    let b1 = || Source::board("sim-1");
    vec![
        ev(
            0.0,
            Source::Runner,
            EventKind::Step {
                index: 0,
                text: "flash app-v4".into(),
                finished: false,
                ok: None,
            },
        ),
        ev(
            0.1,
            b1(),
            EventKind::Flash {
                image: "app-v4".into(),
                ok: true,
                detail: None,
            },
        ),
        ev(
            0.2,
            Source::board("sim-2"),
            EventKind::Flash {
                image: "app-v4".into(),
                ok: false,
                detail: Some("probe gone".into()),
            },
        ),
        line(1.0, "sim-1", "otarig-sim app version 0.9.4"),
        line(1.1, "sim-2", "otarig-sim app version 0.9.4"),
        conn(2.0, "Thing1", 1, true),
        conn(2.1, "Thing2", 2, true),
        ev(
            3.0,
            Source::Runner,
            EventKind::Step {
                index: 1,
                text: "job update-v5".into(),
                finished: false,
                ok: None,
            },
        ),
        job(3.5, "Thing1", "QUEUED", &[]),
        job(4.0, "Thing1", "IN_PROGRESS", &[("receive", "1/4")]),
        job(4.5, "Thing1", "IN_PROGRESS", &[("receive", "2/4")]),
        ev(
            5.0,
            Source::Cloud,
            EventKind::StreamProgress {
                thing: "Thing2".into(),
                stream: "s1".into(),
                file_id: 0,
                blocks_served: 4,
                block_count: 4,
            },
        ),
        job(
            5.5,
            "Thing2",
            "IN_PROGRESS",
            &[("self_test", "ready"), ("updatedBy", "0x1000000")],
        ),
        line(6.0, "sim-2", "[prvPAL_ResetDevice] Resetting the device."),
        ev(
            6.5,
            b1(),
            EventKind::Fault {
                what: "power cut at 50% of update-v5".into(),
            },
        ),
        ev(
            6.6,
            b1(),
            EventKind::Power {
                state: PowerState::Off,
                reason: "power_cut".into(),
            },
        ),
        conn(6.7, "Thing1", 1, false),
        ev(
            7.6,
            b1(),
            EventKind::Power {
                state: PowerState::On,
                reason: "power_cut".into(),
            },
        ),
        line(
            8.0,
            "sim-2",
            "otarig-sim app version 0.9.5 <new> \u{1b}[1m&",
        ),
        job(
            8.5,
            "Thing2",
            "IN_PROGRESS",
            &[("self_test", "active"), ("updatedBy", "0x1000001")],
        ),
        job(9.0, "Thing2", "SUCCEEDED", &[("reason", "accepted v0.9.5")]),
        job(
            9.5,
            "Thing1",
            "FAILED",
            &[("reason", "rejected: 0x23000000")],
        ),
        ev(
            10.0,
            Source::Cloud,
            EventKind::BenchError {
                message: "broker restarted".into(),
            },
        ),
        ev(
            11.0,
            b1(),
            EventKind::Verdict {
                verdict: otarig::model::Verdict::Bricked,
                message: Some("no banner".into()),
            },
        ),
    ]
}

fn lanes() -> Vec<Lane> {
    vec![
        Lane {
            role: "thing1".into(),
            board: "sim-1".into(),
            thing: "Thing1".into(),
            verdict: Some(Verdict::Bricked),
            message: Some("no banner after power cycle".into()),
        },
        Lane {
            role: "thing2".into(),
            board: "sim-2".into(),
            thing: "Thing2".into(),
            verdict: Some(Verdict::Passed),
            message: None,
        },
        Lane {
            role: "spare".into(),
            board: "sim-3".into(),
            thing: "Thing3".into(),
            verdict: None,
            message: None,
        },
    ]
}

fn svg_of(html: &str) -> &str {
    let start = html.find("<svg").expect("inline svg");
    let end = html.find("</svg>").expect("svg end") + "</svg>".len();
    &html[start..end]
}

/// Parses the SVG with a real XML reader; returns the value of every `<title>`.
fn titles(svg: &str) -> Vec<String> {
    use quick_xml::events::Event as X;
    let mut reader = quick_xml::Reader::from_str(svg);
    let (mut titles, mut depth, mut in_title) = (Vec::new(), 0i32, false);
    loop {
        match reader.read_event().expect("well-formed SVG") {
            X::Start(s) => {
                depth += 1;
                in_title = s.name().as_ref() == b"title";
                if in_title {
                    titles.push(String::new());
                }
            }
            X::End(_) => {
                depth -= 1;
                in_title = false;
            }
            X::Text(t) if in_title => {
                titles.last_mut().unwrap().push_str(&t.decode().unwrap());
            }
            X::GeneralRef(r) if in_title => {
                let name = r.decode().unwrap();
                let c = match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" | "#39" => "'",
                    other => panic!("unexpected entity {other}"),
                };
                titles.last_mut().unwrap().push_str(c);
            }
            X::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced SVG");
    titles
}

#[test]
fn there_is_one_lane_per_board_with_its_verdict() {
    let html = render("power-cut", "Cut power mid-download", &story(), &lanes());
    // To look at it: OTARIG_PICTURE_OUT=/tmp/p.html cargo test --test report_picture
    if let Some(out) = std::env::var_os("OTARIG_PICTURE_OUT") {
        std::fs::write(out, &html).unwrap();
    }
    assert_eq!(html.matches(r#"<g class="lane""#).count(), 3);
    for board in ["sim-1", "sim-2", "sim-3"] {
        assert!(
            html.contains(&format!(r#"data-board="{board}""#)),
            "{board}"
        );
    }
    assert!(html.contains(r#"data-verdict="bricked""#));
    assert!(html.contains(r#"data-verdict="passed""#));
    assert!(
        html.contains("no verdict"),
        "a lane without a verdict says so"
    );
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Cut power mid-download"));
}

#[test]
fn every_mark_carries_the_exact_event_text() {
    let html = render("power-cut", "", &story(), &lanes());
    let titles = titles(svg_of(&html));
    let has = |needle: &str| {
        assert!(
            titles.iter().any(|t| t.contains(needle)),
            "no title contains {needle:?}; titles: {titles:#?}"
        )
    };
    has("t=0.000s  step 1: flash app-v4");
    has("flash app-v4: ok");
    has("flash app-v4: FAILED (probe gone)");
    has("boot: otarig-sim app version 0.9.4");
    has("boot: otarig-sim app version 0.9.5 <new> &");
    has("reset: [prvPAL_ResetDevice] Resetting the device.");
    has("power off: power_cut");
    has("power on: power_cut");
    has("fault: power cut at 50% of update-v5");
    has("job update-v5: QUEUED {}");
    has("job update-v5: IN_PROGRESS {self_test=ready, updatedBy=0x1000000}");
    has("job update-v5: IN_PROGRESS {self_test=active, updatedBy=0x1000001}");
    has("job update-v5: SUCCEEDED {reason=accepted v0.9.5}");
    has("job update-v5: FAILED {reason=rejected: 0x23000000}");
    has("job update-v5: receive 2/4");
    has("stream s1: 4/4 blocks served");
    has("connected conn 1 (Thing1) → disconnected conn 1 (Thing1): taken over");
    has("bench error: broker restarted");
    has("verdict bricked: no banner");
    has("bricked: no banner after power cycle");
    assert!(
        !html.contains('\u{1b}'),
        "ANSI escapes never reach the page"
    );
}

#[test]
fn progress_only_updates_do_not_add_job_marks() {
    let html = render("s", "", &story(), &lanes());
    // QUEUED, IN_PROGRESS (first receive), FAILED for Thing1; ready, active, SUCCEEDED for Thing2.
    assert_eq!(html.matches(r#"class="mark job""#).count(), 6);
    assert_eq!(
        html.matches(r#"class="download""#).count(),
        2,
        "a download area per lane that downloaded"
    );
    assert_eq!(html.matches(r#"class="power-off""#).count(), 1);
    assert!(html.contains(r#"class="legend""#));
}

#[test]
fn the_picture_is_a_pure_function_of_its_input() {
    assert_eq!(
        render("s", "x", &story(), &lanes()),
        render("s", "x", &story(), &lanes())
    );
    let empty = render("empty", "", &[], &lanes()[..1]);
    titles(svg_of(&empty));
    assert!(empty.contains(r#"data-verdict="bricked""#));
}

#[test]
fn lanes_that_need_attention_come_first() {
    use otarig::report::picture::{Builder, PictureOptions};
    let mut lanes = lanes();
    lanes.reverse(); // spare (no verdict), passed, bricked
    lanes.push(Lane {
        role: "late".into(),
        board: "sim-4".into(),
        thing: "Thing4".into(),
        verdict: Some(Verdict::Error),
        message: Some("port gone".into()),
    });
    let mut builder = Builder::new(lanes, PictureOptions::default());
    for e in story() {
        builder.add(&e, None);
    }
    assert_eq!(
        builder.finish().lane_order(),
        ["sim-1", "sim-4", "sim-3", "sim-2"],
        "bricked, then the bench error, then no verdict, then passed"
    );
}

#[test]
fn failed_expectations_and_guard_hits_are_marked_where_they_happened() {
    let mut events = story();
    let long = format!(
        "expectation failed: wrong-thing-name.yaml:22: expected job SUCCEEDED within 5m, seen {}",
        "FAILED (rejected: 0x23000000) ".repeat(10)
    );
    events.push(ev(
        9.6,
        Source::board("sim-1"),
        EventKind::Note { text: long.clone() },
    ));
    events.push(ev(
        9.7,
        Source::board("sim-1"),
        EventKind::Note {
            text: "guard hit: console matched /Hard fault/: Hard fault at 0x9d001234".into(),
        },
    ));
    let html = render("s", "", &events, &lanes());
    assert_eq!(html.matches(r#"class="mark failure""#).count(), 2);
    let titles = titles(svg_of(&html));
    assert!(titles
        .iter()
        .any(|t| t.starts_with("t=9.600s  expectation failed:")));
    assert!(titles.iter().any(|t| t.starts_with("t=9.700s  guard hit:")));
    // Spelt out under the lane, whole, numbered like the marks.
    let svg = svg_of(&html);
    let red = regex::Regex::new(r##"<text[^>]*fill="#d0021b"[^>]*>([^<]*)</text>"##).unwrap();
    let text: String = red
        .captures_iter(svg)
        .map(|c| format!("{} ", &c[1]))
        .collect();
    assert!(
        text.contains("1  at 9.600 s  expectation failed:"),
        "{text}"
    );
    assert!(text.contains("2  at 9.700 s  guard hit:"), "{text}");
    let words = |s: &str| {
        s.split_whitespace()
            .filter(|w| w.contains("0x23000000"))
            .count()
    };
    assert_eq!(words(&text), 10, "the whole message, wrapped, nothing cut");
}

#[test]
fn a_failed_jobs_label_is_shown_even_beside_a_crowd_of_labels() {
    let mut events = story();
    // Many status changes of another job within a few milliseconds of the failure.
    for (i, status) in ["QUEUED", "IN_PROGRESS"].iter().enumerate() {
        let mut e = job(9.49 + i as f64 * 0.001, "Thing1", status, &[]);
        if let EventKind::JobExecution { job_id, .. } = &mut e.kind {
            *job_id = "other".into();
        }
        events.push(e);
    }
    events.sort_by(|a, b| a.t.total_cmp(&b.t));
    let html = render("s", "", &events, &lanes());
    assert!(
        html.contains(">FAILED (rejected: 0x23000000)</text>"),
        "the failure's label is drawn"
    );
}
