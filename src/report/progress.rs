//! Live console progress: an overall bar and one line per running board saying what it
//! waits for and how long is left (indicatif). When stderr is not a terminal there are
//! no bars; each finished scenario prints its status lines instead.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::RunEvent;
use super::model::ScenarioResult;
use super::table;

/// Shared by the runner's tasks (`Arc<Progress>`); every method takes `&self`.
pub struct Progress {
    mode: Mode,
}

enum Mode {
    Bars {
        multi: MultiProgress,
        overall: ProgressBar,
        boards: Mutex<BTreeMap<(String, String), ProgressBar>>,
    },
    Lines(Mutex<Box<dyn Write + Send>>),
}

impl Progress {
    /// Bars on stderr when it is a terminal, plain lines on stderr otherwise.
    pub fn new(total_scenarios: usize) -> Self {
        if std::io::stderr().is_terminal() {
            Self::bars(total_scenarios, ProgressDrawTarget::stderr())
        } else {
            Self::lines(Box::new(std::io::stderr()))
        }
    }

    /// Plain lines into `out` (CI logs, tests).
    pub fn lines(out: Box<dyn Write + Send>) -> Self {
        Progress {
            mode: Mode::Lines(Mutex::new(out)),
        }
    }

    /// Bars drawn to `target`.
    pub fn bars(total_scenarios: usize, target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(total_scenarios as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>9.bold} [{elapsed_precise}] {bar:30} {pos}/{len} scenarios {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        overall.set_prefix("Running");
        overall.enable_steady_tick(Duration::from_millis(200));
        Progress {
            mode: Mode::Bars {
                multi,
                overall,
                boards: Mutex::new(BTreeMap::new()),
            },
        }
    }

    /// Shows one event of the runner (the CLI wires the runner's events here).
    pub fn on_event(&self, event: &RunEvent<'_>) {
        match *event {
            RunEvent::ScenarioStarted {
                scenario, boards, ..
            } => self.scenario_started(scenario, boards),
            RunEvent::BoardWaiting {
                scenario,
                board,
                what,
                left,
            } => self.waiting(scenario, board, what, left.unwrap_or_default()),
            RunEvent::ScenarioFinished { result } => self.scenario_finished(result),
            RunEvent::RunFinished => self.finish(),
        }
    }

    pub fn scenario_started(&self, scenario: &str, boards: &[String]) {
        if let Mode::Bars {
            multi,
            overall,
            boards: bars,
        } = &self.mode
        {
            overall.set_message(scenario.to_string());
            let mut bars = bars.lock().expect("progress lock");
            for board in boards {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    // The time left comes first: a long expectation is cut at the
                    // terminal's edge, not the deadline.
                    ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
                        .expect("static template"),
                );
                bar.set_prefix(format!("{scenario} {board}"));
                bar.set_message("starting");
                bar.enable_steady_tick(Duration::from_millis(120));
                bars.insert((scenario.to_string(), board.clone()), bar);
            }
        }
    }

    /// The board now waits for `what`; its deadline is `deadline_left` away.
    pub fn waiting(&self, scenario: &str, board: &str, what: &str, deadline_left: Duration) {
        if let Mode::Bars { boards, .. } = &self.mode {
            let bars = boards.lock().expect("progress lock");
            if let Some(bar) = bars.get(&(scenario.to_string(), board.to_string())) {
                bar.set_message(format!(
                    "{} left, waiting for {what}",
                    humantime::format_duration(Duration::from_secs(deadline_left.as_secs()))
                ));
            }
        }
    }

    pub fn scenario_finished(&self, result: &ScenarioResult) {
        let lines = table::scenario_lines(result);
        match &self.mode {
            Mode::Bars {
                multi,
                overall,
                boards,
            } => {
                let mut bars = boards.lock().expect("progress lock");
                let keys: Vec<_> = bars
                    .keys()
                    .filter(|(s, _)| *s == result.name)
                    .cloned()
                    .collect();
                for key in keys {
                    if let Some(bar) = bars.remove(&key) {
                        bar.finish_and_clear();
                        multi.remove(&bar);
                    }
                }
                for line in lines {
                    let _ = multi.println(line);
                }
                overall.inc(1);
            }
            Mode::Lines(out) => {
                let mut out = out.lock().expect("progress lock");
                for line in lines {
                    let _ = writeln!(out, "{line}");
                }
                let _ = out.flush();
            }
        }
    }

    /// Removes the bars before the summary table is printed.
    pub fn finish(&self) {
        if let Mode::Bars {
            multi,
            overall,
            boards,
        } = &self.mode
        {
            for (_, bar) in std::mem::take(&mut *boards.lock().expect("progress lock")) {
                bar.finish_and_clear();
            }
            overall.finish_and_clear();
            let _ = multi.clear();
        }
    }
}
