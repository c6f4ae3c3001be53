//! The display driven through a terminal emulator (vt100) at several sizes: what a person
//! sees is the screen its bytes leave, so that is what is checked: every line that stays
//! is there once, in order, with nothing between them, and the region at the bottom
//! shows every running board and nothing stale.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::layout::{columns, region};
use super::state::RunNow;
use super::*;
use crate::report::model::{BoardResult, ScenarioResult};

/// A terminal emulator the display writes into, resizable while it runs.
#[derive(Clone)]
struct Emulator {
    parser: Arc<Mutex<vt100::Parser>>,
    size: Arc<Mutex<(usize, usize)>>,
    /// Every byte written, for what the emulator does not model.
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Emulator {
    fn new(cols: usize, rows: usize) -> Self {
        Emulator {
            parser: Arc::new(Mutex::new(vt100::Parser::new(nz(rows), nz(cols), 100_000))),
            size: Arc::new(Mutex::new((cols, rows))),
            bytes: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// No "erase in display" was sent: tmux (`scroll-on-clear`, on by default) copies the
    /// whole screen into its scrollback when it is erased from the top, which is where a
    /// region drawn early in a run sits, and vt100 does not model that.
    fn assert_no_erase_in_display(&self) {
        let bytes = self.bytes.lock().unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for ed in ["\x1b[J", "\x1b[0J", "\x1b[1J", "\x1b[2J", "\x1b[3J"] {
            assert!(!text.contains(ed), "{ed:?} sent");
        }
    }

    fn progress(&self, total: usize, verbosity: Verbosity, now: Instant) -> Progress {
        let size = self.size.clone();
        Progress::terminal(
            total,
            verbosity,
            Box::new(self.clone()),
            Box::new(move || *size.lock().unwrap()),
            now,
        )
    }

    fn resize(&self, cols: usize, rows: usize) {
        *self.size.lock().unwrap() = (cols, rows);
        self.parser
            .lock()
            .unwrap()
            .screen_mut()
            .set_size(nz(rows), nz(cols));
    }

    /// Every row written so far, the scrollback's then the screen's, trailing blank
    /// rows dropped.
    fn transcript(&self) -> Vec<String> {
        let mut parser = self.parser.lock().unwrap();
        let screen = parser.screen_mut();
        screen.set_scrollback(usize::MAX);
        let back = screen.scrollback();
        let mut rows = Vec::new();
        for offset in (1..=back).rev() {
            screen.set_scrollback(offset);
            rows.push(screen.rows(0, u16::MAX).next().unwrap_or_default());
        }
        screen.set_scrollback(0);
        rows.extend(screen.rows(0, u16::MAX));
        let mut rows: Vec<String> = rows.into_iter().map(|r| r.trim_end().into()).collect();
        while rows.last().is_some_and(|r| r.is_empty()) {
            rows.pop();
        }
        rows
    }
}

impl Write for Emulator {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.parser.lock().unwrap().process(buf);
        self.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn nz(n: usize) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n as u16).unwrap()
}

fn result(name: &str, boards: &[(&str, Verdict, Option<&str>)]) -> ScenarioResult {
    ScenarioResult {
        name: name.into(),
        summary: String::new(),
        attempt: 1,
        started_wall_ms: 0,
        duration: Duration::from_millis(4_200),
        seeds: Vec::new(),
        boards: boards
            .iter()
            .enumerate()
            .map(|(i, (board, verdict, message))| BoardResult {
                verdict: *verdict,
                message: message.map(String::from),
                ..BoardResult::unfinished(format!("role{i}"), *board, format!("Thing{i}"))
            })
            .collect(),
        skipped: None,
        retry: 0,
        run_stopped: false,
    }
}

/// The rows a line takes in a terminal `width` wide.
fn wrapped(line: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars
        .chunks(width)
        .map(|c| c.iter().collect::<String>().trim_end().to_string())
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const LONG_WAIT: &str = "console 'OTA_AgentInit\\] Ready' then job SUCCEEDED of update-v5 with statusDetails reason matching 'accepted v0\\.9\\.5', seen so far: IN_PROGRESS (self_test active)";

/// A run of six scenarios on nine boards, four at once, as the runner tells it; checks
/// the screen after every step.
fn drive(cols: usize, rows: usize) {
    let term = Emulator::new(cols, rows);
    let t0 = Instant::now();
    let p = term.progress(6, Verbosity::Normal, t0);
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut stays: Vec<String> = Vec::new();
    // Checks the transcript: the lines that stay, then the region (if any), nothing else.
    let check = |stays: &[String], running: &[&str], step: &str| {
        let rows_now = term.transcript();
        let expected: Vec<String> = stays.iter().flat_map(|l| wrapped(l, cols)).collect();
        assert!(
            rows_now.len() >= expected.len(),
            "{cols}x{rows} {step}: lines missing\n{}",
            rows_now.join("\n")
        );
        assert_eq!(
            rows_now[..expected.len()],
            expected[..],
            "{cols}x{rows} {step}: the lines that stay, in order, nothing between them"
        );
        let live = &rows_now[expected.len()..];
        if running.is_empty() {
            assert!(live.is_empty(), "{cols}x{rows} {step}: left over {live:?}");
            return;
        }
        assert!(live.len() < rows, "{cols}x{rows} {step}: region {live:?}");
        assert!(
            live[0].trim_start().starts_with("Running ["),
            "{cols}x{rows} {step}: {live:?}"
        );
        assert_eq!(
            rows_now.iter().filter(|r| r.contains("Running [")).count(),
            1,
            "{cols}x{rows} {step}: one header, no stale region\n{}",
            rows_now.join("\n")
        );
        for line in live {
            assert!(columns(line) < cols, "{cols}x{rows} {step}: wraps: {line}");
        }
        // Every running board is on the screen, as a word.
        let words: Vec<&str> = live
            .iter()
            .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ':' || c == ';'))
            .collect();
        for board in running {
            assert!(
                words.contains(board),
                "{cols}x{rows} {step}: board {board} not shown in {live:?}"
            );
        }
    };

    let started = |p: &Progress, s: &str, boards: &[&str], t: u64| {
        p.on_event_at(
            &RunEvent::ScenarioStarted {
                scenario: s,
                attempt: 1,
                retry: 0,
                boards: &strings(boards),
            },
            at(t),
        )
    };
    let wait = |p: &Progress, s: &str, b: &str, what: &str, t: u64| {
        p.on_event_at(
            &RunEvent::BoardWaiting {
                scenario: s,
                board: b,
                what,
                left: Some(Duration::from_secs(90)),
            },
            at(t),
        )
    };
    let finish = |p: &Progress, stays: &mut Vec<String>, r: ScenarioResult, t: u64| {
        stays.extend(table::scenario_lines(&r));
        p.on_event_at(
            &RunEvent::ScenarioFinished {
                result: &r,
                timeline: None,
            },
            at(t),
        );
    };

    started(&p, "same-version", &["sim-1"], 0);
    started(&p, "wrong-thing-name", &["sim-2", "sim-3"], 0);
    started(&p, "power-cut-mid-download", &["sim-4"], 0);
    started(
        &p,
        "fleet-partial-failure",
        &["sim-5", "sim-6", "sim-7", "sim-8"],
        1,
    );
    let all = [
        "sim-1", "sim-2", "sim-3", "sim-4", "sim-5", "sim-6", "sim-7", "sim-8",
    ];
    check(&stays, &all, "four started");
    for (i, b) in all.iter().enumerate() {
        let s = match i {
            0 => "same-version",
            1 | 2 => "wrong-thing-name",
            3 => "power-cut-mid-download",
            _ => "fleet-partial-failure",
        };
        wait(&p, s, b, if i % 2 == 0 { LONG_WAIT } else { "banner" }, 2);
        p.tick_at(at(3));
    }
    check(&stays, &all, "all waiting");
    finish(
        &p,
        &mut stays,
        result("same-version", &[("sim-1", Verdict::Passed, None)]),
        5,
    );
    let left = &all[1..];
    check(&stays, left, "one passed");
    p.tick_at(at(6));
    finish(
        &p,
        &mut stays,
        result(
            "wrong-thing-name",
            &[
                ("sim-2", Verdict::Failed, Some(&"expected job SUCCEEDED within 4m, saw FAILED (rejected: 0x23000000) after the board reset itself; the console said: ".repeat(3))),
                ("sim-3", Verdict::NotJudged, Some("not judged: step 4 (scenarios/wrong-thing-name.yaml:14) was not run")),
            ],
        ),
        7,
    );
    check(&stays, &left[2..], "one failed, long reasons");
    started(&p, "lossy-link", &["sim-1"], 8);
    started(&p, "stalled-link", &["sim-2", "sim-3"], 8);
    wait(&p, "stalled-link", "sim-3", LONG_WAIT, 9);
    p.tick_at(at(40));
    let mut running = vec![
        "sim-4", "sim-5", "sim-6", "sim-7", "sim-8", "sim-1", "sim-2", "sim-3",
    ];
    check(&stays, &running, "two more started");
    finish(
        &p,
        &mut stays,
        result(
            "power-cut-mid-download",
            &[("sim-4", Verdict::Passed, None)],
        ),
        41,
    );
    running.retain(|b| *b != "sim-4");
    check(&stays, &running, "third finished");
    finish(
        &p,
        &mut stays,
        result(
            "fleet-partial-failure",
            &[
                ("sim-5", Verdict::Passed, None),
                ("sim-6", Verdict::Passed, None),
                ("sim-7", Verdict::Passed, None),
                ("sim-8", Verdict::Passed, None),
            ],
        ),
        42,
    );
    finish(
        &p,
        &mut stays,
        result("lossy-link", &[("sim-1", Verdict::Passed, None)]),
        43,
    );
    check(&stays, &["sim-2", "sim-3"], "one left");
    finish(
        &p,
        &mut stays,
        result(
            "stalled-link",
            &[
                ("sim-2", Verdict::Passed, None),
                ("sim-3", Verdict::Passed, None),
            ],
        ),
        44,
    );
    p.on_event_at(&RunEvent::RunFinished, at(45));
    check(&stays, &[], "run finished");
    // Nothing is drawn after the end, even by a late tick.
    p.tick_at(at(46));
    check(&stays, &[], "after the end");
    term.assert_no_erase_in_display();
}

#[test]
fn the_screen_keeps_finished_lines_in_order_and_shows_every_running_board_at_40_columns() {
    drive(40, 60);
}

#[test]
fn the_screen_keeps_finished_lines_in_order_and_shows_every_running_board_at_80_columns() {
    drive(80, 24);
}

#[test]
fn the_screen_keeps_finished_lines_in_order_and_shows_every_running_board_at_150_columns() {
    drive(150, 50);
}

#[test]
fn the_screen_keeps_finished_lines_in_order_and_shows_every_running_board_at_500_columns() {
    drive(500, 80);
}

#[test]
fn a_short_terminal_groups_boards_and_keeps_them_all_on_the_screen() {
    // 12 rows: 8 boards in 4 attempts need 13 lines one per board; grouped they fit.
    drive(80, 12);
}

#[test]
fn a_terminal_made_wider_mid_run_is_redrawn_without_stale_rows() {
    let term = Emulator::new(60, 30);
    let t0 = Instant::now();
    let p = term.progress(2, Verbosity::Normal, t0);
    let boards = strings(&["sim-1", "sim-2"]);
    p.on_event_at(
        &RunEvent::ScenarioStarted {
            scenario: "same-version",
            attempt: 1,
            retry: 0,
            boards: &boards,
        },
        t0,
    );
    p.on_event_at(
        &RunEvent::BoardWaiting {
            scenario: "same-version",
            board: "sim-2",
            what: LONG_WAIT,
            left: Some(Duration::from_secs(30)),
        },
        t0,
    );
    term.resize(120, 30);
    p.tick_at(t0 + Duration::from_secs(1));
    let rows = term.transcript();
    assert_eq!(rows.len(), 4, "header, scenario, two boards: {rows:?}");
    assert!(rows[3].len() > 60, "redrawn at the new width: {rows:?}");
    p.on_event_at(&RunEvent::RunFinished, t0 + Duration::from_secs(2));
    assert!(term.transcript().is_empty());
}

#[test]
fn quiet_shows_no_region_and_only_what_did_not_pass() {
    let term = Emulator::new(80, 24);
    let t0 = Instant::now();
    let p = term.progress(2, Verbosity::Quiet, t0);
    let boards = strings(&["sim-1"]);
    p.on_event_at(
        &RunEvent::ScenarioStarted {
            scenario: "a",
            attempt: 1,
            retry: 0,
            boards: &boards,
        },
        t0,
    );
    p.tick_at(t0 + Duration::from_secs(1));
    assert!(term.transcript().is_empty());
    let passed = result("a", &[("sim-1", Verdict::Passed, None)]);
    p.on_event_at(
        &RunEvent::ScenarioFinished {
            result: &passed,
            timeline: None,
        },
        t0,
    );
    let failed = result("b", &[("sim-1", Verdict::Failed, Some("saw FAILED"))]);
    p.on_event_at(
        &RunEvent::ScenarioFinished {
            result: &failed,
            timeline: None,
        },
        t0,
    );
    p.on_event_at(&RunEvent::RunFinished, t0);
    assert_eq!(term.transcript(), table::scenario_lines(&failed));
}

#[test]
fn a_region_too_tall_for_the_screen_says_how_many_attempts_it_leaves_out() {
    let t0 = Instant::now();
    let mut run = RunNow::new(20, t0);
    for i in 0..10 {
        run.started(&format!("s{i}"), 1, 0, &[format!("b{i}")], t0);
    }
    let lines = region(&run, t0, 80, 5);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(
        lines[4].contains("and 7 more running (7 boards)"),
        "{lines:?}"
    );
}

#[test]
fn narrow_lines_are_cut_with_an_ellipsis_and_control_characters_blanked() {
    assert_eq!(layout::fit("abcdef", 5), "abc…");
    assert_eq!(layout::fit("abcd", 5), "abcd");
    assert_eq!(layout::fit("a\x1b[2Jb", 80), "a [2Jb");
    assert_eq!(columns(&layout::fit("名前名前名前", 6)), 5);
}

/// A shared buffer for the plain view.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn without_a_terminal_each_change_is_a_line_and_silence_brings_a_heartbeat() {
    let log = Log::default();
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let p = Progress::plain(1, Verbosity::Normal, Box::new(log.clone()), t0);
    let boards = strings(&["sim-1", "sim-2"]);
    p.on_event_at(
        &RunEvent::ScenarioStarted {
            scenario: "same-version",
            attempt: 1,
            retry: 0,
            boards: &boards,
        },
        at(0),
    );
    for board in ["sim-1", "sim-2"] {
        p.on_event_at(
            &RunEvent::BoardWaiting {
                scenario: "same-version",
                board,
                what: "job SUCCEEDED",
                left: Some(Duration::from_secs(300)),
            },
            at(1),
        );
    }
    // A board of no running attempt is not news.
    p.on_event_at(
        &RunEvent::BoardWaiting {
            scenario: "other",
            board: "sim-9",
            what: "banner",
            left: None,
        },
        at(1),
    );
    p.tick_at(at(30));
    let before = log.text();
    assert_eq!(
        before,
        "    START same-version on sim-1 sim-2\n\
         \x20    WAIT same-version sim-1: job SUCCEEDED (within 5m)\n\
         \x20    WAIT same-version sim-2: job SUCCEEDED (within 5m)\n"
    );
    p.tick_at(at(31));
    let beat = log.text()[before.len()..].to_string();
    assert_eq!(
        beat,
        "  WAITING [31s] same-version sim-1 sim-2: job SUCCEEDED (4m 30s left)\n"
    );
    // The next heartbeat comes 30 s after this one, not at every tick.
    p.tick_at(at(45));
    assert_eq!(log.text().len(), before.len() + beat.len());
    p.tick_at(at(61));
    assert!(log.text().ends_with("(4m left)\n"), "{}", log.text());
    let r = result(
        "same-version",
        &[
            ("sim-1", Verdict::Error, Some("port gone")),
            ("sim-2", Verdict::Passed, None),
        ],
    );
    p.on_event_at(
        &RunEvent::ScenarioFinished {
            result: &r,
            timeline: None,
        },
        at(62),
    );
    p.on_event_at(&RunEvent::RunFinished, at(63));
    p.tick_at(at(200));
    let text = log.text();
    assert!(
        text.ends_with(&format!("{}\n", table::scenario_lines(&r).join("\n"))),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no escape codes in a log: {text:?}");
}

#[test]
fn a_heartbeat_with_nothing_running_says_so() {
    let log = Log::default();
    let t0 = Instant::now();
    let p = Progress::plain(3, Verbosity::Normal, Box::new(log.clone()), t0);
    p.tick_at(t0 + HEARTBEAT);
    assert_eq!(
        log.text(),
        "  WAITING [30s] 0/3 scenarios done, none running\n"
    );
}

#[test]
fn quiet_plain_lines_are_only_what_did_not_pass() {
    let log = Log::default();
    let t0 = Instant::now();
    let p = Progress::plain(2, Verbosity::Quiet, Box::new(log.clone()), t0);
    let boards = strings(&["sim-1"]);
    p.on_event_at(
        &RunEvent::ScenarioStarted {
            scenario: "a",
            attempt: 1,
            retry: 0,
            boards: &boards,
        },
        t0,
    );
    p.tick_at(t0 + Duration::from_secs(300));
    let passed = result("a", &[("sim-1", Verdict::Passed, None)]);
    p.on_event_at(
        &RunEvent::ScenarioFinished {
            result: &passed,
            timeline: None,
        },
        t0,
    );
    assert_eq!(log.text(), "");
    let failed = result("b", &[("sim-1", Verdict::Failed, Some("saw FAILED"))]);
    p.on_event_at(
        &RunEvent::ScenarioFinished {
            result: &failed,
            timeline: None,
        },
        t0,
    );
    assert_eq!(
        log.text(),
        format!("{}\n", table::scenario_lines(&failed).join("\n"))
    );
}

#[test]
fn log_lines_go_above_a_registered_region() {
    let term = Emulator::new(80, 24);
    let t0 = Instant::now();
    let p = term.progress(1, Verbosity::Normal, t0);
    let boards = strings(&["sim-1"]);
    p.on_event_at(
        &RunEvent::ScenarioStarted {
            scenario: "a",
            attempt: 1,
            retry: 0,
            boards: &boards,
        },
        t0,
    );
    p.note("otarig: interrupted");
    let rows = term.transcript();
    assert_eq!(rows[0], "otarig: interrupted", "{rows:?}");
    assert!(rows[1].contains("Running ["), "{rows:?}");
    assert_eq!(rows.len(), 4, "{rows:?}");
}

#[test]
fn when_only_a_line_per_attempt_fits_the_board_names_come_before_the_waits() {
    let t0 = Instant::now();
    let mut run = RunNow::new(3, t0);
    for s in 0..3 {
        let boards: Vec<String> = (0..4).map(|b| format!("b{s}{b}")).collect();
        run.started(&format!("scenario-{s}"), 1, 0, &boards, t0);
        for (i, b) in boards.iter().enumerate() {
            let what = format!("{LONG_WAIT} #{i}");
            run.waiting(&format!("scenario-{s}"), b, &what, None, t0);
        }
    }
    let lines = region(&run, t0, 60, 4);
    assert_eq!(lines.len(), 4, "{lines:?}");
    for s in 0..3 {
        for b in 0..4 {
            assert!(lines[1 + s].contains(&format!("b{s}{b}")), "{lines:?}");
        }
        assert!(columns(&lines[1 + s]) < 60, "{lines:?}");
    }
}

#[test]
fn a_retry_is_a_try_of_its_own_on_the_same_boards_and_the_total_grows() {
    let log = Log::default();
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let p = Progress::plain(1, Verbosity::Normal, Box::new(log.clone()), t0);
    let boards = strings(&["sim-3"]);
    let started = |retry| RunEvent::ScenarioStarted {
        scenario: "lossy",
        attempt: 1,
        retry,
        boards: &boards,
    };
    p.on_event_at(&started(0), at(0));
    let failed = result("lossy", &[("sim-3", Verdict::Failed, Some("no job"))]);
    p.on_event_at(
        &RunEvent::ScenarioFinished {
            result: &failed,
            timeline: None,
        },
        at(5),
    );
    p.on_event_at(&started(1), at(5));
    p.tick_at(at(40));
    let text = log.text();
    assert!(
        text.contains("    RETRY lossy (retry 1) on sim-3\n"),
        "{text}"
    );
    assert!(
        text.contains("  WAITING [40s] lossy (retry 1) sim-3: starting"),
        "{text}"
    );
    let passed = ScenarioResult {
        retry: 1,
        ..result("lossy", &[("sim-3", Verdict::Passed, None)])
    };
    p.on_event_at(
        &RunEvent::ScenarioFinished {
            result: &passed,
            timeline: None,
        },
        at(41),
    );
    assert!(
        log.text()
            .ends_with("     PASS [   4.2s] lossy retry 1 role0 (sim-3)\n"),
        "{}",
        log.text()
    );
    let shared = p.shared.lock();
    assert_eq!(
        (shared.run.done, shared.run.total),
        (2, 2),
        "the retry counts as a try"
    );
    assert!(shared.run.running.is_empty());
}
