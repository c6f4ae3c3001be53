//! The built-in recovery check that ends every scenario: each board must come back
//! healthy (boot banner, connected, a known version) by itself; if not, the rig
//! resets it, then power-cycles it where it can. How it came back decides the verdict.

use std::time::Duration;

use tokio::time::Instant;

use super::bench::BenchBoard;
use super::watch::{BoardState, Watch};
use super::BoundBoard;
use crate::board::PartEvents;
use crate::timeline::{EventKind, EventSink, Source, Timeline};

/// How a board came back, with the version it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    ByItself(String),
    /// A reset was needed: the firmware did not recover on its own.
    ByReset(String),
    /// Only removing power helped (what the field cannot do).
    ByPowerCycle(String),
    /// Nothing helped: bricked.
    Never {
        tried: Vec<&'static str>,
    },
    /// The rig could not act on the board (bench error, not firmware).
    BenchError(String),
}

/// Waits until the board is healthy on a boot at or after `since`; its running version.
pub async fn wait_healthy(
    watch: &Watch,
    board: &BoundBoard,
    since: usize,
    within: Duration,
) -> Option<String> {
    watch
        .wait_until(&board.board, within, |s| {
            s.healthy_since(since).map(|(v, _)| v)
        })
        .await
}

/// Waits until the board's agent has had an answer to `$next/get` since `from`.
pub async fn wait_jobs_answered(
    watch: &Watch,
    board: &BoundBoard,
    from: usize,
    within: Duration,
) -> bool {
    watch
        .wait_until(&board.board, within, |s| {
            s.jobs_answered_since(from).then_some(())
        })
        .await
        .is_some()
}

/// How long a board must stay healthy, unless the scenario says (`recovery: { settle }`).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(5);

/// A board counts as recovered once it has been healthy, on one boot, for `settle`
/// after its agent finished any self-test: a board that bricks a moment after its first
/// healthy line is not recovered.
#[derive(Clone, Copy, Debug)]
pub struct Settle {
    /// Events before this index are from before the rig last reset, flashed or
    /// power-cycled the board: a boot must come after it.
    pub since: usize,
    pub period: Duration,
}

/// Waits until the board is healthy (within `within`) and then settled (see [`Settle`]);
/// its running version.
pub async fn wait_settled(
    watch: &Watch,
    board: &BoundBoard,
    within: Duration,
    settle: Settle,
) -> Option<String> {
    let deadline = Instant::now() + within;
    let candidate = |s: &BoardState| {
        s.healthy_since(settle.since)
            .filter(|_| !s.self_test_pending())
    };
    // The board must come back within `within`; staying healthy may take it past that.
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (version, boot) = watch.wait_until(&board.board, left, candidate).await?;
        tokio::time::sleep(settle.period).await;
        if candidate(&watch.state(&board.board)) == Some((version.clone(), boot)) {
            return Some(version);
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// Runs the recovery ladder for one board: by itself, after a reset, after a power cycle;
/// at each rung the board must boot anew and settle.
pub async fn recover(
    timeline: &Timeline,
    watch: &Watch,
    bench: &BenchBoard,
    board: &BoundBoard,
    window: Duration,
    settle: Settle,
) -> Recovery {
    let note = |text: String| {
        timeline.emit(Source::board(&board.board), EventKind::Note { text });
    };
    note(format!(
        "recovery check: waiting up to {} for the board to be healthy by itself (and to stay so for {})",
        humantime::format_duration(window),
        humantime::format_duration(settle.period)
    ));
    if let Some(v) = wait_settled(watch, board, window, settle).await {
        return Recovery::ByItself(v);
    }
    let events = PartEvents {
        board: board.board.clone(),
        sink: std::sync::Arc::new(timeline.clone()),
    };
    let mut tried = vec!["waited"];
    note("recovery check: not healthy by itself; resetting it".into());
    let since = timeline.len();
    match bench.reset(&events).await {
        Ok(()) => {
            tried.push("reset");
            let settle = Settle { since, ..settle };
            if let Some(v) = wait_settled(watch, board, window, settle).await {
                return Recovery::ByReset(v);
            }
        }
        Err(e) => note(format!("recovery check: reset not possible: {e}")),
    }
    if bench.can_power_cycle() {
        note("recovery check: still not healthy; power-cycling it".into());
        let since = timeline.len();
        if let Err(e) = bench.power_cycle(Duration::from_secs(1), &events).await {
            return Recovery::BenchError(format!(
                "power cycle of board {} failed: {e}",
                board.board
            ));
        }
        tried.push("power cycle");
        let settle = Settle { since, ..settle };
        if let Some(v) = wait_settled(watch, board, window, settle).await {
            return Recovery::ByPowerCycle(v);
        }
    } else {
        note("recovery check: this board has no power control; cannot power-cycle".into());
    }
    Recovery::Never { tried }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rig::Profile;
    use regex::Regex;
    use std::collections::BTreeMap;

    fn board() -> BoundBoard {
        BoundBoard {
            role: "dut".into(),
            board: "b".into(),
            thing: "T1".into(),
            profile: Profile {
                banner: Regex::new("app version").unwrap(),
                version: Regex::new(r"app version (?P<version>\d+\.\d+\.\d+)").unwrap(),
                connected: Regex::new("connected").unwrap(),
            },
        }
    }

    fn line(t: &Timeline, text: &str) {
        t.emit(Source::board("b"), EventKind::Console { line: text.into() });
    }

    fn connection(t: &Timeline, connected: bool) {
        t.emit(
            Source::board("b"),
            EventKind::Connection {
                conn: 1,
                client_id: "T1".into(),
                thing: Some("T1".into()),
                connected,
                reason: None,
            },
        );
    }

    fn execution(t: &Timeline, status: &str, self_test: bool) {
        let details: BTreeMap<String, String> = if self_test {
            BTreeMap::from([("self_test".to_string(), "active".to_string())])
        } else {
            BTreeMap::new()
        };
        t.emit(
            Source::Cloud,
            EventKind::JobExecution {
                job_id: "j".into(),
                thing: "T1".into(),
                status: crate::model::ExecutionStatus::from_wire(status).expect("a status name"),
                status_details: details,
                version_number: 1,
                execution_number: 1,
            },
        );
    }

    fn boot(t: &Timeline, version: &str) {
        line(t, &format!("app version {version}"));
        connection(t, true);
    }

    const SETTLE: Settle = Settle {
        since: 0,
        period: Duration::from_secs(3),
    };

    #[tokio::test(start_paused = true)]
    async fn a_board_that_stays_healthy_for_the_settle_period_has_recovered() {
        let t = Timeline::in_memory();
        let w = Watch::start(&t, &[board()]);
        boot(&t, "0.9.5");
        let start = Instant::now();
        let v = wait_settled(&w, &board(), Duration::from_secs(30), SETTLE).await;
        assert_eq!(v.as_deref(), Some("0.9.5"));
        assert!(start.elapsed() >= SETTLE.period);
    }

    #[tokio::test(start_paused = true)]
    async fn a_board_that_dies_a_moment_after_its_first_healthy_line_has_not() {
        let t = Timeline::in_memory();
        let w = Watch::start(&t, &[board()]);
        boot(&t, "0.9.5");
        let later = t.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            line(&later, "Hard fault");
            connection(&later, false);
        });
        let v = wait_settled(&w, &board(), Duration::from_secs(30), SETTLE).await;
        assert_eq!(v, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_agents_self_test_decision_comes_before_recovery() {
        let t = Timeline::in_memory();
        let w = Watch::start(&t, &[board()]);
        boot(&t, "0.9.5");
        execution(&t, "IN_PROGRESS", true);
        let later = t.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            execution(&later, "SUCCEEDED", false);
        });
        let start = Instant::now();
        let v = wait_settled(&w, &board(), Duration::from_secs(60), SETTLE).await;
        assert_eq!(v.as_deref(), Some("0.9.5"));
        assert!(
            start.elapsed() >= Duration::from_secs(13),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_reset_only_a_new_boot_counts() {
        let t = Timeline::in_memory();
        let w = Watch::start(&t, &[board()]);
        boot(&t, "0.9.4");
        // The rig resets the board here; it hangs and prints nothing.
        let settle = Settle {
            since: t.len(),
            ..SETTLE
        };
        assert_eq!(
            wait_settled(&w, &board(), Duration::from_secs(20), settle).await,
            None
        );
        boot(&t, "0.9.4");
        let v = wait_settled(&w, &board(), Duration::from_secs(20), settle).await;
        assert_eq!(v.as_deref(), Some("0.9.4"));
    }
}
