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
