//! Decisions per second: a three-metric `slo` scaler with a full stabilization window.
//!
//! Run: `cargo bench --bench decision`. Criterion reports time per decision and, with the
//! throughput set to one element, decisions per second (elem/s).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gscale::api::{GeneralScalerSpec, History, Recommendation};
use gscale::decision::{Input, Reading, SloReadings, Stage, decide};
use gscale_manifest::yaml;
use jiff::{SignedDuration, Timestamp};

const SCALER: &str = r#"
apiVersion: autoscaling.generalscaler.io/v1alpha1
kind: GeneralScaler
metadata: {name: bench}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: app}
  minReplicas: 2
  maxReplicas: 200
  metrics:
    - type: prometheus
      name: rps
      targetValue: 100
      prometheus: {serverUrl: "http://prometheus:9090", query: "sum(rate(http_requests_total[1m]))"}
    - type: redis
      name: queue
      targetValue: 50
      redis: {host: redis, queueName: jobs}
    - type: http
      name: inflight
      targetValue: 20
      http: {url: "http://app/metrics", valuePath: "$.inflight"}
  policy:
    type: slo
    slo: {targetLatencyMs: 200, targetErrorRate: 0.01, latencyQuery: p99, errorRateQuery: errors, serverUrl: "http://prometheus:9090"}
  behavior:
    scaleUp: {maxIncrement: 10, cooldownSeconds: 30, stabilizationWindowSeconds: 60}
    scaleDown: {maxDecrement: 5, cooldownSeconds: 300, stabilizationWindowSeconds: 300}
  syncIntervalSeconds: 15
"#;

fn spec() -> GeneralScalerSpec {
    let doc = yaml::parse_documents(SCALER).unwrap().remove(0);
    gscale::api::check::check(&doc.value).scaler.expect("the bench scaler is valid").spec
}

fn bench(c: &mut Criterion) {
    let spec = spec();
    let now: Timestamp = "2026-11-15T12:00:00Z".parse().unwrap();
    // A full 300 s window at a 15 s interval: 20 distinct recommendations.
    let history = History {
        recommendations: (0..20)
            .map(|i| Recommendation {
                time: now - SignedDuration::from_secs(300 - 15 * i),
                replicas: 20 + (i as i32 % 7),
            })
            .collect(),
        last_scale_up_time: Some(now - SignedDuration::from_secs(400)),
        last_scale_down_time: Some(now - SignedDuration::from_secs(900)),
        ..History::default()
    };
    let readings: [Reading; 3] = [Ok(2350.0), Ok(1180.0), Ok(410.0)];
    let slo = SloReadings { latency_ms: Some(Ok(170.0)), error_rate: Some(Ok(0.002)) };
    let input = Input {
        spec: &spec,
        current_replicas: 22,
        ready_replicas: Some(22),
        readings: &readings,
        slo: &slo,
        history: &history,
        now,
    };
    assert_eq!(decide(&input).steps.len(), Stage::ALL.len());

    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(1));
    group.bench_function("slo_3_metrics_full_window", |b| b.iter(|| decide(black_box(&input))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
