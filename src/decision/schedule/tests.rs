//! Windows at a time (open, bounds, next edge, DST both ways) and `decide` under them: a window's
//! start brings the count to its minimum at once, its end is ramped down by the scale-down rails,
//! and the engine's invariants hold against the bounds in force.

use jiff::SignedDuration;
use proptest::prelude::*;

use super::*;
use crate::api::{GeneralScalerSpec, History};
use crate::decision::{Decision, Input, Reading, SloReadings, Stage, decide};

fn spec(windows: serde_json::Value) -> GeneralScalerSpec {
    serde_json::from_value(serde_json::json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2, "maxReplicas": 20,
        "metric": {"type": "http", "targetValue": 10, "targetType": "AverageValue", "http": {"url": "http://m/x"}},
        "schedules": windows,
    }))
    .unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Weekdays 09:00 to 18:00 Berlin, min 10; 2026-01-05 is a Monday (Berlin is UTC+1 in winter).
fn business() -> serde_json::Value {
    serde_json::json!({"name": "business-hours", "timezone": "Europe/Berlin",
                       "start": "0 9 * * MON-FRI", "end": "0 18 * * MON-FRI", "minReplicas": 10})
}

#[test]
fn a_window_is_open_from_its_start_to_the_next_end() {
    let spec = spec(serde_json::json!([business()]));
    let cases = [
        // (time, open, next edge)
        ("2026-01-05T07:59:59Z", false, "2026-01-05T08:00:00Z"),
        ("2026-01-05T08:00:00Z", true, "2026-01-05T17:00:00Z"),
        ("2026-01-05T16:59:59Z", true, "2026-01-05T17:00:00Z"),
        ("2026-01-05T17:00:00Z", false, "2026-01-06T08:00:00Z"),
        ("2026-01-09T17:00:00Z", false, "2026-01-12T08:00:00Z"),
        ("2026-01-10T12:00:00Z", false, "2026-01-12T08:00:00Z"),
    ];
    for (now, open, edge) in cases {
        let state = window_state(0, &spec.schedules[0], at(now));
        assert_eq!(state.open, open, "{now}");
        assert_eq!(state.next_edge.unwrap().to_string(), edge, "{now}");
        assert_eq!(next_edge(&spec, at(now)).unwrap().to_string(), edge, "{now}");
        let b = bounds(&spec, at(now));
        assert_eq!((b.min, b.max, b.min_window), if open { (10, 20, Some(0)) } else { (2, 20, None) });
    }
}

#[test]
fn a_window_over_midnight_and_over_a_weekend() {
    let spec = spec(serde_json::json!([
        {"name": "nightly-batch", "start": "0 22 * * *", "end": "0 6 * * *", "minReplicas": 8},
        {"name": "weekend", "start": "0 0 * * SAT", "end": "0 0 * * MON", "maxReplicas": 3, "minReplicas": 0},
    ]));
    let open = |now: &str| windows(&spec, at(now)).iter().map(|s| s.open).collect::<Vec<_>>();
    assert_eq!(open("2026-01-05T23:00:00Z"), [true, false]);
    assert_eq!(open("2026-01-06T05:59:00Z"), [true, false]);
    assert_eq!(open("2026-01-06T06:00:00Z"), [false, false]);
    assert_eq!(open("2026-01-11T12:00:00Z"), [false, true]);
    assert_eq!(open("2026-01-10T23:00:00Z"), [true, true]);
}

#[test]
fn overlapping_windows_the_highest_minimum_and_the_highest_maximum_win() {
    let spec = spec(serde_json::json!([
        {"name": "a", "start": "0 8 * * *", "end": "0 20 * * *", "minReplicas": 5, "maxReplicas": 30},
        {"name": "b", "start": "0 12 * * *", "end": "0 14 * * *", "minReplicas": 12},
        {"name": "c", "start": "0 12 * * *", "end": "0 13 * * *", "maxReplicas": 50, "minReplicas": 3},
    ]));
    let b = bounds(&spec, at("2026-01-05T12:30:00Z"));
    assert_eq!(b, Bounds { min: 12, max: 50, min_window: Some(1), max_window: Some(2) });
    let b = bounds(&spec, at("2026-01-05T13:30:00Z"));
    assert_eq!(b, Bounds { min: 12, max: 30, min_window: Some(1), max_window: Some(0) });
    let b = bounds(&spec, at("2026-01-05T15:00:00Z"));
    assert_eq!(b, Bounds { min: 5, max: 30, min_window: Some(0), max_window: Some(0) });
    let b = bounds(&spec, at("2026-01-05T21:00:00Z"));
    assert_eq!(b, Bounds::of_spec(&spec));
    // The next edge is the nearest of all: c closes at 13:00.
    assert_eq!(next_edge(&spec, at("2026-01-05T12:30:00Z")).unwrap().to_string(), "2026-01-05T13:00:00Z");
}

#[test]
fn a_window_may_go_below_the_spec_minimum_even_to_zero() {
    let spec = spec(serde_json::json!([
        {"name": "night", "start": "0 0 * * *", "end": "0 6 * * *", "minReplicas": 0},
    ]));
    let b = bounds(&spec, at("2026-01-05T03:00:00Z"));
    assert_eq!((b.min, b.max, b.min_window), (0, 20, Some(0)));
}

#[test]
fn a_minimum_above_the_maximum_wins() {
    let spec = spec(serde_json::json!([
        {"name": "sale", "start": "0 0 * * *", "end": "0 6 * * *", "minReplicas": 30},
    ]));
    let b = bounds(&spec, at("2026-01-05T03:00:00Z"));
    assert_eq!((b.min, b.max), (30, 30));
}

#[test]
fn an_invalid_window_is_never_open() {
    let spec = spec(serde_json::json!([
        {"name": "bad-zone", "timezone": "Mars/Olympus", "start": "* * * * *", "end": "0 0 1 1 *", "minReplicas": 9},
        {"name": "bad-cron", "start": "0 25 * * *", "end": "0 0 * * *", "minReplicas": 9},
    ]));
    let now = at("2026-01-05T03:00:00Z");
    assert!(windows(&spec, now).iter().all(|s| s.invalid && !s.open));
    assert_eq!(bounds(&spec, now), Bounds::of_spec(&spec));
    assert_eq!(next_edge(&spec, now), None);
    assert_eq!(
        describe(&spec, &windows(&spec, now)[0], now),
        "bad-zone (raises min to 9) is never open: its cron or time zone is invalid (see gscale validate)"
    );
}

#[test]
fn a_spring_forward_start_opens_once_right_after_the_gap() {
    // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC; 02:30 does not exist.
    let spec = spec(serde_json::json!([
        {"name": "early", "timezone": "Europe/Berlin", "start": "30 2 * * *", "end": "0 5 * * *", "minReplicas": 6},
    ]));
    let w = &spec.schedules[0];
    assert!(!window_state(0, w, at("2026-03-29T00:59:59Z")).open);
    let state = window_state(0, w, at("2026-03-29T00:59:59Z"));
    assert_eq!(state.next_edge.unwrap().to_string(), "2026-03-29T01:00:00Z", "03:00 CEST");
    let state = window_state(0, w, at("2026-03-29T01:00:00Z"));
    assert!(state.open);
    assert_eq!(state.opened.unwrap().to_string(), "2026-03-29T01:00:00Z");
    assert_eq!(state.next_edge.unwrap().to_string(), "2026-03-29T03:00:00Z", "05:00 CEST");
    // Once: the next opening is the next day's 02:30 CEST.
    let state = window_state(0, w, at("2026-03-29T03:00:00Z"));
    assert!(!state.open);
    assert_eq!(state.next_edge.unwrap().to_string(), "2026-03-30T00:30:00Z");
}

#[test]
fn a_fall_back_start_opens_once_at_the_first_occurrence() {
    // New York, 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00 UTC; 01:30 happens twice.
    let spec = spec(serde_json::json!([
        {"name": "early", "timezone": "America/New_York", "start": "30 1 * * *", "end": "45 1 * * *", "minReplicas": 6},
    ]));
    let w = &spec.schedules[0];
    // Open from the first 01:30 (05:30 UTC) to the first 01:45 (05:45 UTC).
    assert!(window_state(0, w, at("2026-11-01T05:30:00Z")).open);
    let state = window_state(0, w, at("2026-11-01T05:44:00Z"));
    assert_eq!(state.next_edge.unwrap().to_string(), "2026-11-01T05:45:00Z");
    // The second 01:30 to 01:45 (06:30 to 06:45 UTC) opens nothing.
    let state = window_state(0, w, at("2026-11-01T06:35:00Z"));
    assert!(!state.open);
    assert_eq!(state.next_edge.unwrap().to_string(), "2026-11-02T06:30:00Z");
}

#[test]
fn plan_and_status_lines() {
    let spec = spec(serde_json::json!([business()]));
    let now = at("2026-01-05T13:48:00Z");
    let state = window_state(0, &spec.schedules[0], now);
    assert_eq!(
        describe(&spec, &state, now),
        "business-hours raises min to 10 until 18:00 Europe/Berlin, in 3h12m"
    );
    let now = at("2026-01-09T18:00:00Z");
    let state = window_state(0, &spec.schedules[0], now);
    assert_eq!(
        describe(&spec, &state, now),
        "business-hours (raises min to 10) opens Mon 09:00 Europe/Berlin, in 2d14h"
    );
    let mut w = spec.schedules[0].clone();
    w.min_replicas = Some(0);
    w.max_replicas = Some(20);
    assert_eq!(sets_text(&spec, &w), "lowers min to 0 and keeps max at 20");
}

// ---- decide under windows ----

/// One decision of `spec` at `now` from `current` replicas with the metric at `value` (a total:
/// it asks for ceil(value / 10)).
fn decide_at(
    spec: &GeneralScalerSpec,
    current: i32,
    value: f64,
    history: &History,
    now: Timestamp,
) -> Decision {
    let readings: [Reading; 1] = [Ok(value)];
    decide(&Input {
        spec,
        current_replicas: current,
        ready_replicas: None,
        readings: &readings,
        slo: &SloReadings::default(),
        history,
        now,
    })
}

/// Rails: scale-up cooldown 10 min, scale-down by at most 3 every 60 s, no windows.
fn railed(mut spec: GeneralScalerSpec) -> GeneralScalerSpec {
    spec.behavior.scale_up.cooldown_seconds = 600;
    spec.behavior.scale_down.max_decrement = Some(3);
    spec.behavior.scale_down.cooldown_seconds = 60;
    spec.behavior.scale_down.stabilization_window_seconds = 0;
    spec
}

#[test]
fn a_window_start_brings_the_count_to_its_minimum_at_once_and_says_which_window() {
    let spec = railed(spec(serde_json::json!([business()])));
    // A scale-up a minute before the start: its cooldown does not hold a bound.
    let history = History { last_scale_up_time: Some(at("2026-01-05T07:59:00Z")), ..History::default() };
    let d = decide_at(&spec, 2, 15.0, &history, at("2026-01-05T08:00:00Z"));
    assert_eq!((d.desired, d.apply), (10, true));
    let report = d.report(&spec, &[Ok(15.0)]);
    assert_eq!(report.steps[Stage::Bounds as usize].why, "business-hours raises min to 10");
    assert_eq!(report.verdict, "scale 2 -> 10: business-hours raises min to 10");
    // While open, the window is why the count holds.
    let d = decide_at(&spec, 10, 15.0, &d.history, at("2026-01-05T12:00:00Z"));
    assert_eq!(d.verdict(&spec), "hold at 10: business-hours raises min to 10");
    // A second before the start the spec's own bounds stand.
    let d = decide_at(&spec, 2, 15.0, &History::default(), at("2026-01-05T07:59:59Z"));
    assert_eq!(d.desired, 2);
    assert_eq!(d.report(&spec, &[Ok(15.0)]).steps[Stage::Bounds as usize].why, "within [2, 20]");
}

#[test]
fn a_window_end_is_ramped_down_by_the_scale_down_rails() {
    let spec = railed(spec(serde_json::json!([business()])));
    let end = at("2026-01-05T17:00:00Z");
    let mut history = History { last_scale_up_time: Some(at("2026-01-05T08:00:00Z")), ..History::default() };
    let mut current = 10;
    let mut seen = Vec::new();
    // Every 30 s from a minute before the end, with the metric asking for 1.
    for tick in -2..8 {
        let now = end + SignedDuration::from_secs(30 * tick);
        let d = decide_at(&spec, current, 5.0, &history, now);
        if d.apply {
            current = d.desired;
            seen.push((tick, current, d.verdict(&spec)));
        }
        history = d.history;
    }
    assert_eq!(
        seen,
        [
            (0, 7, "scale 10 -> 7: maxDecrement 3".to_string()),
            (2, 4, "scale 7 -> 4: maxDecrement 3".to_string()),
            (4, 2, "scale 4 -> 2: http 5 / target 10 = 0.50 -> 1; then raised to minReplicas 2".to_string()),
        ],
        "10 -> 7 at the end, then a step per cooldown down to the spec's own minimum"
    );
}

#[test]
fn the_scale_down_window_remembers_what_the_metrics_asked_not_the_window_floor() {
    // Recommendations are recorded before the bounds stage, as for any change of minReplicas: at
    // the end, a window of the metrics' own asks does not hold the scheduled capacity.
    let mut spec = spec(serde_json::json!([business()]));
    spec.behavior.scale_down.cooldown_seconds = 0;
    spec.behavior.scale_down.stabilization_window_seconds = 300;
    let open = decide_at(&spec, 10, 30.0, &History::default(), at("2026-01-05T16:58:00Z"));
    assert_eq!(open.desired, 10);
    let d = decide_at(&spec, 10, 30.0, &open.history, at("2026-01-05T17:00:00Z"));
    assert_eq!(d.desired, 3, "the highest the metrics asked within 300 s");
}

#[test]
fn a_window_below_the_spec_minimum_lets_activation_rest_at_zero() {
    let spec = railed(spec(serde_json::json!([
        {"name": "night", "start": "0 0 * * *", "end": "0 6 * * *", "minReplicas": 0},
    ])));
    let night = at("2026-01-05T03:00:00Z");
    let d = decide_at(&spec, 2, 0.0, &History::default(), night);
    assert_eq!(d.desired, 0, "every metric at or below activationValue: 0");
    let report = d.report(&spec, &[Ok(0.0)]);
    assert_eq!(
        report.steps[Stage::Activation as usize].why,
        "every metric at or below activationValue: rest at 0"
    );
    assert_eq!(report.steps[Stage::Bounds as usize].why, "within [0, 20] (schedule night)");
    let d = decide_at(&spec, 0, 4.0, &History::default(), night);
    assert_eq!(d.desired, 1, "above activationValue: at least 1");
    assert_eq!(
        d.report(&spec, &[Ok(4.0)]).steps[Stage::Bounds as usize].why,
        "within [0, 20] (schedule night)"
    );
    // By day the spec's minimum of 2 holds and activation does not apply.
    let day = at("2026-01-05T07:00:00Z");
    let d = decide_at(&spec, 0, 0.0, &History::default(), day);
    assert_eq!(d.desired, 2);
    assert_eq!(d.verdict(&spec), "scale 0 -> 2: raised to minReplicas 2");
}

#[test]
fn a_window_that_lowers_the_maximum_caps_at_once() {
    let spec = railed(spec(serde_json::json!([
        {"name": "weekend", "start": "0 0 * * SAT", "end": "0 0 * * MON", "maxReplicas": 3},
    ])));
    // Saturday: 12 replicas, metrics ask for 12; the cap comes at once, whatever maxDecrement says.
    let d = decide_at(&spec, 12, 120.0, &History::default(), at("2026-01-10T00:00:00Z"));
    assert_eq!(d.desired, 3);
    assert_eq!(d.verdict(&spec), "scale 12 -> 3: weekend lowers max to 3");
}

#[test]
fn overlapping_windows_raise_to_the_highest_minimum_and_name_it() {
    let spec = railed(spec(serde_json::json!([
        {"name": "business-hours", "start": "0 8 * * *", "end": "0 18 * * *", "minReplicas": 6},
        {"name": "launch", "start": "0 12 * * *", "end": "0 13 * * *", "minReplicas": 15, "maxReplicas": 40},
    ])));
    let d = decide_at(&spec, 6, 10.0, &History::default(), at("2026-01-05T12:00:00Z"));
    assert_eq!(d.verdict(&spec), "scale 6 -> 15: launch raises min to 15");
    let d = decide_at(&spec, 15, 300.0, &History::default(), at("2026-01-05T12:30:00Z"));
    assert_eq!(d.desired, 30, "launch's maxReplicas 40 lets 30 through, above the spec's 20");
    assert_eq!(
        d.report(&spec, &[Ok(300.0)]).steps[Stage::Bounds as usize].why,
        "within [15, 40] (schedule launch)"
    );
}

fn arb_window() -> impl Strategy<Value = serde_json::Value> {
    (0u32..24, 1u32..24, prop::option::of(0i32..15), prop::option::of(0i32..40), 0usize..3).prop_map(
        |(start, length, min, max, zone)| {
            let (min, max) = match (min, max) {
                (None, None) => (Some(5), None),
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            let zone = ["UTC", "Europe/Berlin", "America/New_York"][zone];
            serde_json::json!({"name": format!("w{start}-{length}"), "timezone": zone,
                "start": format!("0 {start} * * *"), "end": format!("30 {} * * *", (start + length) % 24),
                "minReplicas": min, "maxReplicas": max})
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// DESIGN §2's invariants against the bounds in force: the result is within them; while the
    /// count is inside them, every step keeps the rate limits and cooldowns.
    #[test]
    fn invariants_hold_against_the_bounds_in_force(
        windows in prop::collection::vec(arb_window(), 1..4),
        (min, span) in (0i32..5, 1i32..30),
        (inc, dec, up_cooldown, down_cooldown) in (prop::option::of(1i32..6), prop::option::of(1i32..6), 0u32..900, 0u32..900),
        start in 0i32..60,
        ticks in prop::collection::vec((0.0f64..500.0, 60i64..7200), 1..20),
    ) {
        let mut spec = spec(serde_json::Value::Array(windows));
        spec.schedules.dedup_by(|a, b| a.name == b.name);
        spec.min_replicas = min;
        spec.max_replicas = min + span;
        spec.behavior.scale_up.max_increment = inc;
        spec.behavior.scale_up.cooldown_seconds = up_cooldown;
        spec.behavior.scale_down.max_decrement = dec;
        spec.behavior.scale_down.cooldown_seconds = down_cooldown;
        spec.behavior.scale_down.stabilization_window_seconds = 0;
        let mut now = at("2026-03-28T20:00:00Z");
        let mut current = start;
        let mut history = History::default();
        for (value, gap) in ticks {
            now += SignedDuration::from_secs(gap);
            let b = bounds(&spec, now);
            let d = decide_at(&spec, current, value, &history, now);
            prop_assert!(d.desired >= b.min && d.desired <= b.max, "{} not in {b:?}", d.desired);
            if current >= b.min && current <= b.max {
                if let Some(step) = inc {
                    prop_assert!(d.desired - current <= step, "maxIncrement {step}: {current} -> {}", d.desired);
                }
                if let Some(step) = dec {
                    prop_assert!(current - d.desired <= step, "maxDecrement {step}: {current} -> {}", d.desired);
                }
                let since = |t: Option<Timestamp>| t.map(|t| now.duration_since(t).as_secs());
                if d.desired > current && let Some(s) = since(history.last_scale_up_time) {
                    prop_assert!(s >= i64::from(up_cooldown), "scale-up cooldown");
                }
                if d.desired < current
                    && let Some(s) = since(history.last_scale_down_time)
                {
                    prop_assert!(s >= i64::from(down_cooldown), "scale-down cooldown");
                }
            }
            if d.apply {
                current = d.desired;
            }
            history = d.history;
        }
    }
}
