//! A board's verdict: the vocabulary runner, events and reports share.

use serde::{Deserialize, Serialize};

/// A board's verdict in one scenario attempt (docs/architecture.md § Verdicts).
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
    /// The board's checks did not all run: a step it needed was not run because another
    /// board had failed. Error-class: never a pass, never the firmware's failure.
    NotJudged,
    Skipped,
}

impl Verdict {
    pub const ALL: [Verdict; 7] = [
        Verdict::Passed,
        Verdict::Failed,
        Verdict::Bricked,
        Verdict::RecoveredByPowerCycle,
        Verdict::Error,
        Verdict::NotJudged,
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
            Verdict::NotJudged => "not-judged",
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
            Verdict::NotJudged => "NOT-JUDGED",
            Verdict::Skipped => "SKIP",
        }
    }

    /// How bad a verdict is, to pick a scenario's worst board.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Skipped => 0,
            Verdict::Passed => 1,
            Verdict::NotJudged => 2,
            Verdict::Error => 3,
            Verdict::Failed => 4,
            Verdict::RecoveredByPowerCycle => 5,
            Verdict::Bricked => 6,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
