//! A board's verdict, decided from its evidence alone (docs/architecture.md § Verdicts): nothing
//! here touches a board, the cloud or a clock, so every rule is one row of a table test.

use std::time::Duration;

use super::recovery::Recovery;
use crate::model::lag::LAG_BOUND;
use crate::report::model::{Verdict, UNFINISHED};

/// What one scenario run learnt about one board.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BoardEvidence {
    /// The run was interrupted: the board's checks did not all run.
    pub interrupted: bool,
    /// The first thing the bench could not do to the board.
    pub bench_error: Option<String>,
    /// The first expectation, guard or timeout the board failed.
    pub failure: Option<String>,
    /// Why some of the board's checks did not run (a step it needed was not run because
    /// another board had failed).
    pub not_judged: Option<String>,
    /// How the recovery ladder ended; `None` where it could not run.
    pub recovery: Option<Recovery>,
    /// The worst scheduling lag past the bound that touched the board (its simulator's or
    /// the runner's): the host was overloaded.
    pub lag: Option<Duration>,
}

/// The verdict and the message that explains it. The bench's own trouble is never the
/// firmware's: it is an error before anything else is considered.
pub fn decide(evidence: &BoardEvidence) -> (Verdict, Option<String>) {
    let (verdict, message) = decide_on_firmware(evidence);
    match evidence.lag {
        // A board starved of time misses its deadlines: what it failed is the host's doing.
        Some(lag) if verdict.is_firmware_failure() => (
            Verdict::Error,
            Some(format!(
                "the bench host was overloaded (scheduling lag {:.1} s, past the {} s bound), so this timing-dependent result is not trusted: run fewer boards at once or on a bigger host; it would have been {}: {}",
                lag.as_secs_f64(),
                LAG_BOUND.as_secs(),
                verdict.as_str(),
                message.unwrap_or_default()
            )),
        ),
        _ => (verdict, message),
    }
}

/// The verdict from what the board did, the bench's own trouble first.
fn decide_on_firmware(evidence: &BoardEvidence) -> (Verdict, Option<String>) {
    if evidence.interrupted {
        return (Verdict::Error, Some(UNFINISHED.into()));
    }
    if let Some(e) = &evidence.bench_error {
        return (Verdict::Error, Some(e.clone()));
    }
    let failure = evidence.failure.clone();
    match &evidence.recovery {
        None => (
            Verdict::Error,
            Some("no recovery check was possible".into()),
        ),
        Some(Recovery::BenchError(e)) => (Verdict::Error, Some(e.clone())),
        Some(Recovery::Never { tried }) => (
            Verdict::Bricked,
            Some(join_reasons(
                failure,
                format!(
                    "the board never came back healthy (tried: {})",
                    tried.join(", ")
                ),
            )),
        ),
        Some(Recovery::ByPowerCycle(v)) => (
            Verdict::RecoveredByPowerCycle,
            Some(join_reasons(
                failure,
                format!("only a power cycle brought the board back (on {v})"),
            )),
        ),
        Some(Recovery::ByReset(v)) => (
            Verdict::Failed,
            Some(join_reasons(
                failure,
                format!("the board did not recover by itself; a reset brought it back (on {v})"),
            )),
        ),
        Some(Recovery::ByItself(_)) => match (failure, &evidence.not_judged) {
            (Some(f), _) => (Verdict::Failed, Some(f)),
            (None, Some(why)) => (Verdict::NotJudged, Some(why.clone())),
            (None, None) => (Verdict::Passed, None),
        },
    }
}

/// The version the board came back on, where the recovery check is what decided.
pub fn version_after(evidence: &BoardEvidence) -> Option<String> {
    if evidence.interrupted || evidence.bench_error.is_some() {
        return None;
    }
    match evidence.recovery.as_ref()? {
        Recovery::ByItself(v) | Recovery::ByReset(v) | Recovery::ByPowerCycle(v) => Some(v.clone()),
        Recovery::Never { .. } | Recovery::BenchError(_) => None,
    }
}

fn join_reasons(failure: Option<String>, extra: String) -> String {
    match failure {
        Some(f) => format!("{f}; {extra}"),
        None => extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "1.2.3";
    const FAIL: &str = "expected x; seen y";

    fn evidence(
        interrupted: bool,
        bench_error: Option<&str>,
        failure: Option<&str>,
        recovery: Option<Recovery>,
    ) -> BoardEvidence {
        BoardEvidence {
            interrupted,
            bench_error: bench_error.map(Into::into),
            failure: failure.map(Into::into),
            not_judged: None,
            recovery,
            lag: None,
        }
    }

    fn unjudged(recovery: Option<Recovery>) -> BoardEvidence {
        BoardEvidence {
            not_judged: Some(UNJUDGED.into()),
            ..evidence(false, None, None, recovery)
        }
    }

    const UNJUDGED: &str = "not judged: step s.yaml:9 needs board b-2, which had failed";

    #[test]
    fn every_row_of_the_verdict_table() {
        let by_itself = || Some(Recovery::ByItself(V.into()));
        let by_reset = || Some(Recovery::ByReset(V.into()));
        let by_cycle = || Some(Recovery::ByPowerCycle(V.into()));
        let never = || {
            Some(Recovery::Never {
                tried: vec!["waited", "reset"],
            })
        };
        let never_msg = "the board never came back healthy (tried: waited, reset)";
        let reset_msg = "the board did not recover by itself; a reset brought it back (on 1.2.3)";
        let cycle_msg = "only a power cycle brought the board back (on 1.2.3)";
        // (evidence, verdict, message, version after)
        let table: Vec<(BoardEvidence, Verdict, Option<String>, Option<&str>)> = vec![
            // Interrupted: unfinished, whatever else is known.
            (
                evidence(true, Some("bench"), Some(FAIL), by_itself()),
                Verdict::Error,
                Some(UNFINISHED.into()),
                None,
            ),
            // The bench's error beats a failure and any recovery.
            (
                evidence(false, Some("bench"), Some(FAIL), by_itself()),
                Verdict::Error,
                Some("bench".into()),
                None,
            ),
            (
                evidence(false, Some("bench"), None, None),
                Verdict::Error,
                Some("bench".into()),
                None,
            ),
            (
                evidence(false, None, Some(FAIL), None),
                Verdict::Error,
                Some("no recovery check was possible".into()),
                None,
            ),
            (
                evidence(
                    false,
                    None,
                    Some(FAIL),
                    Some(Recovery::BenchError("cycle failed".into())),
                ),
                Verdict::Error,
                Some("cycle failed".into()),
                None,
            ),
            (
                evidence(false, None, None, never()),
                Verdict::Bricked,
                Some(never_msg.into()),
                None,
            ),
            (
                evidence(false, None, Some(FAIL), never()),
                Verdict::Bricked,
                Some(format!("{FAIL}; {never_msg}")),
                None,
            ),
            (
                evidence(false, None, None, by_cycle()),
                Verdict::RecoveredByPowerCycle,
                Some(cycle_msg.into()),
                Some(V),
            ),
            (
                evidence(false, None, Some(FAIL), by_cycle()),
                Verdict::RecoveredByPowerCycle,
                Some(format!("{FAIL}; {cycle_msg}")),
                Some(V),
            ),
            // A reset is a failure even when every expectation held.
            (
                evidence(false, None, None, by_reset()),
                Verdict::Failed,
                Some(reset_msg.into()),
                Some(V),
            ),
            (
                evidence(false, None, Some(FAIL), by_reset()),
                Verdict::Failed,
                Some(format!("{FAIL}; {reset_msg}")),
                Some(V),
            ),
            (
                evidence(false, None, Some(FAIL), by_itself()),
                Verdict::Failed,
                Some(FAIL.into()),
                Some(V),
            ),
            (
                evidence(false, None, None, by_itself()),
                Verdict::Passed,
                None,
                Some(V),
            ),
            // Checks that did not run: never a pass; what the recovery showed still counts.
            (
                unjudged(by_itself()),
                Verdict::NotJudged,
                Some(UNJUDGED.into()),
                Some(V),
            ),
            (
                BoardEvidence {
                    failure: Some(FAIL.into()),
                    ..unjudged(by_itself())
                },
                Verdict::Failed,
                Some(FAIL.into()),
                Some(V),
            ),
            (
                unjudged(never()),
                Verdict::Bricked,
                Some(never_msg.into()),
                None,
            ),
        ];
        for (row, (evidence, verdict, message, after)) in table.into_iter().enumerate() {
            assert_eq!(
                decide(&evidence),
                (verdict, message),
                "row {row}: {evidence:?}"
            );
            assert_eq!(
                version_after(&evidence).as_deref(),
                after,
                "row {row}: {evidence:?}"
            );
        }
    }

    #[test]
    fn an_overloaded_host_makes_a_firmware_failure_the_benchs_error_and_leaves_a_pass() {
        let lag = Some(Duration::from_millis(2500));
        let failed = BoardEvidence {
            lag,
            ..evidence(false, None, Some(FAIL), Some(Recovery::ByItself(V.into())))
        };
        let (verdict, message) = decide(&failed);
        assert_eq!(verdict, Verdict::Error);
        let message = message.unwrap();
        assert!(message.contains("scheduling lag 2.5 s"), "{message}");
        assert!(message.ends_with(&format!("failed: {FAIL}")), "{message}");
        let bricked = BoardEvidence {
            lag,
            ..evidence(
                false,
                None,
                None,
                Some(Recovery::Never {
                    tried: vec!["waited"],
                }),
            )
        };
        assert_eq!(decide(&bricked).0, Verdict::Error);
        let passed = BoardEvidence {
            lag,
            ..evidence(false, None, None, Some(Recovery::ByItself(V.into())))
        };
        assert_eq!(decide(&passed), (Verdict::Passed, None));
    }
}
