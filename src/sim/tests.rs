//! The simulator against hand-computed cases: a step, a ramp and a spike, for gscale and the HPA.
//!
//! Every case uses capacity 125/s per pod, a Value metric with target 100/s per pod, a 15 s sync
//! and a 10 s pod start, so the arithmetic can be followed by hand (see each test's comment).

use super::hpa::Hpa;
use super::*;

fn spec(extra: serde_json::Value) -> GeneralScalerSpec {
    let mut base = serde_json::json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 20,
        "syncIntervalSeconds": 15,
        "metric": {"type": "prometheus", "targetValue": 100,
                   "prometheus": {"serverUrl": "http://p", "query": "q"}}
    });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(base).expect("test spec")
}

/// The step replay: the hand-computed cases hold each point and read it at once.
fn settings() -> Settings {
    Settings::step_replay(125.0, 10_000, 1.0, 1.0)
}

fn trace(points: &[(i64, f64)]) -> Trace {
    Trace { points: points.iter().map(|&(s, v)| (s * 1000, v)).collect() }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn both(spec: &GeneralScalerSpec, t: &Trace) -> (Summary, Summary) {
    let g = run(t, spec, &settings(), &mut Gscale::new(spec)).summary;
    let h = run(t, spec, &settings(), &mut Hpa::from_spec(spec)).summary;
    (g, h)
}

// 100/s on 1 pod, then 400/s from t=600 s to the end (1800 s). Both scale 1 -> 4 at 600 (HPA:
// ratio 4 on 1 ready pod, within its max(4 pods, 100%) limit). Backlog (400-125)*10 = 2750 until
// the pods serve at 610, then drains at 100/s: 27.5 s. Violation 37.5 s; pod-hours
// (600 + 4*1200) / 3600 = 1.5.
#[test]
fn step_load() {
    let spec = spec(serde_json::json!({}));
    let (g, h) = both(&spec, &trace(&[(0, 100.0), (600, 400.0), (1200, 400.0)]));
    for s in [&g, &h] {
        assert!(close(s.pod_hours, 1.5), "{s:?}");
        assert!(close(s.slo_violation_minutes, 37.5 / 60.0), "{s:?}");
        assert_eq!((s.scale_events, s.peak_replicas), (1, 4), "{s:?}");
        assert!(close(s.hours, 0.5));
    }
}

// 100, 200, 300, 400, 500/s a minute each, then 500 to 360 s. Each rise adds one pod (ratio 2,
// 1.5, 1.33, 1.25 on ready pods). Violations: [60,70) then 750 queued drain at 50/s (15 s): 25 s;
// [120,130) then 500 at 75/s: 16.667 s; [180,190) then 250 at 100/s: 12.5 s; at 240 capacity 500
// equals demand: no queue. Pod-seconds 60+120+180+240+600 = 1200.
#[test]
fn ramp() {
    let spec = spec(serde_json::json!({}));
    let t = trace(&[(0, 100.0), (60, 200.0), (120, 300.0), (180, 400.0), (240, 500.0), (300, 500.0)]);
    let (g, h) = both(&spec, &t);
    for s in [&g, &h] {
        assert!(close(s.pod_hours, 1200.0 / 3600.0), "{s:?}");
        assert!(close(s.slo_violation_minutes, (25.0 + 50.0 / 3.0 + 12.5) / 60.0), "{s:?}");
        assert_eq!((s.scale_events, s.peak_replicas), (4, 5), "{s:?}");
    }
}

// 100/s, a 30 s spike to 1000/s at 300 s, back to 100/s to the end (930 s).
// gscale (no step limit): 1 -> 10 at 300; 8750 queued by 310, drained at 250/s to 3750 at 330, then
// at 1150/s: 3.26 s. Scale-down waits out the 300 s window (last 10 recommended at 315): 1 at 615.
// HPA: 1 -> 5 at 300 (max(4 pods, 100%)), 5 -> 10 at 315, ready 325; queue 8750 + 375*15 = 14375,
// 13125 at 330, 11.41 s to drain; down to 1 at 615 (the 315 recommendation leaves the window).
#[test]
fn spike() {
    let spec = spec(serde_json::json!({}));
    let (g, h) = both(&spec, &trace(&[(0, 100.0), (300, 1000.0), (330, 100.0), (630, 100.0)]));
    assert!(close(g.pod_hours, (300.0 + 10.0 * 315.0 + 315.0) / 3600.0), "{g:?}");
    assert!(close(g.slo_violation_minutes, (30.0 + 3750.0 / 1150.0) / 60.0), "{g:?}");
    assert_eq!((g.scale_events, g.peak_replicas), (2, 10), "{g:?}");
    assert!(close(h.pod_hours, (300.0 + 5.0 * 15.0 + 10.0 * 300.0 + 315.0) / 3600.0), "{h:?}");
    assert!(close(h.slo_violation_minutes, (30.0 + 13125.0 / 1150.0) / 60.0), "{h:?}");
    assert_eq!((h.scale_events, h.peak_replicas), (3, 10), "{h:?}");
}

// A queue (Redis list, AverageValue 50 per pod): the metric is the backlog, so an empty queue
// shrinks to minReplicas and a growing one scales by backlog / 50.
#[test]
fn queue_metric_reads_the_backlog() {
    let spec = spec(serde_json::json!({
        "metric": {"type": "redis", "targetValue": 50, "redis": {"host": "r", "queueName": "jobs"}}
    }));
    let s = Settings { capacity_per_pod: 10.0, ..settings() };
    let mut model = Model::new(10.0, 2);
    model.advance(0, 10_000, 40.0);
    let demand = Demand::new(&[(0, 40.0)], 600_000, 1.0, Shape::Held, None);
    let o = observe(&spec, &model, &demand, &[Pipeline::Instant], &mut [Tap::default()], 10_000);
    assert_eq!(o.readings, vec![Ok(200.0)]);
    let run = run(&trace(&[(0, 40.0), (600, 40.0)]), &spec, &s, &mut Gscale::new(&spec));
    assert!(run.summary.peak_replicas >= 4, "{:?}", run.summary);
}

// Compression divides the time axis; demand scaling multiplies the values.
#[test]
fn compression_and_demand_scaling() {
    let spec = spec(serde_json::json!({}));
    let t = trace(&[(0, 10.0), (3000, 40.0), (6000, 40.0)]);
    let s = Settings { compress: 20.0, scale_demand: 10.0, ..settings() };
    let r = run(&t, &spec, &s, &mut Hpa::from_spec(&spec)).summary;
    // 6000 s + one 3000 s step, compressed 20x: 450 s; 1 pod for 150 s, then 4.
    assert!(close(r.hours, 450.0 / 3600.0), "{r:?}");
    assert!(close(r.pod_hours, (150.0 + 4.0 * 300.0) / 3600.0), "{r:?}");
}

// The history the engine returns is what it reads next time: cooldowns and windows hold across
// ticks exactly as in the daemon.
#[test]
fn gscale_carries_history_between_ticks() {
    let spec = spec(serde_json::json!({"behavior": {"scaleUp": {"cooldownSeconds": 60}}}));
    let r = run(
        &trace(&[(0, 100.0), (100, 300.0), (130, 600.0), (400, 600.0)]),
        &spec,
        &settings(),
        &mut Gscale::new(&spec),
    );
    let at = |t: f64| r.timeline.iter().find(|s| s.t == t).map(|s| s.replicas);
    // Up to 3 at 105; the rise at 130 waits for the 60 s cooldown: 6 at 165, not before.
    assert_eq!(at(105.0), Some(3));
    assert_eq!(at(150.0), Some(3));
    assert_eq!(at(165.0), Some(6));
}

/// gscale with its history written to JSON and read back between decisions, as the daemon does
/// through the scaler's status.
struct Persisted<'a>(Gscale<'a>);

impl Autoscaler for Persisted<'_> {
    fn interval_ms(&self) -> i64 {
        self.0.interval_ms()
    }

    fn decide(&mut self, now: Timestamp, observed: &Observation) -> i32 {
        let desired = self.0.decide(now, observed);
        let json = serde_json::to_string(&self.0.history).unwrap();
        self.0.history = serde_json::from_str(&json).unwrap();
        desired
    }
}

// Carrying the history in memory or through status JSON gives the same run: nothing the engine
// needs lives outside what the daemon persists.
#[test]
fn history_through_status_json_changes_nothing() {
    for extra in [
        serde_json::json!({}),
        serde_json::json!({"behavior": {"scaleUp": {"cooldownSeconds": 45, "stabilizationWindowSeconds": 30}}}),
        serde_json::json!({"policy": {"type": "costAware", "costAware": {"maxMonthlyCost": 50, "costPerPodPerHour": 0.5}}}),
    ] {
        let spec = spec(extra);
        let points: Vec<(i64, f64)> =
            (0..300).map(|i| (i * 60, 100.0 + ((i * 37) % 23) as f64 * 40.0)).collect();
        let t = trace(&points);
        let memory = run(&t, &spec, &settings(), &mut Gscale::new(&spec));
        let status = run(&t, &spec, &settings(), &mut Persisted(Gscale::new(&spec)));
        assert_eq!(memory, status);
    }
}

// A 15,000-point trace replays in well under a second (checked loosely here; the benchmark
// measures it): the run is linear in points and ticks.
#[test]
fn large_trace_is_linear() {
    let spec = spec(serde_json::json!({}));
    let points: Vec<(i64, f64)> = (0..15_000).map(|i| (i * 300, 100.0 + (i % 97) as f64 * 10.0)).collect();
    let s = Settings { compress: 20.0, ..settings() };
    let r = run(&trace(&points), &spec, &s, &mut Gscale::new(&spec));
    assert_eq!(r.summary.decisions, 15_000);
}

mod properties {
    use proptest::prelude::*;

    use super::super::hpa::Hpa;
    use super::super::*;

    fn spec(min: i32, max: i32, target: f64, sync: u32, queue: bool) -> GeneralScalerSpec {
        let metric = if queue {
            serde_json::json!({"type": "redis", "targetValue": target, "redis": {"host": "r", "queueName": "q"}})
        } else {
            serde_json::json!({"type": "http", "targetValue": target, "http": {"url": "http://m"}})
        };
        serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
            "minReplicas": min, "maxReplicas": max, "syncIntervalSeconds": sync, "metric": metric
        }))
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        // Whatever the load and the settings, both sides stay within their bounds, and the figures
        // are finite and consistent with the simulated time.
        #[test]
        fn runs_stay_in_bounds_and_figures_make_sense(
            values in proptest::collection::vec(0.0_f64..5_000.0, 2..40),
            step_s in 1_i64..900,
            min in 0_i32..4,
            extra in 0_i32..30,
            target in 1.0_f64..500.0,
            sync in 1_u32..60,
            queue in any::<bool>(),
            capacity in 0.5_f64..400.0,
            start_s in 0_i64..120,
            compress in 0.5_f64..40.0,
            held in any::<bool>(),
            noisy in any::<bool>(),
        ) {
            let spec = spec(min, min + extra.max(1), target, sync, queue);
            let trace = Trace { points: values.iter().enumerate().map(|(i, v)| (i as i64 * step_s * 1000, *v)).collect() };
            let settings = Settings { noise: noisy.then_some(Noise { level: 0.05, correlation_ms: 60_000, seed: 7 }), ..Settings::for_spec(&spec, Some(capacity)) };
            let settings = Settings { pod_start_ms: start_s * 1000, compress, shape: if held { Shape::Held } else { Shape::Interpolated }, ..settings };
            let g = run(&trace, &spec, &settings, &mut Gscale::new(&spec));
            let h = run(&trace, &spec, &settings, &mut Hpa::from_spec(&spec));
            for sample in &g.timeline {
                prop_assert!(sample.replicas >= spec.min_replicas && sample.replicas <= spec.max_replicas, "{sample:?}");
            }
            for sample in &h.timeline {
                prop_assert!(sample.replicas >= spec.min_replicas.max(1) && sample.replicas <= spec.max_replicas, "{sample:?}");
            }
            for s in [&g.summary, &h.summary] {
                prop_assert!(s.pod_hours.is_finite() && s.pod_hours >= 0.0);
                prop_assert!(s.slo_violation_minutes >= 0.0 && s.slo_violation_minutes <= s.hours * 60.0 + 1e-9);
                prop_assert!(s.pod_hours <= s.hours * f64::from(s.peak_replicas) + 1e-9);
                prop_assert!(s.final_backlog.is_finite());
            }
        }
    }
}

// The clairvoyant looks 10 s (pod start) + 15 s ahead: at the tick of 585 s it sees the 400/s of
// 600 s and scales 1 -> 4, whose pods serve from 595 s: no queue at all. Pod-hours
// (585 + 4 x 1215) / 3600 = 1.5125.
#[test]
fn clairvoyant_buys_capacity_exactly_in_time() {
    let spec = spec(serde_json::json!({}));
    let t = trace(&[(0, 100.0), (600, 400.0), (1200, 400.0)]);
    let demand = settings().demand(&t);
    let mut c = Clairvoyant::new(&demand, &settings(), 100.0, 1, 20);
    let s = run(&t, &spec, &settings(), &mut c).summary;
    assert!(close(s.pod_hours, 1.5125), "{s:?}");
    assert_eq!(s.slo_violation_minutes, 0.0);
    assert_eq!(s.scale_events, 1);
}

// Three days of a daily step (100/s until 10:00, 400/s after), in 5-minute trace steps. Reactive,
// every 10:00 costs a pod start of queue. The short-horizon forecast takes part after an hour of
// measured minutes; once the profile has the first day and an hour, capacity is bought a lead time
// ahead, so days 2 and 3 queue nothing at 10:00.
#[test]
fn the_forecast_learns_the_first_day_and_buys_ahead_after_it() {
    let day = 86_400;
    let points: Vec<(i64, f64)> = (0..3 * day / 300)
        .map(|i| {
            let s = i * 300;
            (s, if s % day < 36_000 { 100.0 } else { 400.0 })
        })
        .collect();
    let mut t = trace(&points);
    // Midnight UTC, so that the trace's days are the forecaster's days.
    let midnight = 1_700_006_400_000;
    t.points.iter_mut().for_each(|p| p.0 += midnight);
    let reactive = spec(serde_json::json!({}));
    let forecasting = spec(serde_json::json!({"forecast": {"mode": "On"}}));
    let r = run(&t, &reactive, &settings(), &mut Gscale::new(&reactive)).summary;
    let f = run(&t, &forecasting, &settings(), &mut Gscale::new(&forecasting)).summary;
    let fs = f.forecast.expect("a forecasting run reports its forecast");
    let warmup = fs.warmup_hours.expect("the forecast took part");
    assert!((1.0..2.0).contains(&warmup), "warm-up {warmup} h: {fs:?}");
    assert!(fs.raised > 0 && fs.learning > 0, "{fs:?}");
    assert!(r.forecast.is_none());
    // Reactive: three rises at 10:00, each queueing until the new pods serve. Forecast: only the first.
    assert!(f.slo_violation_minutes < r.slo_violation_minutes * 0.5, "{f:?} vs {r:?}");
}

// Live replay: demand moves between the points and the reading is a Prometheus rate. Both sides read
// the same lagging rate, so on a ramp both queue where the step replay with instant readings did not
// lag; the figures differ from the step replay's and stay consistent.
#[test]
fn live_replay_reads_through_the_pipeline() {
    let spec = spec(serde_json::json!({}));
    let t = trace(&[(0, 100.0), (600, 1000.0), (1200, 1000.0)]);
    let live = Settings::for_spec(&spec, Some(125.0));
    assert_eq!(live.pipeline_for(&spec.metrics()[0]), Pipeline::PROMETHEUS);
    assert_eq!(settings().pipeline_for(&spec.metrics()[0]), Pipeline::Instant);
    let g = run(&t, &spec, &live, &mut Gscale::new(&spec));
    let h = run(&t, &spec, &live, &mut Hpa::from_spec(&spec));
    for r in [&g, &h] {
        assert!(close(r.summary.hours, 0.5), "{:?}", r.summary);
        // The demand sampled in the timeline is the interpolated truth.
        assert!(close(r.timeline[20].demand, 100.0 + 900.0 * 300.0 / 600.0), "{:?}", r.timeline[20]);
        assert!(r.summary.peak_replicas >= 8, "{:?}", r.summary);
    }
    // Instant readings of the same demand lag less: never more violation than through the rate.
    let instant = Settings { reading: Some(Pipeline::Instant), ..live.clone() };
    let fast = run(&t, &spec, &instant, &mut Hpa::from_spec(&spec)).summary;
    assert!(fast.slo_violation_minutes <= h.summary.slo_violation_minutes, "{fast:?} vs {:?}", h.summary);
    // Noise with the same seed replays the same run.
    let noisy = Settings { noise: Some(Noise { level: 0.03, correlation_ms: 60_000, seed: 1 }), ..live };
    let a = run(&t, &spec, &noisy, &mut Gscale::new(&spec)).summary;
    let b = run(&t, &spec, &noisy, &mut Gscale::new(&spec)).summary;
    assert_eq!(a, b);
}
