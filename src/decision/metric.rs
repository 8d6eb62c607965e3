//! Stage 1: each metric to a replica count (the HPA rule with tolerance), the highest of them,
//! failures and the fallback.

use serde::Serialize;

use crate::api::{FallbackAction, GeneralScalerSpec, History, TargetType};

use super::{Flags, Reading, Why};

/// Counts within this distance above an integer are that integer: `ceil(4.0000000001)` is 4, not 5.
const CEIL_EPSILON: f64 = 1e-9;

/// One metric's reading and what it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricOutcome {
    /// The value read, if the read succeeded and the value is usable (ratio and raw are 0 otherwise).
    pub value: Option<f64>,
    /// The metric's target value.
    pub target: f64,
    /// Value, AverageValue or Utilization.
    pub target_type: TargetType,
    /// value / target (Value, Utilization) or value / (target * current) (AverageValue).
    pub ratio: f64,
    /// The unrounded count: current * value / target, or value / target.
    pub raw: f64,
    /// The count this metric asks for, tolerance applied; `None` when the read failed.
    pub desired: Option<i32>,
    /// Whether the ratio was within tolerance (so `desired` is the current count).
    pub within_tolerance: bool,
}

/// The metric stage's result, with the figures the policies need.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct MetricStage {
    /// The count.
    pub count: i32,
    /// The metric that set the count, when one did.
    pub deciding: Option<MetricOutcome>,
    /// Why.
    pub why: Why,
}

/// `ceil`, forgiving float noise, saturating into `i32`.
pub(crate) fn ceil_count(x: f64) -> i32 {
    if x.is_nan() || x <= 0.0 { 0 } else { (x - CEIL_EPSILON).ceil() as i32 }
}

/// `floor`, forgiving float noise, saturating into `i32`.
pub(crate) fn floor_count(x: f64) -> i32 {
    if x.is_nan() || x <= 0.0 { 0 } else { (x + CEIL_EPSILON).floor() as i32 }
}

/// Each metric's count on its own.
pub(super) fn evaluate(
    spec: &GeneralScalerSpec,
    current: i32,
    ready: Option<i32>,
    readings: &[Reading],
) -> Vec<MetricOutcome> {
    let tolerance = spec.behavior.tolerance;
    spec.metrics()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let target_type = m.effective_target_type();
            let target = m.target_value;
            let value = match readings.get(i) {
                // No data is not zero: a value that cannot be a metric counts as a failed read.
                Some(Ok(v)) if v.is_finite() && *v >= 0.0 => Some(*v),
                _ => None,
            };
            let Some(value) = value.filter(|_| target > 0.0 && target.is_finite()) else {
                return MetricOutcome {
                    value: None,
                    target,
                    target_type,
                    ratio: 0.0,
                    raw: 0.0,
                    desired: None,
                    within_tolerance: false,
                };
            };
            // A per-pod value has no meaning at zero pods: read it as one pod's worth.
            let (ratio, raw) = match target_type {
                TargetType::Value => (value / target, per_pod_count(current, ready, value / target)),
                // The resource source has already counted unready and unmeasured pods, as the HPA does.
                TargetType::Utilization => (value / target, f64::from(current.max(1)) * value / target),
                TargetType::AverageValue => {
                    let raw = value / target;
                    (if current > 0 { raw / f64::from(current) } else { f64::INFINITY }, raw)
                }
            };
            // The same float noise that ceil forgives: a ratio of exactly 1.1 is within a 0.1 tolerance.
            let within_tolerance = current > 0 && (ratio - 1.0).abs() <= tolerance + CEIL_EPSILON;
            let desired = if within_tolerance { current } else { ceil_count(raw) };
            MetricOutcome {
                value: Some(value),
                target,
                target_type,
                ratio,
                raw,
                desired: Some(desired),
                within_tolerance,
            }
        })
        .collect()
}

/// The unrounded count for a per-pod metric at `ratio` = value / target. With pods not ready yet,
/// the serving pods decide a scale-up (the starting ones will take their share: counting them
/// would scale up twice for one rise) and all pods a scale-down (never shrink because pods are
/// still starting); in between, the count holds.
fn per_pod_count(current: i32, ready: Option<i32>, ratio: f64) -> f64 {
    let all = f64::from(current.max(1)) * ratio;
    match ready {
        Some(ready) if ready < current => {
            let serving = f64::from(ready.max(0)) * ratio;
            if serving > f64::from(current) {
                serving
            } else if all < f64::from(current) {
                all
            } else {
                f64::from(current)
            }
        }
        _ => all,
    }
}

/// The highest count over the metrics; a failure blocks scale-down; all failed: count, then fallback.
pub(super) fn combine(
    spec: &GeneralScalerSpec,
    current: i32,
    metrics: &[MetricOutcome],
    history: &mut History,
    flags: &mut Flags,
) -> MetricStage {
    let total = metrics.len() as u32;
    let failed = metrics.iter().filter(|m| m.desired.is_none()).count() as u32;
    flags.failed_metrics = failed;

    if failed == total {
        history.consecutive_failures = history.consecutive_failures.saturating_add(1);
        let failures = history.consecutive_failures;
        let threshold = spec.fallback.failure_threshold.max(1);
        if failures < threshold {
            return MetricStage {
                count: current,
                deciding: None,
                why: Why::MetricsFailed { failed, total, failures, threshold },
            };
        }
        flags.fallback_active = true;
        let count = match (spec.fallback.action, spec.fallback.replicas) {
            // Never shrink on missing data: the fallback count is a floor.
            (FallbackAction::SetReplicas, Some(replicas)) => current.max(replicas),
            _ => current,
        };
        return MetricStage {
            count,
            deciding: None,
            why: Why::Fallback { action: spec.fallback.action, failures },
        };
    }
    history.consecutive_failures = 0;

    let (deciding, best) = metrics
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.desired.map(|d| (i, d)))
        .fold((0, i32::MIN), |acc, (i, d)| if d > acc.1 { (i, d) } else { acc });
    let m = &metrics[deciding];
    if failed > 0 && best < current {
        return MetricStage {
            count: current,
            deciding: Some(*m),
            why: Why::ScaleDownBlocked { failed, total },
        };
    }
    let why = if m.within_tolerance {
        Why::WithinTolerance { metric: deciding, ratio: m.ratio }
    } else {
        Why::MetricCount { metric: deciding, raw: m.raw, ratio: m.ratio, failed }
    };
    MetricStage { count: best, deciding: Some(*m), why }
}
