//! The forecaster's memory and the forecast stage on hand-computed cases.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::api::{ForecastHistoryWire, ForecastSpec};
use crate::decision::{Decision, Stage};

/// Midnight UTC, a Monday.
fn day0() -> Timestamp {
    "2026-11-16T00:00:00Z".parse().unwrap()
}

fn minute(m: i64) -> Timestamp {
    day0() + SignedDuration::from_secs(m * 60)
}

fn on() -> ForecastSpec {
    ForecastSpec { mode: ForecastMode::On, ..ForecastSpec::default() }
}

/// 100 until 10:00 each day, 400 from 10:00 to midnight.
fn step_shape(m: i64) -> f64 {
    if m.rem_euclid(1440) < 600 { 100.0 } else { 400.0 }
}

/// `minutes` of `shape` from day 0, one reading per minute, for `spec`'s settings on the rails of
/// [`spec`].
fn learnt(settings: &ForecastSpec, minutes: i64, shape: fn(i64) -> f64) -> ForecastHistory {
    let mut scaler = spec(settings.mode);
    scaler.forecast = Some(settings.clone());
    ForecastHistory::from_series(&scaler, (0..minutes).map(|m| (minute(m), shape(m))))
}

/// A Value metric with target 100 per pod, no rails, bounds [1, 100], forecast `mode`.
fn spec(mode: ForecastMode) -> GeneralScalerSpec {
    serde_json::from_value(serde_json::json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 100,
        "metric": {"type": "prometheus", "targetValue": 100,
                   "prometheus": {"serverUrl": "http://p", "query": "q"}},
        "behavior": {"scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 300}},
        "forecast": {"mode": mode}
    }))
    .unwrap()
}

fn decide_at(
    spec: &GeneralScalerSpec,
    current: i32,
    per_pod: f64,
    history: &History,
    now: Timestamp,
) -> Decision {
    crate::decision::tests::run(spec, current, &[Ok(per_pod)], history, now)
}

#[test]
fn codes_keep_values_within_a_fraction_of_a_percent() {
    for v in [0.0, 1e-7, 0.3, 1.0, 57.0, 1234.5, 9.9e11] {
        let back = code::decode(code::encode(v)).unwrap();
        assert!((back - v).abs() <= v * 0.0004 + 1e-6, "{v} came back as {back}");
    }
    assert_eq!(code::encode(f64::NAN), 0);
    assert_eq!(code::encode(-1.0), 0);
    assert_eq!(code::decode(0), None);
}

#[test]
fn the_precision_of_codes_bounds_what_they_read_back() {
    for v in [1e-5, 0.3, 1.0, 2.0, 20.0, 57.0, 1234.5, 9.9e9] {
        let back = code::decode(code::encode(v)).unwrap();
        assert!(back <= v * (1.0 + code::PRECISION) && back >= v / (1.0 + code::PRECISION), "{v} -> {back}");
    }
}

#[test]
fn a_flat_load_at_a_multiple_of_the_target_needs_no_extra_pod() {
    // Four days of exactly 500 against a target of 100 a pod: 5 pods, not the 6 that 500 read back a
    // fraction of a percent high from its code would ask for.
    let s = spec(ForecastMode::On);
    let h = learnt(&on(), 4 * 1440, |_| 500.0);
    assert!(code::decode(code::encode(500.0)).unwrap() > 500.0, "the case this test is about");
    let history = History { forecast: Some(h), ..History::default() };
    let d = decide_at(&s, 5, 100.0, &history, minute(4 * 1440));
    assert!(matches!(verdict_of(&d), ForecastVerdict::Covered { replicas: 5, .. }), "{:#?}", d.steps);
    assert_eq!(d.desired, 5);
}

#[test]
fn readings_are_averaged_per_minute_and_learnt_when_the_minute_ends() {
    let mut h = ForecastHistory::new(&spec(ForecastMode::On));
    h.record(minute(0), 100.0);
    h.record(minute(0) + SignedDuration::from_secs(30), 200.0);
    assert_eq!(h.expected_at(minute(0)), None, "the minute is still open");
    h.record(minute(1), 50.0);
    let learnt = h.expected_at(minute(0)).unwrap();
    assert!((learnt - 150.0).abs() < 0.1, "mean of 100 and 200: {learnt}");
    // The next day the same minute moves 30% of the way to the new value: 150 + 0.3 x (250 - 150).
    h.record(minute(1440), 250.0);
    h.record(minute(1441), 0.0);
    let learnt = h.expected_at(minute(0)).unwrap();
    assert!((learnt - 180.0).abs() < 0.2, "{learnt}");
    // Not a number >= 0: ignored, as no data is not zero.
    h.record(minute(1441), f64::NAN);
    h.record(minute(1441), -3.0);
    assert_eq!(h.partial, (0.0, 1));
}

#[test]
fn a_learnt_step_is_forecast_a_lead_time_ahead_with_no_error() {
    let now = 3 * 1440 + 599;
    let h = learnt(&on(), now + 1, step_shape);
    assert!(h.covered());
    assert_eq!(h.stats.errors as usize, ERROR_MINUTES);
    assert_eq!((h.stats.typical, h.stats.margin), (0.0, 0.0), "a shape repeated exactly is forecast exactly");
    // Day 4 at 09:59:30, lead 60 s: minutes 599 (100) and 600 (400) at level 1 -> 400 -> 4 pods.
    let now = minute(now) + SignedDuration::from_secs(30);
    let history = History { forecast: Some(h), ..History::default() };
    let d = decide_at(&spec(ForecastMode::On), 1, 100.0, &history, now);
    let step = d.step(Stage::Forecast);
    assert_eq!((step.input, step.output), (1, 4), "{:#?}", step.why);
    assert_eq!(d.desired, 4);
    let text = d.report(&spec(ForecastMode::On), &[Ok(100.0)]).steps[Stage::Forecast as usize].why.clone();
    assert!(text.contains("within 60s") && text.contains("needs 4: raised from the reactive 1"), "{text}");

    // Observe computes the same and changes nothing.
    let d = decide_at(&spec(ForecastMode::Observe), 1, 100.0, &history, now);
    let step = d.step(Stage::Forecast);
    assert_eq!((step.input, step.output, d.desired), (1, 1, 1));
    let text =
        d.report(&spec(ForecastMode::Observe), &[Ok(100.0)]).steps[Stage::Forecast as usize].why.clone();
    assert!(text.contains("needs 4") && text.contains("observe only"), "{text}");
}

#[test]
fn no_history_means_the_reactive_count_and_says_so() {
    let s = spec(ForecastMode::On);
    let d = decide_at(&s, 2, 250.0, &History::default(), minute(0));
    let step = d.step(Stage::Forecast);
    assert_eq!((step.input, step.output), (5, 5));
    assert!(matches!(step.why, Why::Forecast { verdict: ForecastVerdict::WarmingUp { .. }, .. }));
    // The reading was recorded: the daemon persists it with the rest of the history.
    assert_eq!(d.history.forecast.as_ref().unwrap().partial, (500.0, 1));
    let text = d.report(&s, &[Ok(250.0)]).steps[Stage::Forecast as usize].why.clone();
    assert!(text.starts_with("forecast learning") && text.contains("reactive count stands"), "{text}");
    // Off keeps no memory.
    let d = decide_at(&spec(ForecastMode::Off), 2, 250.0, &d.history, minute(1));
    assert!(d.history.forecast.is_none());
    assert_eq!(d.step(Stage::Forecast).why, Why::ForecastOff);
}

/// The forecast stage's verdict in a decision.
fn verdict_of(d: &Decision) -> ForecastVerdict {
    match d.step(Stage::Forecast).why {
        Why::Forecast { verdict, .. } => verdict,
        other => panic!("not a forecast: {other:?}"),
    }
}

#[test]
fn a_changed_shape_drops_the_profile_and_keeps_the_recent_peak() {
    // Three days of a load that jumps every third minute; from 03:00 on day 4 it is flat, so the
    // jumps the profile expects do not come: 40 minutes later it is off track.
    let start = 3 * 1440 + 180;
    let mut h = learnt(&on(), start, |m| if m % 3 == 2 { 400.0 } else { 100.0 });
    for m in start..start + 40 {
        h.record(minute(m), 100.0);
    }
    assert!(h.stats.recent > 0.5, "{:?}", h.stats);
    let history = History { forecast: Some(h), ..History::default() };
    let d = decide_at(&spec(ForecastMode::On), 3, 100.0, &history, minute(start + 40));
    let step = d.step(Stage::Forecast);
    // The profile is off track, so it raises nothing; the recent peaks (100) need no more than the
    // reactive 3.
    assert!(matches!(verdict_of(&d), ForecastVerdict::Covered { profile: None, .. }), "{step:?}");
    assert_eq!((step.input, step.output), (3, 3));
}

#[test]
fn a_noisy_load_is_covered_from_its_recent_peaks_not_its_profile() {
    // Each minute of the day takes one of two far-apart values, differently each day: no profile
    // can tell which, but a third of the minutes need 10 pods (950 at 100 a pod).
    let noisy = |m: i64| if (m * 7919 + m / 1440 * 104_729) % 3 == 0 { 950.0 } else { 10.0 };
    let h = learnt(&on(), 4 * 1440, noisy);
    assert!(h.stats.typical > 0.5, "{:?}", h.stats);
    let history = History { forecast: Some(h), ..History::default() };
    let d = decide_at(&spec(ForecastMode::On), 2, 5.0, &history, minute(4 * 1440));
    let step = d.step(Stage::Forecast);
    let ForecastVerdict::Covered { profile, coverage, replicas, .. } = verdict_of(&d) else {
        panic!("{step:?}")
    };
    assert_eq!(profile, None, "the profile is not trusted");
    assert!((0.5..=1.0).contains(&coverage), "{coverage}");
    assert_eq!((step.input, step.output, replicas), (1, 10, 10), "raised to the recent peak: {step:?}");
}

#[test]
fn a_load_that_moves_within_the_minute_gets_no_forecast_and_is_told_why() {
    // Four readings a minute, 100 and 300 in turn: minute statistics cannot see what happens
    // between them, so neither forecast acts. While the profile still learns, the stage says so.
    let s = spec(ForecastMode::On);
    let readings = |minutes: i64| {
        (0..minutes * 4).map(|q| (day0() + SignedDuration::from_secs(q * 15), [100.0, 300.0][q as usize % 2]))
    };
    let h = ForecastHistory::from_series(&s, readings(180));
    assert!(h.stats.spread > 1.4 && h.stats.base > 0, "{:?}", h.stats);
    let history = History { forecast: Some(h), ..History::default() };
    let d = decide_at(&s, 3, 100.0, &history, minute(180));
    assert!(matches!(verdict_of(&d), ForecastVerdict::WarmingUp { .. }), "{:?}", d.steps);
    assert_eq!(d.step(Stage::Forecast).output, 3);

    // A day and two hours later the profile knows the day: the stage stands aside and says why.
    let h = ForecastHistory::from_series(&s, readings(1440 + 120));
    assert!(h.covered());
    let history = History { forecast: Some(h), ..History::default() };
    let d = decide_at(&s, 3, 100.0, &history, minute(1440 + 120));
    assert!(
        matches!(verdict_of(&d), ForecastVerdict::Unresolved { spread } if spread > 1.4),
        "{:?}",
        d.steps
    );
    assert_eq!(d.step(Stage::Forecast).output, 3);
    let text = d.report(&s, &[Ok(100.0)]).steps[Stage::Forecast as usize].why.clone();
    assert!(
        text.starts_with("forecast stands aside: the typical minute of the last 4h peaked 50% above"),
        "{text}"
    );
    assert!(text.ends_with("the reactive count stands"), "{text}");
}

#[test]
fn scale_down_goes_as_soon_as_the_recent_peaks_allow_and_the_profile_raises_ahead() {
    let s = spec(ForecastMode::On);
    // 10 pods were needed a minute ago; the load is now 100 in the low part of the day.
    let base = 3 * 1440 + 60;
    let h = learnt(&on(), base + 1, step_shape);
    let recommendations = vec![crate::api::Recommendation { time: minute(base - 1), replicas: 10 }];
    let history =
        History { forecast: Some(h.clone()), recommendations: recommendations.clone(), ..History::default() };
    let d = decide_at(&s, 10, 10.0, &history, minute(base));
    assert_eq!(d.desired, 1, "{:#?}", d.steps);
    assert!(matches!(
        d.step(Stage::Stabilization).why,
        Why::WindowShortened { window_seconds: 300, hold: 1 }
    ));

    // At 09:57 the 400 of 10:00 is beyond the lead time: the window holds nothing (pods come back in
    // time); at 09:59 the profile raises to what 10:00 needs, 4.
    let base = 3 * 1440 + 597;
    let h = learnt(&on(), base + 1, step_shape);
    let recommendations = vec![crate::api::Recommendation { time: minute(base - 1), replicas: 10 }];
    let history = History { forecast: Some(h), recommendations, ..History::default() };
    let d = decide_at(&s, 10, 10.0, &history, minute(base));
    assert_eq!(d.desired, 1, "{:#?}", d.steps);
    let mut history = d.history;
    for m in [base + 1, base + 2] {
        history.forecast.as_mut().unwrap().record(minute(m), 100.0);
    }
    let d = decide_at(&s, 1, 100.0, &history, minute(base + 2) + SignedDuration::from_secs(30));
    assert_eq!(d.desired, 4, "{:#?}", d.steps);
    assert!(matches!(verdict_of(&d), ForecastVerdict::Covered { profile: Some(4), replicas: 4, .. }));
}

#[test]
fn a_version_1_history_reads_back_with_its_means_as_peaks() {
    let h = learnt(&on(), 2 * 1440, step_shape);
    let mut wire = ForecastHistoryWire::from(h.clone());
    // Version 1: 14 bytes a minute (no peak), no ratios.
    let recent: Vec<u8> = h
        .recent
        .iter()
        .flat_map(|r| {
            let mut b = r.minute.to_le_bytes().to_vec();
            for c in [r.actual, r.expected, r.level] {
                b.extend(c.to_le_bytes());
            }
            b
        })
        .collect();
    use base64::Engine as _;
    wire.version = 1;
    wire.recent = base64::engine::general_purpose::STANDARD.encode(recent);
    wire.ratios = String::new();
    let back = ForecastHistory::try_from(wire).unwrap();
    assert!(back.ratios.is_empty());
    assert!(back.recent.iter().zip(&h.recent).all(|(b, r)| b.peak == r.actual && b.actual == r.actual));
    assert_eq!((back.daily, back.errors), (h.daily, h.errors));
}

#[test]
fn the_history_survives_status_exactly_and_fits_the_budget() {
    let spec = ForecastSpec { seasons: vec![Season::Daily, Season::Weekly], ..on() };
    let mut h = learnt(&spec, 8 * 1440, step_shape);
    h.record(minute(8 * 1440) + SignedDuration::from_secs(10), 123.0);
    // And a full record of the reading's changes.
    for t in (0..6 * 3600).step_by(15) {
        h.read(minute(8 * 1440 + 1) + SignedDuration::from_secs(t), 100.0 + (t / 300 % 7) as f64);
    }
    assert_eq!(h.steps.changes.len(), crate::api::STEP_CHANGES);
    let json = serde_json::to_string(&h).unwrap();
    assert!(json.len() <= 16 * 1024, "{} bytes in status", json.len());
    let back: ForecastHistory = serde_json::from_str(&json).unwrap();
    assert_eq!(back, h, "a restarted daemon reads back exactly what the running one held");
    // A damaged copy is an error, never a panic.
    let mut wire: ForecastHistoryWire = serde_json::from_str(&json).unwrap();
    wire.daily = Some("AAAA".into());
    assert!(ForecastHistory::try_from(wire).is_err());
}

/// A reading every 15 s from `from` to `to` (seconds after day 0) of `value(k)` for the k-th 5 minutes.
fn read_steps(h: &mut ForecastHistory, from: i64, to: i64, value: impl Fn(i64) -> f64) {
    for t in (from..to).step_by(15) {
        h.read(day0() + SignedDuration::from_secs(t), value(t / 300));
    }
}

#[test]
fn a_reading_that_changes_every_five_minutes_is_covered_only_when_its_next_change_is_due() {
    // The reading alternates 1000 and 1500 every 5 minutes (10 and 15 pods at 100 a pod), read every
    // 15 s for 4 hours: after a fall the next change has always been a rise of 50%.
    let s = spec(ForecastMode::On);
    let value = |k: i64| if k % 2 == 0 { 1000.0 } else { 1500.0 };
    let mut h = ForecastHistory::new(&s);
    let end = 4 * 3600 + 300; // the fall to 1000 came at 4:00 + 0 s; the next change is due at 4:05
    read_steps(&mut h, 0, end - 300 + 15, value);
    let history = History { forecast: Some(h), ..History::default() };

    // 4:00:15, ten pods serving 1000: the next change is 4m45s away, beyond lead time and sync.
    let at = |t: i64| day0() + SignedDuration::from_secs(t);
    let d = decide_at(&s, 10, 100.0, &history, at(end - 285));
    let ForecastVerdict::Cadence { period, regular, due_in, quantile, replicas, hold, .. } = verdict_of(&d)
    else {
        panic!("{:#?}", d.steps)
    };
    assert_eq!((period, regular, due_in, quantile, replicas, hold), (300, 1.0, 285, 0.0, 10, None));
    assert_eq!(d.desired, 10);
    let text = d.report(&s, &[Ok(100.0)]).steps[Stage::Forecast as usize].why.clone();
    assert!(text.starts_with("the reading changes every 5m00s (100% of its last changes kept to it): the next is due in 4m45s, beyond the lead time"), "{text}");

    // 4:03:45: due in 75 s, within the lead time (60 s) and a sync (15 s): 15 pods for the rise.
    let mut history = d.history;
    read_steps(history.forecast.as_mut().unwrap(), end - 270, end - 75, value);
    let d = decide_at(&s, 10, 100.0, &history, at(end - 75));
    let ForecastVerdict::Cadence { due_in, rise, replicas, after_rise, .. } = verdict_of(&d) else {
        panic!("{:#?}", d.steps)
    };
    assert_eq!((due_in, after_rise, replicas, d.desired), (75, false, 15, 15));
    assert!((rise - 1.5).abs() < 0.001, "{rise}");
    let text = d.report(&s, &[Ok(100.0)]).steps[Stage::Forecast as usize].why.clone();
    assert!(
        text.contains(
            "the next is due in 1m15s, within the lead time (60s and a sync); covering a change of +50%"
        ),
        "{text}"
    );
    assert!(text.ends_with("raised from the reactive 10"), "{text}");

    // Observe computes the same and changes nothing.
    let d = decide_at(&spec(ForecastMode::Observe), 10, 100.0, &history, at(end - 75));
    assert!(matches!(verdict_of(&d), ForecastVerdict::Cadence { replicas: 15, .. }));
    assert_eq!(d.desired, 10);

    // After a rise the next change has always been a fall: at 4:08:45 (due in 75 s again) 15 pods
    // serving 1500 need no more; and right after the fall at 4:10 the window holds nothing back.
    read_steps(history.forecast.as_mut().unwrap(), end - 60, end + 225, value);
    let d = decide_at(&s, 15, 100.0, &history, at(end + 225));
    assert!(
        matches!(verdict_of(&d), ForecastVerdict::Cadence { replicas: 15, after_rise: true, .. }),
        "{:#?}",
        d.steps
    );
    let mut history = d.history;
    read_steps(history.forecast.as_mut().unwrap(), end + 240, end + 300, value);
    history.recommendations = vec![crate::api::Recommendation { time: at(end + 285), replicas: 15 }];
    let d = decide_at(&s, 15, 1000.0 / 15.0, &history, at(end + 300));
    assert!(
        matches!(verdict_of(&d), ForecastVerdict::Cadence { replicas: 10, hold: Some(10), .. }),
        "{:#?}",
        d.steps
    );
    assert_eq!(d.desired, 10, "{:#?}", d.steps);
}

#[test]
fn a_change_that_did_not_come_is_awaited_a_sync_then_the_next_instant_is() {
    // Every 5 minutes, but the value repeats at 4:05: 1000 from 4:00 until 4:10.
    let s = spec(ForecastMode::On);
    let value = |k: i64| if k == 49 || k % 2 == 0 { 1000.0 } else { 1500.0 };
    let mut h = ForecastHistory::new(&s);
    let at = |t: i64| day0() + SignedDuration::from_secs(t);
    read_steps(&mut h, 0, 4 * 3600 + 300 + 15, value);
    let history = History { forecast: Some(h), ..History::default() };
    // 4:05:15: the change due at 4:05 may still be read late (within a sync, 30 s by default): it is
    // awaited, margin held.
    let d = decide_at(&s, 15, 1000.0 / 15.0, &history, at(4 * 3600 + 315));
    assert!(
        matches!(verdict_of(&d), ForecastVerdict::Cadence { due_in: -15, replicas: 15, .. }),
        "{:#?}",
        d.steps
    );
    // 4:05:45: it did not come; the next instant is 4:10, beyond the lead time: no margin.
    let d = decide_at(&s, 15, 1000.0 / 15.0, &d.history, at(4 * 3600 + 345));
    assert!(
        matches!(verdict_of(&d), ForecastVerdict::Cadence { due_in: 255, replicas: 10, .. }),
        "{:#?}",
        d.steps
    );
    assert_eq!(d.desired, 10);
}

/// A trend whose record says it acts with `margin`, fed a flat reading of `demand` until now.
fn acting_trend(margin: f64, demand: f64, now_ms: i64) -> Trend {
    let mut t = Trend::default();
    for k in (1..=8).rev() {
        t.readings.push_back((now_ms - k * 15_000, demand));
    }
    t.record = std::iter::repeat_n([code::encode(1.0); 2], trend::MIN_RECORD).collect();
    t.figures = Some((margin, 0.9));
    t
}

// The trend's count keeps the reactive rule's tolerance: demand ahead within 10% of what the current
// pods serve at the target holds the count (the HPA would not move either); beyond it, it sizes.
#[test]
fn the_trend_keeps_the_tolerance_of_the_reactive_rule() {
    let mut scaler = spec(ForecastMode::On);
    scaler.behavior.tolerance = 0.1;
    let fs = scaler.forecast.clone().unwrap();
    let now = minute(600);
    let at = |margin: f64, current: i32| {
        let mut t = acting_trend(margin, 1000.0, now.as_millisecond());
        match trend_verdict(&scaler, &fs, &mut t, Some(1000.0), current, current, now) {
            Some(ForecastVerdict::Trend { replicas, .. }) => replicas,
            other => panic!("{other:?}"),
        }
    };
    // 1000/s with a 5% margin: 10.5 pods of 100 a pod; 10 serve it within tolerance.
    assert_eq!(at(1.05, 10), 10);
    // 12% over what 10 pods serve: beyond tolerance, 12 pods.
    assert_eq!(at(1.12, 10), 12);
    // 11 pods for demand that 9.5 serve: 14% too many, beyond tolerance: 10 pods (the floor rules).
    assert_eq!(at(0.95, 11), 10);
    // 10.5 pods' worth on 11: within tolerance, the count stays.
    assert_eq!(at(1.05, 11), 11);
}
