//! The Redis source against a real redis-server: key types, streams and groups, db, ACL user and
//! password from a Secret, TLS, connection reuse, and faults (down, slow, wrong password, garbage).

mod common;

use std::io::Write;
use std::time::Duration;

use common::{kube_api, metric, read, redis};
use serde_json::json;

fn redis_metric(port: u16, extra: serde_json::Value) -> gscale::api::MetricSpec {
    let mut source = json!({"host": "127.0.0.1", "port": port, "queueName": "jobs"});
    source.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    metric(json!({"type": "redis", "targetValue": 50, "timeoutSeconds": 2, "redis": source}))
}

#[tokio::test]
async fn reads_length_by_key_type() {
    let Some(server) = redis::start() else { return };
    let fetcher = common::fetcher(None);
    server.push("jobs", 500);
    server.cli(&["ZADD", "zjobs", "1", "a", "2", "b"]);
    server.cli(&["SADD", "sjobs", "a", "b", "c"]);
    server.cli(&["HSET", "hjobs", "a", "1", "b", "2", "c", "3", "d", "4"]);
    server.cli(&["XADD", "xjobs", "*", "f", "v"]);
    server.cli(&["SET", "plain", "hello"]);
    let cases =
        [("jobs", 500.0), ("zjobs", 2.0), ("sjobs", 3.0), ("hjobs", 4.0), ("xjobs", 1.0), ("missing", 0.0)];
    for (key, want) in cases {
        let spec = redis_metric(server.port, json!({"queueName": key}));
        assert_eq!(read(&fetcher, "team", &spec).await, Ok(want), "{key}");
    }
    let err =
        read(&fetcher, "team", &redis_metric(server.port, json!({"queueName": "plain"}))).await.unwrap_err();
    assert_eq!(err.reason(), "InvalidValue");
    assert!(err.to_string().contains("key `plain`") && err.to_string().contains("string"), "{err}");

    // Through fetch: one reading per metric, in order.
    let spec = common::scaler(json!([
        {"type": "redis", "targetValue": 50, "redis": {"host": "127.0.0.1", "port": server.port, "queueName": "jobs"}},
        {"type": "redis", "targetValue": 50, "redis": {"host": "127.0.0.1", "port": server.port, "queueName": "plain"}},
    ]));
    let readings = fetcher.fetch("team", &spec).await;
    assert_eq!(readings.metrics[0], Ok(500.0));
    assert!(readings.metrics[1].as_ref().unwrap_err().contains("not a list"));
    assert_eq!(readings.slo, Default::default());
}

#[tokio::test]
async fn streams_and_consumer_groups() {
    let Some(server) = redis::start() else { return };
    let fetcher = common::fetcher(None);
    for _ in 0..5 {
        server.cli(&["XADD", "events", "*", "f", "v"]);
    }
    server.cli(&["XGROUP", "CREATE", "events", "workers", "0"]);
    server.cli(&["XREADGROUP", "GROUP", "workers", "c1", "COUNT", "2", "STREAMS", "events", ">"]);
    let stream = json!({"queueName": "events", "kind": "stream"});
    assert_eq!(read(&fetcher, "team", &redis_metric(server.port, stream)).await, Ok(5.0));
    // 2 delivered but not acked, 3 never delivered.
    let group = json!({"queueName": "events", "kind": "stream", "consumerGroup": "workers"});
    assert_eq!(read(&fetcher, "team", &redis_metric(server.port, group.clone())).await, Ok(5.0));
    let ids = server.cli(&["XRANGE", "events", "-", "+", "COUNT", "1"]);
    let first_id = ids.lines().next().unwrap().to_owned();
    server.cli(&["XACK", "events", "workers", &first_id]);
    assert_eq!(read(&fetcher, "team", &redis_metric(server.port, group)).await, Ok(4.0));

    let missing = json!({"queueName": "events", "kind": "stream", "consumerGroup": "nobody"});
    let err = read(&fetcher, "team", &redis_metric(server.port, missing)).await.unwrap_err();
    assert_eq!(err.reason(), "NoData");
    assert!(err.to_string().contains("no consumer group `nobody`"), "{err}");
}

#[tokio::test]
async fn db_acl_user_and_password_from_secret() {
    let Some(server) = redis::start_with(redis::Options {
        password: Some("default-pass".into()),
        acl_user: Some(("worker".into(), "s3cret-Pa55".into())),
        ..Default::default()
    }) else {
        return;
    };
    let api = kube_api::start();
    api.put("team", "redis-auth", &[("password", "s3cret-Pa55")]);
    api.put("other", "stolen", &[("password", "s3cret-Pa55")]);
    let fetcher = common::fetcher(Some(api.client.clone()));
    server.cli(&["-n", "3", "RPUSH", "jobs", "a", "b", "c"]);

    let good = json!({"db": 3, "username": "worker", "passwordSecretRef": {"name": "redis-auth", "key": "password"}});
    assert_eq!(read(&fetcher, "team", &redis_metric(server.port, good)).await, Ok(3.0));
    let plain = json!({"db": 3, "password": "default-pass"});
    assert_eq!(read(&fetcher, "team", &redis_metric(server.port, plain)).await, Ok(3.0));

    // Wrong password: an auth error that never shows the password.
    api.put("team", "redis-wrong", &[("password", "not-the-Pa55word")]);
    let wrong = json!({"db": 3, "username": "worker", "passwordSecretRef": {"name": "redis-wrong", "key": "password"}});
    let err = read(&fetcher, "team", &redis_metric(server.port, wrong)).await.unwrap_err();
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    assert!(!err.to_string().contains("not-the-Pa55word"), "{err}");
    let plain_wrong = json!({"password": "wrong-plain-Pa55"});
    let err = read(&fetcher, "team", &redis_metric(server.port, plain_wrong)).await.unwrap_err();
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    assert!(!err.to_string().contains("wrong-plain-Pa55"), "{err}");

    // A Secret of another namespace is never read.
    let foreign =
        json!({"db": 3, "username": "worker", "passwordSecretRef": {"name": "stolen", "key": "password"}});
    let err = read(&fetcher, "team", &redis_metric(server.port, foreign)).await.unwrap_err();
    assert_eq!(err.reason(), "SecretUnavailable");
    assert!(err.to_string().contains("secret team/stolen"), "{err}");
    let missing_key = json!({"passwordSecretRef": {"name": "redis-auth", "key": "nope"}});
    let err = read(&fetcher, "team", &redis_metric(server.port, missing_key)).await.unwrap_err();
    assert!(err.to_string().contains("no such key"), "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

fn connections_received(server: &redis::RedisServer) -> u64 {
    let info = server.cli(&["INFO", "stats"]);
    info.lines()
        .find_map(|line| line.strip_prefix("total_connections_received:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_connections_received in INFO")
}

#[tokio::test]
async fn connection_reused_across_fetches() {
    let Some(server) = redis::start() else { return };
    let fetcher = common::fetcher(None);
    server.push("jobs", 7);
    let spec = redis_metric(server.port, json!({}));
    assert_eq!(read(&fetcher, "team", &spec).await, Ok(7.0));
    let before = connections_received(&server);
    for _ in 0..10 {
        assert_eq!(read(&fetcher, "team", &spec).await, Ok(7.0));
    }
    // The only new connection is redis-cli's own INFO call.
    assert_eq!(connections_received(&server), before + 1);
    assert_eq!(fetcher.stats().of(gscale::api::MetricType::Redis).queries, 11);
}

#[tokio::test]
async fn down_slow_and_back() {
    let Some(mut server) = redis::start() else { return };
    let fetcher = common::fetcher(None);
    server.push("jobs", 500);
    let spec = gscale::api::MetricSpec { timeout_seconds: 1, ..redis_metric(server.port, json!({})) };
    assert_eq!(read(&fetcher, "team", &spec).await, Ok(500.0));

    // Slow: every client paused past the timeout.
    server.cli(&["CLIENT", "PAUSE", "2500", "ALL"]);
    let err = read(&fetcher, "team", &spec).await.unwrap_err();
    assert!(matches!(err.reason(), "Timeout" | "BackendUnreachable"), "{err}");
    assert!(err.to_string().contains("redis 127.0.0.1:") && err.to_string().contains("key `jobs`"), "{err}");
    common::wait_for_async("redis to answer after the pause", Duration::from_secs(10), || async {
        read(&fetcher, "team", &spec).await == Ok(500.0)
    })
    .await;

    // Down.
    server.stop();
    let err = read(&fetcher, "team", &spec).await.unwrap_err();
    assert!(matches!(err.reason(), "BackendUnreachable" | "Timeout"), "{err}");
    // A never-seen server that is down.
    let nowhere = redis_metric(common::free_port(), json!({}));
    let err = read(&fetcher, "team", &nowhere).await.unwrap_err();
    assert_eq!(err.reason(), "BackendUnreachable", "{err}");

    // Back: a fresh server on the same port (empty), then the queue refills.
    server.restart();
    server.push("jobs", 42);
    common::wait_for_async("the reused connection to recover", Duration::from_secs(10), || async {
        read(&fetcher, "team", &spec).await == Ok(42.0)
    })
    .await;
}

#[tokio::test]
async fn garbage_reply() {
    if common::require("redis-server", "redis garbage test").is_none() {
        return;
    }
    // Something that is not Redis answers on the port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n<html>not redis</html>");
        }
    });
    let fetcher = common::fetcher(None);
    let err = read(&fetcher, "team", &redis_metric(port, json!({}))).await.unwrap_err();
    assert!(matches!(err.reason(), "BadReply" | "BackendUnreachable" | "BackendError"), "{err}");
    assert!(err.to_string().contains("key `jobs`"), "{err}");
}

#[tokio::test]
async fn tls_with_ca_from_secret() {
    let dir = common::TempDir::new("redis-tls");
    let Some(certs) = common::http::certs(dir.path()) else { return };
    let Some(server) = redis::start_with(redis::Options {
        tls: Some((certs.ca_path.clone(), certs.cert_path.clone(), certs.key_path.clone())),
        ..Default::default()
    }) else {
        return;
    };
    server.push("jobs", 9);
    let api = kube_api::start();
    api.put("team", "redis-ca", &[("ca.crt", &certs.ca_pem)]);
    let fetcher = common::fetcher(Some(api.client.clone()));
    let with_ca = json!({"tls": true, "caSecretRef": {"name": "redis-ca", "key": "ca.crt"}});
    assert_eq!(read(&fetcher, "team", &redis_metric(server.port, with_ca)).await, Ok(9.0));
    let insecure = json!({"tls": true, "insecureSkipVerify": true});
    assert_eq!(read(&fetcher, "team", &redis_metric(server.port, insecure)).await, Ok(9.0));
    // Without the CA the certificate is not trusted.
    let untrusted = json!({"tls": true});
    let err = read(&fetcher, "team", &redis_metric(server.port, untrusted)).await.unwrap_err();
    assert!(matches!(err.reason(), "BackendUnreachable" | "BackendError"), "{err}");
}
