//! The Prometheus source against a real Prometheus scraping an exporter the test serves: vector and
//! scalar results, no-data cases, a changing value, dedup counted at the server, query_range, slo
//! readings; and against a stand-in for what a plain Prometheus cannot do (bearer token, TLS, slow,
//! garbage, recovery on the same port).

mod common;

use std::time::Duration;

use common::http::{Gate, Response, serve, serve_on, serve_tls};
use common::{kube_api, metric, prometheus, read};
use gscale::api::MetricType;
use gscale::metrics::{Fetcher, Settings};
use serde_json::json;

fn prom_metric(server: &str, query: &str) -> gscale::api::MetricSpec {
    metric(json!({"type": "prometheus", "targetValue": 10, "timeoutSeconds": 2,
        "prometheus": {"serverUrl": server, "query": query}}))
}

#[tokio::test]
async fn real_prometheus_values_faults_and_dedup() {
    let exporter = prometheus::Exporter::start(&[
        ("queue_depth", "42"),
        ("per_queue{q=\"a\"}", "1"),
        ("per_queue{q=\"b\"}", "2"),
        ("negative_metric", "-5"),
        ("nan_metric", "NaN"),
    ]);
    let Some(prom) = prometheus::start(&exporter.target()) else { return };
    let fetcher = common::fetcher(None);

    assert_eq!(read(&fetcher, "team", &prom_metric(&prom.url, "queue_depth")).await, Ok(42.0));
    assert_eq!(read(&fetcher, "team", &prom_metric(&prom.url, "scalar(queue_depth)")).await, Ok(42.0));
    assert_eq!(read(&fetcher, "team", &prom_metric(&prom.url, "sum(per_queue)")).await, Ok(3.0));

    let cases = [
        ("per_queue", "AmbiguousReply", "2 series"),
        ("no_such_metric", "NoData", "empty vector"),
        ("negative_metric", "InvalidValue", "negative value -5"),
        ("nan_metric", "InvalidValue", "NaN"),
        ("sum(", "BackendError", "bad_data"),
    ];
    for (query, reason, says) in cases {
        let err = read(&fetcher, "team", &prom_metric(&prom.url, query)).await.unwrap_err();
        assert_eq!(err.reason(), reason, "{query}: {err}");
        let message = err.to_string();
        assert!(message.contains(says), "{query}: {message}");
        assert!(message.contains(&format!("query `{query}`")) && message.contains(&prom.url), "{message}");
    }

    // The scaler follows the exporter.
    exporter.set("queue_depth", 7);
    prom.wait_value("queue_depth", 7.0, Duration::from_secs(30));
    assert_eq!(read(&fetcher, "team", &prom_metric(&prom.url, "queue_depth")).await, Ok(7.0));

    // Two scalers with the same query in one interval cost one query at the server.
    let deduping = Fetcher::new(
        None,
        Settings { pubsub_endpoint: None, monitoring_endpoint: None, ..Default::default() },
    );
    let one = common::scaler(json!([{"type": "prometheus", "targetValue": 10,
        "prometheus": {"serverUrl": prom.url, "query": "sum(queue_depth) + 1"}}]));
    let two = common::scaler(json!([{"type": "prometheus", "name": "other-scaler", "targetValue": 3,
        "prometheus": {"serverUrl": format!("{}/", prom.url), "query": "sum(queue_depth) + 1"}}]));
    let before = prom.instant_queries();
    let first = deduping.fetch("team", &one).await;
    let second = deduping.fetch("other-team", &two).await;
    let (third, fourth) = tokio::join!(deduping.fetch("team", &one), deduping.fetch("team", &two));
    assert_eq!(first.metrics, vec![Ok(8.0)]);
    assert_eq!(second.metrics, vec![Ok(8.0)]);
    assert_eq!((third.metrics, fourth.metrics), (vec![Ok(8.0)], vec![Ok(8.0)]));
    assert_eq!(prom.instant_queries() - before, 1, "one query per interval at the server");
    let stats = deduping.stats();
    let counted = stats.of(MetricType::Prometheus);
    assert_eq!((counted.fetches, counted.queries, counted.dedup_hits, counted.errors), (4, 1, 3, 0));

    // query_range for replays.
    let source = prom_metric(&prom.url, "queue_depth").prometheus.unwrap();
    let end = jiff::Timestamp::now();
    let start = end - jiff::SignedDuration::from_secs(30);
    let points = fetcher
        .query_range("team", &source, start, end, Duration::from_secs(1), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(points.len() >= 2, "{points:?}");
    assert!(points.iter().all(|(_, v)| *v == 42.0 || *v == 7.0), "{points:?}");
    assert_eq!(points.last().unwrap().1, 7.0);
    let empty = prom_metric(&prom.url, "no_such_metric").prometheus.unwrap();
    let err =
        fetcher.query_range("team", &empty, start, end, Duration::from_secs(1), Duration::from_secs(5)).await;
    assert_eq!(err.unwrap_err().reason(), "NoData");

    // slo readings on the first prometheus metric's server.
    let mut slo = common::scaler(json!([{"type": "prometheus", "targetValue": 10,
        "prometheus": {"serverUrl": prom.url, "query": "queue_depth"}}]));
    slo.policy = serde_json::from_value(json!({"type": "slo", "slo": {"targetLatencyMs": 200,
        "latencyQuery": "queue_depth * 10", "errorRateQuery": "queue_depth / 1000"}}))
    .unwrap();
    let readings = fetcher.fetch("team", &slo).await;
    assert_eq!(readings.metrics, vec![Ok(7.0)]);
    assert_eq!(readings.slo.latency_ms, Some(Ok(70.0)));
    assert_eq!(readings.slo.error_rate, Some(Ok(0.007)));
    slo.policy.slo.as_mut().unwrap().error_rate_query = None;
    assert_eq!(fetcher.fetch("team", &slo).await.slo.error_rate, None);

    // Down: Prometheus is gone.
    let url = prom.url.clone();
    drop(prom);
    let err = read(&fetcher, "team", &prom_metric(&url, "queue_depth")).await.unwrap_err();
    assert_eq!(err.reason(), "BackendUnreachable", "{err}");
    assert!(
        err.to_string().starts_with(&format!("prometheus {url}, query `queue_depth`: backend unreachable")),
        "{err}"
    );
}

const ONE: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764214800,"12"]}]}}"#;

#[tokio::test]
async fn bearer_token_headers_and_tls_from_secrets() {
    let dir = common::TempDir::new("prom-tls");
    let Some(certs) = common::http::certs(dir.path()) else { return };
    let server = serve_tls(&certs.cert_pem, &certs.key_pem, |request| {
        let authorized = request.header("authorization") == Some("Bearer tok-3x4mple-SECRET");
        let tenant = request.header("x-scope-orgid") == Some("team-a");
        match (request.path(), authorized, tenant) {
            ("/api/v1/query", true, true) if request.query("query").as_deref() == Some("up") => {
                Response::text(200, "application/json", ONE)
            }
            ("/api/v1/query", false, _) => Response::text(401, "text/plain", "unauthorized"),
            _ => Response::text(400, "text/plain", "bad request"),
        }
    });
    let api = kube_api::start();
    api.put("team", "prom", &[("token", "tok-3x4mple-SECRET\n"), ("ca.crt", &certs.ca_pem)]);
    api.put("team", "prom-wrong", &[("token", "wrong-T0KEN-value")]);
    let fetcher = common::fetcher(Some(api.client.clone()));
    let spec = |extra: serde_json::Value| {
        let mut source =
            json!({"serverUrl": server.url, "query": "up", "headers": {"X-Scope-OrgID": "team-a"}});
        source.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        metric(json!({"type": "prometheus", "targetValue": 1, "prometheus": source}))
    };
    let token = json!({"name": "prom", "key": "token"});
    let ca = json!({"name": "prom", "key": "ca.crt"});
    assert_eq!(
        read(&fetcher, "team", &spec(json!({"bearerTokenSecretRef": token, "caSecretRef": ca}))).await,
        Ok(12.0)
    );
    assert_eq!(
        read(&fetcher, "team", &spec(json!({"bearerTokenSecretRef": token, "insecureSkipVerify": true})))
            .await,
        Ok(12.0)
    );
    // No CA: the private certificate is refused.
    let err = read(&fetcher, "team", &spec(json!({"bearerTokenSecretRef": token}))).await.unwrap_err();
    assert_eq!(err.reason(), "BackendUnreachable", "{err}");
    // Wrong token: refused, and the token is not in the message.
    let wrong = json!({"bearerTokenSecretRef": {"name": "prom-wrong", "key": "token"}, "caSecretRef": ca});
    let err = read(&fetcher, "team", &spec(wrong)).await.unwrap_err();
    assert_eq!(err.reason(), "AuthFailed", "{err}");
    assert!(!format!("{err} {err:?}").contains("wrong-T0KEN-value"), "{err}");
    // A missing Secret is named, and nothing is sent.
    let missing = json!({"bearerTokenSecretRef": {"name": "absent", "key": "token"}, "caSecretRef": ca});
    let err = read(&fetcher, "team", &spec(missing)).await.unwrap_err();
    assert_eq!(err.to_string(), "secret team/absent key `token`: secret not found in the scaler's namespace");
}

#[tokio::test]
async fn slow_garbage_and_recovery() {
    // The slow backend answers only once the test lets it: the timeout must fire before that.
    let gate = std::sync::Arc::new(Gate::closed());
    let held = gate.clone();
    let slow = serve(move |_| Response::text(200, "application/json", ONE).held(&held));
    let garbage = serve(|_| Response::text(200, "text/html", "<html>proxy error</html>"));
    let fetcher = common::fetcher(None);
    let spec = gscale::api::MetricSpec { timeout_seconds: 1, ..prom_metric(&slow.url, "up") };
    let err = read(&fetcher, "team", &spec).await.unwrap_err();
    let served = slow.served();
    assert!(
        served.len() == 1 && served[0].answered.is_none(),
        "the timeout held, the reply had not come: {served:?}"
    );
    gate.open();
    assert_eq!(err.reason(), "Timeout");
    assert_eq!(
        err.to_string(),
        format!("prometheus {}, query `up`: no answer within 1s (timeoutSeconds)", slow.url)
    );
    let err = read(&fetcher, "team", &prom_metric(&garbage.url, "up")).await.unwrap_err();
    assert_eq!(err.reason(), "BadReply");
    assert!(err.to_string().ends_with("unreadable reply: not JSON (text/html, 24 bytes)"), "{err}");

    // Down, then back on the same port: the next fetch succeeds.
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let err = read(&fetcher, "team", &prom_metric(&url, "up")).await.unwrap_err();
    assert_eq!(err.reason(), "BackendUnreachable");
    let _back = serve_on(port, None, |_| Response::text(200, "application/json", ONE));
    assert_eq!(read(&fetcher, "team", &prom_metric(&url, "up")).await, Ok(12.0));
    let stats = fetcher.stats();
    assert_eq!(stats.of(MetricType::Prometheus).errors, 3);
}
