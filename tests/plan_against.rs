//! `gscale plan --replay --against hpa` against a real Prometheus with a recorded history: both
//! sides and their difference are printed, the HPA side equals the simulator's HPA stepped by hand
//! over the same series, and an imported HPA is compared before it is applied (`plan -f`).

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::cluster::Cluster;
use gscale::sim::Observation;
use gscale::sim::hpa::Hpa;
use jiff::Timestamp;
use serde_json::{Value, json};

fn gscale(cluster: &Cluster, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gscale"))
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(args)
        .env("COLUMNS", "100")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_against_hpa_on_prometheus_history() {
    let exporter = common::prometheus::Exporter::start(&[("queue_depth", "40")]);
    let Some(prometheus) = common::prometheus::start(&exporter.target()) else { return };
    let cluster = Cluster::start().await;
    cluster.deployment("worker", 2).await;
    let spec = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"},
        "minReplicas": 1, "maxReplicas": 20,
        "metric": {"type": "prometheus", "targetValue": 10, "targetType": "AverageValue",
                   "prometheus": {"serverUrl": prometheus.url, "query": "max(queue_depth)"}},
        "behavior": {"scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 5}},
        "policy": {"type": "costAware", "costAware": {"maxMonthlyCost": 100000, "costPerPodPerHour": 0.5}}
    });
    cluster.apply_scaler("worker", spec.clone()).await;
    // A recorded history with a rise and a fall in it.
    std::thread::sleep(Duration::from_secs(4));
    exporter.set("queue_depth", 150);
    prometheus.wait_value("max(queue_depth)", 150.0, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(20));
    exporter.set("queue_depth", 20);
    prometheus.wait_value("max(queue_depth)", 20.0, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(4));

    let dir = common::TempDir::new("against");
    let svg = dir.path().join("against.svg");
    let out = gscale(
        &cluster,
        &["plan", "worker", "--replay", "45s", "--step", "1s", "--against", "hpa", "-o", "json", "--plot"],
    );
    // --plot needs its FILE: a usage error, not a replay.
    assert_eq!(out.status.code(), Some(2));
    let out = gscale(
        &cluster,
        &[
            "plan",
            "worker",
            "--replay",
            "45s",
            "--step",
            "1s",
            "--against",
            "hpa",
            "-o",
            "json",
            "--plot",
            svg.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ticks = result["ticks"].as_array().unwrap();
    let against = &result["against"];
    let hpa_side: Vec<i64> =
        against["hpa"]["replicas"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(hpa_side.len(), ticks.len());
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.contains("<svg") && svg_text.contains("hpa") && svg_text.contains("gscale"));

    // The simulator's HPA, stepped by hand every 15 s over the same series, agrees tick for tick.
    let spec: gscale::api::GeneralScalerSpec = serde_json::from_value(spec).unwrap();
    let mut reference = Hpa::from_spec(&spec);
    let times: Vec<Timestamp> = ticks.iter().map(|t| t["time"].as_str().unwrap().parse().unwrap()).collect();
    let mut current = 2;
    let mut next_sync = times[0].as_millisecond();
    let mut samples = 0;
    for (i, tick) in ticks.iter().enumerate() {
        let reading = tick["values"][0].as_f64().ok_or_else(|| "no sample".to_string());
        samples += usize::from(reading.is_ok());
        let until = times.get(i + 1).map_or(times[i].as_millisecond() + 1000, |t| t.as_millisecond());
        while next_sync < until {
            let observed = Observation {
                current,
                ready: current,
                readings: vec![reading.clone()],
                slo: Default::default(),
            };
            current = reference.reconcile(next_sync, &observed);
            next_sync += 15_000;
        }
        assert_eq!(hpa_side[i], i64::from(current), "tick {i} at {}", times[i]);
    }
    assert!(samples >= 30, "too little history: {result}");
    // Three syncs in 45 s: the HPA moves toward the rise, limited to max(4 pods, 100%) a sync.
    assert!(hpa_side.iter().any(|&n| n > 2), "the HPA followed the rise to 150 / 10: {hpa_side:?}");
    // Totals as the sides' own timelines give them.
    let pod_hours = |side: &Value| side["podHours"].as_f64().unwrap();
    let by_hand: f64 = hpa_side.iter().map(|&n| n as f64 / 3600.0).sum();
    assert!((pod_hours(&against["hpa"]) - by_hand).abs() < 1e-9);
    let difference = against["podHoursDifference"].as_f64().unwrap();
    assert!((difference - (pod_hours(&against["gscale"]) - by_hand)).abs() < 1e-9);
    assert!((against["costDifference"].as_f64().unwrap() - difference * 0.5).abs() < 1e-9);

    // The table: both sides and the difference.
    let out = gscale(&cluster, &["plan", "worker", "--replay", "45s", "--step", "1s", "--against", "hpa"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for words in ["GSCALE", "HPA", "DIFFERENCE", "pod-hours", "min under-provisioned", "min at max", "cost"] {
        assert!(text.contains(words), "no {words:?} in\n{text}");
    }
    let out = gscale(&cluster, &["plan", "worker", "--replay", "45s", "--against", "keda"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--against hpa"));

    // An HPA not yet replaced: imported, then compared before it is applied.
    let hpa = dir.path().join("hpa.yaml");
    std::fs::write(
        &hpa,
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: worker-hpa, namespace: default}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: worker}\n  minReplicas: 1\n  maxReplicas: 20\n  metrics:\n  - type: External\n    external:\n      metric: {name: queue_depth}\n      target: {type: AverageValue, averageValue: \"10\"}\n",
    )
    .unwrap();
    let out = gscale(&cluster, &["import", "-f", hpa.to_str().unwrap(), "--prometheus-url", &prometheus.url]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let imported = dir.path().join("imported.yaml");
    std::fs::write(&imported, &out.stdout).unwrap();
    let out = gscale(
        &cluster,
        &[
            "plan",
            "-f",
            imported.to_str().unwrap(),
            "--replay",
            "45s",
            "--step",
            "1s",
            "--against",
            "hpa",
            "-o",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(result["ticks"].as_array().unwrap().iter().filter(|t| t["values"][0].is_number()).count() >= 30);
    assert!(result["against"]["hpa"]["podHours"].as_f64().unwrap() > 0.0, "{result}");
}

/// A forecasting scaler's replay starts from the history the daemon would have backfilled at the
/// replay's start (the days before it, a range query a day), and says so; without it the forecast
/// would spend the replay's first hour learning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forecasting_replay_starts_from_the_days_before_it() {
    let now = Timestamp::now().as_second();
    // Four days and a bit of a daily load at one-minute samples, up to a minute ago.
    let daily =
        |t: i64| 200.0 + 150.0 * ((t.rem_euclid(86_400) as f64) / 86_400.0 * std::f64::consts::TAU).sin();
    let history: Vec<(String, i64, f64)> = (1..=4 * 24 * 60 + 120)
        .rev()
        .map(|minutes_ago| now - 60 * minutes_ago)
        .map(|t| ("demand{source=\"history\"}".to_string(), t, daily(t)))
        .collect();
    let exporter = common::prometheus::Exporter::start(&[("unrelated", "1")]);
    let Some(prometheus) = common::prometheus::start_with_history(&exporter.target(), &history) else {
        return;
    };
    let cluster = Cluster::start().await;
    cluster.deployment("web", 3).await;
    let spec = |target_type: &str| {
        json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 20,
            "metric": {"type": "prometheus", "targetValue": 50, "targetType": target_type,
                       "prometheus": {"serverUrl": prometheus.url, "query": "max(demand)"}},
            "forecast": {"mode": "On"}
        })
    };
    cluster.apply_scaler("web", spec("AverageValue")).await;

    let queries = prometheus.range_queries();
    let out = gscale(&cluster, &["plan", "web", "--replay", "1h", "--step", "1m", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let forecast = &result["forecast"];
    let hours = forecast["historyHours"].as_f64().unwrap();
    assert!(hours > 90.0, "the four days before the replay: {forecast}");
    // Four days a query each, then the replay's own.
    assert_eq!(prometheus.range_queries() - queries, 5);
    assert_eq!(forecast["learning"], 0, "it forecast from the first tick: {forecast}");
    assert!(forecast["forecast"].as_u64().unwrap() > 50, "{forecast}");

    let out = gscale(&cluster, &["plan", "web", "--replay", "1h", "--step", "1m"]);
    let text = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("forecast: started from 9"), "{text}");
    assert!(text.contains("h of Prometheus history before the replay"), "{text}");

    // A per-pod metric is not the demand itself: nothing to backfill, and the replay says so.
    cluster.apply_scaler("web", spec("Value")).await;
    let queries = prometheus.range_queries();
    let out = gscale(&cluster, &["plan", "web", "--replay", "1h", "--step", "1m"]);
    let text = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("forecast: learnt from the replay's own readings (a per-pod metric"), "{text}");
    assert_eq!(prometheus.range_queries() - queries, 1, "only the replay's own query");
}

/// A Pub/Sub backlog replays from the series Cloud Monitoring keeps (one mean a minute, held on the
/// replay's steps), and a forecasting scaler on it starts from the days before, as the daemon does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_backlog_replays_from_cloud_monitoring() {
    fn backlog(t: i64) -> i64 {
        (1000.0 + 500.0 * (t as f64 / 86_400.0 * std::f64::consts::TAU).sin()) as i64
    }
    let monitoring = common::monitoring::start();
    monitoring.set("demo-project", "jobs-sub", "backlog", common::monitoring::Series::Wave(backlog));
    let cluster = Cluster::start().await;
    cluster.deployment("consumer", 3).await;
    let spec = |forecast: &str| {
        json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consumer"},
            "minReplicas": 1, "maxReplicas": 30,
            "metric": {"type": "pubsub", "targetValue": 100,
                       "pubsub": {"projectId": "demo-project", "subscriptionId": "jobs-sub"}},
            "forecast": {"mode": forecast}
        })
    };
    cluster.apply_scaler("consumer", spec("Off")).await;
    // Only Monitoring is read: the Pub/Sub endpoint is never called, but set (plain http, so no
    // credentials are looked for).
    let plan = |output: &str| {
        Command::new(env!("CARGO_BIN_EXE_gscale"))
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args(["plan", "consumer", "--replay", "2h", "--step", "1m", "-o", output])
            .env("COLUMNS", "100")
            .env("PUBSUB_EMULATOR_HOST", monitoring.server.url.trim_start_matches("http://"))
            .env("GSCALE_MONITORING_ENDPOINT", &monitoring.server.url)
            .output()
            .unwrap()
    };
    let out = plan("json");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ticks = result["ticks"].as_array().unwrap();
    assert_eq!(ticks.len(), 121, "two hours at one-minute steps");
    for tick in ticks {
        let t: Timestamp = tick["time"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            tick["values"][0].as_f64(),
            Some(backlog(t.as_second()) as f64),
            "the minute's point: {tick}"
        );
    }
    assert_eq!(monitoring.history_reads().len(), 1, "one read of the two hours (and a minute or two)");

    // Forecasting: the four days before the replay come from Monitoring too, a day per read.
    cluster.apply_scaler("consumer", spec("On")).await;
    let reads = monitoring.history_reads().len();
    let out = plan("table");
    let text = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("h of Cloud Monitoring history before the replay"), "{text}");
    let days = monitoring.history_reads()[reads..].iter().filter(|r| r.page_token.is_empty()).count();
    assert_eq!(days, 4 + 1, "four days a read each, then the replay's own");
}
