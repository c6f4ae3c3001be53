//! A job's fleet controls, as AWS IoT `CreateJob` names them: how fast executions roll
//! out (`jobExecutionsRolloutConfig`), when the job stops itself (`abortConfig`) and
//! which failures are retried (`jobExecutionsRetryConfig`). Scenario job steps,
//! `otarig job create` and the Jobs service share these types; every limit AWS puts on
//! them is checked here, once ([`FleetControls::check`]).

use serde::{Deserialize, Serialize};

use super::ExecutionStatus;

/// AWS allows 1..=1000 things a minute, for `maximumPerMinute` and `baseRatePerMinute`.
pub const MAX_PER_MINUTE: u32 = 1000;
/// `incrementFactor`: 1.1..=5, one digit after the decimal point.
pub const INCREMENT_FACTOR: (f64, f64) = (1.1, 5.0);
/// `numberOfRetries`: 0..=10.
pub const MAX_RETRIES: u32 = 10;

/// AWS `jobExecutionsRolloutConfig`: how many things a minute get their execution (and its
/// notification). Without one, every target gets its execution when the job is created.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rollout {
    /// `maximumPerMinute`: the rate, or the cap of an exponential rate.
    pub maximum_per_minute: u32,
    pub exponential: Option<ExponentialRate>,
}

/// AWS `exponentialRate`: start at `base_per_minute`, multiply by `increment_factor` each
/// time another `increase` count of things is reached, never above the maximum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialRate {
    pub base_per_minute: u32,
    pub increment_factor: f64,
    pub increase: RateIncrease,
}

/// AWS `rateIncreaseCriteria`: exactly one of its two counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateIncrease {
    /// `numberOfNotifiedThings`: every N things rolled out.
    NotifiedThings(u32),
    /// `numberOfSucceededThings`: every N things whose execution SUCCEEDED.
    SucceededThings(u32),
}

impl Rollout {
    /// Things a minute once `notified` things were rolled out and `succeeded` of them
    /// SUCCEEDED.
    pub fn rate_per_minute(&self, notified: u32, succeeded: u32) -> f64 {
        let max = f64::from(self.maximum_per_minute);
        let Some(exp) = self.exponential else {
            return max;
        };
        let (count, every) = match exp.increase {
            RateIncrease::NotifiedThings(n) => (notified, n),
            RateIncrease::SucceededThings(n) => (succeeded, n),
        };
        // Capped: past a few dozen steps the rate is the maximum anyway.
        let steps = (count / every.max(1)).min(64) as i32;
        (f64::from(exp.base_per_minute) * exp.increment_factor.powi(steps)).min(max)
    }
}

/// Which failures an abort criterion counts (AWS `JobExecutionFailureType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AbortOn {
    Failed,
    Rejected,
    TimedOut,
    All,
}

impl AbortOn {
    pub fn covers(self, status: ExecutionStatus) -> bool {
        use ExecutionStatus as S;
        match self {
            AbortOn::Failed => status == S::Failed,
            AbortOn::Rejected => status == S::Rejected,
            AbortOn::TimedOut => status == S::TimedOut,
            AbortOn::All => matches!(status, S::Failed | S::Rejected | S::TimedOut),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AbortOn::Failed => "FAILED",
            AbortOn::Rejected => "REJECTED",
            AbortOn::TimedOut => "TIMED_OUT",
            AbortOn::All => "ALL",
        }
    }
}

/// The only abort action AWS defines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AbortAction {
    #[default]
    Cancel,
}

/// One AWS `AbortCriteria`: once at least `min_executed_things` things have finished
/// their execution and `threshold_percentage` of them or more ended in an `on` failure,
/// the job is canceled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AbortCriterion {
    pub on: AbortOn,
    /// 0 < p <= 100, two digits after the decimal point at most.
    pub threshold_percentage: f64,
    pub min_executed_things: u32,
}

impl AbortCriterion {
    /// Whether `failures` of `executed` finished things meet the criterion.
    pub fn is_met(&self, executed: u32, failures: u32) -> bool {
        executed >= self.min_executed_things
            && executed > 0
            && f64::from(failures) * 100.0 >= self.threshold_percentage * f64::from(executed)
    }
}

/// Which failures a retry criterion re-queues (AWS `RetryableFailureType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryOn {
    Failed,
    TimedOut,
    All,
}

impl RetryOn {
    pub fn covers(self, status: ExecutionStatus) -> bool {
        match self {
            RetryOn::Failed => status == ExecutionStatus::Failed,
            RetryOn::TimedOut => status == ExecutionStatus::TimedOut,
            RetryOn::All => {
                matches!(status, ExecutionStatus::Failed | ExecutionStatus::TimedOut)
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RetryOn::Failed => "FAILED",
            RetryOn::TimedOut => "TIMED_OUT",
            RetryOn::All => "ALL",
        }
    }

    fn overlaps(self, other: RetryOn) -> bool {
        self == other || self == RetryOn::All || other == RetryOn::All
    }
}

/// One AWS `RetryCriteria`: an execution ending in a covered status is followed by a new
/// QUEUED one (`executionNumber + 1`), at most `retries` times per thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryCriterion {
    pub on: RetryOn,
    /// 0..=10.
    pub retries: u32,
}

/// Everything a job says about its fleet beyond its targets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetControls {
    pub rollout: Option<Rollout>,
    /// Any criterion met cancels the job.
    pub abort: Vec<AbortCriterion>,
    /// At most one criterion covers each failure.
    pub retry: Vec<RetryCriterion>,
}

/// A value AWS would refuse (the caller names the field, in its own spelling).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("must be 1 to {MAX_PER_MINUTE} things a minute, got {got}")]
    PerMinute { got: u32 },
    #[error(
        "must be {} to {}, with one digit after the decimal point at most, got {got}",
        INCREMENT_FACTOR.0,
        INCREMENT_FACTOR.1
    )]
    IncrementFactor { got: f64 },
    #[error("must be at least 1 thing, got {got}")]
    AtLeastOneThing { got: u32 },
    #[error(
        "the base rate {base} a minute is above the maximum {maximum} a minute: the rate could never grow; lower the base or raise the maximum"
    )]
    BaseAboveMaximum { base: u32, maximum: u32 },
    #[error(
        "must be more than 0 and at most 100, with two digits after the decimal point at most, got {got}"
    )]
    Threshold { got: f64 },
    #[error("must be 0 to {MAX_RETRIES}, got {got}")]
    Retries { got: u32 },
    #[error(
        "retry criteria {first} and {second} overlap: give each failure type one criterion (ALL covers FAILED and TIMED_OUT)"
    )]
    RetryOverlap {
        first: &'static str,
        second: &'static str,
    },
    #[error("needs at least one abort criterion (or leave the list out)")]
    NoAbortCriterion,
    #[error("needs at least one retry criterion (or leave the list out)")]
    NoRetryCriterion,
    #[error("takes exactly one count: of notified things or of succeeded things")]
    OneRateIncrease,
}

/// A refused value and the AWS name of its field (`maximumPerMinute`…).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field} {error}")]
pub struct ControlProblem {
    pub field: &'static str,
    pub error: ControlError,
}

/// Names the field of a refused value.
fn at(field: &'static str) -> impl FnOnce(ControlError) -> ControlProblem {
    move |error| ControlProblem { field, error }
}

pub fn check_per_minute(n: u32) -> Result<(), ControlError> {
    if (1..=MAX_PER_MINUTE).contains(&n) {
        Ok(())
    } else {
        Err(ControlError::PerMinute { got: n })
    }
}

pub fn check_increment_factor(f: f64) -> Result<(), ControlError> {
    let (lo, hi) = INCREMENT_FACTOR;
    if (lo - 1e-9..=hi + 1e-9).contains(&f) && has_decimals(f, 1) {
        Ok(())
    } else {
        Err(ControlError::IncrementFactor { got: f })
    }
}

pub fn check_things(n: u32) -> Result<(), ControlError> {
    if n >= 1 {
        Ok(())
    } else {
        Err(ControlError::AtLeastOneThing { got: n })
    }
}

pub fn check_threshold(p: f64) -> Result<(), ControlError> {
    if p > 0.0 && p <= 100.0 && has_decimals(p, 2) {
        Ok(())
    } else {
        Err(ControlError::Threshold { got: p })
    }
}

pub fn check_retries(n: u32) -> Result<(), ControlError> {
    if n <= MAX_RETRIES {
        Ok(())
    } else {
        Err(ControlError::Retries { got: n })
    }
}

/// `x` has at most `digits` digits after the decimal point (as AWS counts them).
fn has_decimals(x: f64, digits: i32) -> bool {
    let scaled = x * 10f64.powi(digits);
    x.is_finite() && (scaled - scaled.round()).abs() < 1e-6
}

impl Rollout {
    pub fn check(&self) -> Result<(), ControlProblem> {
        check_per_minute(self.maximum_per_minute).map_err(at("maximumPerMinute"))?;
        if let Some(exp) = &self.exponential {
            check_per_minute(exp.base_per_minute).map_err(at("baseRatePerMinute"))?;
            check_increment_factor(exp.increment_factor).map_err(at("incrementFactor"))?;
            match exp.increase {
                RateIncrease::NotifiedThings(n) => {
                    check_things(n).map_err(at("numberOfNotifiedThings"))?
                }
                RateIncrease::SucceededThings(n) => {
                    check_things(n).map_err(at("numberOfSucceededThings"))?
                }
            }
            if exp.base_per_minute > self.maximum_per_minute {
                return Err(at("baseRatePerMinute")(ControlError::BaseAboveMaximum {
                    base: exp.base_per_minute,
                    maximum: self.maximum_per_minute,
                }));
            }
        }
        Ok(())
    }
}

impl AbortCriterion {
    pub fn check(&self) -> Result<(), ControlProblem> {
        check_threshold(self.threshold_percentage).map_err(at("thresholdPercentage"))?;
        check_things(self.min_executed_things).map_err(at("minNumberOfExecutedThings"))
    }
}

/// The first pair of retry criteria that cover the same failure, if any.
pub fn retry_overlap(criteria: &[RetryCriterion]) -> Option<(usize, usize)> {
    for (i, a) in criteria.iter().enumerate() {
        for (j, b) in criteria.iter().enumerate().skip(i + 1) {
            if a.on.overlaps(b.on) {
                return Some((i, j));
            }
        }
    }
    None
}

impl FleetControls {
    /// Every limit AWS `CreateJob` checks on these.
    pub fn check(&self) -> Result<(), ControlProblem> {
        if let Some(r) = &self.rollout {
            r.check()?;
        }
        for c in &self.abort {
            c.check()?;
        }
        for c in &self.retry {
            check_retries(c.retries).map_err(at("numberOfRetries"))?;
        }
        if let Some((i, j)) = retry_overlap(&self.retry) {
            return Err(at("jobExecutionsRetryConfig.criteriaList")(
                ControlError::RetryOverlap {
                    first: self.retry[i].on.as_str(),
                    second: self.retry[j].on.as_str(),
                },
            ));
        }
        Ok(())
    }

    /// The retry criterion that covers `status`, with its index.
    pub fn retry_for(&self, status: ExecutionStatus) -> Option<(usize, RetryCriterion)> {
        self.retry
            .iter()
            .copied()
            .enumerate()
            .find(|(_, c)| c.on.covers(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exponential(base: u32, factor: f64, increase: RateIncrease, max: u32) -> Rollout {
        Rollout {
            maximum_per_minute: max,
            exponential: Some(ExponentialRate {
                base_per_minute: base,
                increment_factor: factor,
                increase,
            }),
        }
    }

    #[test]
    fn a_plain_rollout_runs_at_its_maximum() {
        let r = Rollout {
            maximum_per_minute: 12,
            exponential: None,
        };
        assert_eq!(r.rate_per_minute(0, 0), 12.0);
        assert_eq!(r.rate_per_minute(500, 500), 12.0);
    }

    #[test]
    fn an_exponential_rate_grows_each_time_its_criterion_is_reached_up_to_the_maximum() {
        // AWS's own example: 50 a minute, doubling every 1000 notified things, at most 1000.
        let r = exponential(50, 2.0, RateIncrease::NotifiedThings(1000), 1000);
        assert_eq!(r.rate_per_minute(0, 0), 50.0);
        assert_eq!(r.rate_per_minute(999, 0), 50.0);
        assert_eq!(r.rate_per_minute(1000, 0), 100.0);
        assert_eq!(r.rate_per_minute(2000, 0), 200.0);
        assert_eq!(r.rate_per_minute(5000, 0), 1000.0, "capped");
        assert_eq!(r.rate_per_minute(u32::MAX, 0), 1000.0);
        let by_success = exponential(2, 1.5, RateIncrease::SucceededThings(3), 10);
        assert_eq!(
            by_success.rate_per_minute(100, 2),
            2.0,
            "notified do not count"
        );
        assert_eq!(by_success.rate_per_minute(100, 3), 3.0);
        assert_eq!(by_success.rate_per_minute(100, 6), 4.5);
    }

    #[test]
    fn an_abort_criterion_needs_its_minimum_and_its_percentage() {
        let c = AbortCriterion {
            on: AbortOn::Failed,
            threshold_percentage: 50.0,
            min_executed_things: 4,
        };
        assert!(!c.is_met(3, 3), "below the minimum of executed things");
        assert!(c.is_met(4, 2), "50% is the threshold: met");
        assert!(!c.is_met(5, 2), "40%");
        assert!(c.is_met(10, 9));
        let tiny = AbortCriterion {
            threshold_percentage: 0.01,
            min_executed_things: 1,
            ..c
        };
        assert!(!tiny.is_met(1, 0), "no failure never aborts");
        assert!(tiny.is_met(10_000, 1));
    }

    #[test]
    fn failure_types_cover_what_aws_says() {
        use ExecutionStatus as S;
        assert!(AbortOn::All.covers(S::Rejected) && AbortOn::All.covers(S::TimedOut));
        assert!(!AbortOn::All.covers(S::Succeeded) && !AbortOn::All.covers(S::Canceled));
        assert!(AbortOn::Rejected.covers(S::Rejected) && !AbortOn::Failed.covers(S::Rejected));
        assert!(RetryOn::All.covers(S::Failed) && !RetryOn::All.covers(S::Rejected));
    }

    #[test]
    fn limits_are_those_of_aws() {
        assert_eq!(check_per_minute(0), Err(ControlError::PerMinute { got: 0 }));
        assert!(check_per_minute(1000).is_ok() && check_per_minute(1001).is_err());
        assert!(check_increment_factor(1.1).is_ok() && check_increment_factor(5.0).is_ok());
        for bad in [1.0, 1.05, 5.1, 2.25, f64::NAN] {
            assert!(check_increment_factor(bad).is_err(), "{bad}");
        }
        assert!(check_threshold(10.99).is_ok() && check_threshold(100.0).is_ok());
        for bad in [0.0, -1.0, 100.01, 10.999] {
            assert!(check_threshold(bad).is_err(), "{bad}");
        }
        assert!(check_retries(10).is_ok() && check_retries(11).is_err());
        let base_too_high = exponential(20, 2.0, RateIncrease::NotifiedThings(5), 10);
        let problem = base_too_high.check().unwrap_err();
        assert_eq!(problem.field, "baseRatePerMinute");
        assert_eq!(
            problem.error,
            ControlError::BaseAboveMaximum {
                base: 20,
                maximum: 10
            }
        );
        let zero_criterion = exponential(2, 2.0, RateIncrease::SucceededThings(0), 10);
        assert!(zero_criterion.check().is_err());
    }

    #[test]
    fn retry_criteria_may_not_cover_one_failure_twice() {
        let c = |on, retries| RetryCriterion { on, retries };
        let ok = FleetControls {
            retry: vec![c(RetryOn::Failed, 2), c(RetryOn::TimedOut, 1)],
            ..Default::default()
        };
        assert!(ok.check().is_ok());
        assert_eq!(
            ok.retry_for(ExecutionStatus::TimedOut),
            Some((1, c(RetryOn::TimedOut, 1)))
        );
        for bad in [
            vec![c(RetryOn::Failed, 1), c(RetryOn::All, 1)],
            vec![c(RetryOn::TimedOut, 1), c(RetryOn::TimedOut, 2)],
        ] {
            let controls = FleetControls {
                retry: bad,
                ..Default::default()
            };
            assert!(
                matches!(
                    controls.check(),
                    Err(ControlProblem {
                        error: ControlError::RetryOverlap { .. },
                        ..
                    })
                ),
                "{controls:?}"
            );
        }
    }
}
