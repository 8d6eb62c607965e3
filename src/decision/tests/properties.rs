//! Property tests of DESIGN §2's invariants: bounds, step limits, cooldowns and windows, failed
//! metrics, determinism, and the forecast's reactive floor.

use proptest::prelude::*;

use super::*;

fn arb_reading() -> impl Strategy<Value = Reading> {
    prop_oneof![
        8 => (0.0f64..5000.0).prop_map(Ok),
        1 => Just(Err("backend down".to_string())),
        1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-3.0)].prop_map(Ok),
    ]
}

fn arb_spec() -> impl Strategy<Value = GeneralScalerSpec> {
    (
        (0i32..5, 1i32..60),
        (prop::option::of(1i32..10), prop::option::of(1i32..10)),
        (0u32..400, 0u32..400, 0u32..400, 0u32..400),
        (1u32..3, 0.0f64..0.3, any::<bool>(), any::<bool>(), 0usize..3),
        (1.0f64..200.0, 1.0f64..200.0),
    )
        .prop_map(
            |(
                (min, span),
                (inc, dec),
                (upc, upw, downc, downw),
                (metrics, tol, paused, dry, policy),
                (t1, t2),
            )| {
                let mut spec = open_spec(t1, TargetType::Value);
                spec.min_replicas = min;
                spec.max_replicas = (min + span).max(1);
                spec.behavior = Behavior {
                    tolerance: tol,
                    scale_up: ScaleUpRules {
                        max_increment: inc,
                        cooldown_seconds: upc,
                        stabilization_window_seconds: upw,
                    },
                    scale_down: ScaleDownRules {
                        max_decrement: dec,
                        cooldown_seconds: downc,
                        stabilization_window_seconds: downw,
                    },
                };
                if metrics == 2 {
                    spec.metric = None;
                    spec.metrics = vec![metric(t1, TargetType::Value), metric(t2, TargetType::AverageValue)];
                    spec.metrics[1].name = Some("second".into());
                }
                spec.paused = paused && dry;
                spec.dry_run = dry && !paused;
                spec.policy = match policy {
                    0 => PolicySpec::default(),
                    1 => slo_spec().policy,
                    _ => cost_spec(ScaleDirection::Down).policy,
                };
                spec.fallback = Fallback {
                    failure_threshold: 2,
                    action: FallbackAction::SetReplicas,
                    replicas: Some(min + 1),
                };
                spec
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_runs(
        spec in arb_spec(),
        start in 0i32..80,
        ticks in prop::collection::vec((prop::collection::vec(arb_reading(), 2), 1i64..120), 1..12),
        latency in prop::option::of(arb_reading()),
        ready in prop::option::of(0i32..80),
    ) {
        let mut history = History::default();
        let mut current = start;
        let mut now = t0();
        for (readings, gap) in ticks {
            now += SignedDuration::from_secs(gap);
            let readings = &readings[..spec.metrics().len()];
            let slo = SloReadings { latency_ms: latency.clone(), error_rate: Some(Ok(0.0)) };
            let input = Input {
                spec: &spec,
                current_replicas: current,
                ready_replicas: ready.map(|r| r.min(current)),
                readings,
                slo: &slo,
                history: &history,
                now,
            };
            let d = decide(&input);
            let again = decide(&input);
            // Debug text, not ==: a ratio of infinity (AverageValue at 0 replicas) is equal to itself, NaN would not be.
            prop_assert_eq!(format!("{d:?}"), format!("{again:?}"), "same input, same output");

            let (min, max) = (spec.min_replicas, spec.max_replicas);
            prop_assert!(d.desired >= min && d.desired <= max, "within bounds: {} not in [{min}, {max}]", d.desired);
            let inside = current >= min && current <= max;
            let any_error = readings.iter().any(|r| !matches!(r, Ok(v) if v.is_finite() && *v >= 0.0));
            if inside {
                if any_error {
                    prop_assert!(d.desired >= current, "no scale-down on a metric error: {current} -> {}", d.desired);
                }
                if let Some(step) = spec.behavior.scale_up.max_increment {
                    prop_assert!(d.desired - current <= step, "maxIncrement {step}: {current} -> {}", d.desired);
                }
                if let Some(step) = spec.behavior.scale_down.max_decrement {
                    prop_assert!(current - d.desired <= step, "maxDecrement {step}: {current} -> {}", d.desired);
                }
                let since = |t: Option<Timestamp>| t.map(|t| now.duration_since(t).as_secs_f64());
                if d.desired > current
                    && let Some(s) = since(history.last_scale_up_time)
                {
                    prop_assert!(s >= f64::from(spec.behavior.scale_up.cooldown_seconds), "scale-up cooldown");
                }
                if d.desired < current
                    && let Some(s) = since(history.last_scale_down_time)
                {
                    prop_assert!(s >= f64::from(spec.behavior.scale_down.cooldown_seconds), "scale-down cooldown");
                }
                // The down window: never below any recommendation younger than the window.
                if d.desired < current {
                    let window = i64::from(spec.behavior.scale_down.stabilization_window_seconds) * 1000;
                    for r in &history.recommendations {
                        if now.as_millisecond() - r.time.as_millisecond() < window {
                            prop_assert!(d.desired >= r.replicas.min(current), "down window: {r:?} vs {}", d.desired);
                        }
                    }
                }
            }
            prop_assert_eq!(d.apply, d.desired != current && !spec.paused && !spec.dry_run);
            prop_assert_eq!(d.steps.len(), 9);
            if d.apply {
                current = d.desired;
            }
            history = d.history;
        }
    }
}

/// Histories a forecaster could hold: a day-and-a-half of a shape learnt minute by minute, so the
/// forecast is warm; the last also read every 15 s for 6 hours of a value that changes every 5
/// minutes, so the cadence forecast acts. Built once, they are costly.
fn learnt_histories() -> &'static [crate::api::ForecastHistory] {
    static HISTORIES: std::sync::OnceLock<Vec<crate::api::ForecastHistory>> = std::sync::OnceLock::new();
    HISTORIES.get_or_init(|| {
        let mut spec = open_spec(100.0, TargetType::Value);
        spec.forecast =
            Some(crate::api::ForecastSpec { mode: crate::api::ForecastMode::On, ..Default::default() });
        let shapes: [fn(i64) -> f64; 3] = [
            |m| if m.rem_euclid(1440) < 600 { 100.0 } else { 1500.0 },
            |m| 500.0 + 400.0 * ((m as f64) / 229.0).sin(),
            |m| (m % 97) as f64 * 20.0,
        ];
        let end = t0().as_second() / 60;
        let mut histories: Vec<_> = shapes
            .iter()
            .map(|shape| {
                crate::api::ForecastHistory::from_series(
                    &spec,
                    (end - 2200..end).map(|m| (Timestamp::from_second(m * 60).unwrap(), shape(m))),
                )
            })
            .collect();
        let mut stepped = crate::api::ForecastHistory::from_series(
            &spec,
            (end - 2200..end - 360).map(|m| (Timestamp::from_second(m * 60).unwrap(), shapes[1](m))),
        );
        let end = t0().as_second();
        for t in (end - 6 * 3600..end).step_by(15) {
            let k = t.div_euclid(300);
            stepped.read(Timestamp::from_second(t).unwrap(), 300.0 + (k * 7919 % 13) as f64 * 60.0);
        }
        histories.push(stepped);
        histories
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// With the forecast On the count never falls below the reactive count on current readings (nor
    /// below what the same decision without the forecast gives, unless the forecast let scale-down
    /// skip its window, and then never below the readings' count); bounds, step limits and the
    /// scale-up cooldown hold; Observe changes no count.
    #[test]
    fn the_forecast_never_goes_below_the_reactive_floor(
        spec in arb_spec(),
        learnt in 0usize..4,
        start in 0i32..80,
        ticks in prop::collection::vec((prop::collection::vec(arb_reading(), 2), 1i64..120), 1..10),
        early in any::<bool>(),
    ) {
        let mut history = History { forecast: Some(learnt_histories()[learnt].clone()), ..History::default() };
        let mut current = start;
        let mut now = t0();
        let mut on = spec.clone();
        on.forecast = Some(crate::api::ForecastSpec {
            mode: crate::api::ForecastMode::On,
            scale_down_early: early,
            ..Default::default()
        });
        let mut observe = on.clone();
        observe.forecast.as_mut().unwrap().mode = crate::api::ForecastMode::Observe;
        for (readings, gap) in ticks {
            now += SignedDuration::from_secs(gap);
            let readings = &readings[..spec.metrics().len()];
            let slo = SloReadings { latency_ms: None, error_rate: Some(Ok(0.0)) };
            let input = |spec| Input {
                spec,
                current_replicas: current,
                ready_replicas: None,
                readings,
                slo: &slo,
                history: &history,
                now,
            };
            let d = decide(&input(&on));
            let off = decide(&input(&spec));
            let watched = decide(&input(&observe));
            prop_assert_eq!(watched.desired, off.desired, "Observe changed the count");

            let (min, max) = (spec.min_replicas, spec.max_replicas);
            prop_assert!(d.desired >= min && d.desired <= max);
            let stage = d.step(Stage::Forecast);
            prop_assert!(stage.output >= stage.input, "below the reactive floor: {stage:?}");
            let floor = stage.input.clamp(min, max);
            prop_assert!(d.desired >= off.desired.min(floor), "on {} off {} floor {floor}", d.desired, off.desired);
            if d.desired < off.desired {
                prop_assert!(early, "only scale-down early may undercut the reactive rails");
            }
            if current >= min && current <= max {
                if let Some(step) = spec.behavior.scale_up.max_increment {
                    prop_assert!(d.desired - current <= step);
                }
                if let Some(step) = spec.behavior.scale_down.max_decrement {
                    prop_assert!(current - d.desired <= step);
                }
                if d.desired > current
                    && let Some(t) = history.last_scale_up_time
                {
                    prop_assert!(now.duration_since(t).as_secs_f64() >= f64::from(spec.behavior.scale_up.cooldown_seconds));
                }
            }
            if d.apply {
                current = d.desired;
            }
            history = d.history;
        }
    }
}
