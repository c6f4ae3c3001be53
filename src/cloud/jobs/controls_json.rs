//! A job's fleet controls in AWS IoT `CreateJob`'s JSON: `jobExecutionsRolloutConfig`,
//! `abortConfig` and `jobExecutionsRetryConfig`, as `aws iot create-job` takes them.
//! `otarig job create` reads them from its flags, the admin socket carries them and
//! `otarig job status` shows them.

use serde::{Deserialize, Serialize};

use super::{
    AbortCriterion, AbortOn, ExponentialRate, FleetControls, RateIncrease, RetryCriterion, RetryOn,
    Rollout,
};
use crate::model::rollout::{AbortAction, ControlError, ControlProblem};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutConfigJson {
    pub maximum_per_minute: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponential_rate: Option<ExponentialRateJson>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExponentialRateJson {
    pub base_rate_per_minute: u32,
    pub increment_factor: f64,
    pub rate_increase_criteria: RateIncreaseCriteriaJson,
}

/// Exactly one of the two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateIncreaseCriteriaJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_notified_things: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_succeeded_things: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AbortConfigJson {
    pub criteria_list: Vec<AbortCriteriaJson>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AbortCriteriaJson {
    pub failure_type: AbortOn,
    pub action: AbortAction,
    pub threshold_percentage: f64,
    pub min_number_of_executed_things: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryConfigJson {
    pub criteria_list: Vec<RetryCriteriaJson>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryCriteriaJson {
    pub failure_type: RetryOn,
    pub number_of_retries: u32,
}

fn problem(field: &'static str, error: ControlError) -> ControlProblem {
    ControlProblem { field, error }
}

impl RolloutConfigJson {
    pub fn to_rollout(&self) -> Result<Rollout, ControlProblem> {
        let exponential = match &self.exponential_rate {
            None => None,
            Some(e) => {
                let c = &e.rate_increase_criteria;
                let increase = match (c.number_of_notified_things, c.number_of_succeeded_things) {
                    (Some(n), None) => RateIncrease::NotifiedThings(n),
                    (None, Some(n)) => RateIncrease::SucceededThings(n),
                    _ => {
                        return Err(problem(
                            "rateIncreaseCriteria",
                            ControlError::OneRateIncrease,
                        ))
                    }
                };
                Some(ExponentialRate {
                    base_per_minute: e.base_rate_per_minute,
                    increment_factor: e.increment_factor,
                    increase,
                })
            }
        };
        let rollout = Rollout {
            maximum_per_minute: self.maximum_per_minute,
            exponential,
        };
        rollout.check()?;
        Ok(rollout)
    }

    pub fn from_rollout(r: &Rollout) -> Self {
        RolloutConfigJson {
            maximum_per_minute: r.maximum_per_minute,
            exponential_rate: r.exponential.map(|e| {
                let (notified, succeeded) = match e.increase {
                    RateIncrease::NotifiedThings(n) => (Some(n), None),
                    RateIncrease::SucceededThings(n) => (None, Some(n)),
                };
                ExponentialRateJson {
                    base_rate_per_minute: e.base_per_minute,
                    increment_factor: e.increment_factor,
                    rate_increase_criteria: RateIncreaseCriteriaJson {
                        number_of_notified_things: notified,
                        number_of_succeeded_things: succeeded,
                    },
                }
            }),
        }
    }
}

impl AbortConfigJson {
    pub fn to_criteria(&self) -> Result<Vec<AbortCriterion>, ControlProblem> {
        if self.criteria_list.is_empty() {
            return Err(problem("criteriaList", ControlError::NoAbortCriterion));
        }
        self.criteria_list
            .iter()
            .map(|c| {
                let criterion = AbortCriterion {
                    on: c.failure_type,
                    threshold_percentage: c.threshold_percentage,
                    min_executed_things: c.min_number_of_executed_things,
                };
                criterion.check().map(|()| criterion)
            })
            .collect()
    }

    pub fn from_criteria(criteria: &[AbortCriterion]) -> Self {
        AbortConfigJson {
            criteria_list: criteria
                .iter()
                .map(|c| AbortCriteriaJson {
                    failure_type: c.on,
                    action: AbortAction::Cancel,
                    threshold_percentage: c.threshold_percentage,
                    min_number_of_executed_things: c.min_executed_things,
                })
                .collect(),
        }
    }
}

impl RetryConfigJson {
    pub fn to_criteria(&self) -> Result<Vec<RetryCriterion>, ControlProblem> {
        if self.criteria_list.is_empty() {
            return Err(problem("criteriaList", ControlError::NoRetryCriterion));
        }
        let criteria: Vec<RetryCriterion> = self
            .criteria_list
            .iter()
            .map(|c| RetryCriterion {
                on: c.failure_type,
                retries: c.number_of_retries,
            })
            .collect();
        FleetControls {
            retry: criteria.clone(),
            ..Default::default()
        }
        .check()?;
        Ok(criteria)
    }

    pub fn from_criteria(criteria: &[RetryCriterion]) -> Self {
        RetryConfigJson {
            criteria_list: criteria
                .iter()
                .map(|c| RetryCriteriaJson {
                    failure_type: c.on,
                    number_of_retries: c.retries,
                })
                .collect(),
        }
    }
}

/// The three together, each optional, as a CreateJob request carries them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlsJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_rollout_config: Option<RolloutConfigJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_config: Option<AbortConfigJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_retry_config: Option<RetryConfigJson>,
}

impl ControlsJson {
    /// The controls, every AWS limit checked; the problem names the config and field.
    pub fn to_controls(&self) -> Result<FleetControls, String> {
        fn named(config: &'static str) -> impl Fn(ControlProblem) -> String {
            move |p| format!("{config}: {p}")
        }
        Ok(FleetControls {
            rollout: self
                .job_executions_rollout_config
                .as_ref()
                .map(RolloutConfigJson::to_rollout)
                .transpose()
                .map_err(named("jobExecutionsRolloutConfig"))?,
            abort: self
                .abort_config
                .as_ref()
                .map(AbortConfigJson::to_criteria)
                .transpose()
                .map_err(named("abortConfig"))?
                .unwrap_or_default(),
            retry: self
                .job_executions_retry_config
                .as_ref()
                .map(RetryConfigJson::to_criteria)
                .transpose()
                .map_err(named("jobExecutionsRetryConfig"))?
                .unwrap_or_default(),
        })
    }

    pub fn from_controls(c: &FleetControls) -> Self {
        ControlsJson {
            job_executions_rollout_config: c.rollout.as_ref().map(RolloutConfigJson::from_rollout),
            abort_config: (!c.abort.is_empty()).then(|| AbortConfigJson::from_criteria(&c.abort)),
            job_executions_retry_config: (!c.retry.is_empty())
                .then(|| RetryConfigJson::from_criteria(&c.retry)),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == ControlsJson::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_json_reads_into_the_controls_and_back() {
        let text = r#"{
            "jobExecutionsRolloutConfig": {"maximumPerMinute": 1000, "exponentialRate":
                {"baseRatePerMinute": 50, "incrementFactor": 2,
                 "rateIncreaseCriteria": {"numberOfNotifiedThings": 1000}}},
            "abortConfig": {"criteriaList": [
                {"action": "CANCEL", "failureType": "FAILED", "minNumberOfExecutedThings": 100, "thresholdPercentage": 20},
                {"action": "CANCEL", "failureType": "TIMED_OUT", "minNumberOfExecutedThings": 200, "thresholdPercentage": 50}]},
            "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 3}]}
        }"#;
        let json: ControlsJson = serde_json::from_str(text).unwrap();
        let controls = json.to_controls().unwrap();
        assert_eq!(
            controls.rollout.unwrap().exponential.unwrap().increase,
            RateIncrease::NotifiedThings(1000)
        );
        assert_eq!(controls.abort[1].on, AbortOn::TimedOut);
        assert_eq!(controls.abort[1].min_executed_things, 200);
        assert_eq!(
            controls.retry,
            [RetryCriterion {
                on: RetryOn::TimedOut,
                retries: 3
            }]
        );
        assert_eq!(ControlsJson::from_controls(&controls), json);
        assert!(ControlsJson::from_controls(&FleetControls::default()).is_empty());
    }

    #[test]
    fn refused_values_name_the_config_and_field() {
        let refused = |text: &str| {
            serde_json::from_str::<ControlsJson>(text)
                .unwrap()
                .to_controls()
                .unwrap_err()
        };
        assert_eq!(
            refused(r#"{"jobExecutionsRolloutConfig": {"maximumPerMinute": 1001}}"#),
            "jobExecutionsRolloutConfig: maximumPerMinute must be 1 to 1000 things a minute, got 1001"
        );
        assert_eq!(
            refused(r#"{"abortConfig": {"criteriaList": []}}"#),
            "abortConfig: criteriaList needs at least one abort criterion (or leave the list out)"
        );
        assert!(refused(
            r#"{"jobExecutionsRolloutConfig": {"maximumPerMinute": 10, "exponentialRate":
                {"baseRatePerMinute": 5, "incrementFactor": 2, "rateIncreaseCriteria": {}}}}"#
        )
        .contains("rateIncreaseCriteria"));
        let unknown = serde_json::from_str::<ControlsJson>(
            r#"{"abortConfig": {"criteriaList": [{"action": "CANCEL", "failureType": "FAILD", "minNumberOfExecutedThings": 1, "thresholdPercentage": 5}]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(unknown.contains("unknown variant `FAILD`"), "{unknown}");
    }
}
