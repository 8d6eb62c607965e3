//! Why a stage produced its count, as data, and the words `plan`, status, Events and logs print.
//!
//! The engine records a compact [`Why`] (no allocation on the hot path); [`Why::describe`] puts it
//! in words with the spec at hand for metric names and settings.

use std::fmt::Write as _;

use serde::Serialize;

use crate::api::{FallbackAction, GeneralScalerSpec, ScaleDirection, TargetType};

use super::MetricOutcome;
use super::forecast::ForecastVerdict;

/// Which way a count moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// More replicas.
    Up,
    /// Fewer replicas.
    Down,
}

impl Direction {
    /// The direction from `from` to `to` (`to` must differ from `from`).
    pub fn of(from: i32, to: i32) -> Self {
        if to > from { Self::Up } else { Self::Down }
    }

    /// "up" or "down".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// How the forecast stage reads when `spec.forecast` is off (`plan` leaves that row out).
pub const FORECAST_OFF: &str = "forecast off";

/// Why a stage produced its count. Variant fields are named for what they hold.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Why {
    /// A metric set the count by the HPA rule.
    MetricCount { metric: usize, raw: f64, ratio: f64, failed: u32 },
    /// The deciding metric was within tolerance of its target.
    WithinTolerance { metric: usize, ratio: f64 },
    /// Some metrics failed and the others asked for fewer replicas.
    ScaleDownBlocked { failed: u32, total: u32 },
    /// Every metric failed; the fallback has not started yet.
    MetricsFailed { failed: u32, total: u32, failures: u32, threshold: u32 },
    /// Every metric failed `failureThreshold` times in a row.
    Fallback { action: FallbackAction, failures: u32 },
    /// The proportional policy passes the count through.
    Proportional,
    /// slo: no latency or error-rate query, acting as proportional.
    SloUnconfigured,
    /// slo: latency above target raised the count.
    SloLatencyBreach { factor: f64 },
    /// slo: latency or errors at risk, no scale-down.
    SloBlocksScaleDown { latency: bool, errors: bool },
    /// slo: objectives met; the count stands.
    SloWithin,
    /// costAware: the budget capped the count.
    BudgetCap { cap: i32, spent: f64, budget: f64 },
    /// costAware: within budget.
    CostWithinBudget { cap: i32, spent: f64, direction: ScaleDirection },
    /// minReplicas is above 0.
    ActivationNotApplicable,
    /// A metric failed: no change to or from zero.
    ActivationNoData,
    /// Every metric at or below its activation value: rest at 0.
    ActivationIdle,
    /// Some metric above its activation value: at least one replica.
    ActivationActive,
    /// spec.forecast is off.
    ForecastOff,
    /// The forecast stage: what it predicted, from which history, how good it has been, and whether
    /// it moved the count (`floor` is the reactive count it received).
    Forecast { verdict: ForecastVerdict, observe: bool, seasons: u8, hours: f64, floor: i32 },
    /// No window changed the count.
    Unstabilized,
    /// The forecast says what demand over the lead time and the window needs: the scale-down window
    /// held no more than that.
    WindowShortened { window_seconds: u32, hold: i32 },
    /// A stabilization window held the count.
    Stabilized { direction: Direction, window_seconds: u32 },
    /// No cooldown in force.
    NoCooldown,
    /// A cooldown holds the count.
    CoolingDown { direction: Direction, remaining_ms: i64 },
    /// The forecast says demand stays low: the scale-down cooldown did not hold.
    CooldownSkipped { remaining_ms: i64 },
    /// The step is within the limits.
    WithinRateLimit,
    /// A step limit cut the step.
    RateLimited { direction: Direction, step: i32 },
    /// Within [min, max]; a window is the schedule (index in `spec.schedules`) that set that bound.
    WithinBounds { min: i32, max: i32, min_window: Option<u16>, max_window: Option<u16> },
    /// Raised to the minimum in force: minReplicas, or the `window` schedule's.
    RaisedToMin { min: i32, window: Option<u16> },
    /// Capped at the maximum in force: maxReplicas, or the `window` schedule's.
    CappedAtMax { max: i32, window: Option<u16> },
    /// paused: computed, not applied.
    Paused { change: bool },
    /// dryRun: computed and recorded, not applied.
    DryRun { change: bool },
    /// The target will be scaled.
    Scale { direction: Direction },
    /// Nothing to change.
    NoChange,
}

impl Why {
    /// Whether this reason held the count where it was against what an earlier stage asked.
    pub fn is_hold(&self) -> bool {
        matches!(
            self,
            Self::ScaleDownBlocked { .. }
                | Self::MetricsFailed { .. }
                | Self::SloBlocksScaleDown { .. }
                | Self::CoolingDown { .. }
                | Self::Stabilized { .. }
                | Self::WithinTolerance { .. }
        )
    }

    /// The reason in words; `metrics` are the decision's metric outcomes.
    pub fn describe(&self, spec: &GeneralScalerSpec, current: i32, metrics: &[MetricOutcome]) -> String {
        let metric_name = |i: usize| spec.metrics().get(i).map_or("metric", |m| m.display_name());
        let mut s = String::new();
        match *self {
            Self::MetricCount { metric, raw, ratio, failed } => {
                let m = metrics.get(metric);
                let value = m.and_then(|m| m.value).unwrap_or(f64::NAN);
                let target = m.map_or(f64::NAN, |m| m.target);
                let name = metric_name(metric);
                match m.map(|m| m.target_type) {
                    Some(TargetType::AverageValue) => {
                        let _ = write!(
                            s,
                            "{name} {} / target {} = {:.2} -> {}",
                            num(value),
                            num(target),
                            raw,
                            ceil_text(raw)
                        );
                    }
                    Some(TargetType::Utilization) => {
                        let _ = write!(
                            s,
                            "{name} {}% of requests vs target {}%: ceil({} x {:.3}) = {}",
                            num(value),
                            num(target),
                            current.max(1),
                            ratio,
                            ceil_text(raw)
                        );
                    }
                    _ => {
                        let _ = write!(
                            s,
                            "{name} {} per pod vs target {}: ceil({} x {:.3}) = {}",
                            num(value),
                            num(target),
                            current.max(1),
                            ratio,
                            ceil_text(raw)
                        );
                    }
                }
                if metrics.len() > 1 {
                    let _ = write!(s, " (highest of {} metrics", metrics.len());
                    if failed > 0 {
                        let _ = write!(s, ", {failed} failed");
                    }
                    s.push(')');
                }
            }
            Self::WithinTolerance { metric, ratio } => {
                let _ = write!(
                    s,
                    "{} at {:.0}% of target, within tolerance {}: hold",
                    metric_name(metric),
                    ratio * 100.0,
                    num(spec.behavior.tolerance)
                );
            }
            Self::ScaleDownBlocked { failed, total } => {
                let _ = write!(s, "{failed} of {total} metrics failed: no scale-down on missing data");
            }
            Self::MetricsFailed { failed, total, failures, threshold } => {
                let _ = write!(
                    s,
                    "{failed} of {total} metrics failed ({failures} in a row, fallback at {threshold}): hold"
                );
            }
            Self::Fallback { action, failures } => match (action, spec.fallback.replicas) {
                (FallbackAction::SetReplicas, Some(r)) => {
                    let _ =
                        write!(s, "every metric failed {failures} times in a row: fallback to at least {r}");
                }
                _ => {
                    let _ = write!(s, "every metric failed {failures} times in a row: fallback hold");
                }
            },
            Self::Proportional => s.push_str("proportional: the metric count stands"),
            Self::SloUnconfigured => {
                s.push_str("slo: no latencyQuery or errorRateQuery configured, acting as proportional")
            }
            Self::SloLatencyBreach { factor } => {
                let target = spec.policy.slo.as_ref().and_then(|s| s.target_latency_ms).unwrap_or(f64::NAN);
                let _ = write!(s, "slo: latency above {}ms target, raised by x{factor:.2}", num(target));
            }
            Self::SloBlocksScaleDown { latency, errors } => {
                s.push_str("slo: no scale-down while ");
                s.push_str(match (latency, errors) {
                    (true, true) => "latency and error rate are at risk",
                    (true, false) => "latency is not below scaleDownBelow x target",
                    _ => "the error rate is not below target",
                });
            }
            Self::SloWithin => s.push_str("slo: objectives met, the metric count stands"),
            Self::BudgetCap { cap, spent, budget } => {
                let _ = write!(
                    s,
                    "costAware: budget affords {cap} for the rest of the month (spent {spent:.2} of {budget})"
                );
            }
            Self::CostWithinBudget { cap, spent, direction } => {
                let dir = match direction {
                    ScaleDirection::Down => "down",
                    ScaleDirection::Up => "up",
                    ScaleDirection::Balanced => "balanced",
                };
                let _ = write!(s, "costAware ({dir}): within budget, cap {cap} (spent {spent:.2})");
            }
            Self::ActivationNotApplicable => s.push_str("minReplicas > 0: no scale to zero"),
            Self::ActivationNoData => s.push_str("metrics missing: no change to or from zero"),
            Self::ActivationIdle => s.push_str("every metric at or below activationValue: rest at 0"),
            Self::ActivationActive => s.push_str("above activationValue: at least 1"),
            Self::ForecastOff => s.push_str(FORECAST_OFF),
            Self::Forecast { verdict, observe, seasons, hours, floor } => {
                describe_forecast(&mut s, spec, verdict, observe, seasons, hours, floor);
            }
            Self::Unstabilized => s.push_str("no window holds the count"),
            Self::WindowShortened { window_seconds, hold } => {
                let _ = write!(
                    s,
                    "scale-down window ({window_seconds}s) held only the {hold} the forecast says its time needs"
                );
            }
            Self::CooldownSkipped { remaining_ms } => {
                let _ = write!(
                    s,
                    "scale-down cooldown skipped ({} left): the forecast says demand stays low",
                    duration_text(remaining_ms)
                );
            }
            Self::Stabilized { direction, window_seconds } => {
                let _ = match direction {
                    Direction::Down => {
                        write!(s, "highest recommendation of the last {window_seconds}s (scale-down window)")
                    }
                    Direction::Up => {
                        write!(s, "lowest recommendation of the last {window_seconds}s (scale-up window)")
                    }
                };
            }
            Self::NoCooldown => s.push_str("no cooldown in force"),
            Self::CoolingDown { direction, remaining_ms } => {
                let _ =
                    write!(s, "scale-{} cooldown, {} left", direction.as_str(), duration_text(remaining_ms));
            }
            Self::WithinRateLimit => s.push_str("within step limits"),
            Self::RateLimited { direction, step } => {
                let (field, way) = if direction == Direction::Up {
                    ("maxIncrement", "up")
                } else {
                    ("maxDecrement", "down")
                };
                let _ = write!(s, "{field} {step}");
                if step == 0 {
                    let _ = write!(s, ": this scaler never scales {way}");
                }
            }
            Self::WithinBounds { min, max, min_window, max_window } => {
                let _ = write!(s, "within [{min}, {max}]");
                let mut names: Vec<&str> = [min_window, max_window]
                    .into_iter()
                    .flatten()
                    .filter_map(|i| spec.schedules.get(usize::from(i)).map(|w| w.name.as_str()))
                    .collect();
                names.dedup();
                if !names.is_empty() {
                    let _ = write!(s, " (schedule {})", names.join(", "));
                }
            }
            Self::RaisedToMin { min, window } => {
                match window.and_then(|i| spec.schedules.get(usize::from(i))) {
                    Some(w) if min > spec.min_replicas => {
                        let _ = write!(s, "{} raises min to {min}", w.name);
                    }
                    Some(w) => {
                        let _ = write!(s, "raised to {min}, the minimum of schedule {}", w.name);
                    }
                    None => {
                        let _ = write!(s, "raised to minReplicas {min}");
                    }
                }
            }
            Self::CappedAtMax { max, window } => {
                match window.and_then(|i| spec.schedules.get(usize::from(i))) {
                    Some(w) if max < spec.max_replicas => {
                        let _ = write!(s, "{} lowers max to {max}", w.name);
                    }
                    Some(w) => {
                        let _ = write!(s, "capped at {max}, the maximum of schedule {}", w.name);
                    }
                    None => {
                        let _ = write!(s, "capped at maxReplicas {max}");
                    }
                }
            }
            Self::Paused { change } => s.push_str(if change {
                "paused: would scale, not applied"
            } else {
                "paused: nothing to change"
            }),
            Self::DryRun { change } => s.push_str(if change {
                "dryRun: would scale, recorded only"
            } else {
                "dryRun: nothing to change"
            }),
            Self::Scale { direction } => {
                let _ = write!(s, "scale {}", direction.as_str());
            }
            Self::NoChange => s.push_str("nothing to change"),
        }
        s
    }
}

/// The forecast stage in words.
fn describe_forecast(
    s: &mut String,
    spec: &GeneralScalerSpec,
    verdict: ForecastVerdict,
    observe: bool,
    seasons: u8,
    hours: f64,
    floor: i32,
) {
    let settings = spec.forecast.clone().unwrap_or_default();
    let max_error = settings.max_error_ratio * 100.0;
    let profile = match seasons {
        1 => "daily",
        2 => "weekly",
        _ => "daily and weekly",
    };
    let history = if hours >= 48.0 { format!("{:.1} days", hours / 24.0) } else { format!("{hours:.1} h") };
    match verdict {
        ForecastVerdict::WarmingUp { errors, .. } => {
            let _ = write!(
                s,
                "forecast learning ({history} of history, {errors} of 60 checked minutes; the short-horizon \
forecast needs an hour of them, the profile most of a {} and an hour): the reactive count stands",
                if seasons == 2 { "week" } else { "day" }
            );
        }
        ForecastVerdict::Untrusted { error } => {
            let _ = write!(
                s,
                "forecast not trusted: typically {:.0}% off over the last 4h, above maxErrorRatio {max_error:.0}%: \
the reactive count stands",
                error * 100.0
            );
        }
        ForecastVerdict::NoBetter { error, held } => {
            let _ = write!(
                s,
                "forecast no better than the current reading: typically {:.0}% off over the last 4h, the reading \
held {}s {:.0}%: the reactive count stands",
                error * 100.0,
                settings.lead_seconds,
                held * 100.0
            );
        }
        ForecastVerdict::ShapeChanged { error } => {
            let _ = write!(
                s,
                "forecast off track: the last 30 min were typically {:.0}% off (maxErrorRatio {max_error:.0}%), the \
load's shape changed: the reactive count stands",
                error * 100.0
            );
        }
        ForecastVerdict::Unresolved { spread } => {
            let _ = write!(
                s,
                "forecast stands aside: the typical minute of the last 4h peaked {:.0}% above its mean, more than \
the {:.0}% a forecast of minutes resolves: the reactive count stands",
                (spread - 1.0) * 100.0,
                (super::forecast::SPREAD_LIMIT - 1.0) * 100.0
            );
        }
        ForecastVerdict::Covered { peak, base, ratio, coverage, profile: needs, replicas, hold } => {
            let base = super::forecast::BASE_NAMES.get(usize::from(base)).copied().unwrap_or("a base");
            let _ = write!(
                s,
                "forecast {} within {}s ({:.2}x {base}, which covered the peak a lead time ahead in {:.0}% of the \
last 4h's minutes, a risk the scale-down window's record sets",
                num((peak * 100.0).round() / 100.0),
                settings.lead_seconds,
                ratio,
                coverage * 100.0
            );
            if let Some(n) = needs {
                let _ = write!(s, "; the {profile} profile needs {n}");
            }
            let _ = write!(s, ") needs {replicas}");
            let held = hold
                .map(|h| format!("sized for the window's risk already: the window holds no more than {h}"));
            forecast_effect(s, replicas, floor, observe, held);
        }
        ForecastVerdict::Cadence { period, regular, due_in, rise, quantile, after_rise, replicas, hold } => {
            let _ = write!(
                s,
                "the reading changes every {} ({:.0}% of its last changes kept to it): ",
                duration_text(i64::from(period) * 1000),
                regular * 100.0
            );
            let lead = format!("{}s and a sync", settings.lead_seconds);
            if quantile > 0.0 {
                let when = if due_in >= 0 {
                    format!("the next is due in {}", duration_text(due_in * 1000))
                } else {
                    format!("the next is {} overdue", duration_text(-due_in * 1000))
                };
                let _ = write!(
                    s,
                    "{when}, within the lead time ({lead}); covering a change of {:+.0}% ({:.0}% of the last changes \
that followed a {} were no larger) needs {replicas}",
                    (rise - 1.0) * 100.0,
                    quantile * 100.0,
                    if after_rise { "rise" } else { "fall" }
                );
            } else {
                let _ = write!(
                    s,
                    "the next is due in {}, beyond the lead time ({lead}), and until then the reading holds: \
the demand now needs {replicas}",
                    duration_text(due_in * 1000)
                );
            }
            let held = hold.map(|h| {
                format!("the reading holds until its next change: the window holds no more than {h}")
            });
            forecast_effect(s, replicas, floor, observe, held);
        }
        ForecastVerdict::Trend { peak, rise, margin, cost, replicas, hold } => {
            let _ = write!(
                s,
                "trend: the last minute's slope carries the reading {:+.1}% in {}s; with a margin of {:.2}x (short of \
the peak ahead no more than the scale-down window was, at {:.0}% of its capacity over the last 2h) {} needs \
{replicas}",
                rise * 100.0,
                settings.lead_seconds,
                margin,
                cost * 100.0,
                num((peak * 100.0).round() / 100.0)
            );
            let held = hold.map(|h| {
                format!("the trend asked for at most {h} over two lead times: the window holds no more")
            });
            forecast_effect(s, replicas, floor, observe, held);
        }
        ForecastVerdict::TrendNoBetter { cost } => {
            let _ = write!(
                s,
                "trend no better than the scale-down window: covering the peak ahead as well took {:.0}% of the \
window's capacity over the last 2h: the reactive count stands",
                cost * 100.0
            );
        }
        ForecastVerdict::Forecast { peak, margin, error, replicas, hold } => {
            let _ = write!(
                s,
                "forecast {} within {}s ({profile} profile, {history}; typically {:.0}% off, margin +{:.0}%) needs {replicas}",
                num((peak * 100.0).round() / 100.0),
                settings.lead_seconds,
                error * 100.0,
                margin * 100.0
            );
            let held = hold.map(|h| format!("over the scale-down window it needs {h}: scale down no later"));
            forecast_effect(s, replicas, floor, observe, held);
        }
    }
}

/// What a computed forecast did to the reactive `floor`, and, when it acts, what it lets the
/// scale-down window hold.
fn forecast_effect(s: &mut String, replicas: i32, floor: i32, observe: bool, held: Option<String>) {
    let effect = if replicas > floor {
        format!("raised from the reactive {floor}")
    } else {
        format!("the reactive {floor} covers it")
    };
    if observe {
        let _ = write!(s, ": {effect}, observe only: the count stands");
    } else {
        let _ = write!(s, ": {effect}");
        if let Some(held) = held {
            let _ = write!(s, "; {held}");
        }
    }
}

/// A number without a needless fraction: 100, 0.5, 12.25.
pub(crate) fn num(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else if x.is_finite() {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        x.to_string()
    }
}

fn ceil_text(raw: f64) -> i32 {
    super::metric::ceil_count(raw)
}

/// `3m12s`, `45s`, `1h2m`.
pub(crate) fn duration_text(ms: i64) -> String {
    let secs = (ms + 999) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m"),
    }
}
