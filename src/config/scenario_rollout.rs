//! A job step's fleet controls (`rollout`, `abort`, `retry`: AWS's CreateJob fields in
//! snake_case) → [`FleetControls`], each refused value reported at its own field.

use super::locate::{Ctx, YamlPath};
use super::scenario_raw::{RawAbort, RawRateIncrease, RawRetryCriterion, RawRollout};
use crate::model::rollout::{self, ControlError};
use crate::model::{
    AbortCriterion, ExponentialRate, FleetControls, RateIncrease, RetryCriterion, Rollout,
};

/// Resolves the three fields of a `job` step at `p`.
pub(super) fn fleet_controls(
    ctx: &mut Ctx<'_>,
    p: &YamlPath,
    rollout: Option<RawRollout>,
    abort: Option<Vec<RawAbort>>,
    retry: Option<Vec<RawRetryCriterion>>,
) -> FleetControls {
    FleetControls {
        rollout: rollout.and_then(|r| resolve_rollout(ctx, &p.key("rollout"), r)),
        abort: abort
            .map(|list| resolve_abort(ctx, &p.key("abort"), list))
            .unwrap_or_default(),
        retry: retry
            .map(|list| resolve_retry(ctx, &p.key("retry"), list))
            .unwrap_or_default(),
    }
}

/// Reports `result` at `p`, its message led by the field's key.
fn check(ctx: &mut Ctx<'_>, p: &YamlPath, result: Result<(), ControlError>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            ctx.error(p, format!("{} {e}", p.field()));
            false
        }
    }
}

fn resolve_rollout(ctx: &mut Ctx<'_>, p: &YamlPath, raw: RawRollout) -> Option<Rollout> {
    let max = raw.maximum_per_minute;
    let mut ok = check(
        ctx,
        &p.key("maximum_per_minute"),
        rollout::check_per_minute(max),
    );
    let exponential = match raw.exponential_rate {
        None => None,
        Some(exp) => {
            let ep = p.key("exponential_rate");
            let base = exp.base_rate_per_minute;
            let bp = ep.key("base_rate_per_minute");
            ok &= check(ctx, &bp, rollout::check_per_minute(base));
            if ok && base > max {
                ok = false;
                let e = ControlError::BaseAboveMaximum { base, maximum: max };
                ctx.error(&bp, e.to_string());
            }
            ok &= check(
                ctx,
                &ep.key("increment_factor"),
                rollout::check_increment_factor(exp.increment_factor),
            );
            let increase = rate_increase(
                ctx,
                &ep.key("rate_increase_criteria"),
                exp.rate_increase_criteria,
            );
            ok &= increase.is_some();
            increase.map(|increase| ExponentialRate {
                base_per_minute: base,
                increment_factor: exp.increment_factor,
                increase,
            })
        }
    };
    ok.then_some(Rollout {
        maximum_per_minute: max,
        exponential,
    })
}

fn rate_increase(ctx: &mut Ctx<'_>, p: &YamlPath, raw: RawRateIncrease) -> Option<RateIncrease> {
    let (increase, key, n) = match (
        raw.number_of_notified_things,
        raw.number_of_succeeded_things,
    ) {
        (Some(n), None) => (
            RateIncrease::NotifiedThings(n),
            "number_of_notified_things",
            n,
        ),
        (None, Some(n)) => (
            RateIncrease::SucceededThings(n),
            "number_of_succeeded_things",
            n,
        ),
        _ => {
            ctx.error(
                p,
                "rate_increase_criteria takes one of number_of_notified_things or number_of_succeeded_things",
            );
            return None;
        }
    };
    check(ctx, &p.key(key), rollout::check_things(n)).then_some(increase)
}

fn resolve_abort(ctx: &mut Ctx<'_>, p: &YamlPath, list: Vec<RawAbort>) -> Vec<AbortCriterion> {
    if list.is_empty() {
        ctx.error(p, format!("abort {}", ControlError::NoAbortCriterion));
    }
    let mut out = Vec::new();
    for (i, raw) in list.into_iter().enumerate() {
        let cp = p.idx(i);
        let threshold = check(
            ctx,
            &cp.key("threshold_percentage"),
            rollout::check_threshold(raw.threshold_percentage),
        );
        let min = check(
            ctx,
            &cp.key("min_number_of_executed_things"),
            rollout::check_things(raw.min_number_of_executed_things),
        );
        if threshold && min {
            out.push(AbortCriterion {
                on: raw.failure_type,
                threshold_percentage: raw.threshold_percentage,
                min_executed_things: raw.min_number_of_executed_things,
            });
        }
    }
    out
}

fn resolve_retry(
    ctx: &mut Ctx<'_>,
    p: &YamlPath,
    list: Vec<RawRetryCriterion>,
) -> Vec<RetryCriterion> {
    if list.is_empty() {
        ctx.error(p, format!("retry {}", ControlError::NoRetryCriterion));
    }
    let criteria: Vec<RetryCriterion> = list
        .iter()
        .map(|raw| RetryCriterion {
            on: raw.failure_type,
            retries: raw.number_of_retries,
        })
        .collect();
    let mut ok = true;
    for (i, c) in criteria.iter().enumerate() {
        ok &= check(
            ctx,
            &p.idx(i).key("number_of_retries"),
            rollout::check_retries(c.retries),
        );
    }
    if let Some((i, j)) = rollout::retry_overlap(&criteria) {
        ok = false;
        let e = ControlError::RetryOverlap {
            first: criteria[i].on.as_str(),
            second: criteria[j].on.as_str(),
        };
        ctx.error(&p.idx(j).key("failure_type"), e.to_string());
    }
    if ok {
        criteria
    } else {
        Vec::new()
    }
}
