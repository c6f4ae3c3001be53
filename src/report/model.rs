//! The result of a run: what the runner hands to every report. Plain serde values;
//! the numbers derived from them (counts, exit code) are computed, never stored.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::timeline::Event;

/// A board's verdict in one scenario attempt (design.md § Verdicts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Passed,
    /// An expectation was not met.
    Failed,
    /// The board never came back, even after reset and power cycle.
    Bricked,
    /// The firmware failed, but a power cycle saved it (the field cannot do that).
    RecoveredByPowerCycle,
    /// The bench or the rig failed; never a firmware failure. Also used for cases
    /// left unfinished when a run is interrupted.
    Error,
    Skipped,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Passed,
        Verdict::Failed,
        Verdict::Bricked,
        Verdict::RecoveredByPowerCycle,
        Verdict::Error,
        Verdict::Skipped,
    ];

    /// True for the verdicts that blame the firmware.
    pub fn is_firmware_failure(self) -> bool {
        matches!(
            self,
            Verdict::Failed | Verdict::Bricked | Verdict::RecoveredByPowerCycle
        )
    }

    /// The name used in summary.json, JUnit `type` attributes and timeline events.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Bricked => "bricked",
            Verdict::RecoveredByPowerCycle => "recovered-by-power-cycle",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }

    /// Parses [`Verdict::as_str`] (e.g. the `verdict` of an `EventKind::Verdict`).
    pub fn parse(text: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// The fixed-width console label, nextest style.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "PASS",
            Verdict::Failed => "FAIL",
            Verdict::Bricked => "BRICKED",
            Verdict::RecoveredByPowerCycle => "PWR-CYCLE",
            Verdict::Error => "ERROR",
            Verdict::Skipped => "SKIP",
        }
    }

    /// How bad a verdict is, to pick a scenario's worst board.
    fn severity(self) -> u8 {
        match self {
            Verdict::Skipped => 0,
            Verdict::Passed => 1,
            Verdict::Error => 2,
            Verdict::Failed => 3,
            Verdict::RecoveredByPowerCycle => 4,
            Verdict::Bricked => 5,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Running versions seen before the scenario's steps and after its recovery check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    pub before: Option<String>,
    pub after: Option<String>,
}

/// One board (bound to a role) in one scenario attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardResult {
    /// The scenario's role name (`thing1`).
    pub role: String,
    /// The rig board bound to the role (`sim-1`).
    pub board: String,
    /// Its thing name in the cloud.
    pub thing: String,
    pub verdict: Verdict,
    /// Why, when not passed: which expectation, what was expected, what was seen.
    pub message: Option<String>,
    /// The last console lines, raw (reports sanitize them).
    #[serde(default)]
    pub console_tail: Vec<String>,
    #[serde(default)]
    pub versions: Versions,
    /// This board's slice of the timeline when the runner keeps it; usually empty,
    /// since the whole timeline is in the scenario's `events.jsonl`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

impl BoardResult {
    /// A board whose verdict was never reached because the run was interrupted.
    pub fn unfinished(
        role: impl Into<String>,
        board: impl Into<String>,
        thing: impl Into<String>,
    ) -> Self {
        BoardResult {
            role: role.into(),
            board: board.into(),
            thing: thing.into(),
            verdict: Verdict::Error,
            message: Some(UNFINISHED.to_string()),
            console_tail: Vec::new(),
            versions: Versions::default(),
            events: Vec::new(),
        }
    }

    /// `role (board)`, the JUnit test case name and the console's board column.
    pub fn display_name(&self) -> String {
        format!("{} ({})", self.role, self.board)
    }
}

/// The message of a case cut short by SIGINT/SIGTERM.
pub const UNFINISHED: &str =
    "unfinished: the run was interrupted before this board's verdict was reached";

/// One attempt of one scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub name: String,
    #[serde(default)]
    pub summary: String,
    /// 1-based repeat index (`--repeat N` runs attempts 1..=N).
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Wall clock at the scenario's start, milliseconds since the Unix epoch.
    #[serde(default)]
    pub started_wall_ms: u64,
    #[serde(rename = "duration_secs", with = "secs")]
    pub duration: Duration,
    /// Seeds of randomized faults, so a run can be repeated exactly.
    #[serde(default)]
    pub seeds: Vec<u64>,
    pub boards: Vec<BoardResult>,
    /// Why the scenario did not run (a capability the rig lacks…).
    #[serde(default)]
    pub skipped: Option<String>,
}

fn first_attempt() -> u32 {
    1
}

impl ScenarioResult {
    /// The worst board verdict; `Skipped` for a skipped scenario or one without boards.
    pub fn verdict(&self) -> Verdict {
        if self.skipped.is_some() {
            return Verdict::Skipped;
        }
        self.boards
            .iter()
            .map(|b| b.verdict)
            .max_by_key(|v| v.severity())
            .unwrap_or(Verdict::Skipped)
    }
}

/// A whole `otarig run`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub run_id: String,
    /// Wall clock at the run's start, milliseconds since the Unix epoch.
    pub started_wall_ms: u64,
    #[serde(rename = "duration_secs", with = "secs")]
    pub duration: Duration,
    /// The rig's name.
    pub rig: String,
    pub scenarios: Vec<ScenarioResult>,
    /// The run was stopped by SIGINT/SIGTERM; unfinished cases are errors.
    #[serde(default)]
    pub interrupted: bool,
}

impl RunResult {
    pub fn stats(&self) -> RunStats {
        RunStats::summarize(self)
    }
}

/// Counts over every board of every attempt, plus flaky cases over attempts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    /// Distinct scenario names.
    pub scenarios: usize,
    /// Board runs: one per board per attempt (one per skipped scenario without boards).
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub bricked: usize,
    pub recovered_by_power_cycle: usize,
    pub errors: usize,
    pub skipped: usize,
    /// (scenario, role) cases that passed in some attempts and failed in others.
    pub flaky: usize,
    pub interrupted: bool,
}

impl RunStats {
    /// Pure: counts verdicts. See [`RunStats::exit_code`] for the mapping.
    pub fn summarize(run: &RunResult) -> RunStats {
        let mut stats = RunStats {
            interrupted: run.interrupted,
            ..RunStats::default()
        };
        let mut names: Vec<&str> = run.scenarios.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        stats.scenarios = names.len();
        for scenario in &run.scenarios {
            if scenario.boards.is_empty() {
                stats.count(scenario.verdict());
            }
            for board in &scenario.boards {
                // A skipped scenario's boards are skipped whatever the runner filled in.
                let verdict = if scenario.skipped.is_some() {
                    Verdict::Skipped
                } else {
                    board.verdict
                };
                stats.count(verdict);
            }
        }
        stats.flaky = group_cases(&run.scenarios)
            .values()
            .filter(|attempts| is_flaky(attempts.iter().map(|(_, b)| b.verdict)))
            .count();
        stats
    }

    fn count(&mut self, verdict: Verdict) {
        self.cases += 1;
        match verdict {
            Verdict::Passed => self.passed += 1,
            Verdict::Failed => self.failed += 1,
            Verdict::Bricked => self.bricked += 1,
            Verdict::RecoveredByPowerCycle => self.recovered_by_power_cycle += 1,
            Verdict::Error => self.errors += 1,
            Verdict::Skipped => self.skipped += 1,
        }
    }

    pub fn firmware_failures(&self) -> usize {
        self.failed + self.bricked + self.recovered_by_power_cycle
    }

    /// The process exit code (design.md § Reports), in this order:
    ///
    /// | condition | code |
    /// |---|---|
    /// | any board failed, bricked or recovered-by-power-cycle in any attempt (flaky included) | 1 |
    /// | otherwise any bench error, or any case left unfinished by an interrupt | 3 |
    /// | otherwise no case passed: everything was skipped (or nothing ran) | 4 |
    /// | otherwise (some passed, the rest skipped) | 0 |
    ///
    /// A firmware failure wins over a bench error: what the firmware did is still true.
    /// Code 2 (bad configuration or usage) is decided before any run, by the CLI.
    pub fn exit_code(&self) -> u8 {
        if self.firmware_failures() > 0 {
            crate::cli::exit::FAILED
        } else if self.errors > 0 || self.interrupted {
            crate::cli::exit::BENCH
        } else if self.passed == 0 {
            crate::cli::exit::NOTHING_JUDGED
        } else {
            crate::cli::exit::PASSED
        }
    }
}

/// Whether a case's attempts mix a pass with a firmware failure.
pub fn is_flaky(verdicts: impl IntoIterator<Item = Verdict>) -> bool {
    let (mut passed, mut failed) = (false, false);
    for v in verdicts {
        passed |= v == Verdict::Passed;
        failed |= v.is_firmware_failure();
    }
    passed && failed
}

/// Board results grouped by (scenario name, role), in first-seen order of scenarios
/// and attempt order within a group: the unit JUnit reports as one test case.
pub fn group_cases(
    scenarios: &[ScenarioResult],
) -> BTreeMap<(String, String), Vec<(&ScenarioResult, &BoardResult)>> {
    let mut groups: BTreeMap<(String, String), Vec<(&ScenarioResult, &BoardResult)>> =
        BTreeMap::new();
    for scenario in scenarios {
        for board in &scenario.boards {
            groups
                .entry((scenario.name.clone(), board.role.clone()))
                .or_default()
                .push((scenario, board));
        }
    }
    for attempts in groups.values_mut() {
        attempts.sort_by_key(|(s, _)| s.attempt);
    }
    groups
}

/// `Duration` as fractional seconds in JSON (`12.345`), readable by any consumer.
pub(crate) mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(role: &str, verdict: Verdict) -> BoardResult {
        BoardResult {
            role: role.into(),
            board: format!("sim-{role}"),
            thing: role.to_uppercase(),
            verdict,
            message: None,
            console_tail: vec![],
            versions: Versions::default(),
            events: vec![],
        }
    }

    fn scenario(name: &str, attempt: u32, boards: Vec<BoardResult>) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            summary: String::new(),
            attempt,
            started_wall_ms: 0,
            duration: Duration::from_secs(1),
            seeds: vec![],
            boards,
            skipped: None,
        }
    }

    fn run(scenarios: Vec<ScenarioResult>) -> RunResult {
        RunResult {
            run_id: "r".into(),
            started_wall_ms: 0,
            duration: Duration::from_secs(1),
            rig: "sim".into(),
            scenarios,
            interrupted: false,
        }
    }

    #[test]
    fn a_scenario_takes_its_worst_board_verdict() {
        let s = scenario(
            "s",
            1,
            vec![
                board("a", Verdict::Passed),
                board("b", Verdict::Bricked),
                board("c", Verdict::Error),
            ],
        );
        assert_eq!(s.verdict(), Verdict::Bricked);
        let mut skipped = scenario("s", 1, vec![board("a", Verdict::Passed)]);
        skipped.skipped = Some("no power".into());
        assert_eq!(skipped.verdict(), Verdict::Skipped);
    }

    #[test]
    fn verdict_names_parse_back() {
        for v in Verdict::ALL {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
        }
    }

    #[test]
    fn flaky_needs_a_pass_and_a_firmware_failure_of_the_same_role() {
        let r = run(vec![
            scenario(
                "s",
                1,
                vec![board("a", Verdict::Passed), board("b", Verdict::Passed)],
            ),
            scenario(
                "s",
                2,
                vec![board("a", Verdict::Failed), board("b", Verdict::Error)],
            ),
        ]);
        let stats = r.stats();
        assert_eq!(
            stats.flaky, 1,
            "b mixes a pass with a bench error: not flaky"
        );
        assert_eq!(stats.scenarios, 1);
        assert_eq!(stats.cases, 4);
        assert_eq!(stats.exit_code(), 1);
    }
}
