//! The forecaster's memory: how a reading is recorded into [`ForecastHistory`] (the seasonal
//! profiles, the recent minutes, the ratios of the short-horizon forecast, the error record) and the
//! figures read back from it. The stage that decides from it is the parent module.

use super::*;

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
            steps: Steps::default(),
            trend: Trend::default(),
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
            self.trend = Trend::default();
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

    /// Record one reading of demand as a decision reads it: into the minutes ([`Self::record`]) and
    /// into the reading's changes, which only readings as they were read can tell (a backend's series,
    /// resampled, cannot: [`Self::from_series`] records minutes only).
    pub fn read(&mut self, now: Timestamp, demand: f64) {
        self.record(now, demand);
        super::cadence::observe(&mut self.steps, now.as_second(), demand);
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

    pub(super) fn expected_in(&self, minute: i64) -> Option<f64> {
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
    pub(super) fn bases_now(&self, now: Timestamp, lead_seconds: u32) -> [Option<f64>; BASES] {
        let open = minute_of(now);
        let expected = (open..=open + seconds_to_minutes(lead_seconds))
            .filter_map(|m| self.expected_in(m))
            .reduce(f64::max);
        bases(&self.recent, open - 1, expected)
    }
}

/// The bases of [`BASE_NAMES`] from the closed minutes up to `last`; `ahead`: the most the profile
/// expects over the time ahead. A base is unknown when its minutes are.
pub(super) fn bases(recent: &VecDeque<RecentMinute>, last: i64, ahead: Option<f64>) -> [Option<f64>; BASES] {
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
pub(super) fn spread(recent: &VecDeque<RecentMinute>) -> f64 {
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
pub(super) fn ratio(future: f64, base: f64) -> u8 {
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
pub(super) fn choose_base(ratios: &VecDeque<[u8; BASES]>, p: f64) -> (u32, f64) {
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
pub(super) fn change(from: f64, to: f64) -> f64 {
    if from > 0.0 { (to / from).clamp(LEVEL_RANGE.0, LEVEL_RANGE.1) } else { 1.0 }
}

/// actual / predicted - 1 in thousandths, bounded (a prediction of 0 for a demand above 0 is the
/// worst error there is).
pub(super) fn relative_error(actual: f64, predicted: f64) -> i16 {
    let error = if predicted > 0.0 {
        actual / predicted - 1.0
    } else if actual > 0.0 {
        ERROR_RANGE.1
    } else {
        0.0
    };
    (error.clamp(ERROR_RANGE.0, ERROR_RANGE.1) * 1000.0).round() as i16
}

pub(super) fn daily_slot(minute: i64) -> usize {
    minute.rem_euclid(MINUTES_PER_DAY) as usize
}

pub(super) fn weekly_slot(minute: i64) -> usize {
    (minute.rem_euclid(MINUTES_PER_WEEK) / WEEKLY_SLOT_MINUTES) as usize
}

/// Fold `value` into one slot: the first value as it is, later ones weighted by `alpha`.
pub(super) fn learn(profile: &mut Profile, slot: usize, value: f64, alpha: f64) {
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
pub(super) fn stats(errors: &VecDeque<[i16; 4]>) -> ForecastStats {
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
