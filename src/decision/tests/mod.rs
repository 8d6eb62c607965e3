//! Table tests per stage and the HPA formula on its documented examples; the property tests of the
//! engine's invariants are in `properties`.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::api::{
    Behavior, CostAwarePolicy, Fallback, FallbackAction, GeneralScalerSpec, HttpSource, MetricSpec,
    MetricType, PolicySpec, PolicyType, Recommendation, ScaleDirection, ScaleDownRules, ScaleUpRules,
    SloPolicy, TargetRef, TargetType,
};

fn t0() -> Timestamp {
    "2026-11-15T12:00:00Z".parse().unwrap()
}

fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
}

fn metric(target: f64, target_type: TargetType) -> MetricSpec {
    MetricSpec {
        kind: MetricType::Http,
        name: None,
        target_value: target,
        target_type: Some(target_type),
        activation_value: 0.0,
        timeout_seconds: 5,
        prometheus: None,
        redis: None,
        pubsub: None,
        http: Some(HttpSource {
            url: "http://metrics.local/value".into(),
            method: Default::default(),
            body: None,
            headers: Default::default(),
            value_path: None,
            bearer_token_secret_ref: None,
            ca_secret_ref: None,
            insecure_skip_verify: false,
        }),
        resource: None,
        rabbitmq: None,
        nats: None,
        external: None,
        kafka: None,
    }
}

/// A spec with no rails: no cooldowns, no windows, no limits, bounds [1, 100].
fn open_spec(target: f64, target_type: TargetType) -> GeneralScalerSpec {
    GeneralScalerSpec {
        target_ref: TargetRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "app".into(),
        },
        min_replicas: 1,
        max_replicas: 100,
        metric: Some(metric(target, target_type)),
        metrics: vec![],
        schedules: vec![],
        policy: PolicySpec::default(),
        behavior: Behavior {
            tolerance: 0.1,
            scale_up: ScaleUpRules {
                max_increment: None,
                cooldown_seconds: 0,
                stabilization_window_seconds: 0,
            },
            scale_down: ScaleDownRules {
                max_decrement: None,
                cooldown_seconds: 0,
                stabilization_window_seconds: 0,
            },
        },
        sync_interval_seconds: 30,
        fallback: Fallback::default(),
        paused: false,
        dry_run: false,
        forecast: None,
        formula: None,
    }
}

/// One decision on `readings` at `now`, every pod ready.
pub(super) fn run(
    spec: &GeneralScalerSpec,
    current: i32,
    readings: &[Reading],
    history: &History,
    now: Timestamp,
) -> Decision {
    let slo = SloReadings::default();
    decide(&Input {
        spec,
        current_replicas: current,
        ready_replicas: None,
        readings,
        slo: &slo,
        history,
        now,
    })
}

fn once(spec: &GeneralScalerSpec, current: i32, value: f64) -> Decision {
    run(spec, current, &[Ok(value)], &History::default(), t0())
}

#[test]
fn hpa_formula_documented_examples() {
    // kubernetes.io HPA: desiredReplicas = ceil(currentReplicas * currentMetricValue / desiredMetricValue).
    let cases = [
        // (current, value, target, expected)
        (1, 200.0, 100.0, 2),   // 200m vs 100m: doubled
        (4, 50.0, 100.0, 2),    // 50m vs 100m: halved
        (1, 305.0, 50.0, 7),    // walkthrough: 305% CPU vs 50% target -> 7 replicas
        (7, 40.0, 50.0, 6),     // ceil(7 * 0.8) = ceil(5.6) = 6
        (10, 105.0, 100.0, 10), // ratio 1.05 within tolerance 0.1: no change
        (10, 95.0, 100.0, 10),  // ratio 0.95 within tolerance
        (10, 111.0, 100.0, 12), // ratio 1.11 outside tolerance: ceil(11.1) = 12
        (10, 110.0, 100.0, 10), // ratio exactly 1.1: |1.1 - 1| <= 0.1 within (float noise forgiven)
        (3, 0.0, 100.0, 1),     // no load: down to minReplicas 1
    ];
    for (current, value, target, expected) in cases {
        let spec = open_spec(target, TargetType::Value);
        let d = once(&spec, current, value);
        assert_eq!(d.desired, expected, "current {current}, value {value}, target {target}: {:#?}", d.steps);
    }
}

#[test]
fn average_value_is_total_over_target() {
    // AverageValue: desired = ceil(total / target), tolerance on total / (target * current).
    let spec = open_spec(30.0, TargetType::AverageValue);
    assert_eq!(once(&spec, 1, 150.0).desired, 5);
    assert_eq!(once(&spec, 5, 151.0).desired, 5, "ratio 1.007 within tolerance");
    assert_eq!(once(&spec, 2, 500.0).desired, 17);
    assert_eq!(once(&spec, 10, 60.0).desired, 2);
}

#[test]
fn exact_multiples_are_not_rounded_up_by_float_noise() {
    let spec = open_spec(0.1, TargetType::AverageValue);
    // 0.3 / 0.1 = 2.9999999999999996 in floats; 0.7 / 0.1 = 6.999999999999999.
    assert_eq!(once(&spec, 1, 0.3).desired, 3);
    assert_eq!(once(&spec, 1, 0.7).desired, 7);
    let spec = open_spec(3.0, TargetType::AverageValue);
    assert_eq!(once(&spec, 1, 9.000000000000002).desired, 3);
}

#[test]
fn every_decision_records_all_nine_stages_in_order() {
    let d = once(&open_spec(100.0, TargetType::Value), 4, 150.0);
    let stages: Vec<Stage> = d.steps.iter().map(|s| s.stage).collect();
    assert_eq!(stages, Stage::ALL);
    for pair in d.steps.windows(2) {
        assert_eq!(pair[0].output, pair[1].input, "stages chain: {:?}", d.steps);
    }
    assert_eq!(d.step(Stage::Metrics).output, 6);
}

#[test]
fn several_metrics_take_the_highest() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.metrics = vec![metric(100.0, TargetType::Value), metric(10.0, TargetType::AverageValue)];
    spec.metrics[1].name = Some("queue".into());
    spec.metric = None;
    let d = run(&spec, 2, &[Ok(100.0), Ok(75.0)], &History::default(), t0());
    assert_eq!(d.desired, 8, "queue 75 / 10 = 8 beats rps within tolerance");
    assert!(matches!(d.step(Stage::Metrics).why, Why::MetricCount { metric: 1, .. }));
}

#[test]
fn a_failed_metric_blocks_scale_down_but_not_scale_up() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.metrics = vec![metric(100.0, TargetType::Value), metric(100.0, TargetType::Value)];
    spec.metrics[1].name = Some("b".into());
    spec.metric = None;
    let down = run(&spec, 10, &[Ok(10.0), Err("timeout".into())], &History::default(), t0());
    assert_eq!(down.desired, 10);
    assert!(matches!(down.step(Stage::Metrics).why, Why::ScaleDownBlocked { failed: 1, total: 2 }));
    let up = run(&spec, 2, &[Ok(300.0), Err("timeout".into())], &History::default(), t0());
    assert_eq!(up.desired, 6);
    assert_eq!(up.history.consecutive_failures, 0, "only all-failed reconciles count");
}

#[test]
fn unusable_values_are_failures_not_zero() {
    let spec = open_spec(100.0, TargetType::Value);
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        let d = once(&spec, 5, bad);
        assert_eq!(d.desired, 5, "{bad} must hold, not scale down");
        assert_eq!(d.flags.failed_metrics, 1);
    }
}

#[test]
fn fallback_applies_after_the_threshold_also_from_zero() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.min_replicas = 0;
    spec.fallback = Fallback { failure_threshold: 3, action: FallbackAction::SetReplicas, replicas: Some(4) };
    let mut history = History::default();
    let mut current = 0;
    let mut seen = vec![];
    for i in 0..4 {
        let d = run(&spec, current, &[Err("connection refused".into())], &history, at(i * 30));
        seen.push((d.desired, d.flags.fallback_active));
        history = d.history;
        current = d.desired;
    }
    assert_eq!(seen, [(0, false), (0, false), (4, true), (4, true)]);
    // Back to data: the counter resets.
    let d = run(&spec, 4, &[Ok(100.0)], &history, at(200));
    assert_eq!(d.history.consecutive_failures, 0);
    assert!(!d.flags.fallback_active);
}

#[test]
fn fallback_never_shrinks_on_missing_data() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.fallback = Fallback { failure_threshold: 1, action: FallbackAction::SetReplicas, replicas: Some(2) };
    let d = once_err(&spec, 8);
    assert_eq!(d.desired, 8);
    assert!(d.flags.fallback_active);
}

fn once_err(spec: &GeneralScalerSpec, current: i32) -> Decision {
    run(spec, current, &[Err("down".into())], &History::default(), t0())
}

#[test]
fn scale_to_zero_and_back_by_activation_value() {
    let mut spec = open_spec(10.0, TargetType::AverageValue);
    spec.min_replicas = 0;
    spec.metric.as_mut().unwrap().activation_value = 2.0;
    assert_eq!(once(&spec, 3, 0.0).desired, 0);
    assert_eq!(once(&spec, 3, 2.0).desired, 0, "at the activation value: rest");
    assert_eq!(once(&spec, 0, 3.0).desired, 1, "above it: wake to at least 1");
    assert_eq!(once(&spec, 0, 55.0).desired, 6);
    assert_eq!(once_err(&spec, 0).desired, 0, "no data: stay asleep");
}

#[test]
fn scale_down_waits_for_the_stabilization_window() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.behavior.scale_down.stabilization_window_seconds = 300;
    let mut history = History::default();
    // High load at t=0 recommends 10; then load drops.
    let d = run(&spec, 5, &[Ok(200.0)], &history, at(0));
    assert_eq!(d.desired, 10);
    history = d.history;
    let d = run(&spec, 10, &[Ok(20.0)], &history, at(60));
    assert_eq!(d.desired, 10, "the window remembers 10");
    assert!(matches!(d.step(Stage::Stabilization).why, Why::Stabilized { direction: Direction::Down, .. }));
    history = d.history;
    let d = run(&spec, 10, &[Ok(20.0)], &history, at(301));
    assert_eq!(d.desired, 2, "the 10 left the window");
}

#[test]
fn scale_up_window_takes_the_lowest_recommendation() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.behavior.scale_up.stabilization_window_seconds = 60;
    let history = History {
        recommendations: vec![Recommendation { time: at(-30), replicas: 4 }],
        ..History::default()
    };
    let d = run(&spec, 2, &[Ok(500.0)], &history, at(0));
    assert_eq!(d.desired, 4, "a spike must last the window before scaling fully");
}

#[test]
fn cooldowns_hold_and_say_how_long() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.behavior.scale_up.cooldown_seconds = 60;
    spec.behavior.scale_down.cooldown_seconds = 300;
    let history = History {
        last_scale_up_time: Some(at(-20)),
        last_scale_down_time: Some(at(-100)),
        ..History::default()
    };
    let d = run(&spec, 4, &[Ok(200.0)], &history, at(0));
    assert_eq!(d.desired, 4);
    assert_eq!(
        d.step(Stage::Cooldown).why,
        Why::CoolingDown { direction: Direction::Up, remaining_ms: 40_000 }
    );
    assert!(d.verdict(&spec).contains("scale-up cooldown, 40s left"), "{}", d.verdict(&spec));
    // Scale-down counts from the last scale-down (the original's "wait time between scale-downs").
    let d = run(&spec, 4, &[Ok(10.0)], &history, at(199));
    assert_eq!(d.desired, 4);
    let d = run(&spec, 4, &[Ok(10.0)], &history, at(200));
    assert_eq!(d.desired, 1);
    assert_eq!(d.history.last_scale_down_time, Some(at(200)));
    // A scale-up a second ago holds no scale-down: the down window is what holds the count a rise brought.
    let fresh = History { last_scale_up_time: Some(at(-1)), ..History::default() };
    assert_eq!(run(&spec, 4, &[Ok(10.0)], &fresh, at(0)).desired, 1);
}

/// Cooldowns and windows count to the nanosecond, as times are kept: 999.8 ms after a scale-down a
/// 1 s cooldown still holds, though both times fall 1,000 whole milliseconds apart.
#[test]
fn a_cooldown_never_ends_a_fraction_of_a_millisecond_early() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.behavior.scale_down.cooldown_seconds = 1;
    let scaled: Timestamp = "2026-12-02T13:02:01.074686972Z".parse().unwrap();
    let now: Timestamp = "2026-12-02T13:02:02.074493559Z".parse().unwrap();
    assert_eq!(now.as_millisecond() - scaled.as_millisecond(), 1000, "the case this test is about");
    let history = History { last_scale_down_time: Some(scaled), ..History::default() };
    let d = run(&spec, 2, &[Ok(10.0)], &history, now);
    assert_eq!(d.desired, 2, "{:#?}", d.steps);
    assert_eq!(d.step(Stage::Cooldown).why, Why::CoolingDown { direction: Direction::Down, remaining_ms: 1 });
    let d = run(&spec, 2, &[Ok(10.0)], &history, scaled + SignedDuration::from_secs(1));
    assert_eq!(d.desired, 1);

    // A recommendation leaves a 1 s window only once it is a whole second old.
    spec.behavior.scale_down.cooldown_seconds = 0;
    spec.behavior.scale_down.stabilization_window_seconds = 1;
    let history = History {
        recommendations: vec![crate::api::Recommendation { time: scaled, replicas: 2 }],
        ..History::default()
    };
    assert_eq!(run(&spec, 2, &[Ok(10.0)], &history, now).desired, 2);
    assert_eq!(run(&spec, 2, &[Ok(10.0)], &history, scaled + SignedDuration::from_secs(1)).desired, 1);
}

/// Times in history after `now` (another daemon's clock ahead of ours) count as `now`: a cooldown
/// lasts its own length, a window lets a recommendation go after its own length.
#[test]
fn times_from_a_clock_ahead_count_as_now() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.behavior.scale_up.cooldown_seconds = 60;
    let skewed = History { last_scale_up_time: Some(at(3600)), ..History::default() };
    let d = run(&spec, 4, &[Ok(200.0)], &skewed, at(0));
    assert_eq!(
        d.step(Stage::Cooldown).why,
        Why::CoolingDown { direction: Direction::Up, remaining_ms: 60_000 }
    );
    assert_eq!(run(&spec, 4, &[Ok(200.0)], &d.history, at(60)).desired, 8, "60 s, not an hour and a minute");

    let mut spec = open_spec(100.0, TargetType::Value);
    spec.behavior.scale_down.stabilization_window_seconds = 300;
    spec.behavior.scale_down.cooldown_seconds = 0;
    let skewed = History {
        recommendations: vec![Recommendation { time: at(86_400), replicas: 10 }],
        ..History::default()
    };
    let d = run(&spec, 10, &[Ok(20.0)], &skewed, at(0));
    assert_eq!(d.desired, 10, "held by the window");
    assert_eq!(
        run(&spec, 10, &[Ok(20.0)], &d.history, at(301)).desired,
        2,
        "and let go after it, not in a day"
    );
}

#[test]
fn rate_limits_cut_each_step() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.behavior.scale_up.max_increment = Some(5);
    spec.behavior.scale_down.max_decrement = Some(2);
    assert_eq!(once(&spec, 2, 1000.0).desired, 7);
    assert_eq!(once(&spec, 20, 10.0).desired, 18);
    // 0: that direction is off (the HPA's selectPolicy: Disabled); the other still moves.
    spec.behavior.scale_down.max_decrement = Some(0);
    let d = once(&spec, 20, 10.0);
    assert_eq!(d.desired, 20);
    assert_eq!(d.verdict(&spec), "hold at 20: maxDecrement 0: this scaler never scales down");
    assert_eq!(once(&spec, 2, 1000.0).desired, 7);
}

#[test]
fn bounds_clamp_and_bring_outliers_in_at_once() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.min_replicas = 2;
    spec.max_replicas = 10;
    spec.behavior.scale_down.cooldown_seconds = 300;
    spec.behavior.scale_down.max_decrement = Some(1);
    assert_eq!(once(&spec, 5, 10_000.0).desired, 10);
    assert_eq!(once(&spec, 5, 0.0).desired, 4, "maxDecrement 1");
    let cooling = History { last_scale_up_time: Some(t0()), ..History::default() };
    let d = run(&spec, 30, &[Ok(100.0)], &cooling, t0());
    assert_eq!(d.desired, 10, "outside bounds: in at once, whatever the cooldown and limits");
    let d = run(&spec, 0, &[Err("down".into())], &History::default(), t0());
    assert_eq!(d.desired, 2, "below min even without data");
}

#[test]
fn paused_and_dry_run_compute_but_do_not_apply() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.paused = true;
    let d = once(&spec, 2, 400.0);
    assert_eq!((d.desired, d.apply), (8, false));
    assert_eq!(d.history.last_scale_up_time, None, "nothing happened, no cooldown starts");
    assert!(d.verdict(&spec).starts_with("paused, would scale 2 -> 8"), "{}", d.verdict(&spec));
    spec.paused = false;
    spec.dry_run = true;
    let d = once(&spec, 2, 400.0);
    assert_eq!((d.desired, d.apply), (8, false));
    spec.dry_run = false;
    assert!(once(&spec, 2, 400.0).apply);
}

fn slo_spec() -> GeneralScalerSpec {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.policy = PolicySpec {
        kind: PolicyType::Slo,
        slo: Some(SloPolicy {
            target_latency_ms: Some(200.0),
            target_error_rate: Some(0.01),
            latency_query: Some("latency".into()),
            error_rate_query: Some("errors".into()),
            server_url: Some("http://prometheus:9090".into()),
            scale_down_below: 0.8,
        }),
        cost_aware: None,
    };
    spec
}

fn slo_run(
    spec: &GeneralScalerSpec,
    current: i32,
    value: f64,
    latency: Reading,
    errors: Reading,
) -> Decision {
    let slo = SloReadings { latency_ms: Some(latency), error_rate: Some(errors) };
    decide(&Input {
        spec,
        current_replicas: current,
        ready_replicas: None,
        readings: &[Ok(value)],
        slo: &slo,
        history: &History::default(),
        now: t0(),
    })
}

#[test]
fn slo_policy_cases() {
    let spec = slo_spec();
    // (current, metric value, latency, error rate, expected, why)
    let cases: [(i32, f64, Reading, Reading, i32, &str); 7] = [
        (4, 100.0, Ok(320.0), Ok(0.0), 7, "latency x1.6 raises 4 -> ceil(6.4)"),
        (4, 100.0, Ok(1000.0), Ok(0.0), 8, "breach factor capped at x2"),
        (4, 300.0, Ok(220.0), Ok(0.0), 12, "metric asks more than the breach"),
        (6, 20.0, Ok(180.0), Ok(0.0), 6, "latency in [0.8, 1] x target blocks scale-down"),
        (6, 20.0, Ok(100.0), Ok(0.05), 6, "error rate above target blocks scale-down"),
        (6, 20.0, Err("no data".into()), Ok(0.0), 6, "missing latency blocks scale-down"),
        (6, 20.0, Ok(100.0), Ok(0.001), 2, "healthy: scale down"),
    ];
    for (current, value, latency, errors, expected, why) in cases {
        let d = slo_run(&spec, current, value, latency, errors);
        assert_eq!(d.desired, expected, "{why}: {:#?}", d.report(&spec, &[Ok(value)]).steps);
    }
}

#[test]
fn slo_without_signal_acts_as_proportional_and_says_so() {
    let mut spec = slo_spec();
    let slo = spec.policy.slo.as_mut().unwrap();
    slo.latency_query = None;
    slo.error_rate_query = None;
    let d = once(&spec, 4, 200.0);
    assert_eq!(d.desired, 8);
    assert!(d.flags.slo_unconfigured);
}

fn cost_spec(direction: ScaleDirection) -> GeneralScalerSpec {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.policy = PolicySpec {
        kind: PolicyType::CostAware,
        slo: None,
        cost_aware: Some(CostAwarePolicy {
            max_monthly_cost: 1000.0,
            cost_per_pod_per_hour: 0.1,
            preferred_scale_direction: direction,
        }),
    };
    spec
}

#[test]
fn cost_budget_caps_by_what_the_rest_of_the_month_affords() {
    let spec = cost_spec(ScaleDirection::Balanced);
    // 2026-11-15T12:00Z: 15.5 days = 372 h left in November. Spent 628 of 1000 -> 372 left -> 10 pods.
    let history = History {
        spend: Some(crate::api::Spend { cost: 628.0, accounted_until: t0(), replicas: 4 }),
        ..History::default()
    };
    let d = run(&spec, 4, &[Ok(1000.0)], &history, t0());
    assert_eq!(d.desired, 10, "{:#?}", d.steps);
    assert!(matches!(d.step(Stage::Policy).why, Why::BudgetCap { cap: 10, .. }));
    // Budget gone: minReplicas and BudgetExceeded.
    let broke = History {
        spend: Some(crate::api::Spend { cost: 1200.0, accounted_until: t0(), replicas: 4 }),
        ..History::default()
    };
    let d = run(&spec, 4, &[Ok(1000.0)], &broke, t0());
    assert_eq!(d.desired, 1);
    assert!(d.flags.budget_exceeded);
}

#[test]
fn spend_accrues_replica_hours_and_restarts_each_month() {
    let spec = cost_spec(ScaleDirection::Balanced);
    let history = History {
        spend: Some(crate::api::Spend { cost: 10.0, accounted_until: t0(), replicas: 4 }),
        ..History::default()
    };
    let d = run(&spec, 4, &[Ok(100.0)], &history, at(3600));
    let spend = d.history.spend.unwrap();
    assert!((spend.cost - 10.4).abs() < 1e-9, "4 pods x 1 h x 0.1 = 0.4, got {}", spend.cost);
    let december: Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
    let d = run(&spec, 4, &[Ok(100.0)], &history, december);
    assert!((d.history.spend.unwrap().cost - 0.8).abs() < 1e-9, "2 h of December only");
}

#[test]
fn cost_directions_bend_the_rule() {
    // ratio 1.15: plain scales up; down needs > 1.2.
    let d = once(&cost_spec(ScaleDirection::Down), 10, 115.0);
    assert_eq!(d.desired, 10);
    assert_eq!(once(&cost_spec(ScaleDirection::Balanced), 10, 115.0).desired, 12);
    // down rounds down: ratio 1.35 on 10 -> floor(13.5) = 13 (balanced: 14).
    assert_eq!(once(&cost_spec(ScaleDirection::Down), 10, 135.0).desired, 13);
    assert_eq!(once(&cost_spec(ScaleDirection::Balanced), 10, 135.0).desired, 14);
    // up resists scale-down until below 1 - 2 * tolerance.
    assert_eq!(once(&cost_spec(ScaleDirection::Up), 10, 85.0).desired, 10);
    assert_eq!(once(&cost_spec(ScaleDirection::Balanced), 10, 85.0).desired, 9);
    assert_eq!(once(&cost_spec(ScaleDirection::Up), 10, 70.0).desired, 7);
}

#[test]
fn reports_explain_each_stage_in_words() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.metric.as_mut().unwrap().name = Some("rps".into());
    spec.behavior.scale_up.max_increment = Some(2);
    let d = once(&spec, 4, 150.0);
    let report = d.report(&spec, &[Ok(150.0)]);
    assert_eq!(report.steps[0].why, "rps 150 per pod vs target 100: ceil(4 x 1.500) = 6");
    assert_eq!(report.steps[Stage::RateLimit as usize].why, "within step limits");
    assert_eq!(report.steps[Stage::Forecast as usize].why, "forecast off");
    assert_eq!(report.verdict, "scale 4 -> 6: rps 150 per pod vs target 100: ceil(4 x 1.500) = 6");
    let d = once(&spec, 4, 300.0);
    assert_eq!(d.report(&spec, &[Ok(300.0)]).steps[Stage::RateLimit as usize].why, "maxIncrement 2");
    assert_eq!(d.verdict(&spec), "scale 4 -> 6: maxIncrement 2");
    // A scale-down held at the floor names the metric that asked for less, then the bound.
    spec.min_replicas = 3;
    let d = once(&spec, 10, 0.0);
    let verdict = d.verdict(&spec);
    assert!(verdict.starts_with("scale 10 -> 3: rps 0 per pod"), "{verdict}");
    assert!(verdict.ends_with("; then raised to minReplicas 3"), "{verdict}");
}

#[test]
fn recommendations_stay_few_in_steady_state() {
    let mut spec = open_spec(100.0, TargetType::Value);
    spec.behavior.scale_down.stabilization_window_seconds = 300;
    let mut history = History::default();
    for i in 0..100 {
        history = run(&spec, 4, &[Ok(100.0)], &history, at(i * 15)).history;
    }
    assert_eq!(history.recommendations.len(), 1, "equal recommendations collapse into the newest");
}

#[test]
fn pods_still_starting_are_not_counted_twice() {
    let spec = open_spec(100.0, TargetType::Value);
    let run_ready = |current: i32, ready: i32, value: f64| {
        let slo = SloReadings::default();
        let history = History::default();
        decide(&Input {
            spec: &spec,
            current_replicas: current,
            ready_replicas: Some(ready),
            readings: &[Ok(value)],
            slo: &slo,
            history: &history,
            now: t0(),
        })
        .desired
    };
    // 4 serving at 200% asked for 8; 8 exist, 4 still starting: hold, not 16.
    assert_eq!(run_ready(8, 4, 200.0), 8);
    // The serving pods alone need more than exist: scale up on their count.
    assert_eq!(run_ready(8, 4, 300.0), 12);
    // Scale-down counts every pod: 8 x 50% = 4, not 4 x 50% = 2.
    assert_eq!(run_ready(8, 4, 50.0), 4);
    // All ready: the plain rule.
    assert_eq!(run_ready(8, 8, 200.0), 16);
    // None ready yet: the serving pods ask for nothing more, the others may not shrink: hold.
    assert_eq!(run_ready(8, 0, 150.0), 8);
}

mod properties;
