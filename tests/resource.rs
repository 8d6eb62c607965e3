//! The `resource` metric source end to end: pods and their PodMetrics in the sandbox (as
//! metrics-server serves them), the real `gscale run` and `gscale plan` against it. The counts are
//! the HPA's: ceil(current * usage / target), missing and unready pods counted conservatively.
//!
//! "Holds" is a number of ticks (lists of the pods' metrics) that passed without a scale, never a
//! stopwatch; deadlines only bound a hang.

mod common;

use std::process::Output;
use std::time::Duration;

use common::cluster::{Cluster, eventually};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

/// A running, ready pod of Deployment `app` with these container requests.
async fn pod(cluster: &Cluster, app: &str, name: &str, containers: Value) {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    let pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": containers},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
}

/// Containers `app` (500m cpu, 256Mi requested) and `sidecar` (100m cpu, no memory request).
fn two_containers() -> Value {
    json!([
        {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}},
        {"name": "sidecar", "image": "envoy", "resources": {"requests": {"cpu": "100m"}}},
    ])
}

/// metrics-server's report of a pod: `app` and `sidecar` usage.
fn usage(cluster: &Cluster, name: &str, app_cpu: &str, sidecar_cpu: &str, app_memory: &str) {
    cluster
        .sandbox
        .set_pod_metrics(
            "default",
            name,
            json!([
                {"name": "app", "usage": {"cpu": app_cpu, "memory": app_memory}},
                {"name": "sidecar", "usage": {"cpu": sidecar_cpu, "memory": "16Mi"}},
            ]),
        )
        .unwrap();
}

fn scaler(metric: Value) -> Value {
    json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 10,
        "metric": metric,
        "syncIntervalSeconds": 1,
        "behavior": {"scaleUp": {"cooldownSeconds": 0},
                     "scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 0}}
    })
}

fn cpu_at(percent: u32) -> Value {
    json!({"type": "resource", "targetValue": percent, "resource": {"name": "cpu"}})
}

/// How many times the pods' metrics have been listed (one per tick of the scaler).
fn metric_lists(cluster: &Cluster) -> usize {
    cluster.sandbox.count_requests(|r| r.verb == "list" && r.path.contains("/apis/metrics.k8s.io/"))
}

async fn wait_ticks(cluster: &Cluster, ticks: usize) {
    let from = metric_lists(cluster);
    eventually(&format!("{ticks} more ticks"), SECONDS(30), || async {
        metric_lists(cluster) >= from + ticks
    })
    .await;
}

fn plan(cluster: &Cluster, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gscale"))
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .arg("plan")
        .args(args)
        .env("COLUMNS", "200")
        .output()
        .unwrap()
}

fn plan_json(cluster: &Cluster, name: &str) -> Value {
    let out = plan(cluster, &[name, "-o", "json"]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_at_90_percent_of_requests_against_60_scales_as_the_hpa_formula_and_plan_explains_it() {
    let cluster = Cluster::start().await;
    cluster.deployment("web", 2).await;
    for name in ["web-a", "web-b"] {
        pod(&cluster, "web", name, two_containers()).await;
        // 450m + 90m of 600m requested: 90%.
        usage(&cluster, name, "450m", "90m", "128Mi");
    }
    cluster.apply_scaler("web", scaler(cpu_at(60))).await;

    let out = plan(&cluster, &["web"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "3: would scale; {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("cpu: cpu 90% of requests over 2 ready pods"), "{text}");
    assert!(text.contains("60 (% of requests)"), "{text}");
    assert!(text.contains("cpu 90% of requests vs target 60%: ceil(2 x 1.500) = 3"), "{text}");
    assert!(text.contains("would scale Deployment/web 2 -> 3"), "ceil(2 * 90 / 60) = 3: {text}");

    let mut daemon = cluster.daemon("d1", &[]);
    eventually("web at 3 replicas", SECONDS(20), || async { cluster.replicas("web").await == 3 }).await;
    // The third pod is not there yet (nothing runs pods in the sandbox): two at 90% over three
    // replicas is ceil(2 * 1.5) = 3 by the HPA's count of ready pods, a hold.
    wait_ticks(&cluster, 3).await;
    assert_eq!(cluster.scale_patches("web").len(), 1, "one scale, then a hold");
    let status = cluster.scaler("web").await.status.unwrap();
    assert_eq!(status.desired_replicas, Some(3));
    daemon.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_without_metrics_holds_a_would_be_scale_down_until_its_metrics_return() {
    let cluster = Cluster::start().await;
    cluster.deployment("web", 4).await;
    for name in ["web-a", "web-b", "web-c", "web-d"] {
        pod(&cluster, "web", name, two_containers()).await;
    }
    // Three pods at 45% and one without metrics: counted at the 60% target, 48.75% over four pods
    // asks ceil(4 * 0.8125) = 4, a hold; with all four at 45% it would be ceil(4 * 0.75) = 3.
    for name in ["web-a", "web-b", "web-c"] {
        usage(&cluster, name, "225m", "45m", "128Mi");
    }
    cluster.apply_scaler("web", scaler(cpu_at(60))).await;

    let report = plan_json(&cluster, "web");
    assert_eq!(report["desired"], 4, "{report:#}");
    let detail = report["metrics"][0]["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        "cpu 45% of requests over 3 ready pods; 1 without metrics counted at the target (60% of requests): 48.75% of requests"
    );

    let mut daemon = cluster.daemon("d1", &[]);
    wait_ticks(&cluster, 4).await;
    assert_eq!(cluster.replicas("web").await, 4, "held while a pod's metrics are missing");
    assert!(cluster.scale_patches("web").is_empty());

    usage(&cluster, "web-d", "225m", "45m", "128Mi");
    eventually("web at 3 replicas", SECONDS(20), || async { cluster.replicas("web").await == 3 }).await;
    daemon.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_level_average_memory_and_a_pod_without_requests_in_plan() {
    let cluster = Cluster::start().await;
    cluster.deployment("web", 2).await;
    for name in ["web-a", "web-b"] {
        pod(&cluster, "web", name, two_containers()).await;
        // The app container alone: 450m of 500m is 90%; the pod as a whole (540m of 600m) is too,
        // so the sidecar is made busy to tell them apart: 450m + 150m of 600m is 100%.
        usage(&cluster, name, "450m", "150m", "600Mi");
    }

    // Container-level: the app container at 90% of its request against 60%: 2 -> 3.
    let app_only =
        json!({"type": "resource", "targetValue": 60, "resource": {"name": "cpu", "container": "app"}});
    cluster.apply_scaler("web", scaler(app_only)).await;
    let report = plan_json(&cluster, "web");
    assert_eq!(report["metrics"][0]["detail"], "cpu 90% of requests over 2 ready pods");
    assert_eq!(report["desired"], 3);
    // The whole pod: 100% against 60%: ceil(2 * 100 / 60) = 4.
    cluster.apply_scaler("web", scaler(cpu_at(60))).await;
    assert_eq!(plan_json(&cluster, "web")["desired"], 4);

    // AverageValue memory: 616Mi a pod (600Mi + 16Mi), 1232Mi in all, against 256Mi a pod:
    // ceil(1232 / 256) = 5.
    let memory = json!({"type": "resource", "targetValue": 268435456, "targetType": "AverageValue",
                        "resource": {"name": "memory"}});
    cluster.apply_scaler("web", scaler(memory)).await;
    let report = plan_json(&cluster, "web");
    assert_eq!(report["metrics"][0]["detail"], "memory 616Mi per pod over 2 ready pods");
    assert_eq!(report["desired"], 5, "{report:#}");

    // Memory utilization needs a memory request on every container counted: the sidecar has none.
    let utilization = json!({"type": "resource", "targetValue": 80, "resource": {"name": "memory"}});
    cluster.apply_scaler("web", scaler(utilization)).await;
    let report = plan_json(&cluster, "web");
    let error = report["metrics"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(
            "container `sidecar` of pod web-a has no memory request, so utilization cannot be computed"
        ),
        "{error}"
    );
    assert_eq!(report["desired"], 2, "no data is not zero: hold");
    // ...which the app container alone has.
    let app_memory =
        json!({"type": "resource", "targetValue": 80, "resource": {"name": "memory", "container": "app"}});
    cluster.apply_scaler("web", scaler(app_memory)).await;
    let report = plan_json(&cluster, "web");
    // 600Mi of 256Mi requested: 234.375% against 80%: ceil(2 * 2.93) = 6.
    assert_eq!(report["desired"], 6, "{report:#}");
}
