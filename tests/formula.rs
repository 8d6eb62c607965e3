//! `spec.formula` over a real Prometheus (scraping an exporter the test serves) and a real Redis:
//! `plan` shows each metric's value and the formula's result as the metrics stage and decides by its
//! arithmetic; a failed metric is absent, and `lag ?? 0` says what then; the real `gscale run` on
//! the sandbox follows the formula up and down, and holds with the failure explained when Redis stops.
//! A missing server fails under CI=true and is a visible skip elsewhere.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::cluster::{Cluster, eventually};
use serde_json::{Value, json};

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

fn scaler(prometheus: &str, redis_port: u16, expression: &str) -> Value {
    json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orders"},
        "minReplicas": 1,
        "maxReplicas": 30,
        "metrics": [
            {"type": "redis", "name": "lag", "targetValue": 50,
             "redis": {"host": "127.0.0.1", "port": redis_port, "queueName": "orders"}},
            {"type": "prometheus", "name": "inflight", "targetValue": 20,
             "prometheus": {"serverUrl": prometheus, "query": "sum(inflight)"}},
        ],
        "formula": {"expression": expression, "targetValue": 100},
        "syncIntervalSeconds": 1,
        "behavior": {"scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 0}}
    })
}

fn plan(cluster: &Cluster, spec: &Value, output: &str) -> Output {
    let dir = common::TempDir::new("formula-plan");
    let file = dir.path().join("orders.yaml");
    let manifest = json!({"apiVersion": "autoscaling.generalscaler.io/v1alpha1", "kind": "GeneralScaler",
        "metadata": {"name": "orders", "namespace": "default"}, "spec": spec});
    std::fs::write(&file, serde_json::to_string(&manifest).unwrap()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_gscale"))
        .args(["plan", "-f", file.to_str().unwrap(), "--current", "1", "-o", output, "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn plan_json(cluster: &Cluster, spec: &Value) -> Value {
    let out = plan(cluster, spec, "json");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("plan -o json: {e}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_formula_over_prometheus_and_redis_scales_as_its_arithmetic_says() {
    let Some(mut redis) = common::redis::start() else { return };
    let exporter = common::prometheus::Exporter::start(&[("inflight", "100")]);
    let Some(prometheus) = common::prometheus::start(&exporter.target()) else { return };
    prometheus.wait_value("sum(inflight)", 100.0, SECONDS(20));
    redis.push("orders", 500);
    let cluster = Cluster::start().await;
    cluster.deployment("orders", 1).await;

    // (500 + 100) / 2 = 300 against 100 a replica: 3.
    let spec = scaler(&prometheus.url, redis.port, "(lag + inflight) / 2");
    let planned = plan_json(&cluster, &spec);
    let formula = &planned["metrics"][0];
    assert_eq!(planned["metrics"].as_array().unwrap().len(), 1, "{planned:#}");
    assert_eq!(
        (formula["name"].as_str(), formula["value"].as_f64()),
        (Some("formula"), Some(300.0)),
        "{planned:#}"
    );
    assert_eq!(formula["detail"], "(lag + inflight) / 2 over lag 500, inflight 100");
    assert_eq!(formula["desired"], 3, "{planned:#}");
    assert_eq!(planned["desired"], 3, "{planned:#}");
    let table = String::from_utf8_lossy(&plan(&cluster, &spec, "table").stdout).into_owned();
    assert!(table.contains("formula") && table.contains("lag 500, inflight 100"), "{table}");

    // The daemon follows the formula up, then down as the queue drains.
    cluster.apply_scaler("orders", spec.clone()).await;
    let mut daemon = cluster.daemon("d", &["--no-leader-election"]);
    cluster.wait_replicas("orders", 3, SECONDS(20)).await;
    redis.push("orders", 1500); // (2000 + 100) / 2 = 1050: 11
    cluster.wait_replicas("orders", 11, SECONDS(20)).await;
    redis.cli(&["DEL", "orders"]); // (0 + 100) / 2 = 50: 1
    cluster.wait_replicas("orders", 1, SECONDS(20)).await;
    redis.push("orders", 700); // (700 + 100) / 2 = 400: 4
    cluster.wait_replicas("orders", 4, SECONDS(20)).await;

    // Redis stops: the formula fails, the replicas hold and the status says why.
    redis.stop();
    eventually("MetricsAvailable False", SECONDS(15), || async {
        cluster.condition("orders", "MetricsAvailable").await.is_some_and(|(status, _, _)| status == "False")
    })
    .await;
    let (_, _, message) = cluster.condition("orders", "MetricsAvailable").await.unwrap();
    assert!(message.contains("metric lag failed"), "{message}");
    tokio::time::sleep(SECONDS(3)).await;
    assert_eq!(cluster.replicas("orders").await, 4, "held while the formula cannot be read");
    daemon.assert_running();

    // Planned with a fallback, the failed metric reads as 0: (0 + 100) / 2 = 50.
    let failing = plan_json(&cluster, &spec);
    assert!(failing["metrics"][0]["error"].as_str().unwrap().contains("metric lag failed"), "{failing:#}");
    assert!(failing["metrics"][0]["detail"].as_str().unwrap().contains("lag failed ("), "{failing:#}");
    let fallback = plan_json(&cluster, &scaler(&prometheus.url, redis.port, "((lag ?? 0) + inflight) / 2"));
    assert_eq!(fallback["metrics"][0]["value"].as_f64(), Some(50.0), "{fallback:#}");
    assert_eq!(fallback["metrics"][0]["desired"], 1, "{fallback:#}");
}

#[test]
fn validate_type_checks_the_formula() {
    let dir = common::TempDir::new("formula-validate");
    let file = dir.path().join("bad.yaml");
    let mut spec = scaler("http://prom:9090", 6379, "lag + queue");
    spec["formula"]["targetValue"] = json!(0);
    let manifest = json!({"apiVersion": "autoscaling.generalscaler.io/v1alpha1", "kind": "GeneralScaler",
        "metadata": {"name": "orders"}, "spec": spec});
    std::fs::write(&file, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_gscale")).args(["validate", "-f"]).arg(&file).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("spec.formula.expression") && text.contains("`queue`, which is no metric's name"),
        "{text}"
    );
    assert!(text.contains("spec.formula.targetValue"), "{text}");
}
