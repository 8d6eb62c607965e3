//! The forecast stage (DESIGN §10): buy capacity `leadSeconds` ahead of the demand expected, and let
//! scale-down go sooner when the measured risk allows, with the reactive count on current readings as
//! a floor and the forecaster's own record deciding its margin and whether it acts at all.
//!
//! Two forecasts share one memory. The short-horizon one needs no season: for every closed minute of
//! the last four hours it measures the peak demand over the lead time that followed against a few
//! bases (recent peaks, a recent mean, the last peak moved as the profile expects), and sizes capacity
//! for the share of those minutes that the 5-minute scale-down window's own record sets, from the base
//! that does it with the least capacity; so sized, the count needs no window. The seasonal one learns
//! a profile per season (an exponentially weighted average over past days or weeks, per minute of the
//! day or per 5 minutes of the week) and predicts the current reading moved by the change the profile
//! expects; it raises the count only while its recent error beats the reading held as it is. Both see
//! only what a minute resolves: on a load that moves within its minutes they stand aside, and say so.
//! Before either, the cadence forecast ([`cadence`]) reads the reading itself: a metric that changes
//! only at a regular period says when demand can next move, and capacity is bought for that moment.
//! Then the trend forecast ([`trend`]), also reading by reading: the last minute's slope carried a lead
//! time ahead, with a margin from its own record, acting where that record says it covers the demand
//! ahead as well as the scale-down window does with less capacity: a live metric's forecast.
//! The memory is [`ForecastHistory`] (data and encoding in `api::status`); this module holds the
//! arithmetic that updates and reads it, and the stage. Pure: `now` is an argument, nothing here reads
//! a clock.

use std::collections::VecDeque;

use jiff::Timestamp;

use crate::api::{
    BASES, Change, DAILY_SLOTS, ERROR_MINUTES, FORECAST_SLOT_SECONDS, ForecastHistory, ForecastMode,
    ForecastSpec, ForecastStats, GeneralScalerSpec, History, Profile, RATIO_MINUTES, RECENT_MINUTES,
    RecentMinute, STEP_CHANGES, Season, Steps, TargetType, Trend, WEEKLY_SLOT_MINUTES, WEEKLY_SLOTS, code,
    ratio_code,
};

use super::{Reading, Why};
use memory::*;

mod cadence;
mod memory;
pub mod trend;

/// Weight of a new day in a daily slot: the profile is mostly the last three to five days.
const DAILY_ALPHA: f64 = 0.3;
/// Minutes of the last hour the level is measured over.
const LEVEL_MINUTES: i64 = 60;
/// The level is bounded: a load 4 times its usual self is a new shape, not a level.
const LEVEL_RANGE: (f64, f64) = (0.25, 4.0);
/// Errors (one per closed minute) needed before the forecast is trusted: an hour of them.
const MIN_ERRORS: usize = 60;
/// The most recent errors that tell a changed shape: half an hour.
const SHAPE_MINUTES: usize = 30;
/// The margin on the way up covers this share of the recent forecasts: the median corrects a bias,
/// the target's own headroom covers the noise (as it does for the reactive rules).
const MARGIN_QUANTILE: f64 = 0.5;
/// Scale-down may go sooner only below what this share of recent forecasts stayed under.
const HOLD_QUANTILE: f64 = 0.9;
/// A profile forecasts only once it has seen this share of its slots.
const MIN_COVERAGE: f64 = 0.9;
/// Relative errors are kept in thousandths within these bounds.
const ERROR_RANGE: (f64, f64) = (-1.0, 32.0);

/// The base that stands for the reactive scale-down window: its record sets the risk to take.
const WINDOW_BASE: usize = 1;
/// The risk taken is this many times the window's: the window is there for any load, so on a load the
/// record says it over-protects, twice its shortfall rate still matched the HPA's violation minutes
/// at less cost (measured on the quality bench's three traces, 1x and 3x beside it: BENCHMARKS.md).
const RISK_FACTOR: f64 = 2.0;
/// Capacity covers the demand ahead in at least this share of the minutes, whatever the window did.
const MIN_COVERAGE_SHARE: f64 = 0.5;
/// The forecasts act only on a load a minute resolves: one whose typical minute peaks at most this much
/// above its mean. On a load that moves faster the reactive rules act alone: the forecasts' records are
/// of minutes, and in replay every variant that acted there added cost or violation (BENCHMARKS.md).
pub const SPREAD_LIMIT: f64 = 1.02;
/// What each base is, in the order of the ratios (the last is the seasonal profile's).
pub const BASE_NAMES: [&str; BASES] = [
    "the last minute's peak",
    "the peak of 5 minutes",
    "the peak of 15 minutes",
    "the peak of 30 minutes",
    "the mean of 30 minutes",
    "the last minute's peak moved as the profile expects",
];

const MINUTES_PER_DAY: i64 = DAILY_SLOTS as i64;
const MINUTES_PER_WEEK: i64 = WEEKLY_SLOTS as i64 * WEEKLY_SLOT_MINUTES;

/// The minute of a time (Unix seconds / 60, floored).
fn minute_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(FORECAST_SLOT_SECONDS)
}

/// Minutes a time ahead spans, rounded up.
fn seconds_to_minutes(seconds: u32) -> i64 {
    (i64::from(seconds) + FORECAST_SLOT_SECONDS - 1) / FORECAST_SLOT_SECONDS
}

/// The scale-down horizon: the lead time plus the longer of the scale-down window and cooldown.
fn hold_seconds(spec: &GeneralScalerSpec, settings: &ForecastSpec) -> u32 {
    let down = &spec.behavior.scale_down;
    settings.lead_seconds.saturating_add(down.stabilization_window_seconds.max(down.cooldown_seconds))
}

/// The demand the forecaster learns: the first metric as a total (a per-pod Value metric times the
/// pods that report it, one at zero pods, as the metric stage reads it), so that demand / target is
/// a replica count whatever the target type. `None` when the reading failed.
pub(super) fn demand(
    spec: &GeneralScalerSpec,
    current: i32,
    ready: Option<i32>,
    readings: &[Reading],
) -> Option<f64> {
    let metric = spec.metrics().first()?;
    let value = match readings.first()? {
        Ok(v) if v.is_finite() && *v >= 0.0 => *v,
        _ => return None,
    };
    Some(match metric.effective_target_type() {
        TargetType::AverageValue => value,
        TargetType::Value => value * f64::from(ready.unwrap_or(current).min(current).max(1)),
        // The resource source has already counted the pods that are not ready as the HPA does.
        TargetType::Utilization => value * f64::from(current.max(1)),
    })
}

/// Why the forecast did not take part, or what it did.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum ForecastVerdict {
    /// Fewer than a season and an hour of errors recorded.
    WarmingUp {
        /// Hours of demand recorded.
        hours: f64,
        /// Forecast errors measured so far.
        errors: u32,
    },
    /// The typical error of the last hours is above maxErrorRatio.
    Untrusted {
        /// Median relative error over the last 4 hours.
        error: f64,
    },
    /// Over the last hours the forecast was no closer than the reading a lead time earlier, which is
    /// what the reactive rules assume: it would add cost, not foresight.
    NoBetter {
        /// Median relative error over the last 4 hours.
        error: f64,
        /// The same for the reading held.
        held: f64,
    },
    /// The last half hour went far off the forecast: the load's shape changed.
    ShapeChanged {
        /// Median relative error over the last 30 minutes.
        error: f64,
    },
    /// The load moves within its minutes (its typical minute peaks more than [`SPREAD_LIMIT`] above
    /// its mean): faster than a forecast of minutes resolves.
    Unresolved {
        /// The typical minute's peak over its mean, over the last 4 hours.
        spread: f64,
    },
    /// The short-horizon forecast sized the count: a share of a base (a recent peak or mean, or the
    /// last peak moved as the profile expects) that covered the peak a lead time ahead in a set share
    /// of the last 4 hours' minutes (the 5-minute scale-down window's record decides it), at the least
    /// capacity.
    Covered {
        /// The demand the count covers: the base times the ratio.
        peak: f64,
        /// Which base (an index into [`BASE_NAMES`]).
        base: u8,
        /// The ratio to the base.
        ratio: f64,
        /// The share of the measured minutes that ratio covered.
        coverage: f64,
        /// Replicas the seasonal forecast needs, when it is trusted.
        profile: Option<i32>,
        /// Replicas the peak (or the profile, if more) needs at the target.
        replicas: i32,
        /// With scaleDownEarly, when below the current count: the most the scale-down window and
        /// cooldown hold (the count itself: it takes the window's risk already).
        hold: Option<i32>,
    },
    /// The reading changes only at a regular period: between its changes the reactive count is enough
    /// and needs no window; from a lead time (and a sync) before the next change is due until it
    /// arrives, the count covers the rise that change is likely to bring.
    Cadence {
        /// Seconds between the reading's changes (the median of the last ones).
        period: u32,
        /// The share of the last changes that kept to it (a whole number of periods apart).
        regular: f64,
        /// Seconds until the next change is due (negative: overdue).
        due_in: i64,
        /// The rise covered: 1 until a change is due, then a quantile of the last rises.
        rise: f64,
        /// That quantile (0 until a change is due).
        quantile: f64,
        /// Whether the last change was a rise (the rises measured are those that followed the same).
        after_rise: bool,
        /// Replicas the demand now, times the rise, needs at the target.
        replicas: i32,
        /// With scaleDownEarly, when below the current count: the count itself (until the next
        /// change the reading holds, and the rise is covered before it).
        hold: Option<i32>,
    },
    /// The trend forecast sized the count: the reading of now moved by the last minute's slope over
    /// the lead time, with a margin that falls short of the peak ahead no more often and by no more
    /// than the scale-down window did over its record, at less capacity over that record.
    Trend {
        /// The demand covered: the prediction with its margin.
        peak: f64,
        /// The prediction's rise over the reading of now (0: flat or falling).
        rise: f64,
        /// The margin over the prediction (a factor).
        margin: f64,
        /// Its capacity over the window's, over the record.
        cost: f64,
        /// Replicas the peak needs at the target.
        replicas: i32,
        /// With scaleDownEarly, when below the current count: the highest count the trend asked for
        /// over the last lead time; the window holds no more.
        hold: Option<i32>,
    },
    /// Over its record the trend needed more capacity than the scale-down window to cover the demand
    /// ahead as well: the window stands.
    TrendNoBetter {
        /// Its capacity over the window's, over the record.
        cost: f64,
    },
    /// The seasonal forecast was computed.
    Forecast {
        /// The highest demand predicted within the lead time, margin included.
        peak: f64,
        /// The margin added to the prediction (a share of it).
        margin: f64,
        /// Median relative error over the last 4 hours.
        error: f64,
        /// Replicas the peak needs at the target.
        replicas: i32,
        /// With scaleDownEarly, when below the current count: the replicas the predicted demand over
        /// the lead time plus the scale-down window needs; the window and the cooldown hold no more.
        hold: Option<i32>,
    },
}

/// The forecast stage: `floor` is the reactive count; returns the count, the most the scale-down
/// window and cooldown may hold (when the forecast says demand stays low), and why. Records this
/// decision's reading into `history.forecast`.
#[allow(clippy::too_many_arguments)]
pub(super) fn stage(
    spec: &GeneralScalerSpec,
    current: i32,
    ready: Option<i32>,
    readings: &[Reading],
    floor: i32,
    now: Timestamp,
    history: &mut History,
) -> (i32, Option<i32>, Why) {
    let Some(fs) = spec.forecast_enabled() else {
        // Off keeps no memory: 16 KiB per scaler only for the scalers that forecast.
        history.forecast = None;
        return (floor, None, Why::ForecastOff);
    };
    let observe = fs.mode == ForecastMode::Observe;
    let memory = history.forecast.get_or_insert_with(|| ForecastHistory::new(spec));
    memory.configure(spec);
    let now_demand = demand(spec, current, ready, readings);
    if let Some(d) = now_demand {
        memory.read(now, d);
    }
    let trend = trend_verdict(spec, fs, &mut memory.trend, now_demand, floor, current, now);
    let verdict = verdict(spec, fs, memory, now_demand, floor, current, now, trend);
    let why = Why::Forecast { verdict, observe, seasons: season_bits(fs), hours: memory.hours(), floor };
    match verdict {
        ForecastVerdict::Forecast { replicas, hold, .. }
        | ForecastVerdict::Covered { replicas, hold, .. }
        | ForecastVerdict::Cadence { replicas, hold, .. }
        | ForecastVerdict::Trend { replicas, hold, .. }
            if !observe =>
        {
            (floor.max(replicas), hold, why)
        }
        _ => (floor, None, why),
    }
}

/// The first metric's target, which turns demand into replicas; `None` when it cannot.
fn target_of(spec: &GeneralScalerSpec) -> Option<f64> {
    spec.metrics().first().map(|m| m.target_value).filter(|t| *t > 0.0 && t.is_finite())
}

/// The count a forecast's `demand` needs at `target`, with the reactive rule's tolerance: demand
/// within it of what the current pods serve keeps the count. Without it a forecast would step up on
/// every small rise the reactive rule lets pass, and only the reactive rule, which holds within
/// tolerance, would bring the count back down: more pods and more scale events than the HPA.
fn sized(spec: &GeneralScalerSpec, current: i32, demand: f64, target: f64) -> i32 {
    let ratio = demand / target / f64::from(current.max(1));
    let within = current > 0 && (ratio - 1.0).abs() <= spec.behavior.tolerance + 1e-9;
    if within { current } else { replicas_for(demand, target) }
}

/// With scaleDownEarly, the count the scale-down window and cooldown may hold no more than, when it is
/// below the current count (otherwise they hold as usual).
fn early(fs: &ForecastSpec, hold: i32, current: i32) -> Option<i32> {
    (fs.scale_down_early && hold < current).then_some(hold)
}

/// Replicas `demand` needs at `target`. The memory keeps demand as log codes, which can read a
/// fraction of a percent high: a demand of exactly 2 targets must not read as 2.0007 and need 3.
fn replicas_for(demand: f64, target: f64) -> i32 {
    super::metric::ceil_count(demand / target / (1.0 + code::PRECISION))
}

fn season_bits(fs: &ForecastSpec) -> u8 {
    fs.seasons.iter().fold(0, |b, s| {
        b | match s {
            Season::Daily => 1,
            Season::Weekly => 2,
        }
    })
}

/// The trend forecast's say at this decision (recording the reading into `trend`): `None` while it
/// learns.
fn trend_verdict(
    spec: &GeneralScalerSpec,
    fs: &ForecastSpec,
    trend: &mut Trend,
    now_demand: Option<f64>,
    floor: i32,
    current: i32,
    now: Timestamp,
) -> Option<ForecastVerdict> {
    let lead_ms = i64::from(fs.lead_seconds) * 1000;
    let window_ms = i64::from(spec.behavior.scale_down.stabilization_window_seconds) * 1000;
    let now_ms = now.as_millisecond();
    match trend::observe(trend, now_ms, now_demand, lead_ms, window_ms) {
        trend::Outlook::Learning => None,
        trend::Outlook::NoBetter { cost } => Some(ForecastVerdict::TrendNoBetter { cost }),
        trend::Outlook::Acts { peak, rise, margin, cost } => {
            let replicas = sized(spec, current, peak, target_of(spec)?);
            let most = trend::hold(trend, now_ms, replicas.max(floor), lead_ms);
            Some(ForecastVerdict::Trend {
                peak,
                rise,
                margin,
                cost,
                replicas,
                hold: early(fs, most, current),
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn verdict(
    spec: &GeneralScalerSpec,
    fs: &ForecastSpec,
    memory: &ForecastHistory,
    now_demand: Option<f64>,
    floor: i32,
    current: i32,
    now: Timestamp,
    trend: Option<ForecastVerdict>,
) -> ForecastVerdict {
    if let Some(v) = cadence::verdict(spec, fs, &memory.steps, now_demand, floor, current, now.as_second()) {
        return v;
    }
    if let Some(v @ ForecastVerdict::Trend { .. }) = trend {
        return v;
    }
    let seasonal = seasonal_verdict(spec, fs, memory, now_demand, floor, current, now);
    let stats = memory.stats;
    if f64::from(stats.spread) > SPREAD_LIMIT {
        // Both forecasts see minutes: a load that moves within its minutes is beyond what either
        // resolves or what their records can vouch for; the trend, which could, says why it did not.
        return match (seasonal, trend) {
            (ForecastVerdict::WarmingUp { .. }, None) => seasonal,
            (_, Some(no_better)) => no_better,
            _ => ForecastVerdict::Unresolved { spread: f64::from(stats.spread) },
        };
    }
    let Some(index) = (stats.base as usize).checked_sub(1).filter(|i| *i < BASES) else { return seasonal };
    let Some(target) = target_of(spec) else { return seasonal };
    let Some(base) = memory.bases_now(now, fs.lead_seconds)[index] else { return seasonal };
    let ratio = f64::from(stats.ratio);
    let peak = base * ratio;
    let profile = match seasonal {
        ForecastVerdict::Forecast { replicas, .. } => Some(replicas),
        _ => None,
    };
    let replicas = sized(spec, current, peak, target).max(profile.unwrap_or(0));
    // Sized for the risk the window's record allows over the lead time, the count needs no window.
    let hold = early(fs, floor.max(replicas), current);
    ForecastVerdict::Covered {
        peak,
        base: index as u8,
        ratio,
        coverage: f64::from(stats.coverage),
        profile,
        replicas,
        hold,
    }
}

/// The seasonal forecast: the reading moved by the change the profile expects, trusted where its
/// record beats the reading held.
fn seasonal_verdict(
    spec: &GeneralScalerSpec,
    fs: &ForecastSpec,
    memory: &ForecastHistory,
    now_demand: Option<f64>,
    floor: i32,
    current: i32,
    now: Timestamp,
) -> ForecastVerdict {
    let stats = memory.stats;
    let warming = ForecastVerdict::WarmingUp { hours: memory.hours(), errors: stats.errors };
    // The forecast moves the demand of now by the change the profile expects: anchored on the
    // reading, it is exactly as good as the reactive rules where the profile expects no change.
    let anchor = now_demand.or_else(|| memory.recent.back().and_then(|r| code::decode(r.actual)));
    let now_expected = memory.expected_in(minute_of(now));
    let (Some(anchor), Some(now_expected)) = (anchor, now_expected) else { return warming };
    if !memory.covered() || (stats.errors as usize) < MIN_ERRORS {
        return warming;
    }
    let max_error = fs.max_error_ratio;
    if f64::from(stats.typical) > max_error {
        return ForecastVerdict::Untrusted { error: f64::from(stats.typical) };
    }
    if f64::from(stats.recent) > max_error {
        return ForecastVerdict::ShapeChanged { error: f64::from(stats.recent) };
    }
    if stats.mean > stats.persistence {
        return ForecastVerdict::NoBetter {
            error: f64::from(stats.mean),
            held: f64::from(stats.persistence),
        };
    }
    let Some(target) = target_of(spec) else { return warming };
    let margin = f64::from(stats.margin);
    let peak_over = |seconds: i64, margin: f64| -> Option<f64> {
        let first = minute_of(now);
        let last = minute_of(now + jiff::SignedDuration::from_secs(seconds));
        (first..=last)
            .filter_map(|m| Some(anchor * change(now_expected, memory.expected_in(m)?)))
            .fold(None, |acc: Option<f64>, d| Some(acc.map_or(d, |a| a.max(d))))
            .map(|d| d * (1.0 + margin))
    };
    let Some(peak) = peak_over(i64::from(fs.lead_seconds), margin) else {
        return warming;
    };
    let replicas = sized(spec, current, peak, target);
    let count = floor.max(replicas);
    let down = &spec.behavior.scale_down;
    let hold_seconds = i64::from(down.stabilization_window_seconds.max(down.cooldown_seconds));
    // Sooner only where the forecast has beaten the reading held over the whole horizon.
    let sure = stats.hold_mean <= stats.hold_persistence;
    let hold = peak_over(i64::from(fs.lead_seconds) + hold_seconds, f64::from(stats.hold_margin))
        .filter(|_| sure)
        .and_then(|p| early(fs, replicas_for(p, target).max(count), current));
    ForecastVerdict::Forecast { peak, margin, error: f64::from(stats.typical), replicas, hold }
}

#[cfg(test)]
mod tests;
