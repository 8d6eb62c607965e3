//! `gscale run` end to end on a Kafka consumer group's lag, against a real Kafka-compatible broker
//! started by the test (`tansu`, in-memory storage, which keeps committed offsets). The test
//! produces records and commits the group's offsets in the Kafka protocol itself (the
//! `kafka-protocol` codec; no broker mock); the daemon scales the sandbox's Deployment up, down, to
//! zero and back, and holds with the failure named when the broker stops. Over TLS (socat in front
//! of tansu, whose 0.6 command line cannot enable its own) with the CA from a Secret, the same read
//! works; a refused SASL sign-in (SCRAM, PLAIN) is an auth error that never shows the password:
//! tansu's memory storage keeps no SCRAM credentials and offers no PLAIN, so no sign-in succeeds
//! there, and SCRAM's arithmetic is checked against RFC 7677's example in the unit tests. A missing tansu fails under
//! CI=true and is a visible skip elsewhere.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, eventually};
use serde_json::json;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

fn spec(kafka: serde_json::Value, target: &str, min: i32) -> serde_json::Value {
    json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": min,
        "maxReplicas": 20,
        "metric": {"type": "kafka", "targetValue": 10, "kafka": kafka},
        "syncIntervalSeconds": 1,
        "behavior": {"scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 0}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_groups_lag_scales_consumers_up_down_to_zero_and_holds_when_the_broker_stops() {
    let Some(mut kafka) = common::kafka::tansu(None, false) else { return };
    kafka.create_topic("orders", 2).await;
    kafka.produce("orders", 0, 30).await;
    kafka.produce("orders", 1, 20).await;
    kafka.commit("workers", "orders", &[(0, 0), (1, 0)]).await;
    let cluster = Cluster::start().await;
    cluster.deployment("consumers", 1).await;
    let source = json!({"bootstrapServers": [kafka.address], "consumerGroup": "workers", "topic": "orders",
        "allowIdleConsumers": true});
    cluster.apply_scaler("consumers", spec(source, "consumers", 0)).await;
    let mut daemon = cluster.daemon("d", &["--no-leader-election"]);

    // Lag 30 + 20 at 10 a consumer: 5.
    cluster.wait_replicas("consumers", 5, SECONDS(30)).await;
    let status = cluster.scaler("consumers").await.status.unwrap();
    assert_eq!(status.metrics[0].value, Some(50.0), "{status:?}");
    // The consumers catch up on partition 0 and half of partition 1: lag 10, one consumer.
    kafka.commit("workers", "orders", &[(0, 30), (1, 10)]).await;
    cluster.wait_replicas("consumers", 1, SECONDS(30)).await;
    // All read: lag 0, and minReplicas 0 lets the consumers rest at 0.
    kafka.commit("workers", "orders", &[(1, 20)]).await;
    cluster.wait_replicas("consumers", 0, SECONDS(30)).await;
    // New orders: 25 behind, 3 consumers.
    kafka.produce("orders", 1, 25).await;
    cluster.wait_replicas("consumers", 3, SECONDS(30)).await;

    // The broker stops: the replicas hold and the status names the failure.
    kafka.stop();
    eventually("MetricsAvailable False", SECONDS(20), || async {
        cluster.condition("consumers", "MetricsAvailable").await.is_some_and(|c| c.0 == "False")
    })
    .await;
    let (_, reason, message) = cluster.condition("consumers", "MetricsAvailable").await.unwrap();
    assert_eq!(reason, "MetricUnavailable");
    assert!(
        message.contains(&format!("kafka {}", kafka.address)) && message.contains("unreachable"),
        "names the broker: {message}"
    );
    tokio::time::sleep(SECONDS(3)).await;
    assert_eq!(cluster.replicas("consumers").await, 3, "no scale-down on missing data");
    daemon.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_consumers_are_capped_at_the_partitions_and_an_uncommitted_partition_counts_as_keda_says() {
    let Some(kafka) = common::kafka::tansu(None, false) else { return };
    kafka.create_topic("events", 3).await;
    kafka.produce("events", 0, 200).await;
    kafka.produce("events", 2, 4).await;
    // The group committed partition 0 only: 1 and 2 have no committed offset.
    kafka.commit("loaders", "events", &[(0, 0)]).await;
    let cluster = Cluster::start().await;
    cluster.deployment("loaders", 1).await;
    let source = json!({"bootstrapServers": [kafka.address], "consumerGroup": "loaders", "topic": "events"});
    cluster.apply_scaler("loaders", spec(source, "loaders", 1)).await;
    let out = cluster.run_to_exit(&["--once", "--no-leader-election"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // 200 + 1 + 1 = 202, capped at 3 partitions × 10: three consumers, not twenty.
    assert_eq!(cluster.replicas("loaders").await, 3);
    let status = cluster.scaler("loaders").await.status.unwrap();
    assert_eq!(status.metrics[0].value, Some(30.0), "{status:?}");

    // Earliest: an uncommitted partition counts all it holds; allowIdleConsumers lifts the cap.
    let source = json!({"bootstrapServers": [kafka.address], "consumerGroup": "loaders", "topic": "events",
        "offsetResetPolicy": "Earliest", "allowIdleConsumers": true, "partitions": [1, 2]});
    cluster.apply_scaler("loaders", spec(source, "loaders", 1)).await;
    let out = cluster.run_to_exit(&["--once", "--no-leader-election"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = cluster.scaler("loaders").await.status.unwrap();
    assert_eq!(status.metrics[0].value, Some(4.0), "partitions 1 and 2 alone, 0 + 4: {status:?}");
    assert_eq!(cluster.replicas("loaders").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_the_ca_from_a_secret() {
    let dir = common::TempDir::new("kafka-tls");
    let Some(certs) = common::http::certs(dir.path()) else { return };
    let Some(mut kafka) = common::kafka::tansu(Some((&certs.cert_path, &certs.key_path)), false) else {
        return;
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(certs.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    kafka.tls = Some(std::sync::Arc::new(
        rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth(),
    ));
    kafka.create_topic("audit", 1).await;
    kafka.produce("audit", 0, 40).await;
    kafka.commit("auditors", "audit", &[(0, 5)]).await;

    let cluster = Cluster::start().await;
    cluster.deployment("auditors", 1).await;
    cluster.secret("kafka-ca", json!({"ca.crt": certs.ca_pem})).await;
    let source = json!({"bootstrapServers": [kafka.address], "consumerGroup": "auditors", "topic": "audit",
        "allowIdleConsumers": true, "tls": true, "caSecretRef": {"name": "kafka-ca", "key": "ca.crt"}});
    cluster.apply_scaler("auditors", spec(source, "auditors", 1)).await;
    let out = cluster.run_to_exit(&["--once", "--no-leader-election"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Lag 35 at 10 a consumer: 4, every connection (bootstrap and advertised) over TLS.
    assert_eq!(cluster.replicas("auditors").await, 4);

    // Without the CA, the system's roots do not know the broker: the handshake fails, named.
    let source = json!({"bootstrapServers": [kafka.address], "consumerGroup": "auditors", "topic": "audit",
        "tls": true});
    cluster.apply_scaler("auditors", spec(source, "auditors", 1)).await;
    let _ = cluster.run_to_exit(&["--once", "--no-leader-election"]).await;
    let (status, _, message) = cluster.condition("auditors", "MetricsAvailable").await.unwrap();
    assert_eq!(status, "False", "{message}");
    assert!(message.contains("TLS handshake failed"), "{message}");
    assert_eq!(cluster.replicas("auditors").await, 4, "held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sasl_sign_in_is_named_and_never_shows_the_password() {
    let Some(kafka) = common::kafka::tansu(None, true) else { return };
    let cluster = Cluster::start().await;
    cluster.deployment("auditors", 2).await;
    cluster.secret("kafka", json!({"user": "alice", "password": "alice-Secret-77"})).await;
    // tansu's memory storage keeps no SCRAM credentials: the exchange runs and the proof is refused.
    // It offers no PLAIN either, and closes the connection on the handshake (a Kafka broker answers
    // UnsupportedSaslMechanism): named as the step where the connection broke.
    for (mechanism, refusal) in [
        ("SCRAM-SHA-256", "authentication failed: SASL SCRAM-SHA-256: the server refused the proof"),
        ("PLAIN", "the connection broke while awaiting SaslHandshake"),
    ] {
        let source = json!({"bootstrapServers": [kafka.address], "consumerGroup": "auditors", "topic": "audit",
            "sasl": {"mechanism": mechanism, "usernameSecretRef": {"name": "kafka", "key": "user"},
                     "passwordSecretRef": {"name": "kafka", "key": "password"}}});
        cluster.apply_scaler("auditors", spec(source, "auditors", 1)).await;
        let out = cluster.run_to_exit(&["--once", "--no-leader-election"]).await;
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        let (status, _, message) = cluster.condition("auditors", "MetricsAvailable").await.unwrap();
        assert_eq!(status, "False", "{message}");
        assert!(message.contains(refusal), "{mechanism}: {message}");
        let events = cluster.events("auditors").await;
        let notes: Vec<String> = events.iter().filter_map(|e| e.note.clone()).collect();
        for text in [&message, &log, &notes.join("\n")] {
            assert!(!text.contains("alice-Secret-77"), "{text}");
        }
        assert_eq!(cluster.replicas("auditors").await, 2, "held");
    }
}
