//! The HTTP source against a local HTTP(S) server: JSON paths, quantities, Prometheus text, POST,
//! headers, bearer token and CA from Secrets, and faults; plus the fetcher's per-backend concurrency.

mod common;
mod metrics_raw;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::{Gate, Response, serve, serve_on, serve_tls};
use common::{kube_api, metric, read};
use metrics_raw::{Body, RawServer, ok_json, path_of, redirect};
use serde_json::json;

fn http_metric(source: serde_json::Value) -> gscale::api::MetricSpec {
    metric(json!({"type": "http", "targetValue": 10, "timeoutSeconds": 2, "http": source}))
}

#[tokio::test]
async fn json_text_and_exposition() {
    let server = serve(|request| match (request.method.as_str(), request.path()) {
        ("GET", "/stats") => {
            Response::json(200, &json!({"queue": {"depth": "500m", "items": [{"n": 3}, {"n": 17}]}}))
        }
        ("GET", "/metrics") => Response::text(
            200,
            "text/plain; version=0.0.4",
            "# TYPE jobs gauge\njobs{queue=\"high\"} 21\njobs{queue=\"low\"} 4\n",
        ),
        ("GET", "/plain") => Response::text(200, "text/plain", "2k\n"),
        ("POST", "/search")
            if request.body == b"{\"q\":\"backlog\"}" && request.header("x-api") == Some("v2") =>
        {
            Response::json(200, &json!({"hits": 33}))
        }
        _ => Response::text(404, "text/plain", "not found"),
    });
    let fetcher = common::fetcher(None);
    let cases = [
        (json!({"url": format!("{}/stats", server.url), "valuePath": "$.queue.items[1].n"}), 17.0),
        (json!({"url": format!("{}/stats", server.url), "valuePath": "/queue/items/0/n"}), 3.0),
        (json!({"url": format!("{}/stats", server.url), "valuePath": "$.queue.depth"}), 0.5),
        (json!({"url": format!("{}/metrics", server.url), "valuePath": "jobs{queue=\"high\"}"}), 21.0),
        (json!({"url": format!("{}/plain", server.url)}), 2000.0),
        (
            json!({"url": format!("{}/search", server.url), "method": "POST", "body": "{\"q\":\"backlog\"}",
                "headers": {"X-Api": "v2"}, "valuePath": "$.hits"}),
            33.0,
        ),
    ];
    for (source, want) in cases {
        assert_eq!(read(&fetcher, "team", &http_metric(source.clone())).await, Ok(want), "{source}");
    }
    let misses = [
        (json!({"url": format!("{}/stats", server.url), "valuePath": "$.queue.nothing"}), "NoData"),
        (json!({"url": format!("{}/metrics", server.url), "valuePath": "jobs"}), "AmbiguousReply"),
        (json!({"url": format!("{}/stats", server.url), "valuePath": "$.queue"}), "InvalidValue"),
        (json!({"url": format!("{}/missing", server.url)}), "BackendError"),
    ];
    for (source, reason) in misses {
        let err = read(&fetcher, "team", &http_metric(source.clone())).await.unwrap_err();
        assert_eq!(err.reason(), reason, "{source}: {err}");
        assert!(err.to_string().starts_with(&format!("http {}", server.url)), "{err}");
    }
}

#[tokio::test]
async fn token_and_ca_from_secrets() {
    let dir = common::TempDir::new("http-tls");
    let Some(certs) = common::http::certs(dir.path()) else { return };
    let server = serve_tls(&certs.cert_pem, &certs.key_pem, |request| {
        if request.header("authorization") == Some("Bearer the-T0KEN") {
            Response::json(200, &json!({"value": 5}))
        } else {
            Response::text(403, "text/plain", "forbidden")
        }
    });
    let api = kube_api::start();
    api.put("team", "svc", &[("token", "the-T0KEN"), ("ca", &certs.ca_pem), ("bad", "an-0ther-T0KEN")]);
    let fetcher = common::fetcher(Some(api.client.clone()));
    let source = |token: &str| {
        json!({"url": server.url, "valuePath": "/value", "bearerTokenSecretRef": {"name": "svc", "key": token},
            "caSecretRef": {"name": "svc", "key": "ca"}})
    };
    assert_eq!(read(&fetcher, "team", &http_metric(source("token"))).await, Ok(5.0));
    let err = read(&fetcher, "team", &http_metric(source("bad"))).await.unwrap_err();
    assert_eq!(err.reason(), "AuthFailed");
    assert!(!err.to_string().contains("an-0ther-T0KEN"), "{err}");
    // The same Secret name in another namespace does not help.
    let err = read(&fetcher, "elsewhere", &http_metric(source("token"))).await.unwrap_err();
    assert_eq!(err.reason(), "SecretUnavailable");
    // Without a client, a SecretRef cannot be read; plain fields still work.
    let no_client = common::fetcher(None);
    let err = read(&no_client, "team", &http_metric(source("token"))).await.unwrap_err();
    assert!(err.to_string().contains("without a kubernetes client"), "{err}");
    let insecure = json!({"url": server.url, "valuePath": "/value", "insecureSkipVerify": true,
        "headers": {"Authorization": "Bearer the-T0KEN"}});
    assert_eq!(read(&no_client, "team", &http_metric(insecure)).await, Ok(5.0));
}

#[tokio::test]
async fn faults_and_recovery() {
    let value = Arc::new(Mutex::new(Response::json(200, &json!({"n": 1}))));
    let current = value.clone();
    let port = common::free_port();
    let server = serve_on(port, None, move |_| current.lock().unwrap().clone());
    let fetcher = common::fetcher(None);
    let spec = gscale::api::MetricSpec {
        timeout_seconds: 1,
        ..http_metric(json!({"url": format!("{}/q?token=hidden", server.url), "valuePath": "$.n"}))
    };
    assert_eq!(read(&fetcher, "team", &spec).await, Ok(1.0));
    let faults = [
        (Response::json(200, &json!({"n": 1})).delayed(Duration::from_secs(3)), "Timeout"),
        (Response::text(200, "application/json", "{\"n\": "), "BadReply"),
        (Response::json(200, &json!({})), "NoData"),
        (Response::json(200, &json!({"n": -2})), "InvalidValue"),
        (Response::json(200, &json!({"n": "NaN"})), "InvalidValue"),
        (Response::text(500, "text/plain", "boom"), "BackendError"),
        (Response::text(401, "text/plain", "who are you"), "AuthFailed"),
    ];
    for (reply, reason) in faults {
        *value.lock().unwrap() = reply;
        let err = read(&fetcher, "team", &spec).await.unwrap_err();
        assert_eq!(err.reason(), reason, "{err}");
        assert!(!err.to_string().contains("hidden"), "no query string in messages: {err}");
    }
    drop(server);
    let err = read(&fetcher, "team", &spec).await.unwrap_err();
    assert_eq!(err.reason(), "BackendUnreachable", "{err}");
    let current = value.clone();
    *value.lock().unwrap() = Response::json(200, &json!({"n": 4}));
    let _back = serve_on(port, None, move |_| current.lock().unwrap().clone());
    assert_eq!(read(&fetcher, "team", &spec).await, Ok(4.0));
}

#[tokio::test]
async fn concurrency_is_bounded_per_backend() {
    // The busy backend holds every reply until the test opens its gate: while it is held, the
    // other backend's readings complete, and the busy one never sees more than two at once.
    let gate = Arc::new(Gate::closed());
    let held = gate.clone();
    let server = serve(move |_| Response::json(200, &json!({"n": 1})).held(&held));
    let other = serve(|_| Response::json(200, &json!({"n": 2})));
    let fetcher = gscale::metrics::Fetcher::new(
        None,
        gscale::metrics::Settings {
            max_concurrency_per_backend: 2,
            dedup_window: Some(Duration::ZERO),
            ..Default::default()
        },
    );
    let specs: Vec<_> = (0..6)
        .map(|i| http_metric(json!({"url": format!("{}/q{i}", server.url), "valuePath": "$.n"})))
        .collect();
    let others: Vec<_> = (0..2)
        .map(|i| http_metric(json!({"url": format!("{}/q{i}", other.url), "valuePath": "$.n"})))
        .collect();
    let busy = {
        let fetcher = fetcher.clone();
        tokio::spawn(async move {
            futures::future::join_all(specs.iter().map(|spec| read(&fetcher, "team", spec))).await
        })
    };
    common::wait_for_async("two held readings", Duration::from_secs(10), || async { server.requests() == 2 })
        .await;
    // Another backend is not held up by the busy one.
    let other_results =
        futures::future::join_all(others.iter().map(|spec| read(&fetcher, "team", spec))).await;
    assert!(other_results.iter().all(|r| *r == Ok(2.0)), "{other_results:?}");
    assert_eq!(server.requests(), 2, "the busy backend still has only its two");
    gate.open();
    let results = busy.await.unwrap();
    assert!(results.iter().all(|r| *r == Ok(1.0)), "{results:?}");
    // 6 queries, 2 at a time: by the server's own order of arrivals and replies.
    assert_eq!(server.served().len(), 6);
    assert_eq!(server.max_in_flight(), 2, "{:?}", server.served());
}

#[tokio::test]
async fn a_fixed_secret_is_read_again_after_an_auth_failure() {
    let server = serve(|request| {
        if request.header("authorization") == Some("Bearer right") {
            Response::json(200, &json!({"n": 8}))
        } else {
            Response::text(401, "text/plain", "no")
        }
    });
    let api = kube_api::start();
    api.put("team", "svc", &[("token", "wrong")]);
    let fetcher = gscale::metrics::Fetcher::new(
        Some(api.client.clone()),
        gscale::metrics::Settings { dedup_window: Some(Duration::ZERO), ..Default::default() },
    );
    let spec = http_metric(json!({"url": server.url, "valuePath": "$.n",
        "bearerTokenSecretRef": {"name": "svc", "key": "token"}}));
    assert_eq!(read(&fetcher, "team", &spec).await.unwrap_err().reason(), "AuthFailed");
    api.put("team", "svc", &[("token", "right")]);
    // The default TTL is minutes; the failure made the fetcher forget the cached Secret.
    assert_eq!(read(&fetcher, "team", &spec).await, Ok(8.0));
    assert_eq!(read(&fetcher, "team", &spec).await, Ok(8.0));
    assert_eq!(api.server.requests(), 2, "the Secret is cached while it works");
}

#[tokio::test]
async fn readings_are_shared_within_the_window_and_errors_are_not() {
    let server = serve(move |request| match request.path() {
        "/down" => Response::text(503, "text/plain", "down"),
        _ => Response::json(200, &json!({"n": 6})),
    });
    let scaler = |path: &str, interval: u32| gscale::api::GeneralScalerSpec {
        sync_interval_seconds: interval,
        ..common::scaler(json!([{"type": "http", "targetValue": 1,
            "http": {"url": format!("{}{path}", server.url), "valuePath": "$.n"}}]))
    };
    // A window far longer than the test: sharing does not depend on how fast the test runs.
    let fetcher = gscale::metrics::Fetcher::new(
        None,
        gscale::metrics::Settings { dedup_window: Some(Duration::from_secs(600)), ..Default::default() },
    );
    let (up, down) = (scaler("/up", 3600), scaler("/down", 3600));
    assert_eq!(fetcher.dedup_window(&up), Duration::from_secs(600));
    assert_eq!(fetcher.fetch("team", &up).await.metrics, vec![Ok(6.0)]);
    assert_eq!(fetcher.fetch("other", &up).await.metrics, vec![Ok(6.0)]);
    assert_eq!(server.requests(), 1, "shared within the window");
    assert!(fetcher.fetch("team", &down).await.metrics[0].is_err());
    assert!(fetcher.fetch("team", &down).await.metrics[0].is_err());
    assert_eq!(server.requests(), 3, "an error is not kept: the next fetch asks again");
    let stats = fetcher.stats();
    let http = stats.of(gscale::api::MetricType::Http);
    assert_eq!((http.fetches, http.queries, http.dedup_hits, http.errors), (4, 3, 1, 2));

    // A short window ends: a fetch after it (slept past, never raced) asks again.
    let short = gscale::metrics::Fetcher::new(
        None,
        gscale::metrics::Settings { dedup_window: Some(Duration::from_millis(50)), ..Default::default() },
    );
    assert_eq!(short.fetch("team", &up).await.metrics, vec![Ok(6.0)]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(short.fetch("team", &up).await.metrics, vec![Ok(6.0)]);
    assert_eq!(server.requests(), 5, "the window had passed");

    let spec = common::scaler(json!([{"type": "http", "targetValue": 1, "http": {"url": server.url}}]));
    let defaults = gscale::metrics::Fetcher::new(None, gscale::metrics::Settings::default());
    assert_eq!(
        defaults.dedup_window(&spec),
        Duration::from_millis(3750),
        "a quarter of the 15 s default interval"
    );
    let long = gscale::metrics::Fetcher::new(
        None,
        gscale::metrics::Settings { dedup_window: Some(Duration::from_secs(60)), ..Default::default() },
    );
    assert_eq!(long.dedup_window(&spec), Duration::from_millis(3750), "never past a quarter interval");
}

#[tokio::test]
async fn redirects_carry_credentials_only_to_the_same_origin() {
    let other = RawServer::start(|_| ok_json(json!({"n": 2}))).await;
    let elsewhere = format!("{}/landing", other.url);
    let server = RawServer::start(move |head| match path_of(head) {
        "/same" => redirect(302, "/final"),
        "/away?token=QS-T0KEN" => redirect(307, &elsewhere),
        _ => ok_json(json!({"n": 1})),
    })
    .await;
    let fetcher = common::fetcher(None);
    let headers = json!({"X-Api-Key": "K3Y-123", "Authorization": "Bearer B34R3R"});
    let same =
        http_metric(json!({"url": format!("{}/same", server.url), "valuePath": "$.n", "headers": headers}));
    assert_eq!(read(&fetcher, "team", &same).await, Ok(1.0));
    let followed = server.heads();
    assert!(followed[1].starts_with("get /final "), "{followed:?}");
    assert!(followed[1].contains("x-api-key: k3y-123") && followed[1].contains("b34r3r"), "{followed:?}");

    let away = http_metric(json!({"url": format!("{}/away?token=QS-T0KEN", server.url), "valuePath": "$.n",
        "method": "POST", "body": "{}", "headers": headers}));
    assert_eq!(read(&fetcher, "team", &away).await, Ok(2.0));
    let landed = other.heads();
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert!(landed[0].starts_with("post /landing "), "307 keeps the method: {landed:?}");
    for secret in ["k3y-123", "b34r3r", "qs-t0ken", "referer"] {
        assert!(!landed[0].contains(secret), "{secret} went to another origin: {}", landed[0]);
    }
}

#[tokio::test]
async fn a_redirect_loop_is_named_as_one() {
    let server = RawServer::start(|head| match path_of(head) {
        "/a?token=L00P" => redirect(302, "/b?token=L00P"),
        "/b?token=L00P" => redirect(302, "/a?token=L00P"),
        path => {
            let next: u32 = path.trim_start_matches("/n/").parse().unwrap_or(0) + 1;
            redirect(301, &format!("/n/{next}"))
        }
    })
    .await;
    let fetcher = common::fetcher(None);
    let looped = http_metric(json!({"url": format!("{}/a?token=L00P", server.url)}));
    let err = read(&fetcher, "team", &looped).await.unwrap_err();
    assert_eq!(err.reason(), "BadRedirect", "{err}");
    assert!(
        err.to_string().contains("redirect loop: redirect 2 goes back to the spec's URL\nhint: "),
        "the hops are counted, never quoted (a location is the server's word): {err}"
    );
    assert!(!err.to_string().contains("L00P"), "{err}");
    let endless = http_metric(json!({"url": format!("{}/n/0", server.url)}));
    let err = read(&fetcher, "team", &endless).await.unwrap_err();
    assert!(err.to_string().contains("more than 10 redirects"), "{err}");
    // The loop: /a and /b asked once each; the endless chain: the first URL and 10 redirects.
    assert_eq!(server.heads().len(), 2 + 11);
}

#[tokio::test]
async fn metric_urls_cannot_reach_denied_hosts() {
    let server = RawServer::start(|head| match path_of(head) {
        "/to-metadata" => redirect(302, "http://169.254.169.254/latest/meta-data/"),
        _ => ok_json(json!({"n": 1})),
    })
    .await;
    let fetcher = common::fetcher(None);
    let cases = [
        (
            "http://169.254.169.254/latest/meta-data/iam",
            "host 169.254.169.254 may not be reached: link-local",
        ),
        ("http://[fd00:ec2::254]/latest", "host fd00:ec2::254 may not be reached"),
        ("http://metadata.google.internal/computeMetadata/v1/", "host metadata.google.internal may not"),
        (
            &format!("{}/to-metadata", server.url),
            "redirect 1 leads to a host the host policy denies (link-local",
        ),
    ];
    for (url, says) in cases {
        let err = read(&fetcher, "team", &http_metric(json!({"url": url}))).await.unwrap_err();
        assert_eq!(err.reason(), "HostDenied", "{err}");
        assert!(err.to_string().contains(says), "{url}: {err}");
        assert!(err.to_string().contains("--allow-metric-host"), "{err}");
    }
    // Loopback is allowed by default; a daemon that denies it refuses names resolving to it, too.
    let url = format!("{}/n", server.url);
    assert_eq!(read(&fetcher, "team", &http_metric(json!({"url": url, "valuePath": "$.n"}))).await, Ok(1.0));
    let strict = gscale::metrics::Fetcher::new(
        None,
        gscale::metrics::Settings {
            dedup_window: Some(Duration::ZERO),
            limits: gscale::metrics::Limits {
                hosts: Arc::new(
                    gscale::metrics::HostPolicy::with_rules(&[], &["127.0.0.0/8,::1".into()]).unwrap(),
                ),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let before = server.heads().len();
    let by_name = server.url.replace("127.0.0.1", "localhost");
    for url in [&server.url, &by_name] {
        let err = read(&strict, "team", &http_metric(json!({"url": url}))).await.unwrap_err();
        assert_eq!(err.reason(), "HostDenied", "{url}: {err}");
        assert!(err.to_string().contains("denied by --deny-metric-host"), "{err}");
    }
    let spec = common::scaler(json!([{"type": "prometheus", "targetValue": 1,
        "prometheus": {"serverUrl": by_name, "query": "up"}}]));
    let mut spec = spec;
    spec.policy = serde_json::from_value(json!({"type": "slo", "slo": {"targetLatencyMs": 100,
        "latencyQuery": "latency", "serverUrl": "http://169.254.169.254:9090"}}))
    .unwrap();
    let readings = strict.fetch("team", &spec).await;
    assert!(readings.metrics[0].as_ref().unwrap_err().contains("host localhost ("), "{readings:?}");
    let latency = readings.slo.latency_ms.unwrap().unwrap_err();
    assert!(latency.contains("host 169.254.169.254 may not be reached"), "{latency}");
    assert_eq!(server.heads().len(), before, "nothing was sent");
}

#[tokio::test]
async fn errors_name_the_reply_without_quoting_it() {
    let server = RawServer::start(|head| match path_of(head) {
        path if path.starts_with("/error") => (
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain".to_owned(),
            Body::Bytes(b"SECRET-BODY echo /error?token=x".to_vec()),
        ),
        "/html" => (
            "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8".to_owned(),
            Body::Bytes(b"<p>SECRET-PAGE</p>".to_vec()),
        ),
        "/forbidden" => (
            "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain".to_owned(),
            Body::Bytes(b"SECRET-DENIAL".to_vec()),
        ),
        _ => ok_json(json!({"v": "SECRET-STRING-VALUE", "o": {"k": "SECRET-OBJECT"}})),
    })
    .await;
    let fetcher = common::fetcher(None);
    let url = |path: &str| format!("{}{path}", server.url);
    let cases = [
        (
            json!({"url": url("/error")}),
            "BackendError",
            "http 500 Internal Server Error (text/plain, 31 bytes)",
        ),
        (json!({"url": url("/forbidden")}), "AuthFailed", "http 403 Forbidden (text/plain, 13 bytes)"),
        (
            json!({"url": url("/html"), "valuePath": "$.v"}),
            "BadReply",
            "reply is not JSON (text/html, 18 bytes)",
        ),
        (json!({"url": url("/html")}), "InvalidValue", "not a number (18 characters of text)"),
        (
            json!({"url": url("/json"), "valuePath": "$.v"}),
            "InvalidValue",
            "a string of 19 characters at `$.v`",
        ),
        (json!({"url": url("/json"), "valuePath": "/o"}), "InvalidValue", "an object at `/o`, not a number"),
    ];
    for (source, reason, says) in cases {
        let err = read(&fetcher, "team", &http_metric(source.clone())).await.unwrap_err();
        assert_eq!(err.reason(), reason, "{source}: {err}");
        assert!(err.to_string().contains(says), "{source}: {err}");
        assert!(!err.to_string().contains("SECRET"), "{source}: {err}");
    }
    let prometheus = metric(json!({"type": "prometheus", "targetValue": 1,
        "prometheus": {"serverUrl": url("/error"), "query": "up"}}));
    let err = read(&fetcher, "team", &prometheus).await.unwrap_err();
    assert!(
        err.to_string().ends_with("backend error: http 500 Internal Server Error (text/plain, 31 bytes)"),
        "{err}"
    );
}

#[tokio::test]
async fn secret_names_stay_names_and_api_errors_read_as_text() {
    let api = RawServer::start(|_| {
        let status = json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
            "message": "etcd is unhappy", "reason": "InternalError", "code": 500});
        (
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json".to_owned(),
            Body::Bytes(status.to_string().into_bytes()),
        )
    })
    .await;
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let fetcher = common::fetcher(Some(client));
    let with_secret = |name: &str| {
        http_metric(json!({"url": "http://127.0.0.1:1/", "bearerTokenSecretRef": {"name": name, "key": "t"}}))
    };
    let err = read(&fetcher, "team-a", &with_secret("../../team-b/secrets/x")).await.unwrap_err();
    assert_eq!(err.reason(), "SecretUnavailable", "{err}");
    assert!(err.to_string().contains("not a valid Secret name"), "{err}");
    assert!(api.heads().is_empty(), "a bad name is never put in a request path");
    let err = read(&fetcher, "team-a", &with_secret("tokens")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "secret team-a/tokens key `t`: cannot read secret: the API server answered 500: etcd is unhappy"
    );
}
