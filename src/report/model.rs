//! The result of a run: what the runner hands to every report. Plain serde values;
//! the numbers derived from them (counts, exit code) are computed, never stored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::timeline::Event;

pub use crate::model::Verdict;

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

/// One try of one attempt of one scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub name: String,
    #[serde(default)]
    pub summary: String,
    /// 1-based repeat index (`--repeat N` runs attempts 1..=N).
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// 0 for an attempt's first try, k for its k-th retry (`--retries N`), run on the
    /// same boards after a try with a firmware failure.
    #[serde(default)]
    pub retry: u32,
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
    /// Skipped because the run stopped starting scenarios (`--max-fail` reached), not for
    /// anything about the scenario or the rig: `--rerun-failed` runs it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run_stopped: bool,
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

/// Counts of cases by [`Outcome`] (a case is one board role of one scenario over all its
/// attempts: see [`cases`]), so the counts, the table, JUnit's `tests`/`failures`/`errors`
/// and the exit code all count the same things.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    /// Distinct scenario names.
    pub scenarios: usize,
    /// Cases: one per board role of each scenario, however many attempts it had (one per
    /// scenario skipped before its roles were bound). Each is counted once below.
    pub cases: usize,
    /// Board runs: one per board per attempt (one per skipped scenario without boards).
    #[serde(default)]
    pub board_runs: usize,
    pub passed: usize,
    pub failed: usize,
    pub bricked: usize,
    pub recovered_by_power_cycle: usize,
    pub errors: usize,
    /// Cases whose checks did not all run (another board's failure stopped a step they
    /// needed): error-class.
    #[serde(default)]
    pub not_judged: usize,
    pub skipped: usize,
    /// Cases whose attempts mix a pass with a firmware failure: a failure (exit 1).
    pub flaky: usize,
    /// Cases that passed only on a retry (`--retries`): a pass, nextest's "flaky".
    #[serde(default)]
    pub flaky_pass: usize,
    pub interrupted: bool,
}

impl RunStats {
    /// Pure: counts cases by outcome. See [`RunStats::exit_code`] for the mapping.
    pub fn summarize(run: &RunResult) -> RunStats {
        let mut stats = RunStats {
            interrupted: run.interrupted,
            ..RunStats::default()
        };
        let mut names: Vec<&str> = run.scenarios.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        stats.scenarios = names.len();
        stats.board_runs = run.scenarios.iter().map(|s| s.boards.len().max(1)).sum();
        for case in cases(run) {
            stats.cases += 1;
            match case.outcome() {
                Outcome::Passed => stats.passed += 1,
                Outcome::Failed => stats.failed += 1,
                Outcome::Bricked => stats.bricked += 1,
                Outcome::RecoveredByPowerCycle => stats.recovered_by_power_cycle += 1,
                Outcome::Error => stats.errors += 1,
                Outcome::NotJudged => stats.not_judged += 1,
                Outcome::Skipped => stats.skipped += 1,
                Outcome::Flaky => stats.flaky += 1,
                Outcome::FlakyPass => stats.flaky_pass += 1,
            }
        }
        stats
    }

    /// Cases that blame the firmware: failed, bricked, recovered by power cycle, flaky.
    pub fn firmware_failures(&self) -> usize {
        self.failed + self.bricked + self.recovered_by_power_cycle + self.flaky
    }

    /// The process exit code (docs/architecture.md § Reports), in this order:
    ///
    /// | condition | code |
    /// |---|---|
    /// | any case failed, bricked, recovered-by-power-cycle or flaky | 1 |
    /// | otherwise any bench error, or any case left unfinished by an interrupt | 3 |
    /// | otherwise no case passed (on a retry or not): everything was skipped (or nothing ran) | 4 |
    /// | otherwise (some passed, the rest skipped) | 0 |
    ///
    /// A firmware failure wins over a bench error: what the firmware did is still true.
    /// Code 2 (bad configuration or usage) is decided before any run, by the CLI.
    pub fn exit_code(&self) -> u8 {
        if self.firmware_failures() > 0 {
            super::exit::FAILED
        } else if self.errors > 0 || self.not_judged > 0 || self.interrupted {
            super::exit::BENCH
        } else if self.passed + self.flaky_pass == 0 {
            super::exit::NOTHING_JUDGED
        } else {
            super::exit::PASSED
        }
    }
}

/// What a case came to over its attempts and their retries; every report shows and
/// counts this.
///
/// The rule (README.md § Repeats and flaky cases), first per attempt, over its tries: its
/// last try passed → `passed`, or `flaky-pass` when an earlier try did not; otherwise the
/// worst verdict of its tries (a retry's bench error never hides a firmware failure). Then
/// over the attempts: every attempt that ran passed → `passed` (`flaky-pass` if one needed
/// a retry); nothing ran → `skipped`; a pass and a firmware failure (failed, bricked,
/// recovered by power cycle) among the attempts → `flaky`, which is a failure; otherwise
/// the worst verdict of the attempts (a pass mixed with bench errors only is an `error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    Bricked,
    RecoveredByPowerCycle,
    Error,
    NotJudged,
    Skipped,
    /// Attempts mix a pass and a firmware failure (`--repeat`): a failure.
    Flaky,
    /// Passed, but only on a retry (`--retries`): a pass, as nextest's "flaky".
    FlakyPass,
}

impl Outcome {
    /// The name in summary.json and in the case's text (`flaky (4 of 6 failed)`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Flaky => "flaky",
            Outcome::FlakyPass => "flaky-pass",
            other => other.verdict().as_str(),
        }
    }

    /// The table's fixed-width label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Flaky => "FLAKY",
            Outcome::FlakyPass => "FLAKY-PASS",
            other => other.verdict().label(),
        }
    }

    /// True for the outcomes that blame the firmware and make the run exit 1.
    pub fn is_firmware_failure(self) -> bool {
        self == Outcome::Flaky || self.verdict().is_firmware_failure()
    }

    /// True for the outcomes that count as a pass (`passed`, `flaky-pass`).
    pub fn is_pass(self) -> bool {
        matches!(self, Outcome::Passed | Outcome::FlakyPass)
    }

    /// The verdict of a single-verdict outcome (`Failed` for `Flaky`, `Passed` for
    /// `FlakyPass`).
    fn verdict(self) -> Verdict {
        match self {
            Outcome::Passed | Outcome::FlakyPass => Verdict::Passed,
            Outcome::Failed | Outcome::Flaky => Verdict::Failed,
            Outcome::Bricked => Verdict::Bricked,
            Outcome::RecoveredByPowerCycle => Verdict::RecoveredByPowerCycle,
            Outcome::Error => Verdict::Error,
            Outcome::NotJudged => Verdict::NotJudged,
            Outcome::Skipped => Verdict::Skipped,
        }
    }
}

impl From<Verdict> for Outcome {
    fn from(v: Verdict) -> Outcome {
        match v {
            Verdict::Passed => Outcome::Passed,
            Verdict::Failed => Outcome::Failed,
            Verdict::Bricked => Outcome::Bricked,
            Verdict::RecoveredByPowerCycle => Outcome::RecoveredByPowerCycle,
            Verdict::Error => Outcome::Error,
            Verdict::NotJudged => Outcome::NotJudged,
            Verdict::Skipped => Outcome::Skipped,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One try of a case: an attempt (`--repeat`) or a retry of one (`--retries`).
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    pub scenario: &'a ScenarioResult,
    /// `None` for a scenario skipped before its roles were bound.
    pub board: Option<&'a BoardResult>,
    /// The try's verdict: `Skipped` for a skipped scenario whatever its boards say.
    pub verdict: Verdict,
}

impl Attempt<'_> {
    /// Neither passed nor skipped.
    pub fn failed(&self) -> bool {
        !matches!(self.verdict, Verdict::Passed | Verdict::Skipped)
    }

    /// Why it did not pass: the skip reason, else the board's message.
    pub fn reason(&self) -> Option<&str> {
        self.scenario
            .skipped
            .as_deref()
            .or(self.board.and_then(|b| b.message.as_deref()))
    }

    /// `attempt 2`, `attempt 2 retry 1`.
    pub fn label(&self) -> String {
        attempt_label(self.scenario.attempt, self.scenario.retry)
    }

    /// `attempt 5 (seed 1234): <reason>` (the reason alone for a case of one try).
    pub fn message(&self, attempts: usize) -> String {
        let reason = self.reason().unwrap_or(self.verdict.as_str());
        if attempts <= 1 {
            return reason.to_string();
        }
        let seeds = &self.scenario.seeds;
        let seeds = match seeds.len() {
            0 => String::new(),
            1 => format!(" (seed {})", seeds[0]),
            _ => format!(" (seeds {})", join_seeds(seeds)),
        };
        format!("{}{seeds}: {reason}", self.label())
    }
}

/// `attempt 2`, `attempt 2 retry 1`: a try as the reports name it.
pub fn attempt_label(attempt: u32, retry: u32) -> String {
    if retry == 0 {
        format!("attempt {attempt}")
    } else {
        format!("attempt {attempt} retry {retry}")
    }
}

/// `same-version`, `same-version (attempt 2)`, `same-version (attempt 1 retry 1)`: a
/// try's title on its pages.
pub fn try_title(scenario: &str, attempt: u32, retry: u32) -> String {
    if attempt <= 1 && retry == 0 {
        scenario.to_string()
    } else {
        format!("{scenario} ({})", attempt_label(attempt, retry))
    }
}

/// Seeds as `7, 1234`.
pub fn join_seeds(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A case: one board role of one scenario over all its attempts (`--repeat N`) and their
/// retries (`--retries N`), or a scenario skipped before its roles were bound. JUnit
/// writes it as one test case.
#[derive(Clone, Debug)]
pub struct Case<'a> {
    pub scenario: &'a str,
    /// `None` for a scenario skipped before its roles were bound.
    pub role: Option<&'a str>,
    /// Every try, by attempt then retry; never empty.
    pub attempts: Vec<Attempt<'a>>,
}

impl<'a> Case<'a> {
    /// The worst verdict of the tries (`Skipped` when none ran).
    pub fn worst(&self) -> Verdict {
        worst(self.attempts.iter().map(|a| a.verdict))
    }

    /// The tries grouped by attempt, each group in retry order.
    pub fn by_attempt(&self) -> Vec<&[Attempt<'a>]> {
        self.attempts
            .chunk_by(|a, b| a.scenario.attempt == b.scenario.attempt)
            .collect()
    }

    /// What the case came to (the rule at [`Outcome`]).
    pub fn outcome(&self) -> Outcome {
        let outcomes: Vec<Outcome> = self
            .by_attempt()
            .into_iter()
            .map(attempt_outcome)
            .filter(|o| *o != Outcome::Skipped)
            .collect();
        if outcomes.is_empty() {
            return Outcome::Skipped;
        }
        let passed = outcomes.iter().any(|o| o.is_pass());
        let firmware = outcomes.iter().any(|o| o.is_firmware_failure());
        if passed && firmware {
            Outcome::Flaky
        } else if outcomes.iter().all(|o| o.is_pass()) {
            if outcomes.contains(&Outcome::FlakyPass) {
                Outcome::FlakyPass
            } else {
                Outcome::Passed
            }
        } else {
            worst(outcomes.iter().map(|o| o.verdict())).into()
        }
    }

    /// Whether the attempts mix a pass with a firmware failure (a failure).
    pub fn is_flaky(&self) -> bool {
        self.outcome() == Outcome::Flaky
    }

    /// Tries that neither passed nor were skipped.
    pub fn failed_attempts(&self) -> usize {
        self.attempts.iter().filter(|a| a.failed()).count()
    }

    /// The try that speaks for the case: the last one with the verdict its outcome names
    /// (for a flaky or flaky-pass case, its last worst failure; for a passed case, its
    /// last pass).
    pub fn primary(&self) -> &Attempt<'a> {
        let wanted = match self.outcome() {
            Outcome::Flaky | Outcome::FlakyPass => self.worst(),
            other => other.verdict(),
        };
        self.attempts
            .iter()
            .rev()
            .find(|a| a.verdict == wanted)
            .unwrap_or(&self.attempts[self.attempts.len() - 1])
    }

    /// The last try: for a passed or flaky-pass case, the pass that decided it.
    pub fn last(&self) -> &Attempt<'a> {
        &self.attempts[self.attempts.len() - 1]
    }

    /// `flaky (4 of 6 failed)`, `bricked (2 of 2 failed)`, `flaky-pass (1 of 2 failed)`;
    /// the outcome alone for a single try or a skipped case.
    pub fn text(&self) -> String {
        let outcome = self.outcome();
        let n = self.attempts.len();
        if n > 1 && outcome != Outcome::Skipped {
            format!("{outcome} ({} of {n} failed)", self.failed_attempts())
        } else {
            outcome.to_string()
        }
    }

    /// Why the case did not simply pass: for one try its reason; for several, the case's
    /// text and the speaking try (`flaky (4 of 6 failed): attempt 5 (seed 9): timeout`,
    /// `flaky-pass (1 of 2 failed): attempt 1: …`). `None` for a passed case.
    pub fn message(&self) -> Option<String> {
        let outcome = self.outcome();
        if outcome == Outcome::Passed {
            return None;
        }
        let primary = self.primary();
        let n = self.attempts.len();
        Some(if n > 1 && outcome != Outcome::Skipped {
            format!("{}: {}", self.text(), primary.message(n))
        } else {
            primary.message(1)
        })
    }

    /// The board's name, `role (board)`, from the speaking try.
    pub fn display_name(&self) -> Option<String> {
        self.primary().board.map(BoardResult::display_name)
    }

    /// The tries' time together.
    pub fn duration(&self) -> Duration {
        self.attempts.iter().map(|a| a.scenario.duration).sum()
    }
}

/// What one attempt came to over its tries: its last try passed → `passed`, or
/// `flaky-pass` when an earlier try did not; otherwise the worst verdict of its tries, so
/// a retry that ends in a bench error (or is cut short) never hides a firmware failure.
fn attempt_outcome(tries: &[Attempt]) -> Outcome {
    let Some((last, earlier)) = tries.split_last() else {
        return Outcome::Skipped;
    };
    if last.verdict == Verdict::Passed {
        if earlier.iter().any(Attempt::failed) {
            Outcome::FlakyPass
        } else {
            Outcome::Passed
        }
    } else {
        worst(tries.iter().map(|a| a.verdict)).into()
    }
}

fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    verdicts
        .into_iter()
        .max_by_key(|v| v.severity())
        .unwrap_or(Verdict::Skipped)
}

/// The run's cases: scenarios in first-seen order, roles in first-seen order within a
/// scenario, tries in attempt then retry order.
pub fn cases(run: &RunResult) -> Vec<Case<'_>> {
    let mut names: Vec<&str> = Vec::new();
    for s in &run.scenarios {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    let mut out = Vec::new();
    for name in names {
        let mut attempts: Vec<&ScenarioResult> =
            run.scenarios.iter().filter(|s| s.name == name).collect();
        attempts.sort_by_key(|s| (s.attempt, s.retry));
        let attempt = |s: &'_ ScenarioResult, b: Option<&'_ BoardResult>| -> Verdict {
            match (&s.skipped, b) {
                (Some(_), _) | (None, None) => Verdict::Skipped,
                (None, Some(b)) => b.verdict,
            }
        };
        let unbound: Vec<Attempt<'_>> = attempts
            .iter()
            .filter(|s| s.boards.is_empty())
            .map(|s| Attempt {
                scenario: s,
                board: None,
                verdict: attempt(s, None),
            })
            .collect();
        if !unbound.is_empty() {
            out.push(Case {
                scenario: name,
                role: None,
                attempts: unbound,
            });
        }
        let mut roles: Vec<&str> = Vec::new();
        for s in &attempts {
            for b in &s.boards {
                if !roles.contains(&b.role.as_str()) {
                    roles.push(&b.role);
                }
            }
        }
        for role in roles {
            let of_role = attempts
                .iter()
                .flat_map(|s| s.boards.iter().map(move |b| (*s, b)))
                .filter(|(_, b)| b.role == role)
                .map(|(s, b)| Attempt {
                    scenario: s,
                    board: Some(b),
                    verdict: attempt(s, Some(b)),
                })
                .collect();
            out.push(Case {
                scenario: name,
                role: Some(role),
                attempts: of_role,
            });
        }
    }
    out
}

/// Whether attempts (one try each) mix a pass with a firmware failure.
pub fn is_flaky(verdicts: impl IntoIterator<Item = Verdict>) -> bool {
    let (mut passed, mut failed) = (false, false);
    for v in verdicts {
        passed |= v == Verdict::Passed;
        failed |= v.is_firmware_failure();
    }
    passed && failed
}

/// Board results grouped by (scenario name, role), in first-seen order of scenarios
/// and attempt order within a group.
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
        attempts.sort_by_key(|(s, _)| (s.attempt, s.retry));
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

/// One scenario attempt's recorded timeline, as the runner hands it to the reports: where
/// its `events.jsonl` is, not a copy of its events (the reports read the file, streaming).
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioTimeline {
    pub scenario: String,
    /// 1-based repeat index.
    pub attempt: u32,
    /// 0 for the attempt's first try, k for its k-th retry.
    pub retry: u32,
    /// The attempt's `events.jsonl`, written by the recorder as the scenario ran.
    pub events_path: PathBuf,
    /// Rig board name → thing name, for every board bound in the scenario.
    pub things: BTreeMap<String, String>,
    /// Roles that pin a thing name (role → thing): their JUnit names carry the thing.
    pub pinned: BTreeMap<String, String>,
}

impl ScenarioTimeline {
    pub fn new(
        scenario: impl Into<String>,
        events_path: impl Into<PathBuf>,
        things: BTreeMap<String, String>,
    ) -> Self {
        ScenarioTimeline {
            scenario: scenario.into(),
            attempt: 1,
            retry: 0,
            events_path: events_path.into(),
            things,
            pinned: BTreeMap::new(),
        }
    }

    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    pub fn with_retry(mut self, retry: u32) -> Self {
        self.retry = retry;
        self
    }

    /// Whether `result` is this timeline's try.
    pub fn is_of(&self, result: &ScenarioResult) -> bool {
        result.name == self.scenario && result.attempt == self.attempt && result.retry == self.retry
    }

    pub fn with_pinned(mut self, pinned: BTreeMap<String, String>) -> Self {
        self.pinned = pinned;
        self
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
            retry: 0,
            run_stopped: false,
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
        assert_eq!(stats.errors, 1, "b is an error case");
        assert_eq!((stats.passed, stats.failed), (0, 0));
        assert_eq!(stats.scenarios, 1);
        assert_eq!((stats.cases, stats.board_runs), (2, 4));
        assert_eq!(stats.exit_code(), 1);
    }

    #[test]
    fn a_case_takes_its_outcome_from_all_its_attempts() {
        use Verdict::*;
        let table: &[(&[Verdict], Outcome, &str)] = &[
            (&[Passed], Outcome::Passed, "passed"),
            (&[Passed, Passed], Outcome::Passed, "passed (0 of 2 failed)"),
            (
                &[Failed, Bricked],
                Outcome::Bricked,
                "bricked (2 of 2 failed)",
            ),
            (
                &[Passed, Failed, Failed, Passed, Failed, Failed],
                Outcome::Flaky,
                "flaky (4 of 6 failed)",
            ),
            (
                &[Passed, Error, Bricked],
                Outcome::Flaky,
                "flaky (2 of 3 failed)",
            ),
            (&[Passed, Error], Outcome::Error, "error (1 of 2 failed)"),
            (&[Error], Outcome::Error, "error"),
        ];
        for (verdicts, outcome, text) in table {
            let r = run(verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| scenario("s", i as u32 + 1, vec![board("a", *v)]))
                .collect());
            let cases = cases(&r);
            assert_eq!(cases.len(), 1);
            assert_eq!(cases[0].outcome(), *outcome, "{verdicts:?}");
            assert_eq!(cases[0].text(), *text, "{verdicts:?}");
        }
    }

    #[test]
    fn the_speaking_attempt_is_the_last_with_the_worst_verdict() {
        let mut r = run(vec![
            scenario("s", 1, vec![board("a", Verdict::Bricked)]),
            scenario("s", 2, vec![board("a", Verdict::Passed)]),
            scenario("s", 3, vec![board("a", Verdict::Failed)]),
        ]);
        r.scenarios[0].seeds = vec![41];
        r.scenarios[0].boards[0].message = Some("no banner".into());
        let cases = cases(&r);
        assert_eq!(cases[0].primary().scenario.attempt, 1);
        assert_eq!(
            cases[0].message().as_deref(),
            Some("flaky (2 of 3 failed): attempt 1 (seed 41): no banner")
        );
    }

    #[test]
    fn an_attempt_passed_on_a_retry_is_a_flaky_pass_and_a_retry_never_hides_a_failure() {
        use Verdict::*;
        // Each case: attempts, each its tries' verdicts in retry order.
        let table: &[(&[&[Verdict]], Outcome, &str)] = &[
            (
                &[&[Failed, Passed]],
                Outcome::FlakyPass,
                "flaky-pass (1 of 2 failed)",
            ),
            (
                &[&[Failed, Bricked, Passed]],
                Outcome::FlakyPass,
                "flaky-pass (2 of 3 failed)",
            ),
            (
                &[&[Failed, Failed]],
                Outcome::Failed,
                "failed (2 of 2 failed)",
            ),
            (
                &[&[Bricked, Error]],
                Outcome::Bricked,
                "bricked (2 of 2 failed)",
            ),
            (
                &[&[Passed], &[Failed, Passed]],
                Outcome::FlakyPass,
                "flaky-pass (1 of 3 failed)",
            ),
            (
                &[&[Passed], &[Failed, Failed]],
                Outcome::Flaky,
                "flaky (2 of 3 failed)",
            ),
            (
                &[&[Failed, Passed], &[Error]],
                Outcome::Error,
                "error (2 of 3 failed)",
            ),
            (
                &[&[Passed], &[Passed]],
                Outcome::Passed,
                "passed (0 of 2 failed)",
            ),
        ];
        for (attempts, outcome, text) in table {
            let mut scenarios = Vec::new();
            for (a, tries) in attempts.iter().enumerate() {
                for (r, v) in tries.iter().enumerate() {
                    scenarios.push(ScenarioResult {
                        retry: r as u32,
                        seeds: vec![100 * a as u64 + r as u64],
                        ..scenario("s", a as u32 + 1, vec![board("a", *v)])
                    });
                }
            }
            let r = run(scenarios);
            let cases = cases(&r);
            assert_eq!(cases.len(), 1);
            assert_eq!(cases[0].outcome(), *outcome, "{attempts:?}");
            assert_eq!(cases[0].text(), *text, "{attempts:?}");
        }
    }

    #[test]
    fn a_flaky_pass_is_a_pass_that_names_its_failed_try() {
        let mut first = scenario("s", 1, vec![board("a", Verdict::Failed)]);
        first.seeds = vec![7];
        first.boards[0].message = Some("expected version 0.9.5".into());
        let retry = ScenarioResult {
            retry: 1,
            ..scenario("s", 1, vec![board("a", Verdict::Passed)])
        };
        let r = run(vec![retry, first]);
        let cases = cases(&r);
        let case = &cases[0];
        assert_eq!(case.primary().scenario.retry, 0, "the failed try speaks");
        assert_eq!(case.last().scenario.retry, 1, "tries in retry order");
        assert_eq!(
            case.message().as_deref(),
            Some("flaky-pass (1 of 2 failed): attempt 1 (seed 7): expected version 0.9.5")
        );
        let stats = r.stats();
        assert_eq!((stats.flaky_pass, stats.passed, stats.flaky), (1, 0, 0));
        assert_eq!(
            stats.exit_code(),
            0,
            "a pass on a retry is a pass, not nothing judged"
        );
        assert!(!Outcome::FlakyPass.is_firmware_failure());
    }
}
