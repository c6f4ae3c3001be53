//! Scheduling lag: how late a simulated board's (or the runner's) timers fire because the
//! host is overloaded. Past [`LAG_BOUND`] a board's timing no longer means what the
//! firmware would do, so a verdict that depends on timing becomes the bench's error.
//! The simulator says so on its console in the rig's own voice; the runner on its timeline.

use std::time::Duration;

/// Lag past which a board's timing is not trusted.
pub const LAG_BOUND: Duration = Duration::from_secs(1);

const NOTE: &str = "[otarig] scheduling lag ";

/// The line that reports `lag` (`[otarig] scheduling lag 1.42 s: …`).
pub fn lag_note(lag: Duration) -> String {
    format!(
        "{NOTE}{:.2} s: the host is overloaded, timers fire late",
        lag.as_secs_f64()
    )
}

/// The lag a [`lag_note`] line reports.
pub fn parse_lag_note(line: &str) -> Option<Duration> {
    let secs = line.strip_prefix(NOTE)?.split(' ').next()?;
    Duration::try_from_secs_f64(secs.parse().ok()?).ok()
}

/// Measures how late a periodic timer fires, and says when it passes the bound (at most
/// once per `quiet`, with the worst lag since the last time it said).
pub struct LagMeter {
    period: Duration,
    quiet: Duration,
    worst: Duration,
    said_at: Option<std::time::Instant>,
}

impl LagMeter {
    pub fn new(period: Duration) -> Self {
        LagMeter {
            period,
            quiet: Duration::from_secs(10),
            worst: Duration::ZERO,
            said_at: None,
        }
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// One tick that came `elapsed` after the previous one: the lag to report, if it is time.
    pub fn tick(&mut self, elapsed: Duration, now: std::time::Instant) -> Option<Duration> {
        let lag = elapsed.saturating_sub(self.period);
        if lag <= LAG_BOUND {
            return None;
        }
        self.worst = self.worst.max(lag);
        if self
            .said_at
            .is_some_and(|at| now.duration_since(at) < self.quiet)
        {
            return None;
        }
        self.said_at = Some(now);
        Some(std::mem::take(&mut self.worst))
    }
}

/// Measures this process's timers every 250 ms for as long as it runs; `say` is given
/// a [`lag_note`] whenever the lag passes the bound.
pub async fn report_lag(mut say: impl FnMut(String)) {
    let mut meter = LagMeter::new(Duration::from_millis(250));
    let mut last = std::time::Instant::now();
    loop {
        tokio::time::sleep(meter.period()).await;
        let now = std::time::Instant::now();
        if let Some(lag) = meter.tick(now - last, now) {
            say(lag_note(lag));
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_note_reads_back_as_the_lag_it_reports() {
        let line = lag_note(Duration::from_millis(1420));
        assert_eq!(parse_lag_note(&line), Some(Duration::from_millis(1420)));
        assert_eq!(parse_lag_note("[otarig] booting app"), None);
    }

    #[test]
    fn only_lag_past_the_bound_is_said_and_not_more_often_than_quiet_allows() {
        let mut m = LagMeter::new(Duration::from_millis(250));
        let t0 = Instant::now();
        assert_eq!(m.tick(Duration::from_millis(900), t0), None);
        assert_eq!(
            m.tick(Duration::from_millis(1750), t0),
            Some(Duration::from_millis(1500))
        );
        let later = t0 + Duration::from_secs(1);
        assert_eq!(m.tick(Duration::from_millis(3250), later), None, "quiet");
        let much_later = t0 + Duration::from_secs(11);
        assert_eq!(
            m.tick(Duration::from_millis(1500), much_later),
            Some(Duration::from_secs(3)),
            "the worst since it last said"
        );
    }
}
