//! The slo policy: a latency breach raises the count by the breach ratio (at most x2 a step); an
//! error-rate breach or latency in [scaleDownBelow * target, target] blocks scale-down.

use crate::api::GeneralScalerSpec;

use super::super::metric::ceil_count;
use super::super::{Flags, SloReadings, Why};

/// The most one latency breach multiplies the count by in one step.
const MAX_BREACH_FACTOR: f64 = 2.0;

pub(super) fn apply(
    spec: &GeneralScalerSpec,
    current: i32,
    count: i32,
    readings: &SloReadings,
    flags: &mut Flags,
) -> (i32, Why) {
    let slo = spec.policy.slo.as_ref();
    let latency_target = slo.and_then(|s| s.target_latency_ms).filter(|t| *t > 0.0);
    let error_target = slo.and_then(|s| s.target_error_rate).filter(|t| *t >= 0.0);
    let scale_down_below = slo.map_or(0.8, |s| s.scale_down_below);

    let latency = latency_target.zip(readings.latency_ms.as_ref());
    let errors = error_target.zip(readings.error_rate.as_ref());
    if latency.is_none() && errors.is_none() {
        flags.slo_unconfigured = true;
        return (count, Why::SloUnconfigured);
    }

    // A latency breach raises the count in proportion, whatever the metric says.
    let mut out = count;
    let mut raised = None;
    if let Some((target, Ok(ms))) = latency
        && ms.is_finite()
        && *ms > target
    {
        let factor = (ms / target).min(MAX_BREACH_FACTOR);
        let breach_count = ceil_count(f64::from(current.max(1)) * factor);
        if breach_count > out {
            out = breach_count;
            raised = Some(factor);
        }
    }
    if let Some(factor) = raised {
        return (out, Why::SloLatencyBreach { factor });
    }
    if out >= current {
        return (out, Why::SloWithin);
    }

    // Scale-down only with latency clearly below target and errors under target (and data for both).
    let latency_blocks = match latency {
        Some((target, Ok(ms))) => !(ms.is_finite() && *ms < scale_down_below * target),
        Some((_, Err(_))) => true,
        None => false,
    };
    let errors_block = match errors {
        Some((target, Ok(rate))) => !(rate.is_finite() && *rate < target),
        Some((_, Err(_))) => true,
        None => false,
    };
    if latency_blocks || errors_block {
        return (current, Why::SloBlocksScaleDown { latency: latency_blocks, errors: errors_block });
    }
    (out, Why::SloWithin)
}
