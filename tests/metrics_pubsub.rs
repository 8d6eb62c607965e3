//! The Pub/Sub source: the subscription checked on the real Pub/Sub emulator (admin API), the backlog
//! read from a local stand-in for the Cloud Monitoring API (the emulator has no Monitoring).

#![cfg(feature = "pubsub")]

mod common;

use std::time::Duration;

use common::monitoring::{self, Series};
use common::{kube_api, metric, pubsub, read};
use gscale::metrics::{Fetcher, Settings};
use serde_json::json;

fn pubsub_metric(subscription: &str, mode: &str) -> gscale::api::MetricSpec {
    metric(json!({"type": "pubsub", "targetValue": 50, "timeoutSeconds": 3,
        "pubsub": {"projectId": "demo-project", "subscriptionId": subscription, "mode": mode}}))
}

fn fetcher(emulator: &str, monitoring: &str, client: Option<kube::Client>) -> Fetcher {
    Fetcher::new(
        client,
        Settings {
            dedup_window: Some(Duration::ZERO),
            pubsub_endpoint: Some(emulator.to_owned()),
            monitoring_endpoint: Some(monitoring.to_owned()),
            pubsub_check_interval: Duration::ZERO,
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn backlog_age_and_faults() {
    let Some(emulator) = pubsub::start() else { return };
    emulator.create_topic("demo-project", "orders");
    emulator.create_subscription("demo-project", "orders", "orders-workers");
    emulator.publish("demo-project", "orders", 3);
    let stand_in = monitoring::start();
    stand_in.set_backlog("demo-project", "orders-workers", 250);
    stand_in.set("demo-project", "orders-workers", "age", Series::Value(42));
    let api = kube_api::start();
    api.put(
        "team",
        "gcp",
        &[("key.json", "{\"type\": \"service_account\", \"private_key\": \"PRIVATE-KEY-material\"}")],
    );
    let fetcher = fetcher(&emulator.host, &stand_in.server.url, Some(api.client.clone()));

    let backlog = pubsub_metric("orders-workers", "backlog");
    assert_eq!(read(&fetcher, "team", &backlog).await, Ok(250.0));
    assert_eq!(read(&fetcher, "team", &pubsub_metric("orders-workers", "oldestUnackedAge")).await, Ok(42.0));
    // The scaler follows the backlog.
    stand_in.set_backlog("demo-project", "orders-workers", 500);
    let readings = fetcher.fetch("team", &common::scaler(json!([backlog.clone()]))).await;
    assert_eq!(readings.metrics, vec![Ok(500.0)]);

    // A plaintext endpoint is called anonymously even with credentialsSecret set.
    let with_key =
        metric(json!({"type": "pubsub", "targetValue": 50, "pubsub": {"projectId": "demo-project",
        "subscriptionId": "orders-workers", "credentialsSecret": {"name": "gcp", "key": "key.json"}}}));
    assert_eq!(read(&fetcher, "team", &with_key).await, Ok(500.0));

    // No such subscription, checked through the admin API of the emulator.
    let err = read(&fetcher, "team", &pubsub_metric("nope-sub", "backlog")).await.unwrap_err();
    assert_eq!(err.reason(), "BackendError", "{err}");
    assert!(
        err.to_string().contains("subscription projects/demo-project/subscriptions/nope-sub not found"),
        "{err}"
    );

    let faults = [
        (Series::Empty, "NoData", "no time series"),
        (Series::Two, "AmbiguousReply", "2 time series"),
        (Series::Garbage, "BadReply", ""),
        (Series::Forbidden, "AuthFailed", "PERMISSION_DENIED (its message, 17 bytes, not shown)"),
        (Series::Slow(9, Duration::from_secs(5)), "Timeout", "no answer within 3s"),
    ];
    for (series, reason, says) in faults {
        stand_in.set("demo-project", "orders-workers", "backlog", series);
        let err = read(&fetcher, "team", &backlog).await.unwrap_err();
        assert_eq!(err.reason(), reason, "{err}");
        let message = err.to_string();
        assert!(message.contains(says), "{message}");
        assert!(
            message.starts_with("pubsub projects/demo-project, subscription `orders-workers` backlog"),
            "{message}"
        );
    }
    // Recovery.
    stand_in.set_backlog("demo-project", "orders-workers", 7);
    assert_eq!(read(&fetcher, "team", &backlog).await, Ok(7.0));

    // Monitoring down.
    let dead = fetcher_to_dead_monitoring(&emulator.host);
    let err = read(&dead, "team", &backlog).await.unwrap_err();
    assert_eq!(err.reason(), "BackendUnreachable", "{err}");

    // A missing credentials Secret is named.
    let missing = metric(json!({"type": "pubsub", "targetValue": 50, "pubsub": {"projectId": "demo-project",
        "subscriptionId": "orders-workers", "credentialsSecret": {"name": "absent", "key": "key.json"}}}));
    let err = read(&fetcher, "team", &missing).await.unwrap_err();
    assert_eq!(err.reason(), "SecretUnavailable");

    // A subscription confirmed by the admin API is not checked again within the check interval.
    let checking_rarely = Fetcher::new(
        None,
        Settings {
            dedup_window: Some(Duration::ZERO),
            pubsub_endpoint: Some(emulator.host.clone()),
            monitoring_endpoint: Some(stand_in.server.url.clone()),
            ..Default::default()
        },
    );
    assert_eq!(read(&checking_rarely, "team", &backlog).await, Ok(7.0));

    // The emulator down: unreachable, and the key never shows.
    drop(emulator);
    assert_eq!(read(&checking_rarely, "team", &backlog).await, Ok(7.0), "no admin call within the interval");
    let err = read(&fetcher, "team", &with_key).await.unwrap_err();
    assert_eq!(err.reason(), "BackendUnreachable", "{err}");
    assert!(!err.to_string().contains("PRIVATE-KEY-material"));
}

fn fetcher_to_dead_monitoring(emulator: &str) -> Fetcher {
    fetcher(emulator, &format!("http://127.0.0.1:{}", common::free_port()), None)
}

#[tokio::test]
async fn service_account_key_is_never_shown() {
    // A TLS endpoint (not plaintext) makes the credentials matter; a broken key is an auth error that
    // does not print the key. Nothing is sent: the key is refused before any request.
    let api = kube_api::start();
    api.put("team", "gcp", &[("key.json", "not json PRIVATE-KEY-material")]);
    let fetcher = Fetcher::new(
        Some(api.client.clone()),
        Settings {
            pubsub_endpoint: Some("https://127.0.0.1:1".into()),
            monitoring_endpoint: Some("https://127.0.0.1:1".into()),
            ..Default::default()
        },
    );
    let spec = metric(json!({"type": "pubsub", "targetValue": 50, "pubsub": {"projectId": "demo-project",
        "subscriptionId": "orders-workers", "credentialsSecret": {"name": "gcp", "key": "key.json"}}}));
    let err = read(&fetcher, "team", &spec).await.unwrap_err();
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    assert!(!err.to_string().contains("PRIVATE-KEY-material"), "{err}");
}

#[test]
fn settings_honour_the_environment() {
    // Re-run this test in a child process with the variables set (setting them here would be unsafe).
    if std::env::var_os("GSCALE_TEST_CHILD").is_none() {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["settings_honour_the_environment", "--exact", "--quiet"])
            .env("GSCALE_TEST_CHILD", "1")
            .env(gscale::metrics::PUBSUB_EMULATOR_HOST, "127.0.0.1:8681")
            .env(gscale::metrics::MONITORING_ENDPOINT_ENV, "http://127.0.0.1:9999")
            .output()
            .unwrap();
        assert!(child.status.success(), "{}", String::from_utf8_lossy(&child.stdout));
        return;
    }
    let settings = Settings::default();
    assert_eq!(settings.pubsub_endpoint.as_deref(), Some("127.0.0.1:8681"));
    assert_eq!(settings.monitoring_endpoint.as_deref(), Some("http://127.0.0.1:9999"));
}
