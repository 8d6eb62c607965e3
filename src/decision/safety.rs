//! The safety rails: activation (stage 3), then stabilization, cooldown, rate limit and bounds
//! (stages 5 to 8); the forecast (stage 4) lives in `forecast`.
//!
//! Each is a small pure function from a count to a count and its [`Why`].

use jiff::{SignedDuration, Timestamp};

use crate::api::{GeneralScalerSpec, History, Recommendation};

use super::schedule::Bounds;
use super::{Direction, MetricOutcome, Why};

/// Stage 3: with a minimum of 0 (the spec's, or an open schedule's), rest at 0 while every metric
/// is at or below its activationValue, otherwise run at least one replica. Missing data changes
/// nothing.
pub(super) fn activation(
    spec: &GeneralScalerSpec,
    min: i32,
    count: i32,
    metrics: &[MetricOutcome],
    healthy: bool,
) -> (i32, Why) {
    if min > 0 {
        return (count, Why::ActivationNotApplicable);
    }
    if !healthy {
        return (count, Why::ActivationNoData);
    }
    let idle =
        spec.metrics().iter().zip(metrics).all(|(m, o)| o.value.is_some_and(|v| v <= m.activation_value));
    if idle { (0, Why::ActivationIdle) } else { (count.max(1), Why::ActivationActive) }
}

/// Stage 5: record the recommendation, then scale up to the lowest recommendation of the up window
/// and down to the highest of the down window (the Kubernetes HPA behavior algorithm). `hold`: the
/// forecast says what demand over the lead time and the window needs, and the down window holds no
/// more than that.
pub(super) fn stabilize(
    spec: &GeneralScalerSpec,
    current: i32,
    count: i32,
    now: Timestamp,
    hold: Option<i32>,
    history: &mut History,
) -> (i32, Why) {
    // Ages to the nanosecond, as the times are kept: whole milliseconds would let a recommendation
    // leave a window up to a millisecond early.
    let up_window = SignedDuration::from_secs(i64::from(spec.behavior.scale_up.stabilization_window_seconds));
    let down_window =
        SignedDuration::from_secs(i64::from(spec.behavior.scale_down.stabilization_window_seconds));
    let keep = up_window.max(down_window);

    let mut up = count;
    let mut down = count;
    for r in &history.recommendations {
        let age = now.duration_since(r.time);
        if age < up_window {
            up = up.min(r.replicas);
        }
        if age < down_window {
            down = down.max(r.replicas);
        }
    }
    // An older recommendation equal to this one can never win over it: dropping it keeps status small.
    history.recommendations.retain(|r| now.duration_since(r.time) < keep && r.replicas != count);
    if keep.is_positive() {
        history.recommendations.push(Recommendation { time: now, replicas: count });
    }

    if let Some(hold) = hold.map(|h| h.max(count))
        && count < current
        && hold < down.min(current)
    {
        let window_seconds = spec.behavior.scale_down.stabilization_window_seconds;
        return (hold, Why::WindowShortened { window_seconds, hold });
    }
    let out = current.max(up).min(down);
    if out == count {
        return (out, Why::Unstabilized);
    }
    let (direction, window) = if out < count {
        (Direction::Up, spec.behavior.scale_up.stabilization_window_seconds)
    } else {
        (Direction::Down, spec.behavior.scale_down.stabilization_window_seconds)
    };
    (out, Why::Stabilized { direction, window_seconds: window })
}

/// Stage 6: a scale-up waits for its cooldown after the last scale-up, a scale-down for its cooldown
/// after the last scale-down (the original project's "wait time between scale-downs"; a scale-up
/// resets no clock on the way down: the down window already holds the count a rise brought), unless
/// the forecast says demand stays low (`early`).
pub(super) fn cooldown(
    spec: &GeneralScalerSpec,
    current: i32,
    count: i32,
    now: Timestamp,
    early: bool,
    history: &History,
) -> (i32, Why) {
    let (direction, since, seconds) = match count.cmp(&current) {
        std::cmp::Ordering::Equal => return (count, Why::NoCooldown),
        std::cmp::Ordering::Greater => {
            (Direction::Up, history.last_scale_up_time, spec.behavior.scale_up.cooldown_seconds)
        }
        std::cmp::Ordering::Less => {
            (Direction::Down, history.last_scale_down_time, spec.behavior.scale_down.cooldown_seconds)
        }
    };
    if let Some(since) = since {
        // To the nanosecond (a cooldown must never end early), shown in whole milliseconds rounded up.
        let remaining = SignedDuration::from_secs(i64::from(seconds)) - now.duration_since(since);
        let remaining_ms =
            i64::try_from((remaining.as_nanos().max(0) + 999_999) / 1_000_000).unwrap_or(i64::MAX);
        if remaining_ms > 0 && early && direction == Direction::Down {
            return (count, Why::CooldownSkipped { remaining_ms });
        }
        if remaining_ms > 0 {
            return (current, Why::CoolingDown { direction, remaining_ms });
        }
    }
    (count, Why::NoCooldown)
}

/// Stage 7: at most maxIncrement up and maxDecrement down in one step (0: not at all).
pub(super) fn rate_limit(spec: &GeneralScalerSpec, current: i32, count: i32) -> (i32, Why) {
    let up = spec.behavior.scale_up.max_increment.filter(|n| *n >= 0);
    let down = spec.behavior.scale_down.max_decrement.filter(|n| *n >= 0);
    match (up, down) {
        (Some(step), _) if count > current.saturating_add(step) => {
            (current.saturating_add(step), Why::RateLimited { direction: Direction::Up, step })
        }
        (_, Some(step)) if count < current.saturating_sub(step) => {
            (current.saturating_sub(step), Why::RateLimited { direction: Direction::Down, step })
        }
        _ => (count, Why::WithinRateLimit),
    }
}

/// Stage 8: clamp to the bounds in force (the spec's, or an open schedule's); outside them the
/// workload is brought in at once.
pub(super) fn bounds(bounds: &Bounds, count: i32) -> (i32, Why) {
    let Bounds { min, max, min_window, max_window } = *bounds;
    if count < min {
        (min, Why::RaisedToMin { min, window: min_window })
    } else if count > max {
        (max, Why::CappedAtMax { max, window: max_window })
    } else {
        (count, Why::WithinBounds { min, max, min_window, max_window })
    }
}
