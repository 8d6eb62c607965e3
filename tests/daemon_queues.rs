//! `gscale run` end to end on the message-queue sources, against real brokers started by the tests:
//! a RabbitMQ queue (management API, credentials from a Secret) and a NATS JetStream consumer
//! (monitoring endpoint). Each drives the sandbox's Deployment up and down; each broker stopped
//! mid-run holds the replicas with the failure explained, and no credential reaches status or Events.
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
        "behavior": {"scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 0}}
    })
}

/// The broker stopped: MetricsAvailable False naming the backend, the replicas held.
async fn holds_when_stopped(cluster: &Cluster, name: &str, held: i32, backend: &str) -> String {
    eventually("MetricsAvailable False", SECONDS(20), || async {
        cluster.condition(name, "MetricsAvailable").await.is_some_and(|c| c.0 == "False")
    })
    .await;
    let (_, reason, message) = cluster.condition(name, "MetricsAvailable").await.unwrap();
    assert_eq!(reason, "MetricUnavailable");
    assert!(message.contains(backend) && message.contains("unreachable"), "names the backend: {message}");
    tokio::time::sleep(SECONDS(3)).await;
    assert_eq!(cluster.replicas(name).await, held, "no scale-down on missing data");
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_queue_scales_consumers_with_credentials_from_a_secret() {
    let Some(mut rabbit) = common::queues::rabbitmq() else { return };
    rabbit.declare("jobs");
    let cluster = Cluster::start().await;
    cluster.deployment("consumers", 1).await;
    cluster.secret("rabbitmq-credentials", json!({"username": "guest", "password": "guest"})).await;
    let metric = json!({"type": "rabbitmq", "targetValue": 10, "rabbitmq": {
        "url": rabbit.url, "queueName": "jobs",
        "usernameSecretRef": {"name": "rabbitmq-credentials", "key": "username"},
        "passwordSecretRef": {"name": "rabbitmq-credentials", "key": "password"}}});
    cluster.apply_scaler("consumers", spec(metric, "consumers")).await;
    let mut daemon = cluster.daemon("d", &["--no-leader-election"]);

    rabbit.publish("jobs", 45); // 45 at 10 a consumer: 5
    cluster.wait_replicas("consumers", 5, SECONDS(30)).await;
    rabbit.purge("jobs");
    cluster.wait_replicas("consumers", 1, SECONDS(30)).await;
    rabbit.publish("jobs", 30);
    cluster.wait_replicas("consumers", 3, SECONDS(30)).await;
    let status = cluster.scaler("consumers").await.status.unwrap();
    assert_eq!(status.metrics[0].value, Some(30.0), "{status:?}");

    rabbit.stop();
    let message = holds_when_stopped(&cluster, "consumers", 3, "127.0.0.1").await;
    assert!(!message.contains("guest") && !message.contains("Z3Vlc3Q"), "{message}");
    daemon.assert_running();
    let events = cluster.events("consumers").await;
    let notes: Vec<String> = events.iter().filter_map(|e| e.note.clone()).collect();
    assert!(notes.iter().all(|n| !n.contains("guest")), "{notes:?}");
    assert!(!daemon.log().contains("Z3Vlc3Q6Z3Vlc3Q"), "the basic-auth header never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_password_refused_is_an_auth_error_that_never_shows_it() {
    let Some(rabbit) = common::queues::rabbitmq() else { return };
    rabbit.declare("jobs");
    let cluster = Cluster::start().await;
    cluster.deployment("consumers", 2).await;
    cluster.secret("wrong", json!({"password": "not-the-Password-42"})).await;
    let metric = json!({"type": "rabbitmq", "targetValue": 10, "rabbitmq": {
        "url": rabbit.url, "queueName": "jobs", "username": "guest",
        "passwordSecretRef": {"name": "wrong", "key": "password"}}});
    cluster.apply_scaler("consumers", spec(metric, "consumers")).await;
    let out = cluster.run_to_exit(&["--once", "--no-leader-election"]).await;
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let (_, _, message) = cluster.condition("consumers", "MetricsAvailable").await.unwrap();
    assert!(message.contains("http 401"), "{message}");
    for text in [&message, &log] {
        assert!(!text.contains("not-the-Password-42"), "{text}");
    }
    assert_eq!(cluster.replicas("consumers").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_jetstream_consumer_scales_workers_up_and_down() {
    let Some(mut nats) = common::queues::nats() else { return };
    nats.stream_with_consumer("orders", "orders", "worker");
    let cluster = Cluster::start().await;
    cluster.deployment("workers", 1).await;
    let metric = json!({"type": "nats", "targetValue": 20, "nats": {
        "monitoringUrl": nats.monitoring_url, "stream": "orders", "consumer": "worker"}});
    cluster.apply_scaler("workers", spec(metric, "workers")).await;
    let mut daemon = cluster.daemon("d", &["--no-leader-election"]);

    nats.publish("orders.new", 100); // 100 pending at 20 a worker: 5
    cluster.wait_replicas("workers", 5, SECONDS(30)).await;
    nats.purge("orders");
    cluster.wait_replicas("workers", 1, SECONDS(30)).await;
    nats.publish("orders.new", 61);
    cluster.wait_replicas("workers", 4, SECONDS(30)).await;

    nats.stop();
    holds_when_stopped(&cluster, "workers", 4, "127.0.0.1").await;
    daemon.assert_running();
}
