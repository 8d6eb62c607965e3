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
//! expects; it raises the count only while its recent error beats the reading held as it is. Minute
//! statistics see only what a minute resolves: on a load that moves within its minutes the
//! short-horizon forecast stands aside. The memory is [`ForecastHistory`] (data and encoding in
//! `api::status`); this module holds the arithmetic that updates and reads it, and the stage. Pure:
//! `now` is an argument, nothing here reads a clock.

use std::collections::VecDeque;

use jiff::Timestamp;

use crate::api::{
    BASES, DAILY_SLOTS, ERROR_MINUTES, FORECAST_SLOT_SECONDS, ForecastHistory, ForecastMode, ForecastSpec,
    ForecastStats, GeneralScalerSpec, History, Profile, RATIO_MINUTES, RECENT_MINUTES, RecentMinute, Season,
    TargetType, WEEKLY_SLOT_MINUTES, WEEKLY_SLOTS, code, ratio_code,
};

use super::{Reading, Why};

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
/// The minute statistics act only on a load a minute resolves: one whose typical minute peaks at most
/// this much above its mean. A load that moves faster is left to the seasonal forecast.
const SPREAD_LIMIT: f64 = 1.02;
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

impl ForecastHistory {
    /// An empty history for a scaler's forecast settings (the defaults where it sets none).
    pub fn new(spec: &GeneralScalerSpec) -> Self {
        let settings = spec.forecast.clone().unwrap_or_default();
        let mut h = ForecastHistory {
            lead_seconds: settings.lead_seconds,
            hold_seconds: hold_seconds(spec, &settings),
            minute: None,
            partial: (0.0, 0),
            partial_peak: 0.0,
            recorded_minutes: 0,
            daily: None,
            weekly: None,
            recent: VecDeque::with_capacity(RECENT_MINUTES + 1),
            errors: VecDeque::with_capacity(ERROR_MINUTES + 1),
            ratios: VecDeque::with_capacity(RATIO_MINUTES + 1),
            stats: ForecastStats::default(),
        };
        h.configure(spec);
        h
    }

    /// Build a history from a backend's series (Prometheus `query_range`, a Cloud Monitoring time
    /// series), oldest first, as if each point had been a reading: what the daemon does at first
    /// sight so that a new scaler forecasts at once. Points that are not finite numbers >= 0 are
    /// skipped (no data is not zero).
    pub fn from_series(spec: &GeneralScalerSpec, series: impl IntoIterator<Item = (Timestamp, f64)>) -> Self {
        let mut h = Self::new(spec);
        for (t, v) in series {
            h.record(t, v);
        }
        h
    }

    /// Follow a spec change: add or drop profiles for the seasons, and forget errors measured at
    /// another lead time or horizon (they no longer say how good this forecast is).
    pub fn configure(&mut self, scaler: &GeneralScalerSpec) {
        let spec = scaler.forecast.clone().unwrap_or_default();
        let hold = hold_seconds(scaler, &spec);
        let daily = spec.seasons.contains(&Season::Daily);
        let weekly = spec.seasons.contains(&Season::Weekly);
        if daily != self.daily.is_some() {
            self.daily = daily.then(|| Profile::new(DAILY_SLOTS));
        }
        if weekly != self.weekly.is_some() {
            self.weekly = weekly.then(|| Profile::new(WEEKLY_SLOTS));
        }
        if spec.lead_seconds != self.lead_seconds || hold != self.hold_seconds {
            self.lead_seconds = spec.lead_seconds;
            self.hold_seconds = hold;
            self.errors.clear();
            self.ratios.clear();
            self.stats = ForecastStats::default();
        }
    }

    /// Record one reading of demand at `now`. Readings are averaged per minute; a minute is learnt
    /// when the first reading of a later minute arrives. A reading from before the minute being
    /// recorded (a clock that stepped back) counts in that minute. Not a finite number >= 0: ignored.
    pub fn record(&mut self, now: Timestamp, demand: f64) {
        if !demand.is_finite() || demand < 0.0 {
            return;
        }
        let m = minute_of(now);
        match self.minute {
            Some(open) if m > open => {
                self.close(open);
                self.minute = Some(m);
                self.partial = (demand, 1);
                self.partial_peak = demand;
            }
            Some(_) => {
                self.partial.0 += demand;
                self.partial.1 = self.partial.1.saturating_add(1);
                self.partial_peak = self.partial_peak.max(demand);
            }
            None => {
                self.minute = Some(m);
                self.partial = (demand, 1);
                self.partial_peak = demand;
            }
        }
    }

    /// Hours of demand recorded.
    pub fn hours(&self) -> f64 {
        f64::from(self.recorded_minutes) / 60.0
    }

    /// What the profiles expect at `t` at their usual level (the mean of the seasons that know that
    /// time), `None` where no season has seen it.
    pub fn expected_at(&self, t: Timestamp) -> Option<f64> {
        self.expected_in(minute_of(t))
    }

    /// The demand the history predicts at `t`: the profiles' expectation times the current level.
    /// `None` without a level (less than a season recorded, or nothing in the last hour).
    pub fn demand_at(&self, t: Timestamp) -> Option<f64> {
        Some(self.expected_in(minute_of(t))? * self.level()?)
    }

    /// Recent demand over what the profiles expected for it (the last hour), when known.
    pub fn level(&self) -> Option<f64> {
        let last = self.recent.back()?;
        // A level older than the lead's worth of silence says nothing about now.
        let open = self.minute.unwrap_or(last.minute);
        if open - last.minute > LEVEL_MINUTES {
            return None;
        }
        code::decode(last.level)
    }

    /// Whether a profile has seen enough of its season to forecast.
    pub fn covered(&self) -> bool {
        let full = |p: &Option<Profile>| {
            p.as_ref().is_some_and(|p| f64::from(p.seen) >= MIN_COVERAGE * p.slots.len() as f64)
        };
        full(&self.daily) || full(&self.weekly)
    }

    fn expected_in(&self, minute: i64) -> Option<f64> {
        let daily = self.daily.as_ref().and_then(|p| code::decode(p.slots[daily_slot(minute)]));
        let weekly = self.weekly.as_ref().and_then(|p| code::decode(p.slots[weekly_slot(minute)]));
        match (daily, weekly) {
            (Some(d), Some(w)) => Some((d + w) / 2.0),
            (d, w) => d.or(w),
        }
    }

    /// Learn the minute `minute` from its readings: measure the forecast's error on it, fold it into
    /// the profiles, and measure the level.
    fn close(&mut self, minute: i64) {
        let (sum, n) = self.partial;
        let actual = if n > 0 { sum / f64::from(n) } else { return };
        let expected = self.expected_in(minute);

        // The forecast for this minute made a lead time (or a horizon) earlier moved the demand of
        // the last minute closed by then by the change the profile expected; the reactive rules, in
        // effect, assumed that minute's demand would hold.
        let made = |minutes: i64| -> Option<(f64, f64)> {
            let made_before = minute - minutes;
            let then = self
                .recent
                .iter()
                .rev()
                .find(|r| r.minute < made_before)
                .filter(|r| made_before - r.minute <= LEVEL_MINUTES)?;
            let held = code::decode(then.actual)?;
            let predicted = held * change(code::decode(then.expected)?, expected?);
            Some((f64::from(relative_error(actual, predicted)), f64::from(relative_error(actual, held))))
        };
        let near = made(seconds_to_minutes(self.lead_seconds));
        let far = made(seconds_to_minutes(self.hold_seconds));
        if let (Some(near), Some(far)) = (near, far) {
            self.errors.push_back([near.0, near.1, far.0, far.1].map(|e| e as i16));
            while self.errors.len() > ERROR_MINUTES {
                self.errors.pop_front();
            }
            self.stats = ForecastStats {
                base: self.stats.base,
                ratio: self.stats.ratio,
                coverage: self.stats.coverage,
                spread: self.stats.spread,
                ..stats(&self.errors)
            };
        }

        if let Some(p) = &mut self.daily {
            learn(p, daily_slot(minute), actual, DAILY_ALPHA);
        }
        if let Some(p) = &mut self.weekly {
            // Each 5-minute slot learns five minutes a week: five small steps make one week's weight.
            let alpha = 1.0 - (1.0 - DAILY_ALPHA).powf(1.0 / WEEKLY_SLOT_MINUTES as f64);
            learn(p, weekly_slot(minute), actual, alpha);
        }

        self.recent.push_back(RecentMinute {
            minute,
            actual: code::encode(actual),
            expected: expected.map_or(0, code::encode),
            level: 0,
            peak: code::encode(self.partial_peak.max(actual)),
        });
        while self.recent.len() > RECENT_MINUTES {
            self.recent.pop_front();
        }
        self.measure_ratios(minute);
        self.stats.spread = spread(&self.recent) as f32;
        let (mut got, mut wanted) = (0.0, 0.0);
        for r in self.recent.iter().filter(|r| minute - r.minute < LEVEL_MINUTES) {
            if let (Some(a), Some(e)) = (code::decode(r.actual), code::decode(r.expected)) {
                got += a;
                wanted += e;
            }
        }
        let level = if wanted > 0.0 {
            code::encode((got / wanted).clamp(LEVEL_RANGE.0, LEVEL_RANGE.1))
        } else if got == 0.0 && self.recent.iter().any(|r| r.expected != 0) {
            // Expected nothing and got nothing: the usual level.
            code::encode(1.0)
        } else {
            0
        };
        if let Some(last) = self.recent.back_mut() {
            last.level = level;
        }
        self.recorded_minutes = self.recorded_minutes.saturating_add(1);
    }

    /// With `minute` just closed: the highest demand over the lead time that ended with it (one minute
    /// more, as a decision falls anywhere in a minute) against each base as it stood before that time.
    fn measure_ratios(&mut self, minute: i64) {
        let last = minute - seconds_to_minutes(self.lead_seconds) - 1;
        let ahead: Vec<&RecentMinute> = self.recent.iter().filter(|r| r.minute > last).collect();
        let Some(future) = ahead.iter().filter_map(|r| code::decode(r.peak)).reduce(f64::max) else {
            return;
        };
        let expected = ahead.iter().filter_map(|r| code::decode(r.expected)).reduce(f64::max);
        let bases = bases(&self.recent, last, expected);
        if bases.iter().all(Option::is_none) {
            return;
        }
        self.ratios.push_back(bases.map(|b| b.map_or(0, |b| ratio(future, b))));
        while self.ratios.len() > RATIO_MINUTES {
            self.ratios.pop_front();
        }
        // The risk the reactive window takes: how often the peak of the last 5 minutes fell short of the
        // peak a lead time ahead. Capacity is sized for a set multiple of it, from the cheapest base.
        let known: Vec<f64> = self.ratios.iter().filter_map(|r| ratio_code::decode(r[WINDOW_BASE])).collect();
        let short = known.iter().filter(|r| **r > 1.0).count();
        let risk = if known.is_empty() { 0.0 } else { short as f64 / known.len() as f64 };
        let coverage = (1.0 - RISK_FACTOR * risk).clamp(MIN_COVERAGE_SHARE, 1.0);
        let (base, ratio) = choose_base(&self.ratios, coverage);
        self.stats.base = base;
        self.stats.ratio = ratio as f32;
        self.stats.coverage = coverage as f32;
    }

    /// Each base as it stands now, from the closed minutes (the profile looks `lead` ahead).
    fn bases_now(&self, now: Timestamp, lead_seconds: u32) -> [Option<f64>; BASES] {
        let open = minute_of(now);
        let expected = (open..=open + seconds_to_minutes(lead_seconds))
            .filter_map(|m| self.expected_in(m))
            .reduce(f64::max);
        bases(&self.recent, open - 1, expected)
    }
}

/// The bases of [`BASE_NAMES`] from the closed minutes up to `last`; `ahead`: the most the profile
/// expects over the time ahead. A base is unknown when its minutes are.
fn bases(recent: &VecDeque<RecentMinute>, last: i64, ahead: Option<f64>) -> [Option<f64>; BASES] {
    let window = |span: i64| {
        recent.iter().rev().skip_while(move |r| r.minute > last).take_while(move |r| last - r.minute < span)
    };
    let peak = |span: i64| window(span).filter_map(|r| code::decode(r.peak)).reduce(f64::max);
    let newest = window(2).next();
    let mean = {
        let (sum, n) =
            window(30).filter_map(|r| code::decode(r.actual)).fold((0.0, 0), |(s, n), a| (s + a, n + 1));
        (n >= 15).then(|| sum / f64::from(n))
    };
    let seasonal = newest.and_then(|r| {
        let from = code::decode(r.expected)?;
        Some(code::decode(r.peak)? * change(from, ahead?))
    });
    [peak(1), peak(5), peak(15), peak(30), mean, seasonal]
}

/// The median over `recent` of each minute's peak over its mean (1 where none is known).
fn spread(recent: &VecDeque<RecentMinute>) -> f64 {
    let mut spreads: Vec<f64> = recent
        .iter()
        .filter_map(|r| Some(code::decode(r.peak)? / code::decode(r.actual).filter(|a| *a > 0.0)?))
        .collect();
    if spreads.is_empty() {
        return 1.0;
    }
    let mid = spreads.len() / 2;
    let (_, m, _) = spreads.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// future / base as a ratio code; a base of 0 under a demand is the highest ratio there is.
fn ratio(future: f64, base: f64) -> u8 {
    if base > 0.0 {
        ratio_code::encode((future / base).max(f64::MIN_POSITIVE))
    } else if future > 0.0 {
        u8::MAX
    } else {
        ratio_code::encode(1.0)
    }
}

/// The base whose `coverage` quantile of ratios covers the demand ahead at the lowest mean capacity
/// (1 + its index, 0 when none has enough ratios), and that quantile.
fn choose_base(ratios: &VecDeque<[u8; BASES]>, p: f64) -> (u32, f64) {
    let mut best: Option<(f64, u32, f64)> = None;
    for i in 0..BASES {
        let mut r: Vec<f64> = ratios.iter().filter_map(|c| ratio_code::decode(c[i])).collect();
        if r.len() < MIN_ERRORS {
            continue;
        }
        let k = ((r.len() - 1) as f64 * p).round() as usize;
        let (_, q, _) = r.select_nth_unstable_by(k, f64::total_cmp);
        let q = *q;
        // Capacity q x base, over the demand it had to cover, on average.
        let cost = q * r.iter().map(|x| 1.0 / x).sum::<f64>() / r.len() as f64;
        if best.is_none_or(|(c, _, _)| cost < c) {
            best = Some((cost, i as u32 + 1, q));
        }
    }
    best.map_or((0, 0.0), |(_, i, q)| (i, q))
}

/// How much the profile says demand changes from a minute where it expected `from` to one where it
/// expects `to`; a change from nothing is no change (a ratio cannot say what grows from zero).
fn change(from: f64, to: f64) -> f64 {
    if from > 0.0 { (to / from).clamp(LEVEL_RANGE.0, LEVEL_RANGE.1) } else { 1.0 }
}

/// actual / predicted - 1 in thousandths, bounded (a prediction of 0 for a demand above 0 is the
/// worst error there is).
fn relative_error(actual: f64, predicted: f64) -> i16 {
    let error = if predicted > 0.0 {
        actual / predicted - 1.0
    } else if actual > 0.0 {
        ERROR_RANGE.1
    } else {
        0.0
    };
    (error.clamp(ERROR_RANGE.0, ERROR_RANGE.1) * 1000.0).round() as i16
}

fn daily_slot(minute: i64) -> usize {
    minute.rem_euclid(MINUTES_PER_DAY) as usize
}

fn weekly_slot(minute: i64) -> usize {
    (minute.rem_euclid(MINUTES_PER_WEEK) / WEEKLY_SLOT_MINUTES) as usize
}

/// Fold `value` into one slot: the first value as it is, later ones weighted by `alpha`.
fn learn(profile: &mut Profile, slot: usize, value: f64, alpha: f64) {
    let old = code::decode(profile.slots[slot]);
    let new = match old {
        Some(old) => old + alpha * (value - old),
        None => {
            profile.seen += 1;
            value
        }
    };
    profile.slots[slot] = code::encode(new).max(1);
}

/// The error figures the stage needs, from the errors in thousandths.
fn stats(errors: &VecDeque<[i16; 4]>) -> ForecastStats {
    let column = |i: usize| -> Vec<i16> { errors.iter().map(|e| e[i]).collect() };
    let abs_median = |mut e: Vec<i16>| -> f32 {
        if e.is_empty() {
            return 0.0;
        }
        let mid = e.len() / 2;
        let (_, m, _) = e.select_nth_unstable_by_key(mid, |x| x.unsigned_abs());
        f32::from(m.unsigned_abs()) / 1000.0
    };
    let mean_abs = |e: Vec<i16>| -> f32 {
        if e.is_empty() {
            return 0.0;
        }
        let sum: u64 = e.iter().map(|x| u64::from(x.unsigned_abs())).sum();
        sum as f32 / e.len() as f32 / 1000.0
    };
    let quantile = |mut e: Vec<i16>, p: f64| -> f32 {
        if e.is_empty() {
            return 0.0;
        }
        let k = ((e.len() - 1) as f64 * p).round() as usize;
        let (_, q, _) = e.select_nth_unstable(k);
        (f32::from(*q) / 1000.0).max(0.0)
    };
    let recent: Vec<i16> = errors.iter().rev().take(SHAPE_MINUTES).map(|e| e[0]).collect();
    ForecastStats {
        errors: errors.len() as u32,
        typical: abs_median(column(0)),
        recent: abs_median(recent),
        margin: quantile(column(0), MARGIN_QUANTILE),
        hold_margin: quantile(column(2), HOLD_QUANTILE),
        mean: mean_abs(column(0)),
        persistence: mean_abs(column(1)),
        hold_mean: mean_abs(column(2)),
        hold_persistence: mean_abs(column(3)),
        ..ForecastStats::default()
    }
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
        memory.record(now, d);
    }
    let verdict = verdict(spec, fs, memory, now_demand, floor, current, now);
    let why = Why::Forecast { verdict, observe, seasons: season_bits(fs), hours: memory.hours(), floor };
    match verdict {
        ForecastVerdict::Forecast { replicas, hold, .. }
        | ForecastVerdict::Covered { replicas, hold, .. }
            if !observe =>
        {
            (floor.max(replicas), hold, why)
        }
        _ => (floor, None, why),
    }
}

fn season_bits(fs: &ForecastSpec) -> u8 {
    fs.seasons.iter().fold(0, |b, s| {
        b | match s {
            Season::Daily => 1,
            Season::Weekly => 2,
        }
    })
}

fn verdict(
    spec: &GeneralScalerSpec,
    fs: &ForecastSpec,
    memory: &ForecastHistory,
    now_demand: Option<f64>,
    floor: i32,
    current: i32,
    now: Timestamp,
) -> ForecastVerdict {
    let seasonal = seasonal_verdict(spec, fs, memory, now_demand, floor, current, now);
    let stats = memory.stats;
    if f64::from(stats.spread) > SPREAD_LIMIT {
        return seasonal;
    }
    let Some(index) = (stats.base as usize).checked_sub(1).filter(|i| *i < BASES) else { return seasonal };
    let Some(target) = spec.metrics().first().map(|m| m.target_value).filter(|t| *t > 0.0 && t.is_finite())
    else {
        return seasonal;
    };
    let Some(base) = memory.bases_now(now, fs.lead_seconds)[index] else { return seasonal };
    let ratio = f64::from(stats.ratio);
    let peak = base * ratio;
    let profile = match seasonal {
        ForecastVerdict::Forecast { replicas, .. } => Some(replicas),
        _ => None,
    };
    let replicas = super::metric::ceil_count(peak / target).max(profile.unwrap_or(0));
    // Sized for the risk the window's record allows over the lead time, the count needs no window.
    let hold = Some(floor.max(replicas)).filter(|h| fs.scale_down_early && *h < current);
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
    let Some(target) = spec.metrics().first().map(|m| m.target_value).filter(|t| *t > 0.0 && t.is_finite())
    else {
        return warming;
    };
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
    let replicas = super::metric::ceil_count(peak / target);
    let count = floor.max(replicas);
    let down = &spec.behavior.scale_down;
    let hold_seconds = i64::from(down.stabilization_window_seconds.max(down.cooldown_seconds));
    // Sooner only where the forecast has beaten the reading held over the whole horizon.
    let sure = stats.hold_mean <= stats.hold_persistence;
    let hold = peak_over(i64::from(fs.lead_seconds) + hold_seconds, f64::from(stats.hold_margin))
        .filter(|_| sure)
        .map(|p| super::metric::ceil_count(p / target).max(count))
        .filter(|h| fs.scale_down_early && *h < current);
    ForecastVerdict::Forecast { peak, margin, error: f64::from(stats.typical), replicas, hold }
}

#[cfg(test)]
mod tests;
