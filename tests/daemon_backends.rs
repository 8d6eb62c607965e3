//! `gscale run` end to end with the real metric backends: Redis, Prometheus (scraping an exporter
//! the test serves), and the Pub/Sub emulator with a local stand-in for Cloud Monitoring.
//! A missing server fails under CI=true and is a visible skip elsewhere.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, eventually};
use serde_json::json;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

fn spec(metric: serde_json::Value, target: &str) -> serde_json::Value {
    json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": 1,
        "maxReplicas": 20,
        "metric": metric,
        "syncIntervalSeconds": 1,
        "behavior": {"scaleDown": {"cooldownSeconds": 3, "stabilizationWindowSeconds": 0}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_queue_scales_workers_up_and_drains_down_after_the_cooldown() {
    let Some(mut redis) = common::redis::start() else { return };
    let cluster = Cluster::start().await;
    cluster.deployment("workers", 1).await;
    let metric = json!({"type": "redis", "targetValue": 50,
        "redis": {"host": "127.0.0.1", "port": redis.port, "queueName": "jobs"}});
    cluster.apply_scaler("workers", spec(metric, "workers")).await;
    let _daemon = cluster.daemon("d", &["--no-leader-election"]);

    redis.push("jobs", 500);
    cluster.wait_replicas("workers", 10, SECONDS(15)).await;
    // Half drained: a first scale-down, which starts the 3 s wait before the next one.
    redis.cli(&["LTRIM", "jobs", "0", "249"]);
    cluster.wait_replicas("workers", 5, SECONDS(15)).await;
    eventually("the scale-down time is in status", SECONDS(10), || async {
        cluster.scaler("workers").await.status.is_some_and(|s| s.history.last_scale_down_time.is_some())
    })
    .await;
    let first_down =
        cluster.scaler("workers").await.status.and_then(|s| s.history.last_scale_down_time).unwrap();

    redis.cli(&["DEL", "jobs"]);
    cluster.wait_replicas("workers", 1, SECONDS(15)).await;
    // The sandbox's time of the drain against the daemon's own stamp of the first scale-down.
    let drained = cluster.scale_patches("workers").last().expect("a scale-down").at;
    assert!(
        drained >= first_down + jiff::SignedDuration::from_secs(3),
        "drained only after the 3 s cooldown: first down at {first_down}, down at {drained}"
    );

    // Redis down: the scaler holds, says why, and recovers by itself.
    redis.push("jobs", 200);
    cluster.wait_replicas("workers", 4, SECONDS(10)).await;
    redis.stop();
    eventually("MetricsAvailable False", SECONDS(10), || async {
        cluster.condition("workers", "MetricsAvailable").await.is_some_and(|c| c.0 == "False")
    })
    .await;
    let (_, reason, message) = cluster.condition("workers", "MetricsAvailable").await.unwrap();
    assert_eq!(reason, "MetricUnavailable");
    assert!(message.contains("127.0.0.1"), "names the backend: {message}");
    assert!(cluster.event_reasons("workers").await.contains(&"MetricUnavailable".to_string()));
    tokio::time::sleep(SECONDS(4)).await;
    assert_eq!(cluster.replicas("workers").await, 4, "no scale-down on missing data");
    redis.restart();
    redis.push("jobs", 100);
    cluster.wait_replicas("workers", 2, SECONDS(15)).await;
    // Status is written just after the scale, not with it.
    eventually("MetricsAvailable True", SECONDS(5), || async {
        cluster.condition("workers", "MetricsAvailable").await.is_some_and(|c| c.0 == "True")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_fed_scalers_follow_the_exporter_and_share_one_query() {
    let exporter = common::prometheus::Exporter::start(&[("queue_depth", "100")]);
    let Some(prometheus) = common::prometheus::start(&exporter.target()) else { return };
    let cluster = Cluster::start().await;
    for name in ["a", "b"] {
        cluster.deployment(name, 1).await;
        let metric = json!({"type": "prometheus", "targetValue": 50, "targetType": "AverageValue",
            "prometheus": {"serverUrl": prometheus.url, "query": "sum(queue_depth)"}});
        cluster.apply_scaler(name, spec(metric, name)).await;
    }
    let addr = format!("127.0.0.1:{}", common::free_port());
    let _daemon = cluster.daemon("d", &["--no-leader-election", "--metrics-addr", &addr]);
    cluster.wait_replicas("a", 2, SECONDS(15)).await;
    cluster.wait_replicas("b", 2, SECONDS(5)).await;

    exporter.set("queue_depth", 400);
    prometheus.wait_value("sum(queue_depth)", 400.0, SECONDS(10));
    cluster.wait_replicas("a", 8, SECONDS(5)).await;
    cluster.wait_replicas("b", 8, SECONDS(5)).await;

    // Two scalers, one query: over six queries counted by Prometheus itself, the daemon took about
    // two readings per query (one per scaler), not one.
    let readings = || {
        let text =
            common::http_request("GET", &format!("http://{addr}/metrics"), None).expect("metrics up").1;
        let line = "gscale_metric_fetches_total{source=\"prometheus\"} ";
        text.lines().find_map(|l| l.strip_prefix(line)?.parse::<u64>().ok()).unwrap()
    };
    let (read_before, asked_before) = (readings(), prometheus.instant_queries());
    common::wait_for_async("six queries", SECONDS(30), || async {
        prometheus.instant_queries() >= asked_before + 6
    })
    .await;
    let (read, asked) = (readings() - read_before, prometheus.instant_queries() - asked_before);
    assert!(2 * read >= 3 * asked, "one query for both scalers: {read} readings, {asked} queries");
}

/// The Pub/Sub emulator with topic `jobs` and subscription `jobs-sub` in `demo-project`, and the
/// Monitoring stand-in; `None` where the emulator is missing (outside CI).
fn pubsub_backends() -> Option<(common::pubsub::Emulator, common::monitoring::Monitoring)> {
    let emulator = common::pubsub::start()?;
    emulator.create_topic("demo-project", "jobs");
    emulator.create_subscription("demo-project", "jobs", "jobs-sub");
    Some((emulator, common::monitoring::start()))
}

/// A daemon reading Pub/Sub from the emulator and Monitoring from the stand-in.
fn pubsub_daemon(
    cluster: &Cluster,
    emulator: &common::pubsub::Emulator,
    monitoring: &common::monitoring::Monitoring,
) -> common::cluster::Daemon {
    cluster.daemon_with_env(
        "d",
        &["--no-leader-election"],
        &[
            ("PUBSUB_EMULATOR_HOST", emulator.host.as_str()),
            ("GSCALE_MONITORING_ENDPOINT", monitoring.server.url.as_str()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_fed_scaler_follows_its_backlog() {
    let Some((emulator, monitoring)) = pubsub_backends() else { return };
    monitoring.set_backlog("demo-project", "jobs-sub", 30);

    let cluster = Cluster::start().await;
    cluster.deployment("consumer", 1).await;
    let metric = json!({"type": "pubsub", "targetValue": 100,
        "pubsub": {"projectId": "demo-project", "subscriptionId": "jobs-sub"}});
    cluster.apply_scaler("consumer", spec(metric, "consumer")).await;
    let _daemon = pubsub_daemon(&cluster, &emulator, &monitoring);
    eventually("the first reading", SECONDS(20), || async {
        cluster
            .scaler("consumer")
            .await
            .status
            .is_some_and(|s| s.metrics.first().is_some_and(|m| m.value == Some(30.0)))
    })
    .await;

    monitoring.set_backlog("demo-project", "jobs-sub", 750);
    cluster.wait_replicas("consumer", 8, SECONDS(10)).await;
    monitoring.set_backlog("demo-project", "jobs-sub", 120);
    cluster.wait_replicas("consumer", 2, SECONDS(10)).await;

    // A subscription that does not exist is named as such.
    let metric = json!({"type": "pubsub", "targetValue": 100,
        "pubsub": {"projectId": "demo-project", "subscriptionId": "missing-sub"}});
    cluster.deployment("orphan", 1).await;
    cluster.apply_scaler("orphan", spec(metric, "orphan")).await;
    eventually("the missing subscription is reported", SECONDS(15), || async {
        cluster
            .condition("orphan", "MetricsAvailable")
            .await
            .is_some_and(|c| c.0 == "False" && c.2.contains("missing-sub"))
    })
    .await;
}

/// A new forecasting scaler on a Pub/Sub backlog starts from the subscription's past in Cloud
/// Monitoring (a day per read, one mean a minute, following the pages), as a Prometheus total starts
/// from `query_range`: it forecasts at once instead of warming up for a day, and keeps what it learnt
/// in status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forecasting_pubsub_scaler_starts_from_the_backlog_cloud_monitoring_keeps() {
    let Some((emulator, monitoring)) = pubsub_backends() else { return };
    // A daily wave of backlog, one point a minute, as far back as asked.
    fn daily(t: i64) -> i64 {
        (1000.0 + 500.0 * (t as f64 / 86_400.0 * std::f64::consts::TAU).sin()) as i64
    }
    monitoring.set("demo-project", "jobs-sub", "backlog", common::monitoring::Series::Wave(daily));

    let cluster = Cluster::start().await;
    cluster.deployment("consumer", 1).await;
    let metric = json!({"type": "pubsub", "targetValue": 100,
        "pubsub": {"projectId": "demo-project", "subscriptionId": "jobs-sub"}});
    let mut spec = spec(metric, "consumer");
    spec["forecast"] = json!({"mode": "On"});
    cluster.apply_scaler("consumer", spec).await;
    let daemon = pubsub_daemon(&cluster, &emulator, &monitoring);
    eventually("the backfill", SECONDS(30), || async {
        daemon.log().contains("forecast history backfilled")
    })
    .await;
    assert!(daemon.log().contains("Cloud Monitoring"), "the log names the backend: {}", daemon.log());

    // Four days, a day per read, oldest first and back to back; each day of 1,441 minutes in
    // three pages of the stand-in's 500 points.
    let reads = monitoring.history_reads();
    let days: Vec<(String, String)> =
        reads.iter().filter(|r| r.page_token.is_empty()).map(|r| (r.start.clone(), r.end.clone())).collect();
    assert_eq!(days.len(), 4, "four days, a day per read: {reads:?}");
    assert!(days.windows(2).all(|w| w[0].1 == w[1].0), "oldest first, back to back: {days:?}");
    let tokens: Vec<&str> = reads.iter().map(|r| r.page_token.as_str()).collect();
    assert_eq!(tokens.len(), 12, "every page followed: {reads:?}");
    assert!(tokens.chunks(3).all(|day| day == ["", "500", "1000"]), "pages in order: {tokens:?}");

    // The scaler forecasts from it and keeps it in status: about four days learnt.
    eventually("four days of history in status", SECONDS(30), || async {
        let scaler = cluster.scaler("consumer").await;
        let forecast = scaler.status.and_then(|s| s.history.forecast);
        forecast.is_some_and(|f| f.hours() > 90.0)
    })
    .await;
}
