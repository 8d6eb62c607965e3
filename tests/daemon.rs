//! `gscale run` end to end: the real binary against the sandbox Kubernetes API, with an HTTP metric
//! the test drives. Replicas, status, Events and the sandbox's request log are asserted.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, Load, eventually};
use gscale::sandbox::{FaultMatch, RequestRecord};
use serde_json::json;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

fn base_spec(load: &Load, target: f64) -> serde_json::Value {
    json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metric": load.metric(target),
        "syncIntervalSeconds": 1,
        "behavior": {"scaleUp": {"cooldownSeconds": 0},
                     "scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 0}}
    })
}

fn is_scale_patch(r: &RequestRecord) -> bool {
    r.verb == "patch" && r.subresource == "scale" && r.status < 300
}

async fn wait_replicas(cluster: &Cluster, name: &str, expected: i32, deadline: Duration) {
    eventually(&format!("{name} at {expected} replicas"), deadline, || async {
        cluster.replicas(name).await == expected
    })
    .await;
}

/// Hold `replicas` for `period`, checking often.
async fn holds(cluster: &Cluster, name: &str, replicas: i32, period: Duration) {
    let start = Instant::now();
    while start.elapsed() < period {
        assert_eq!(cluster.replicas(name).await, replicas, "{name} moved after {:?}", start.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_load_up_at_once_and_down_after_cooldown_and_window() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 2).await;
    let load = Load::new(100.0);
    let mut spec = base_spec(&load, 50.0);
    spec["behavior"]["scaleDown"] = json!({"cooldownSeconds": 4, "stabilizationWindowSeconds": 3});
    cluster.apply_scaler("app", spec).await;
    let mut daemon = cluster.daemon("d1", &[]);

    eventually("a first status", SECONDS(15), || async { cluster.scaler("app").await.status.is_some() }).await;
    assert_eq!(cluster.replicas("app").await, 2, "100 / 50 = 2: hold");

    load.set(400.0);
    let changed = Instant::now();
    wait_replicas(&cluster, "app", 8, SECONDS(5)).await;
    assert!(changed.elapsed() < Duration::from_millis(2600), "within one interval (+ tick phase): {:?}", changed.elapsed());

    load.set(50.0);
    let dropped = Instant::now();
    wait_replicas(&cluster, "app", 1, SECONDS(15)).await;
    let waited = dropped.elapsed();
    assert!(waited >= Duration::from_millis(3500), "scale-down waited for cooldown and window: {waited:?}");

    eventually("status shows 1 -> 1", SECONDS(5), || async {
        let status = cluster.scaler("app").await.status.unwrap();
        (status.current_replicas, status.desired_replicas) == (Some(1), Some(1))
    })
    .await;
    let reasons = cluster.event_reasons("app").await;
    assert!(reasons.contains(&"ScaledUp".to_string()) && reasons.contains(&"ScaledDown".to_string()), "{reasons:?}");
    assert_eq!(cluster.sandbox.count_requests(is_scale_patch), 2, "exactly one PATCH per change");
    daemon.assert_running();
}
