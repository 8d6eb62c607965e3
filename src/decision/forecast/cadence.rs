//! The cadence forecast: many metrics change only at a regular period (a gauge scraped every few
//! minutes, a 5-minute CloudWatch or Cloud Monitoring aggregate, a recording rule), and a scaler that
//! syncs faster reads the same value until the next change. Such a metric says *when* demand can
//! next move, which no forecast of its level can: between changes the reading holds, so the reactive
//! count is enough and scale-down needs no window; from a lead time before the next change is due
//! until it arrives, capacity is bought for the rise that change is likely to bring, sized from the
//! rises of the last changes that followed a change the same way. An instant that passes with no
//! change (the value repeated) is not awaited past a sync: the next one is a period later. A metric that moves at every sync
//! (or at no regular period) has no cadence, and the other forecasts decide.

use super::*;

/// Changes seen before the cadence is trusted.
const MIN_CHANGES: usize = 8;
/// Share of the last changes that must fall a whole number of periods apart (within a sync).
const REGULAR_SHARE: f64 = 0.8;
/// The period must be at least this many times the lead time plus a sync: the margin is then held at
/// most half the time (a metric that changes faster is left to the other forecasts).
const MIN_PERIOD_FACTOR: i64 = 2;
/// A rise beyond this is one the target's usual headroom would not absorb...
const LARGE_RISE: f64 = 1.25;
/// ...and the margin covers the share 1 - RISK_WEIGHT x (the share of such rises) of the last
/// changes' rises, at least [`MIN_QUANTILE`]: the rarer large rises are, the surer the cover.
const RISK_WEIGHT: f64 = 0.5;
/// The least share of rises the margin covers.
const MIN_QUANTILE: f64 = 0.5;
/// A reading this long after the last one starts a new chain: the phase is lost.
const SILENCE_SECONDS: i64 = 600;
/// A reading this much off the last one is a change.
const SAME: f64 = 1e-9;
/// The ratio a rise from zero counts as.
const FROM_ZERO: f64 = 10.0;

/// Record one reading of demand at `now` (seconds), as read at a decision.
pub(super) fn observe(steps: &mut Steps, now: i64, demand: f64) {
    if !demand.is_finite() || demand < 0.0 {
        return;
    }
    let silent = now - steps.seen > SILENCE_SECONDS || now < steps.seen;
    steps.seen = now;
    let last = match steps.value {
        Some(last) if !silent => last,
        _ => {
            // First reading, or the first after a silence: the value is known, not when it changed.
            steps.value = Some(demand);
            steps.changed = None;
            return;
        }
    };
    if (demand - last).abs() <= SAME * demand.max(last).max(1.0) {
        return;
    }
    let ratio = if last > 0.0 { demand / last } else { FROM_ZERO };
    if let Some(changed) = steps.changed {
        steps.changes.push_back(Change {
            gap: u32::try_from(now - changed).unwrap_or(u32::MAX),
            ratio: code::encode(ratio),
            after_rise: steps.rose,
        });
        while steps.changes.len() > STEP_CHANGES {
            steps.changes.pop_front();
        }
    }
    steps.value = Some(demand);
    steps.changed = Some(now);
    steps.rose = ratio > 1.0;
}

/// The period the reading changes at (seconds) and the share of the last changes that kept to it,
/// when it is regular and slow enough to act on: at least [`MIN_CHANGES`] changes, and
/// [`REGULAR_SHARE`] of their gaps a whole number of periods within a sync, for a period of at least
/// [`MIN_PERIOD_FACTOR`] x (lead + sync). The period is the median gap; where a value often repeats
/// (gaps of one, two, three periods...) the median is a multiple of it, and the longest shorter gap
/// that the others keep to is.
pub(super) fn period(steps: &Steps, lead_seconds: u32, sync_seconds: u32) -> Option<(i64, f64)> {
    if steps.changes.len() < MIN_CHANGES {
        return None;
    }
    let mut gaps: Vec<i64> = steps.changes.iter().map(|c| i64::from(c.gap)).collect();
    gaps.sort_unstable();
    let sync = i64::from(sync_seconds.max(1));
    let shortest = MIN_PERIOD_FACTOR * (i64::from(lead_seconds) + sync);
    let share = |p: i64| {
        let kept =
            gaps.iter().filter(|g| **g >= p - sync && (**g - (**g + p / 2) / p * p).abs() <= sync).count();
        kept as f64 / gaps.len() as f64
    };
    let mut candidates = gaps[..=gaps.len() / 2].iter().rev().copied().filter(|p| *p >= shortest);
    let mut last = None;
    candidates.find_map(|p| {
        // Each distinct gap once, from the median down.
        if last == Some(p) {
            return None;
        }
        last = Some(p);
        let kept = share(p);
        (kept >= REGULAR_SHARE).then_some((p, kept))
    })
}

/// The rise to cover at the next change: a quantile of the last changes' ratios that followed a change
/// the same way as the last (all of them while those are too few), at the share the large rises set.
/// Returns the ratio (at least 1) and the quantile.
pub(super) fn rise(steps: &Steps) -> Option<(f64, f64)> {
    let all: Vec<f64> = steps.changes.iter().filter_map(|c| code::decode(c.ratio)).collect();
    if all.is_empty() {
        return None;
    }
    let large = all.iter().filter(|r| **r > LARGE_RISE).count();
    let q = (1.0 - RISK_WEIGHT * large as f64 / all.len() as f64).max(MIN_QUANTILE);
    let same: Vec<f64> = steps
        .changes
        .iter()
        .filter(|c| c.after_rise == steps.rose)
        .filter_map(|c| code::decode(c.ratio))
        .collect();
    let mut pool = if same.len() >= MIN_CHANGES { same } else { all };
    let k = ((pool.len() - 1) as f64 * q).round() as usize;
    let (_, r, _) = pool.select_nth_unstable_by(k, f64::total_cmp);
    Some((r.max(1.0), q))
}

/// The cadence verdict, when the reading keeps one: the count the demand now needs, raised by the
/// likely rise when the next change is due within the lead time plus a sync.
pub(super) fn verdict(
    spec: &GeneralScalerSpec,
    fs: &ForecastSpec,
    steps: &Steps,
    now_demand: Option<f64>,
    floor: i32,
    current: i32,
    now: i64,
) -> Option<ForecastVerdict> {
    let (period, regular) = period(steps, fs.lead_seconds, spec.sync_interval_seconds)?;
    let changed = steps.changed?;
    let demand = now_demand?;
    let target = target_of(spec)?;
    let sync = i64::from(spec.sync_interval_seconds.max(1));
    // The reading changes only at whole periods after its last change; an instant that passed with
    // no change (the value repeated) is not awaited past a sync (a change may be read a sync late),
    // the next one is.
    let missed = (now - changed - sync).max(0);
    let next = (missed + period - 1) / period;
    let due_in = changed + period * next.max(1) - now;
    let due = due_in <= i64::from(fs.lead_seconds) + sync;
    let (rise, quantile) = if due { rise(steps)? } else { (1.0, 0.0) };
    let replicas = sized(spec, current, demand * rise, target);
    let hold = early(fs, floor.max(replicas), current);
    Some(ForecastVerdict::Cadence {
        period: period as u32,
        regular,
        due_in,
        rise,
        quantile,
        after_rise: steps.rose,
        replicas,
        hold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps_of(readings: impl IntoIterator<Item = (i64, f64)>) -> Steps {
        let mut s = Steps::default();
        for (t, v) in readings {
            observe(&mut s, t, v);
        }
        s
    }

    /// A reading every 15 s of a value that changes every 300 s.
    fn stepped(minutes: i64, value: impl Fn(i64) -> f64) -> Steps {
        steps_of((0..minutes * 4).map(|i| (i * 15, value(i * 15 / 300))))
    }

    #[test]
    fn a_reading_that_changes_every_five_minutes_keeps_that_cadence() {
        let s = stepped(60, |k| 100.0 + (k % 3) as f64 * 10.0);
        assert_eq!(s.changes.len(), 10, "11 changes in an hour, the first without a gap");
        assert!(s.changes.iter().all(|c| c.gap == 300));
        assert_eq!(period(&s, 60, 15), Some((300, 1.0)));
        // Too fast for a 150 s lead: with a 15 s sync it needs a period of 330 s or more.
        assert_eq!(period(&s, 150, 15), None);
    }

    #[test]
    fn a_value_that_often_repeats_keeps_the_shorter_period() {
        // Changes every 5 minutes, but the value repeats one time in two or three: gaps of 5, 10 and
        // 15 minutes, whose median (10) only half of them keep to.
        let s = stepped(24 * 60, |k| ((k / 2) + (k / 5)) as f64);
        assert!(s.changes.iter().any(|c| c.gap == 600) && s.changes.iter().any(|c| c.gap == 300));
        let (p, share) = period(&s, 60, 15).expect("a cadence");
        assert_eq!((p, share), (300, 1.0));
    }

    #[test]
    fn a_reading_that_moves_at_every_sync_or_at_random_has_no_cadence() {
        let every = steps_of((0..400).map(|i| (i * 15, 100.0 + (i % 7) as f64)));
        assert_eq!(period(&every, 60, 15), None, "moves every 15 s: too fast");
        // Changes at irregular gaps (a pseudo-random walk of 2 to 9 syncs).
        let mut t = 0;
        let mut readings = Vec::new();
        for k in 0..60 {
            let gap = 15 * (2 + (k * 7919 % 8));
            for s in (0..gap).step_by(15) {
                readings.push((t + s, 100.0 + (k % 5) as f64));
            }
            t += gap;
        }
        let random = steps_of(readings);
        assert!(random.changes.len() >= MIN_CHANGES);
        assert_eq!(period(&random, 15, 15), None, "no regular period");
    }

    #[test]
    fn a_silence_loses_the_phase_until_the_next_change() {
        let mut s = stepped(60, |k| 100.0 + (k % 3) as f64 * 10.0);
        let before = s.changes.len();
        observe(&mut s, 3600 + 3600, 500.0);
        assert_eq!(s.changed, None, "after an hour of silence the next change's time is unknown");
        assert_eq!(s.changes.len(), before, "and the jump over the silence is no change measured");
        observe(&mut s, 7215, 500.0);
        observe(&mut s, 7230, 520.0);
        assert_eq!(s.changed, Some(7230));
        assert_eq!(s.changes.len(), before, "the first change after it starts the chain");
    }

    #[test]
    fn the_rise_is_a_quantile_of_the_rises_that_followed_the_same_way() {
        // Up 20% after every fall, down after every rise: after a fall, the next change is +20%.
        let s = stepped(24 * 60 - 5, |k| if k % 2 == 0 { 100.0 } else { 120.0 });
        assert!(!s.rose, "the last change was a fall");
        let (r, q) = rise(&s).expect("rises measured");
        assert!((r - 1.2).abs() < 0.001, "{r}");
        // Half the changes are rises of 20%: none beyond 25%, so the quantile is 1.
        assert_eq!(q, 1.0);
    }
}
