//! The costAware policy: a monthly budget paced over the calendar month (UTC).
//!
//! Spend so far is integrated from the replica-hours recorded in status; the cap is what the
//! remaining budget affords for the remaining hours of the month, never below minReplicas (then
//! BudgetExceeded). The preferred direction bends the plain rule: `down` scales up only past
//! 1 + 2 * tolerance and rounds down, `up` scales down only past 1 - 2 * tolerance.

use jiff::{Timestamp, ToSpan, tz::Offset};

use crate::api::{CostAwarePolicy, GeneralScalerSpec, History, ScaleDirection, Spend};

use super::super::metric::{MetricStage, floor_count};
use super::super::{Flags, Input, Why};

pub(super) fn apply(
    spec: &GeneralScalerSpec,
    current: i32,
    stage: &MetricStage,
    healthy: bool,
    input: &Input<'_>,
    history: &mut History,
    flags: &mut Flags,
) -> (i32, Why) {
    let Some(cost) = spec.policy.cost_aware.as_ref() else {
        return (stage.count, Why::Proportional);
    };
    let spend = accrue(history.spend, current, input.now, cost.cost_per_pod_per_hour);
    history.spend = Some(spend);

    let mut count = stage.count;
    let tolerance = spec.behavior.tolerance;
    if let (true, Some(m)) = (healthy, stage.deciding)
        && m.ratio.is_finite()
    {
        let direction = cost.preferred_scale_direction;
        count = match direction {
            ScaleDirection::Down if count > current && m.ratio <= 1.0 + 2.0 * tolerance => current,
            ScaleDirection::Down if count > current => floor_count(m.raw).max(current),
            ScaleDirection::Down if count < current => floor_count(m.raw),
            ScaleDirection::Up if count < current && m.ratio >= 1.0 - 2.0 * tolerance => current,
            _ => count,
        };
    }

    let cap = affordable(cost, &spend, input.now);
    let min = spec.min_replicas.max(0);
    if cap < min {
        flags.budget_exceeded = true;
    }
    let cap = cap.max(min);
    if count > cap {
        // Missing data never shrinks the workload, even for the budget.
        let capped = if healthy { cap } else { cap.max(current).min(count) };
        return (capped, Why::BudgetCap { cap, spent: spend.cost, budget: cost.max_monthly_cost });
    }
    (count, Why::CostWithinBudget { cap, spent: spend.cost, direction: cost.preferred_scale_direction })
}

/// The replicas the remaining budget affords for the rest of the month.
fn affordable(cost: &CostAwarePolicy, spend: &Spend, now: Timestamp) -> i32 {
    let (_, end) = month_bounds(now);
    let hours_left = (end.as_second() - now.as_second()).max(1) as f64 / 3600.0;
    let remaining = cost.max_monthly_cost - spend.cost;
    if cost.cost_per_pod_per_hour <= 0.0 {
        return i32::MAX;
    }
    floor_count(remaining / (cost.cost_per_pod_per_hour * hours_left))
}

/// Spend carried forward to `now`: replica-hours since the last accounting at the last replica count,
/// restarted at the first of the month (UTC).
pub(super) fn accrue(
    spend: Option<Spend>,
    current: i32,
    now: Timestamp,
    cost_per_pod_per_hour: f64,
) -> Spend {
    let Some(prev) = spend else {
        return Spend { cost: 0.0, accounted_until: now, replicas: current };
    };
    let (month_start, _) = month_bounds(now);
    let (from, base) = if prev.accounted_until >= month_start {
        (prev.accounted_until, prev.cost)
    } else {
        (month_start, 0.0)
    };
    let seconds = (now.as_millisecond() - from.as_millisecond()).max(0) as f64 / 1000.0;
    let cost = base + seconds / 3600.0 * f64::from(prev.replicas.max(0)) * cost_per_pod_per_hour;
    Spend { cost, accounted_until: now.max(prev.accounted_until), replicas: current }
}

/// The first instant of `now`'s month and of the next month, in UTC.
pub(super) fn month_bounds(now: Timestamp) -> (Timestamp, Timestamp) {
    let first =
        Offset::UTC.to_datetime(now).date().first_of_month().to_datetime(jiff::civil::Time::midnight());
    let start = Offset::UTC.to_timestamp(first).unwrap_or(now);
    let next =
        first.checked_add(1.month()).ok().and_then(|d| Offset::UTC.to_timestamp(d).ok()).unwrap_or(now);
    (start, next)
}
