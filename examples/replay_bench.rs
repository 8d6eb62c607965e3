//! How long `gscale plan --replay 48h --step 1m` spends in gscale itself: the replay of two days of
//! one-minute samples (2,881 ticks) through `decide`, without the Prometheus fetch.
//!
//! `cargo run --release --example replay_bench` prints the best and median of 20 runs.

use std::time::Instant;

use gscale::api::GeneralScalerSpec;
use gscale::replay::replay;
use jiff::{SignedDuration, Timestamp};

fn main() {
    let spec: GeneralScalerSpec = serde_json::from_value(serde_json::json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
        "minReplicas": 2,
        "maxReplicas": 50,
        "metrics": [
            {"type": "prometheus", "targetValue": 100,
             "prometheus": {"serverUrl": "http://prom:9090", "query": "rps"}},
            {"type": "prometheus", "name": "queue", "targetValue": 30, "targetType": "AverageValue",
             "prometheus": {"serverUrl": "http://prom:9090", "query": "queue"}}
        ],
        "policy": {"type": "costAware", "costAware": {"maxMonthlyCost": 5000, "costPerPodPerHour": 0.2}},
        "behavior": {"scaleUp": {"maxIncrement": 4, "cooldownSeconds": 60},
                     "scaleDown": {"cooldownSeconds": 300, "stabilizationWindowSeconds": 300}}
    }))
    .expect("a valid spec");
    let step = SignedDuration::from_mins(1);
    let start: Timestamp = "2026-11-20T00:00:00Z".parse().expect("a timestamp");
    let ticks = 48 * 60 + 1;
    let times: Vec<Timestamp> = (0..ticks).map(|i| start + step * i).collect();
    // A daily wave with noise-free ramps, and a queue that bursts every few hours.
    let wave: Vec<Option<f64>> = (0..ticks)
        .map(|i| Some(600.0 + 500.0 * (f64::from(i) / 1440.0 * std::f64::consts::TAU).sin()))
        .collect();
    let queue: Vec<Option<f64>> = (0..ticks).map(|i| Some(if i % 240 < 20 { 900.0 } else { 50.0 })).collect();
    let series = vec![wave, queue];

    let mut runs = Vec::new();
    let mut events = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let result = replay(&spec, 4, Default::default(), &times, &series, &Default::default(), step);
        runs.push(t.elapsed());
        events = result.events.len();
    }
    runs.sort();
    println!(
        "replay of {ticks} ticks (2 metrics, costAware, {events} scale events): best {:?}, median {:?}",
        runs[0],
        runs[runs.len() / 2]
    );
}
