//! The built-in recovery check that ends every scenario: each board must come back
//! healthy (boot banner, connected, a known version) by itself; if not, the rig
//! resets it, then power-cycles it where it can. How it came back decides the verdict.

use std::time::Duration;

use tokio::time::Instant;

use super::bench::BenchBoard;
use super::expect::board_ref;
use super::matchers;
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

/// Re-evaluates `check` over the timeline as events arrive, until it gives a value or
/// `within` passes.
pub async fn wait_until<T>(
    timeline: &Timeline,
    within: Duration,
    check: impl Fn(&[crate::timeline::Event]) -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    let mut live = timeline.subscribe();
    loop {
        if let Some(v) = timeline.with_events(&check) {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        let _ = tokio::time::timeout_at(deadline, live.recv()).await;
        while live.try_recv().is_ok() {}
    }
}

/// Waits until the board is healthy; its running version.
pub async fn wait_healthy(
    timeline: &Timeline,
    board: &BoundBoard,
    within: Duration,
) -> Option<String> {
    wait_until(timeline, within, |events| {
        matchers::healthy(events, board_ref(board), &board.profile)
    })
    .await
}

/// Waits until the board's agent has had an answer to `$next/get` since `from`.
pub async fn wait_jobs_answered(
    timeline: &Timeline,
    board: &BoundBoard,
    from: usize,
    within: Duration,
) -> bool {
    wait_until(timeline, within, |events| {
        matchers::jobs_answered(events, from, &board.thing)
    })
    .await
    .is_some()
}

/// Runs the recovery ladder for one board.
pub async fn recover(
    timeline: &Timeline,
    bench: &BenchBoard,
    board: &BoundBoard,
    window: Duration,
) -> Recovery {
    let note = |text: String| {
        timeline.emit(Source::board(&board.board), EventKind::Note { text });
    };
    note(format!(
        "recovery check: waiting up to {} for the board to be healthy by itself",
        humantime::format_duration(window)
    ));
    if let Some(v) = wait_healthy(timeline, board, window).await {
        return Recovery::ByItself(v);
    }
    let events = PartEvents {
        board: board.board.clone(),
        sink: std::sync::Arc::new(timeline.clone()),
    };
    let mut tried = vec!["waited"];
    note("recovery check: not healthy by itself; resetting it".into());
    match bench.reset(&events).await {
        Ok(()) => {
            tried.push("reset");
            if let Some(v) = wait_healthy(timeline, board, window).await {
                return Recovery::ByReset(v);
            }
        }
        Err(e) => note(format!("recovery check: reset not possible: {e}")),
    }
    if bench.can_power_cycle() {
        note("recovery check: still not healthy; power-cycling it".into());
        if let Err(e) = bench.power_cycle(Duration::from_secs(1), &events).await {
            return Recovery::BenchError(format!(
                "power cycle of board {} failed: {e}",
                board.board
            ));
        }
        tried.push("power cycle");
        if let Some(v) = wait_healthy(timeline, board, window).await {
            return Recovery::ByPowerCycle(v);
        }
    } else {
        note("recovery check: this board has no power control; cannot power-cycle".into());
    }
    Recovery::Never { tried }
}
