//! The predictive policy: provision for where the load may be by the time a new pod serves.
//!
//! Two things the plain rule gets wrong on a per-pod (Value) metric with pods that take time to
//! start: it multiplies a per-serving-pod reading by every replica, including those still starting
//! (so it scales up twice on one rise), and it provisions for the load now, not for the load a pod
//! start later. This policy counts as serving only the pods that existed through the whole
//! `warmupSeconds` (from the replica counts it kept in status), turns the reading into the demand
//! in replicas, and adds `deviations` times the recent step-to-step swing of that demand, measured
//! over `windowSeconds`. The samples live in status (`history.demand`), so a restarted daemon
//! decides the same. No clock, no I/O; missing data passes the metric stage's count through.

use jiff::Timestamp;

use crate::api::{DemandSample, GeneralScalerSpec, History, TargetType};

use super::super::Why;
use super::super::metric::{MetricStage, ceil_count};

pub(super) fn apply(
    spec: &GeneralScalerSpec,
    current: i32,
    stage: &MetricStage,
    healthy: bool,
    now: Timestamp,
    history: &mut History,
) -> (i32, Why) {
    let settings = spec.policy.predictive.clone().unwrap_or_default();
    let now_ms = now.as_millisecond();
    let warmup_ms = i64::from(settings.warmup_seconds) * 1000;
    let window_ms = i64::from(settings.window_seconds.max(1)) * 1000;
    let keep_ms = warmup_ms.max(window_ms);
    history.demand.retain(|s| (0..keep_ms).contains(&(now_ms - s.time.as_millisecond())));
    let Some(m) = stage.deciding.filter(|m| healthy && m.raw.is_finite()) else {
        return (stage.count, Why::PredictionNoData);
    };

    // Pods present through the whole warmup serve; the count after each decision is the next
    // sample's `current`, so the lowest count seen within the warmup is what serves now.
    let serving = history
        .demand
        .iter()
        .filter(|s| now_ms - s.time.as_millisecond() < warmup_ms)
        .map(|s| s.current)
        .fold(current, i32::min)
        .max(1);
    let demand = match m.target_type {
        TargetType::Value if current > 0 => m.raw * f64::from(serving) / f64::from(current),
        _ => m.raw,
    };
    history.demand.push(DemandSample { time: now, replicas: demand, current });

    let headroom = settings.deviations.max(0.0) * swing(&history.demand, now_ms - window_ms);
    let forecast = demand + headroom;
    let within_tolerance =
        current > 0 && (forecast / f64::from(current) - 1.0).abs() <= spec.behavior.tolerance;
    let count = if within_tolerance { current } else { ceil_count(forecast) };
    (count, Why::Predicted { demand, headroom, serving })
}

/// The root mean square of the step-to-step changes of the samples newer than `since_ms`.
fn swing(samples: &[DemandSample], since_ms: i64) -> f64 {
    let recent: Vec<f64> =
        samples.iter().filter(|s| s.time.as_millisecond() > since_ms).map(|s| s.replicas).collect();
    if recent.len() < 2 {
        return 0.0;
    }
    let squares: f64 = recent.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    (squares / (recent.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Input, SloReadings, Stage, decide};

    fn spec() -> GeneralScalerSpec {
        serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 100,
            "syncIntervalSeconds": 15,
            "metric": {"type": "prometheus", "targetValue": 100,
                       "prometheus": {"serverUrl": "http://p", "query": "q"}},
            "policy": {"type": "predictive", "predictive": {"warmupSeconds": 30, "windowSeconds": 60, "deviations": 1}},
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0, "cooldownSeconds": 0}}
        }))
        .unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    /// One decision at `t` seconds; returns (desired, policy step's why) and carries the history.
    fn step(spec: &GeneralScalerSpec, history: &mut History, t: i64, current: i32, value: f64) -> (i32, Why) {
        let readings = [Ok(value)];
        let slo = SloReadings::default();
        let input =
            Input { spec, current_replicas: current, readings: &readings, slo: &slo, history, now: at(t) };
        let d = decide(&input);
        *history = d.history.clone();
        (d.desired, d.step(Stage::Policy).why)
    }

    #[test]
    fn steady_demand_needs_no_headroom() {
        let (spec, mut h) = (spec(), History::default());
        for t in 0..5 {
            assert_eq!(step(&spec, &mut h, t * 15, 4, 100.0).0, 4);
        }
    }

    // 4 pods at 100/s each, then 400/s per serving pod: 16 needed, scale to 16. 15 s later the 12
    // new pods do not serve yet, the per-pod reading is still 400: the plain rule would ask for
    // 64; the policy counts 4 serving pods and keeps 16 (plus the headroom of the jump).
    #[test]
    fn starting_pods_do_not_count_twice() {
        let (spec, mut h) = (spec(), History::default());
        assert_eq!(step(&spec, &mut h, 0, 4, 100.0).0, 4);
        let (first, _) = step(&spec, &mut h, 15, 4, 400.0);
        assert!(first >= 16, "{first}");
        let (second, why) = step(&spec, &mut h, 30, first, 400.0);
        let Why::Predicted { demand, serving, .. } = why else { panic!("{why:?}") };
        assert_eq!(serving, 4);
        assert!((demand - 16.0).abs() < 1e-9, "{demand}");
        assert!(second <= first + 12, "{second}");
        // Once the warmup has passed, every pod serves.
        let (_, why) = step(&spec, &mut h, 60, second, 1600.0 / f64::from(second));
        let Why::Predicted { serving, .. } = why else { panic!("{why:?}") };
        assert_eq!(serving, second);
    }

    #[test]
    fn swings_add_headroom_and_missing_data_holds() {
        let (spec, mut h) = (spec(), History::default());
        for (i, v) in [100.0, 150.0, 100.0, 150.0].into_iter().enumerate() {
            step(&spec, &mut h, i as i64 * 15, 10, v);
        }
        let (_, why) = step(&spec, &mut h, 60, 10, 100.0);
        let Why::Predicted { headroom, .. } = why else { panic!("{why:?}") };
        assert!((headroom - 5.0).abs() < 1e-9, "{headroom}");
        let readings = [Err("down".to_string())];
        let slo = SloReadings::default();
        let input = Input {
            spec: &spec,
            current_replicas: 10,
            readings: &readings,
            slo: &slo,
            history: &h,
            now: at(75),
        };
        let d = decide(&input);
        assert_eq!(d.desired, 10);
        assert_eq!(d.step(Stage::Policy).why, Why::PredictionNoData);
    }
}
