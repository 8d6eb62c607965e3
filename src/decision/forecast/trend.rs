//! The trend forecast: reading by reading, the demand a lead time ahead from the last minute's slope,
//! with a margin taken from this scaler's own record and acting only where that record says it holds
//! the demand ahead at least as well as the scale-down window does, with less capacity.
//!
//! A live metric moves at every scrape; the minute forecasts cannot resolve it and stand aside. This
//! one reads what the decision reads. At each sync it fits a line to the last [`FIT_SECONDS`] of
//! readings and predicts the reading of now moved by the line's rise over the lead time (a fall
//! predicts nothing lower: the reactive count is the floor). A lead time later it records the peak
//! that came against that prediction, and against what the scale-down window held then (the highest
//! reading of the window: what the reactive rules keep). From that record:
//!
//! - the margin is set level by level: at each share of the record (the median up to the 99th
//!   percentile) the trend with its margin falls short of the peak by no more than the window did at
//!   that share. Its shortfalls are never worse than the window's, in the body or in the tail;
//! - it acts only while, over the record, that capacity is less than the window's. Otherwise the
//!   window stands, and the stage says so.
//!
//! Acting, the count covers the prediction with its margin, and the scale-down window holds no more
//! than the highest count the trend asked for over the last two lead times: capacity goes as soon as
//! the trend no longer sees the demand that needed it, not five minutes later.

use std::collections::VecDeque;

use crate::api::{TREND_RECORD, Trend, code};

/// Seconds of readings the slope is fitted over.
pub const FIT_SECONDS: i64 = 60;
/// Records needed before the trend acts: an hour of 15 s decisions.
pub const MIN_RECORD: usize = 240;
/// The shares of the record at which the trend must fall short no more than the window.
const LEVELS: [f64; 8] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99];
/// The trend acts only when it needs at most this share of the window's capacity: a saving within
/// the record's noise is not one.
const MAX_COST: f64 = 0.98;
/// The record's figures are worked out again after this many new records (a minute of 15 s syncs).
const REFIGURE: u32 = 4;

/// What the trend forecast says at a decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outlook {
    /// Fewer than [`MIN_RECORD`] predictions settled.
    Learning,
    /// Over the record, covering the demand ahead as well as the window did needs more capacity.
    NoBetter {
        /// Its capacity over the window's, over the record.
        cost: f64,
    },
    /// The trend sizes the count.
    Acts {
        /// The demand covered: the prediction with its margin.
        peak: f64,
        /// The prediction's rise over the reading of now (0: flat or falling).
        rise: f64,
        /// The margin over the prediction.
        margin: f64,
        /// Its capacity over the window's, over the record.
        cost: f64,
    },
}

/// Record the reading `demand` at `now_ms` (when there is one), settle the predictions whose lead
/// time has passed, and predict: what the trend says now. `window_ms`: the scale-down window.
pub fn observe(trend: &mut Trend, now_ms: i64, demand: Option<f64>, lead_ms: i64, window_ms: i64) -> Outlook {
    let lead_ms = lead_ms.max(1);
    let keep = window_ms.max(FIT_SECONDS * 1000).max(lead_ms) + lead_ms;
    if let Some(d) = demand.filter(|d| d.is_finite() && *d >= 0.0) {
        // A clock that stepped back starts the readings afresh: times must increase.
        if trend.readings.back().is_some_and(|r| r.0 >= now_ms) {
            trend.readings.clear();
            trend.pending.clear();
        }
        trend.readings.push_back((now_ms, d));
    }
    while trend.readings.front().is_some_and(|r| r.0 < now_ms - keep) {
        trend.readings.pop_front();
    }
    settle(trend, now_ms, lead_ms);
    if trend.record.len() >= MIN_RECORD && (trend.figures.is_none() || trend.settled >= REFIGURE) {
        trend.figures = Some(figures(&trend.record));
        trend.settled = 0;
    }
    let Some(d) = demand.filter(|d| d.is_finite() && *d >= 0.0) else { return outlook(trend, None) };
    let prediction = d.max(
        fit(&trend.readings, now_ms).map_or(d, |(level, slope)| level + slope.max(0.0) * lead_ms as f64),
    );
    let window = trend.readings.iter().filter(|r| r.0 > now_ms - window_ms).map(|r| r.1).fold(d, f64::max);
    trend.pending.push_back((now_ms, prediction, window));
    outlook(trend, Some((d, prediction)))
}

/// Remember the count the trend asked for at `now_ms`; the most it asked over the last `span_ms`.
pub fn hold(trend: &mut Trend, now_ms: i64, replicas: i32, span_ms: i64) -> i32 {
    while trend.counts.front().is_some_and(|c| c.0 <= now_ms - span_ms) {
        trend.counts.pop_front();
    }
    trend.counts.push_back((now_ms, replicas));
    trend.counts.iter().map(|c| c.1).max().unwrap_or(replicas)
}

/// The predictions whose lead time has passed, against the peak that came.
fn settle(trend: &mut Trend, now_ms: i64, lead_ms: i64) {
    while let Some(&(t, prediction, window)) = trend.pending.front() {
        if t + lead_ms > now_ms {
            break;
        }
        trend.pending.pop_front();
        let peak =
            trend.readings.iter().filter(|r| r.0 > t && r.0 <= t + lead_ms).map(|r| r.1).reduce(f64::max);
        // No reading over the lead time (the metric failed): nothing to learn from.
        let Some(peak) = peak else { continue };
        let ratio = |base: f64| {
            if base > 0.0 {
                peak / base
            } else if peak > 0.0 {
                16.0
            } else {
                1.0
            }
        };
        trend.record.push_back([code::encode(ratio(prediction)), code::encode(ratio(window))]);
        trend.settled = trend.settled.saturating_add(1);
        while trend.record.len() > TREND_RECORD {
            trend.record.pop_front();
        }
    }
}

/// Least squares over the readings of the last [`FIT_SECONDS`]: the line's value at `now_ms` and
/// its slope per ms. `None` under three readings.
fn fit(readings: &VecDeque<(i64, f64)>, now_ms: i64) -> Option<(f64, f64)> {
    let span = || {
        readings
            .iter()
            .filter(move |r| r.0 > now_ms - FIT_SECONDS * 1000)
            .map(move |r| ((r.0 - now_ms) as f64, r.1))
    };
    let n = span().count();
    if n < 3 {
        return None;
    }
    let n = n as f64;
    let (mx, my) = span().fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
    let (sxx, sxy) =
        span().fold((0.0, 0.0), |(xx, xy), p| (xx + (p.0 - mx).powi(2), xy + (p.0 - mx) * (p.1 - my)));
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((my - slope * mx, slope))
}

/// What the record says, and with `now` (the reading and the prediction) what to cover.
fn outlook(trend: &Trend, now: Option<(f64, f64)>) -> Outlook {
    let Some((margin, cost)) = trend.figures.filter(|_| trend.record.len() >= MIN_RECORD) else {
        return Outlook::Learning;
    };
    match now {
        _ if cost > MAX_COST => Outlook::NoBetter { cost },
        None => Outlook::NoBetter { cost },
        Some((d, prediction)) => Outlook::Acts {
            peak: prediction * margin,
            rise: if d > 0.0 { prediction / d - 1.0 } else { 0.0 },
            margin,
            cost,
        },
    }
}

/// The margin over the prediction that falls short of the peak ahead by no more than the window did,
/// at every level of the record, and the capacity that takes over the window's.
fn figures(record: &VecDeque<[u16; 2]>) -> (f64, f64) {
    let decode = |c: u16| code::decode(c).unwrap_or(1.0);
    let mut to_prediction: Vec<f64> = record.iter().map(|r| decode(r[0])).collect();
    let mut to_window: Vec<f64> = record.iter().map(|r| decode(r[1])).collect();
    // The prediction over the window's hold, per record: what the trend needed where the window held.
    let relative: Vec<f64> = to_prediction.iter().zip(&to_window).map(|(p, w)| w / p).collect();
    to_prediction.sort_by(f64::total_cmp);
    to_window.sort_by(f64::total_cmp);
    let margin = LEVELS
        .iter()
        .map(|&l| quantile(&to_prediction, l) / quantile(&to_window, l).max(1.0))
        .fold(0.0, f64::max);
    let cost = relative.iter().map(|r| r * margin).sum::<f64>() / relative.len().max(1) as f64;
    (margin, cost)
}

/// The `q` quantile of sorted values (nearest rank, rounding up).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 1.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAD: i64 = 60_000;
    const WINDOW: i64 = 300_000;

    fn replay(trend: &mut Trend, values: impl IntoIterator<Item = f64>) -> Vec<Outlook> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, d)| observe(trend, i as i64 * 15_000, Some(d), LEAD, WINDOW))
            .collect()
    }

    #[test]
    fn the_fit_is_exact_on_a_line_and_needs_three_readings() {
        let r: VecDeque<(i64, f64)> = (0..5).map(|k| (k * 15_000, 100.0 + k as f64 * 15.0)).collect();
        let (level, slope) = fit(&r, 60_000).unwrap();
        assert!((level - 160.0).abs() < 1e-9 && (slope - 0.001).abs() < 1e-12, "{level} {slope}");
        assert_eq!(fit(&r.iter().copied().take(2).collect(), 15_000), None);
    }

    // On a pure ramp the window's hold (the reading of now) falls short of the peak ahead by as much
    // as the trend's prediction with its margin may: the same capacity, no saving, the window stands.
    #[test]
    fn on_a_steady_ramp_the_trend_is_no_better_than_the_window() {
        let mut t = Trend::default();
        let out = replay(&mut t, (0..400).map(|k| 100.0 * 1.002_f64.powi(k)));
        assert_eq!(out[MIN_RECORD], Outlook::Learning);
        assert!(matches!(out[399], Outlook::NoBetter { cost } if cost > MAX_COST), "{:?}", out[399]);
        assert_eq!(t.record.len(), 400 - 4);
    }

    // A load that rises and falls by 30% over 40 minutes: after each crest the window holds it for
    // five minutes, the trend follows the load down; on the way up it covers the rise ahead.
    #[test]
    fn on_a_slow_wave_the_trend_acts_and_covers_the_rise() {
        let mut t = Trend::default();
        let wave = |k: i32| 100.0 * (1.0 + 0.3 * (f64::from(k) * std::f64::consts::TAU / 160.0).sin());
        let out = replay(&mut t, (0..501).map(wave));
        let Outlook::Acts { peak, rise, margin, cost } = out[500] else { panic!("{:?}", out[500]) };
        assert!(cost <= MAX_COST && rise > 0.0, "{cost} {rise}");
        assert!(peak >= wave(504) * 0.999, "{peak} {margin} vs {}", wave(504));
    }

    // A load that swings by 30% every 2 minutes: the 5-minute window holds a whole wave and covers
    // the next peak every time, so wherever the trend acts it must cover it too, at every level.
    #[test]
    fn where_the_window_always_covers_the_trend_must_too() {
        let mut t = Trend::default();
        let wave = |k: i32| 100.0 * (1.0 + 0.3 * (f64::from(k) * std::f64::consts::TAU / 8.0).sin());
        let out = replay(&mut t, (0..600).map(wave));
        let sorted = |i: usize| {
            let mut v: Vec<f64> = t.record.iter().map(|r| code::decode(r[i]).unwrap_or(1.0)).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        assert!(quantile(&sorted(1), 0.99) <= 1.0 + 1e-3, "{:?}", sorted(1));
        match out[599] {
            Outlook::Acts { margin, .. } => assert!(margin >= quantile(&sorted(0), 0.99) - 1e-9, "{margin}"),
            Outlook::NoBetter { cost } => assert!(cost > MAX_COST, "{cost}"),
            Outlook::Learning => panic!("still learning after 600 readings"),
        }
    }

    #[test]
    fn a_failed_reading_learns_nothing_and_a_clock_stepping_back_starts_afresh() {
        let mut t = Trend::default();
        replay(&mut t, (0..10).map(|_| 100.0));
        let settled = t.record.len();
        observe(&mut t, 150_000, None, LEAD, WINDOW);
        observe(&mut t, 165_000, None, LEAD, WINDOW);
        assert_eq!(t.readings.len(), 10);
        observe(&mut t, 10_000, Some(100.0), LEAD, WINDOW);
        assert_eq!(t.readings.len(), 1);
        assert!(t.record.len() >= settled);
    }

    #[test]
    fn the_hold_is_the_highest_count_of_its_span() {
        let mut t = Trend::default();
        assert_eq!(hold(&mut t, 0, 5, 120_000), 5);
        assert_eq!(hold(&mut t, 60_000, 3, 120_000), 5);
        assert_eq!(hold(&mut t, 120_000, 2, 120_000), 3);
    }
}
